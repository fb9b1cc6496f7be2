"""Process-local fan-out: one channel-layer membership, one log read and one encoding per event
per process, then a direct write to every local socket that wants it.

The hub of a process joins every stream's group once. A bell (an event id, rung after commit by
``realtime.events``) or a poll every ``REALTIME_LOG_POLL_SECONDS`` (events committed by a process
whose bell never came) makes it read the log after the last id it delivered, check the logins of
its sockets in the same database call, encode each event once and hand the same frame to every
subscribed socket whose cursor is behind it. A socket that is replaying (subscribe, resume) is
skipped: it reads the log itself until it has caught up with the hub (see ``EventsConsumer``).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any, Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from . import metrics
from .protocol import STREAMS, group_for
from .selectors import Credentials, Logins, frame_time, log_head, log_page_for_fanout

logger = logging.getLogger(__name__)

ENCODER = DjangoJSONEncoder()
# channels-redis forgets group members after a day; the hub joins again well before that.
REJOIN_SECONDS = 3600
# A burst is handed out in slices of events with the event loop running in between: the loop
# stays responsive, and a socket's backlog measures how far its client is behind, not the
# burst's size. A socket gets a slice's frames in one write where the server allows it.
EVENTS_PER_SLICE = 32


class Subscriber(Protocol):
    """What the hub needs of a socket (``realtime.consumers.EventsConsumer``)."""

    cursors: dict[str, int]
    credentials: Credentials
    replaying: bool
    closing: bool

    def push(self, message: dict[str, Any]) -> None: ...

    def push_all(
        self, messages: list[dict[str, Any]], joined: dict[tuple[int, ...], bytes]
    ) -> None: ...

    def reject_login(self) -> None: ...

    def forbid(self, streams: list[str]) -> None: ...


def text_message(frame: Any) -> dict[str, Any]:
    """The ASGI message that sends ``frame`` as JSON; one per event, shared by all sockets."""
    return {"type": "websocket.send", "text": ENCODER.encode(frame)}


class Hub:
    def __init__(self) -> None:
        self.subscribers: dict[str, set[Subscriber]] = {stream: set() for stream in STREAMS}
        self.connections: set[Subscriber] = set()
        # How many local sockets hold each login: checked once per read, however many sockets.
        self.credentials: dict[Credentials, int] = {}
        # The newest event id handed to the sockets (every event up to it has been read).
        self.head = 0
        self.ready = asyncio.Event()
        self.rung = asyncio.Event()
        self.bell_id = 0
        self.commit_times: dict[int, float] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    # Registration (called by consumers, in the event loop, no awaits).
    def attach(self, connection: Subscriber) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is not loop or not self.tasks:
            self._start(loop)
        if connection not in self.connections:
            self.connections.add(connection)
            key = connection.credentials
            self.credentials[key] = self.credentials.get(key, 0) + 1

    def detach(self, connection: Subscriber) -> None:
        self.unsubscribe(connection, STREAMS)
        if connection in self.connections:
            self.connections.discard(connection)
            key = connection.credentials
            self.credentials[key] -= 1
            if not self.credentials[key]:
                del self.credentials[key]
        if not self.connections:
            self._stop()

    def subscribe(self, connection: Subscriber, streams: Iterable[str]) -> None:
        for stream in streams:
            if connection not in self.subscribers[stream]:
                self.subscribers[stream].add(connection)
                metrics.SUBSCRIPTIONS.labels(stream).inc()

    def unsubscribe(self, connection: Subscriber, streams: Iterable[str]) -> None:
        for stream in streams:
            if connection in self.subscribers[stream]:
                self.subscribers[stream].discard(connection)
                metrics.SUBSCRIPTIONS.labels(stream).dec()

    # The hub's tasks.
    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._stop()
        self.__init__()
        self.loop = loop
        layer = get_channel_layer()
        if layer is not None:
            self.tasks.append(loop.create_task(self._listen(layer), name="realtime-hub-bells"))
        self.tasks.append(loop.create_task(self._deliver_loop(), name="realtime-hub-delivery"))

    def _stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.tasks = []
        self.ready.clear()

    async def _listen(self, layer: Any) -> None:
        """Join the streams' groups, then turn layer messages into ``rung``. While the layer
        fails (Redis down), the log poll delivers alone and the hub tries again each poll."""
        channel = await layer.new_channel()
        try:
            while True:
                try:
                    await self._receive_bells(layer, channel)
                except Exception:
                    logger.exception("The channel layer failed; delivering from the log poll.")
                    await asyncio.sleep(settings.REALTIME_LOG_POLL_SECONDS)
        finally:
            with contextlib.suppress(Exception):
                for stream in STREAMS:
                    await layer.group_discard(group_for(stream), channel)

    async def _receive_bells(self, layer: Any, channel: str) -> None:
        for stream in STREAMS:
            await layer.group_add(group_for(stream), channel)
        joined_at = time.monotonic()
        while time.monotonic() - joined_at < REJOIN_SECONDS:
            message = await layer.receive(channel)
            self.ring(message["id"], message.get("committed"))

    def ring(self, event_id: int, committed: float | None) -> None:
        if event_id > self.head:
            self.bell_id = max(self.bell_id, event_id)
            if committed is not None:
                self.commit_times[event_id] = committed
            self.rung.set()

    async def _deliver_loop(self) -> None:
        """Start at the log's head, then deliver on every bell and poll; a failed read is
        retried at the next poll."""
        while True:
            try:
                self.head = await database_sync_to_async(log_head)()
                break
            except Exception:
                logger.exception("Reading the event log failed; retrying.")
                await asyncio.sleep(settings.REALTIME_LOG_POLL_SECONDS)
        self.ready.set()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.rung.wait(), settings.REALTIME_LOG_POLL_SECONDS)
            self.rung.clear()
            try:
                await self.deliver_new()
            except Exception:
                logger.exception("Reading the event log failed; retrying.")

    async def deliver_new(self) -> None:
        """Read the log after ``head`` (page by page) and hand each event to its sockets."""
        while True:
            page = await database_sync_to_async(log_page_for_fanout)(
                after=self.head, credentials=list(self.credentials)
            )
            if page.logins is not None:
                self.check_logins(page.logins)
            frames = page.frames
            for start in range(0, len(frames), EVENTS_PER_SLICE):
                if start:
                    # Let the transports drain into the sockets, and pings and requests run.
                    await asyncio.sleep(0)
                handed = frames[start : start + EVENTS_PER_SLICE]
                self.deliver(handed)
                # Every event up to the slice's last is with every live socket that wants it: a
                # socket that ends its replay now reads on from here.
                self.head = max(self.head, handed[-1]["id"])
            self.head = max(self.head, page.head)
            if not page.more:
                return

    def check_logins(self, logins: Logins) -> None:
        """Close the sockets whose login ended; unsubscribe the streams a user may no longer
        view (before any event of them is handed out)."""
        for connection in list(self.connections):
            if connection.closing:
                continue
            if connection.credentials in logins.rejected:
                connection.reject_login()
                continue
            viewable = logins.viewable.get(connection.credentials.user_id, frozenset())
            lost = [stream for stream in connection.cursors if stream not in viewable]
            if lost:
                self.unsubscribe(connection, lost)
                connection.forbid(lost)

    def deliver(self, frames: list[Any]) -> int:
        """Hand each of ``frames`` (in id order) to every socket that is behind it, all of a
        socket's frames at once; returns how many were handed out."""
        batches: dict[Subscriber, list[dict[str, Any]]] = {}
        sent = 0
        for frame in frames:
            event_id, stream = frame["id"], frame["event"]
            committed = self.commit_times.pop(event_id, None)
            message: dict[str, Any] | None = None
            for connection in self.subscribers[stream]:
                if connection.replaying or connection.closing:
                    continue
                if connection.cursors.get(stream, event_id) >= event_id:
                    continue
                if message is None:
                    message = text_message(frame)
                connection.cursors[stream] = event_id
                batch = batches.get(connection)
                if batch is None:
                    batches[connection] = [message]
                else:
                    batch.append(message)
                sent += 1
            if message is not None:
                if committed is None:
                    committed = frame_time(frame)
                metrics.COMMIT_TO_SEND.observe(max(0.0, time.time() - committed))
        # Sockets that get the same frames share their joined bytes (see push_all).
        joined: dict[tuple[int, ...], bytes] = {}
        for connection, batch in batches.items():
            connection.push_all(batch, joined)
        if sent:
            metrics.FRAMES_SENT.inc(sent)
        return sent


hub = Hub()


async def stop() -> None:
    """Stop the hub's tasks (tests that close their event loop)."""
    tasks, hub.tasks = hub.tasks, []
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
