"""Admission of sockets: the per-process cap and the per-user limit (process-local for now)."""

import itertools
from dataclasses import dataclass

from django.conf import settings

from .protocol import SERVER_BUSY, TOO_MANY_CONNECTIONS

_ids = itertools.count(1)
_open: dict[int, int] = {}  # ticket → user id


@dataclass(frozen=True)
class Ticket:
    id: int
    user_id: int


@dataclass(frozen=True)
class Decision:
    ticket: Ticket | None
    reason: str | None = None


async def admit(user_id: int) -> Decision:
    if len(_open) >= settings.REALTIME_MAX_CONNECTIONS:
        return Decision(None, SERVER_BUSY)
    limit = settings.REALTIME_MAX_CONNECTIONS_PER_USER
    if limit and sum(1 for holder in _open.values() if holder == user_id) >= limit:
        return Decision(None, TOO_MANY_CONNECTIONS)
    ticket = Ticket(next(_ids), user_id)
    _open[ticket.id] = user_id
    return Decision(ticket)


async def release(ticket: Ticket) -> None:
    _open.pop(ticket.id, None)
