import datetime
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from .models import Change, Event, EventLogState, PageVisit


def event_log_prune(*, max_age: datetime.timedelta, keep: int) -> int:
    """Delete events older than ``max_age`` or beyond the newest ``keep`` (0: no count limit).

    The log is cut at one id: every event up to it goes, every later one stays, and the cut is
    recorded so that a client resuming from before it is told to resync.
    """
    with transaction.atomic():
        state, _created = EventLogState.objects.select_for_update().get_or_create(pk=1)
        by_age = (
            Event.objects.filter(created_at__lt=timezone.now() - max_age).aggregate(cut=Max("id"))[
                "cut"
            ]
            or 0
        )
        by_count = 0
        if keep > 0:
            # Ids have gaps (rolled-back inserts): find the oldest of the newest ``keep`` rows.
            oldest_kept = Event.objects.order_by("-id").values_list("id", flat=True)[keep - 1 :]
            by_count = oldest_kept[0] - 1 if oldest_kept else 0
        cut = max(by_age, by_count)
        if cut <= state.pruned_through:
            return 0
        deleted, _details = Event.objects.filter(id__lte=cut).delete()
        state.pruned_through = cut
        state.save(update_fields=["pruned_through"])
    return deleted


def history_prune(*, max_age: datetime.timedelta) -> int:
    """Delete the history's changes older than ``max_age``; how many went.

    An object keeps its newer changes: ``object_values_at`` then reaches back only as far as
    they do, and a base older than that is a conflict.
    """
    deleted, _details = Change.objects.filter(at__lt=timezone.now() - max_age).delete()
    return deleted


def page_visit_record(*, user: Any, page: str) -> datetime.datetime | None:
    """Note that ``user`` has ``page`` open now; the time of their visit before (None on a
    first visit, or for an anonymous user)."""
    if not getattr(user, "is_authenticated", False):
        return None
    now = timezone.now()
    with transaction.atomic():
        visit = PageVisit.objects.select_for_update().filter(user=user, page=page).first()
        if visit is None:
            PageVisit.objects.create(user=user, page=page, seen_at=now)
            return None
        previous, visit.seen_at = visit.seen_at, now
        visit.save(update_fields=["seen_at"])
    return previous
