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
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from channels.layers import get_channel_layer
from django.db import connection, models, transaction
from django.utils import timezone

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


def query_params() -> int:
    """How many parameters a statement may take (PostgreSQL: 65,535; Django says None)."""
    return connection.features.max_query_params or 2**16 - 1


def insert_rows(
    model: type[models.Model], fields: Sequence[Any], rows: Sequence[Sequence[Any]]
) -> list[int]:
    """Insert rows whose values are prepared for the database already (each field's
    ``get_db_prep_save``, in ``fields``' order), a few hundred per statement; their new ids,
    in the order given (as ``bulk_create`` relies on too). For thousands of rows written in a
    transaction that other writers wait for (an import, and its events here): everything but
    the statements is done before it. SQLite (3.35 on) and PostgreSQL return several rows'
    ids; another database gets a statement per row."""
    quote = connection.ops.quote_name
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    columns = ", ".join(quote(field.column) for field in fields)
    placeholder = f"({', '.join(['%s'] * len(fields))})"
    size = max(min(query_params() // max(len(fields), 1), 1000), 1)
    if not connection.features.can_return_rows_from_bulk_insert:
        size = 1
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([placeholder] * len(batch))} "
                f"RETURNING {pk}",
                [value for row in batch for value in row],
            )
            ids += [row_id for (row_id,) in cursor.fetchall()]
    return ids


class _Batch:
    """The events of an ``events_batched()`` block that committed: the highest id and the
    count per stream, recorded by each event's on-commit callback (an event rolled back with
    its savepoint records nothing)."""

    __slots__ = ("committed",)

    def __init__(self) -> None:
        self.committed: dict[str, tuple[int, int]] = {}

    def record(self, stream: str, event_id: int, count: int = 1) -> None:
        highest, recorded = self.committed.get(stream, (0, 0))
        self.committed[stream] = (max(highest, event_id), recorded + count)

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


_LATER = secrets.token_hex(8)


def later(name: str) -> str:
    """A value known only at the write (a new object's id), put in a publication's data or
    history row before: ``EncodedPublication.completed`` writes the value in its place. The
    marker holds a secret of the process, so that no text of a user's can be taken for it."""
    return f"\x00{name}:{_LATER}\x00"


@cache
def _marker(name: str) -> str:
    """``later(name)`` as it reads in encoded JSON."""
    return json.dumps(later(name))


@dataclass(frozen=True, slots=True)
class Publication:
    """An event to record with ``publish_many``: what ``publish()`` takes (no cause)."""

    stream: str
    type: str
    object_id: int | str
    """The object's id, or ``later("id")`` for an object not written yet."""
    data: dict[str, Any]
    change: Change | None = None

    def encoded(self) -> "EncodedPublication":
        """Its JSON encoded as the log's columns store it: the costly part, done before the
        write's transaction."""
        change = self.change
        return EncodedPublication(
            stream=self.stream,
            type=self.type,
            object_id=self.object_id,
            data=_encoded(Event, "data", self.data),
            change=None
            if change is None
            else (
                change.object_repr,
                change.kind,
                change.version,
                _encoded(Change, "fields", change.fields),
                _encoded(Change, "subject", change.subject),
            ),
        )


@dataclass(frozen=True, slots=True)
class EncodedPublication:
    stream: str
    type: str
    object_id: int | str
    data: str
    change: tuple[str, str, int, str, str] | None
    """The history row's object, kind, version, fields and subject."""

    def completed(self, values: Mapping[str, Any]) -> "EncodedPublication":
        """With each ``later(name)`` replaced by ``values[name]``."""
        replacements = [(_marker(name), json.dumps(value)) for name, value in values.items()]

        def complete(text: str) -> str:
            for marker, value in replacements:
                text = text.replace(marker, value)
            return text

        object_id = self.object_id
        if isinstance(object_id, str):
            object_id = next(value for name, value in values.items() if later(name) == object_id)
        change = self.change
        if change is not None:
            change = (*change[:3], complete(change[3]), complete(change[4]))
        return EncodedPublication(
            stream=self.stream,
            type=self.type,
            object_id=object_id,
            data=complete(self.data),
            change=change,
        )


def _encoded(model: type[Event] | type[Change], name: str, value: Any) -> str:
    field = model._meta.get_field(name)
    return json.dumps(value, cls=field.encoder)


def _json_column(vendor: str) -> Callable[[str], Any]:
    """How an encoded JSON value is passed to its column (as ``JSONField`` would pass it)."""
    if vendor == "postgresql":
        from django.db.backends.postgresql.psycopg_any import Jsonb

        return lambda text: Jsonb(text, dumps=str)  # encoded already
    return str


def publish_many(publications: Sequence[EncodedPublication]) -> None:
    """``publish()`` of many events, in the order given, each with its history row: the same
    rows, attributed alike and recorded at one time, inserted a few hundred per statement and
    rung once per stream (under ``events_batched()``, with its block). For a write of
    thousands of objects (an import), whose transaction holds the event log's lock from its
    first event to its commit: ``publish()`` costs two statements an event. Everything that
    costs more than the statements (serializing, encoding JSON, a model instance per row) is
    done before (``Publication.encoded``) or once for all the rows."""
    if not publications:
        return
    actor = current_actor()
    as_json = _json_column(connection.vendor)
    with transaction.atomic(savepoint=False):
        _lock_event_log()
        now = timezone.now()
        shared = {
            "actor_id": actor.pk if actor is not None else None,
            "actor_username": actor.get_username() if actor is not None else "",
            "actor_name": person_name(actor)[:ACTOR_NAME_LENGTH] if actor is not None else "",
            "created_at": _prepared(Event, "created_at", now),
            "at": _prepared(Change, "at", now),
            "via": current_via(),
            "cause": None,
            "caused_by": None,
        }
        event_ids = insert_rows(
            Event,
            _inserted_fields(Event),
            [
                _row(
                    Event,
                    shared,
                    stream=publication.stream,
                    type=publication.type,
                    object_id=publication.object_id,
                    data=as_json(publication.data),
                )
                for publication in publications
            ],
        )
        insert_rows(
            Change,
            _inserted_fields(Change),
            [
                _row(
                    Change,
                    shared,
                    stream=publication.stream,
                    object_id=publication.object_id,
                    object_repr=change[0],
                    kind=change[1],
                    version=change[2],
                    fields=as_json(change[3]),
                    subject=as_json(change[4]),
                    event_id=event_id,
                )
                for publication, event_id in zip(publications, event_ids, strict=True)
                if (change := publication.change) is not None
            ],
        )
        highest: dict[str, tuple[int, int]] = {}
        for publication, event_id in zip(publications, event_ids, strict=True):
            top, count = highest.get(publication.stream, (0, 0))
            highest[publication.stream] = (max(top, event_id), count + 1)
        batch = _batch.get()
        for stream, (event_id, count) in highest.items():
            if batch is None:
                transaction.on_commit(
                    lambda stream=stream, event_id=event_id, count=count: ring(
                        stream=stream, event_id=event_id, count=count
                    ),
                    robust=True,
                )
            else:
                transaction.on_commit(
                    lambda stream=stream, event_id=event_id, count=count: batch.record(
                        stream, event_id, count
                    )
                )


def _prepared(model: type[models.Model], name: str, value: Any) -> Any:
    return model._meta.get_field(name).get_db_prep_save(value, connection)


def _row(model: type[Event] | type[Change], shared: dict[str, Any], **values: Any) -> list[Any]:
    """A row's values in ``_inserted_fields`` order: its own, else the batch's."""
    return [
        values[field.attname] if field.attname in values else shared[field.attname]
        for field in _inserted_fields(model)
    ]


def ring(*, stream: str, event_id: int, count: int = 1) -> None:
    """Tell the stream's consumers that the log has grown to ``event_id`` (by ``count``
    events)."""
    metrics.EVENTS_PUBLISHED.inc(count)
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": LAYER_EVENT, "id": event_id, "committed": time.time()}
    call_async_soon(layer.group_send, group_for(stream), message)
