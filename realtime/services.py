import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from .models import Change, Event, EventLogState, IdempotentRequest, PageVisit


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


class IdempotencyKeyReused(Exception):
    """The key was sent before with another request (method, path, query, If-Match or body)."""


class IdempotencyInProgress(Exception):
    """The key's first request is still running (in this process or another)."""


def idempotent_request_claim(
    *, user: Any, key: str, fingerprint: str
) -> tuple[IdempotentRequest, bool]:
    """The row of ``user``'s ``key``, and whether this request now holds it (``True``: a new
    ``running`` row, to ``_complete`` or ``_release``; ``False``: a ``done`` row to replay).

    The claim is an INSERT committed in a transaction of its own, before the write's: a
    duplicate in any process meets the unique (user, key) at once and is answered from the
    row, never by running the write a second time. A ``running`` row older than
    ``IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS`` was left by a process that died (its write, in the
    transaction that stores the response, rolled back with it) and is taken over; a row past
    ``IDEMPOTENCY_RETENTION_HOURS`` counts as gone, whether or not it was pruned yet.
    """
    # A duplicate may find the row deleted (released, expired) between its INSERT and read.
    for _attempt in range(5):
        now = timezone.now()
        try:
            with transaction.atomic():
                row = IdempotentRequest.objects.create(
                    user=user, key=key, fingerprint=fingerprint, created=now
                )
            return row, True
        except IntegrityError:
            pass
        row = IdempotentRequest.objects.filter(user=user, key=key).first()
        if row is None:
            continue
        if row.created < now - datetime.timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS):
            IdempotentRequest.objects.filter(pk=row.pk, created=row.created).delete()
            continue
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReused(key)
        if row.state == IdempotentRequest.DONE:
            return row, False
        stale = now - datetime.timedelta(seconds=settings.IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS)
        if row.created < stale:
            taken = IdempotentRequest.objects.filter(
                pk=row.pk, state=IdempotentRequest.RUNNING, created=row.created
            ).update(created=now)
            if taken:
                row.created = now
                return row, True
            continue
        raise IdempotencyInProgress(key)
    raise IdempotencyInProgress(key)


def idempotent_request_complete(
    *, claim: IdempotentRequest, status: int, headers: dict[str, str], body: bytes
) -> bool:
    """Store the response of the claimed request; ``False`` if the claim was taken over
    meanwhile (the caller then rolls its write back: the taker's counts)."""
    return bool(
        IdempotentRequest.objects.filter(
            pk=claim.pk, state=IdempotentRequest.RUNNING, created=claim.created
        ).update(state=IdempotentRequest.DONE, status=status, headers=headers, body=body)
    )


def idempotent_request_release(*, claim: IdempotentRequest) -> None:
    """Give the key back after a failure (a 5xx, an exception): a retry runs the write again."""
    IdempotentRequest.objects.filter(
        pk=claim.pk, state=IdempotentRequest.RUNNING, created=claim.created
    ).delete()


def idempotent_request_prune(*, max_age: datetime.timedelta) -> int:
    """Delete the stored idempotent requests older than ``max_age``; how many went."""
    deleted, _details = IdempotentRequest.objects.filter(
        created__lt=timezone.now() - max_age
    ).delete()
    return deleted
