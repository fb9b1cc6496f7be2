"""The one place that publishes: ``publish()`` writes the event log and rings the layer on commit.

Ordering: ids come from the database, but on PostgreSQL two transactions can take ids 7 and 8
and commit 8 first, so a client that has seen 8 would never see 7. ``publish()`` therefore takes
a transaction-scoped advisory lock before it inserts: transactions that publish commit one at a
time, in id order. (SQLite serialises writers already.) The lock is held only from a write
transaction's first event until its commit.
"""

import logging
import time
from functools import cache
from typing import Any

from channels.layers import get_channel_layer
from django.db import connection, transaction

from . import metrics
from .context import call_async_soon, current_actor
from .models import Event
from .protocol import LAYER_EVENT, group_for

logger = logging.getLogger(__name__)

EVENT_LOG_LOCK_KEY = 0x5C4EDE  # any constant shared by every process of the project


def _lock_event_log() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_LOG_LOCK_KEY])


def _insert(event: Event) -> None:
    """Insert the event's row and set its id: one statement written once, the values prepared
    by the model's fields as ``save()`` prepares them (JSON, times, the actor's key).

    ``Event.objects.create`` built and compiled the same INSERT for every write, about half
    the cost of recording an event; nothing listens to an event's own save signals.
    """
    if not connection.features.can_return_columns_from_insert:
        event.save(force_insert=True)
        return
    fields = _inserted_fields()
    values = [field.get_db_prep_save(field.pre_save(event, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(connection.vendor), values)
        (event.id,) = cursor.fetchone()
    event._state.adding = False
    event._state.db = connection.alias


@cache
def _inserted_fields() -> list[Any]:
    return [field for field in Event._meta.concrete_fields if not field.primary_key]


@cache
def _insert_sql(vendor: str) -> str:
    """The INSERT for ``vendor``'s quoting (cached per vendor: tests may switch databases)."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in _inserted_fields())
    placeholders = ", ".join(["%s"] * len(_inserted_fields()))
    return (
        f"INSERT INTO {quote(Event._meta.db_table)} ({columns}) VALUES ({placeholders}) "
        f"RETURNING {quote(Event._meta.pk.column)}"
    )


def publish(*, stream: str, type: str, object_id: int, data: dict[str, Any]) -> Event:
    """Record an event in the caller's transaction; ring the stream's group once it commits.

    No savepoint of its own: an event that cannot be recorded fails the write it belongs to.
    """
    actor = current_actor()
    with transaction.atomic(savepoint=False):
        _lock_event_log()
        event = Event(
            stream=stream,
            type=type,
            object_id=object_id,
            data=data,
            actor=actor,
            actor_username=actor.get_username() if actor is not None else "",
        )
        _insert(event)
        transaction.on_commit(lambda: ring(stream=stream, event_id=event.id), robust=True)
    return event


def ring(*, stream: str, event_id: int) -> None:
    """Tell the stream's consumers that the log has grown to ``event_id``."""
    metrics.EVENTS_PUBLISHED.inc()
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": LAYER_EVENT, "id": event_id, "committed": time.time()}
    call_async_soon(layer.group_send, group_for(stream), message)
