"""Admission of sockets: the per-process cap and the per-user limit.

``admit(user_id)`` is called once per handshake and ``release(ticket)`` once per admitted socket.

- The process cap, ``REALTIME_MAX_CONNECTIONS``, is a count of this process's open tickets.
- The per-user limit, ``REALTIME_MAX_CONNECTIONS_PER_USER`` (0 = none, and then nothing here
  touches Redis), counts the user's sockets on every process when ``REDIS_URL`` is set, and on
  this process otherwise.

With Redis, each user has a sorted set ``realtime:connections:<user id>`` of ticket ids scored
by the time (Redis's clock, in ms) at which they stop counting. One script removes the expired
members, counts the rest and adds the new ticket, so two processes admitting at once cannot both
pass the limit. Each process renews the scores of its own tickets every third of
``REALTIME_ADMISSION_TTL_SECONDS`` in one batch, so the sockets of a process that died (killed,
crashed, unplugged) stop counting after that TTL. The renewal only updates members still present
(``ZADD XX``): a release racing a renewal cannot bring a released ticket back.

If Redis does not answer, admission fails open to this process's own count of the user's sockets
(logged once per outage): refusing every connection while Redis is away would turn a blip into an
outage, the channel layer on the same Redis degrades delivery anyway (the hub's log poll still
delivers), and the process cap keeps bounding what a process holds.

Redis clients are per event loop: a ``redis.asyncio`` connection belongs to the loop that made it.
"""

import asyncio
import logging
import uuid
import weakref
from collections import Counter
from dataclasses import dataclass

import redis.asyncio as redis
from django.conf import settings
from redis.exceptions import RedisError

from .protocol import SERVER_BUSY, TOO_MANY_CONNECTIONS

logger = logging.getLogger(__name__)

# A Redis that does not answer within this is taken as unreachable (handshakes wait on it).
REDIS_TIMEOUT_SECONDS = 1.0
# Tickets renewed per script call, so that one call never holds Redis for long.
RENEW_BATCH = 1000

# KEYS[1]: the user's set; ARGV: ticket id, limit, TTL in ms. 1 if admitted, else 0.
ADMIT_SCRIPT = """
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1
"""

# KEYS[i]: the set of ticket ARGV[i + 1]; ARGV[1]: TTL in ms. Renews tickets still present.
RENEW_SCRIPT = """
local clock = redis.call('TIME')
local expiry = clock[1] * 1000 + math.floor(clock[2] / 1000) + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if redis.call('ZADD', key, 'XX', 'CH', expiry, ARGV[i + 1]) == 1 then
    local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    redis.call('PEXPIREAT', key, last[2])
  end
end
return 0
"""


def user_key(user_id: int | str) -> str:
    """The Redis sorted set of a user's tickets on every process (``"*"``: a pattern for all)."""
    return f"realtime:connections:{user_id}"


@dataclass(frozen=True)
class Ticket:
    """An admitted socket. ``shared``: counted in Redis (else only in this process)."""

    id: str
    user_id: int
    shared: bool = False


@dataclass(frozen=True)
class Decision:
    """``ticket`` when admitted; otherwise ``reason``: ``too_many_connections`` or
    ``server_busy``."""

    ticket: Ticket | None
    reason: str | None = None

    @property
    def admitted(self) -> bool:
        return self.ticket is not None


# This process's open tickets (id → user id) and, per user, how many of them.
_open: dict[str, int] = {}
_per_user: Counter[int] = Counter()


async def admit(user_id: int) -> Decision:
    """Admit a socket of ``user_id`` or say why not; an admitted one must be released."""
    if len(_open) >= settings.REALTIME_MAX_CONNECTIONS:
        return Decision(None, SERVER_BUSY)
    limit = settings.REALTIME_MAX_CONNECTIONS_PER_USER
    ticket = Ticket(uuid.uuid4().hex, user_id, shared=bool(limit and settings.REDIS_URL))
    # Hold the slots before waiting on Redis: sockets admitted meanwhile see them taken.
    _hold(ticket)
    try:
        admitted = await _registry().admit(ticket, limit) if ticket.shared else None
    except BaseException:  # cancelled: a shared slot taken meanwhile expires with its TTL
        _drop(ticket)
        raise
    if admitted is None:  # no Redis, or it did not answer
        ticket = Ticket(ticket.id, user_id)
        admitted = not limit or _per_user[user_id] <= limit
    if not admitted:
        _drop(ticket)
        return Decision(None, TOO_MANY_CONNECTIONS)
    return Decision(ticket)


async def release(ticket: Ticket) -> None:
    """Give the ticket's slots back; releasing it again does nothing."""
    if ticket.id not in _open:
        return
    _drop(ticket)
    if ticket.shared:
        await _registry().release(ticket)


def open_connections() -> int:
    """This process's admitted sockets."""
    return len(_open)


def _hold(ticket: Ticket) -> None:
    _open[ticket.id] = ticket.user_id
    _per_user[ticket.user_id] += 1


def _drop(ticket: Ticket) -> None:
    del _open[ticket.id]
    _per_user[ticket.user_id] -= 1
    if not _per_user[ticket.user_id]:
        del _per_user[ticket.user_id]


class SharedRegistry:
    """This event loop's Redis client, and the shared tickets it renews."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        self.admit_script = self.client.register_script(ADMIT_SCRIPT)
        self.renew_script = self.client.register_script(RENEW_SCRIPT)
        self.tickets: set[Ticket] = set()
        self.renewer: asyncio.Task[None] | None = None
        self.unreachable = False

    async def admit(self, ticket: Ticket, limit: int) -> bool | None:
        """Whether the user is under ``limit`` on all processes (the ticket then counts there);
        ``None`` if Redis did not answer."""
        try:
            admitted = await self.admit_script(
                keys=[user_key(ticket.user_id)], args=[ticket.id, limit, ttl_ms()]
            )
        except (RedisError, OSError):
            self.failed("admitting")
            return None
        self.answered()
        if admitted:
            self.tickets.add(ticket)
            if self.renewer is None or self.renewer.done():
                self.renewer = asyncio.create_task(self.renew_forever(), name="realtime-admission")
        return bool(admitted)

    async def release(self, ticket: Ticket) -> None:
        self.tickets.discard(ticket)
        if not self.tickets and self.renewer is not None:
            self.renewer.cancel()
            self.renewer = None
        try:
            await self.client.zrem(user_key(ticket.user_id), ticket.id)
        except (RedisError, OSError):
            self.failed("releasing")  # the ticket stops counting at its expiry
        else:
            self.answered()

    async def renew_forever(self) -> None:
        while self.tickets:
            await asyncio.sleep(settings.REALTIME_ADMISSION_TTL_SECONDS / 3)
            try:
                await self.renew()
            except (RedisError, OSError):
                self.failed("renewing")
            else:
                self.answered()

    async def renew(self) -> None:
        """Push the expiry of every ticket of this loop one TTL from now."""
        tickets = list(self.tickets)
        for start in range(0, len(tickets), RENEW_BATCH):
            batch = tickets[start : start + RENEW_BATCH]
            await self.renew_script(
                keys=[user_key(ticket.user_id) for ticket in batch],
                args=[ttl_ms(), *(ticket.id for ticket in batch)],
            )

    def failed(self, doing: str) -> None:
        if not self.unreachable:
            self.unreachable = True
            logger.warning(
                "Redis did not answer while %s a connection; the per-user connection limit "
                "counts this process's sockets only until it does.",
                doing,
                exc_info=True,
            )

    def answered(self) -> None:
        if self.unreachable:
            self.unreachable = False
            logger.warning("Redis answers again; the per-user connection limit is shared again.")

    async def aclose(self) -> None:
        if self.renewer is not None:
            self.renewer.cancel()
            self.renewer = None
        await self.client.aclose()


_registries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SharedRegistry] = (
    weakref.WeakKeyDictionary()
)


def ttl_ms() -> int:
    return max(1, round(settings.REALTIME_ADMISSION_TTL_SECONDS * 1000))


def _registry() -> SharedRegistry:
    loop = asyncio.get_running_loop()
    registry = _registries.get(loop)
    if registry is None or registry.url != settings.REDIS_URL:
        registry = _registries[loop] = SharedRegistry(settings.REDIS_URL)
    return registry


async def aclose() -> None:
    """Close this event loop's Redis client (tests; a server keeps it for its lifetime)."""
    registry = _registries.pop(asyncio.get_running_loop(), None)
    if registry is not None:
        await registry.aclose()
