import datetime

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from .models import Change, Event, EventLogState


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
