"""The one place that publishes: ``publish()`` writes the event log and rings the layer on commit.

Ordering: ids come from the database, but on PostgreSQL two transactions can take ids 7 and 8
and commit 8 first, so a client that has seen 8 would never see 7. ``publish()`` therefore takes
a transaction-scoped advisory lock before it inserts: transactions that publish commit one at a
time, in id order. (SQLite serialises writers already.) The lock is held only from a write
transaction's first event until its commit.

Batches: a write of many objects (an import) records one event per object as usual, but under
``events_batched()`` rings each stream once, with its highest committed id. The hub reads the
whole log after its head on any bell (``realtime.hub``), so one bell delivers them all, and a
thousand bells would wake it and the layer a thousand times.
"""

import contextvars
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from channels.layers import get_channel_layer
from django.db import connection, transaction

from . import metrics
from .context import call_async_soon, current_actor, current_via, person_name
from .models import ACTOR_NAME_LENGTH, Change, Event
from .protocol import LAYER_EVENT, group_for

logger = logging.getLogger(__name__)

EVENT_LOG_LOCK_KEY = 0x5C4EDE  # any constant shared by every process of the project


def _lock_event_log() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_LOG_LOCK_KEY])


def _insert(row: Event | Change) -> None:
    """Insert the row and set its id: one statement written once per model, the values
    prepared by the model's fields as ``save()`` prepares them (JSON, times, the actor's key).

    ``Event.objects.create`` built and compiled the same INSERT for every write, about half
    the cost of recording an event; nothing listens to these rows' own save signals.
    """
    if not connection.features.can_return_columns_from_insert:
        row.save(force_insert=True)
        return
    model = type(row)
    fields = _inserted_fields(model)
    values = [field.get_db_prep_save(field.pre_save(row, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(model, connection.vendor), values)
        (row.id,) = cursor.fetchone()
    row._state.adding = False
    row._state.db = connection.alias


@cache
def _inserted_fields(model: type[Event | Change]) -> list[Any]:
    return [field for field in model._meta.concrete_fields if not field.primary_key]


@cache
def _insert_sql(model: type[Event | Change], vendor: str) -> str:
    """The INSERT for ``vendor``'s quoting (cached per vendor: tests may switch databases)."""
    quote = connection.ops.quote_name
    fields = _inserted_fields(model)
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders}) "
        f"RETURNING {quote(model._meta.pk.column)}"
    )


class _Batch:
    """The events of an ``events_batched()`` block that committed: the highest id and the
    count per stream, recorded by each event's on-commit callback (an event rolled back with
    its savepoint records nothing)."""

    __slots__ = ("committed",)

    def __init__(self) -> None:
        self.committed: dict[str, tuple[int, int]] = {}

    def record(self, stream: str, event_id: int) -> None:
        highest, count = self.committed.get(stream, (0, 0))
        self.committed[stream] = (max(highest, event_id), count + 1)

    def ring(self) -> None:
        committed, self.committed = self.committed, {}
        for stream, (highest, count) in committed.items():
            ring(stream=stream, event_id=highest, count=count)


_batch: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar(
    "realtime_events_batch", default=None
)


@contextmanager
def events_batched() -> Iterator[None]:
    """Ring each stream once for the events published inside the block, after they commit.

    The events' own callbacks run at commit in id order and record what committed; the bells
    go after them: at the end of the block when its transaction has already committed, else
    on commit of the transaction the block ends in (a callback registered there runs after
    those of the savepoints inside it, and is dropped with them). Nested blocks ring with the
    outermost one.
    """
    if _batch.get() is not None:
        yield
        return
    batch = _Batch()
    token = _batch.set(batch)
    try:
        yield
    finally:
        _batch.reset(token)
        if connection.in_atomic_block:
            transaction.on_commit(batch.ring, robust=True)
        else:
            batch.ring()


def publish(
    *,
    stream: str,
    type: str,
    object_id: int,
    data: dict[str, Any],
    change: Change | None = None,
    cause: Change | None = None,
) -> Event:
    """Record an event in the caller's transaction, and ``change`` (the history's row for it,
    given by the model paths in ``realtime.signals``) beside it, attributed as the event is;
    ring the stream's group once it commits (once per stream for a whole ``events_batched()``
    block). ``cause``: the recorded change this one follows from, if any.

    No savepoint of its own: an event that cannot be recorded fails the write it belongs to.
    """
    actor = current_actor()
    actor_username = actor.get_username() if actor is not None else ""
    with transaction.atomic(savepoint=False):
        _lock_event_log()
        event = Event(
            stream=stream,
            type=type,
            object_id=object_id,
            data=data,
            actor=actor,
            actor_username=actor_username,
            actor_name=person_name(actor)[:ACTOR_NAME_LENGTH] if actor is not None else "",
            cause=cause.event_id if cause is not None else None,
        )
        _insert(event)
        if change is not None:
            change.stream = stream
            change.object_id = object_id
            change.actor = actor
            change.actor_username = actor_username
            change.via = current_via()
            change.at = event.created_at
            change.event_id = event.id
            change.caused_by = cause.id if cause is not None else None
            _insert(change)
        batch = _batch.get()
        if batch is None:
            transaction.on_commit(lambda: ring(stream=stream, event_id=event.id), robust=True)
        else:
            transaction.on_commit(lambda: batch.record(stream, event.id))
    return event


def ring(*, stream: str, event_id: int, count: int = 1) -> None:
    """Tell the stream's consumers that the log has grown to ``event_id`` (by ``count``
    events)."""
    metrics.EVENTS_PUBLISHED.inc(count)
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": LAYER_EVENT, "id": event_id, "committed": time.time()}
    call_async_soon(layer.group_send, group_for(stream), message)
