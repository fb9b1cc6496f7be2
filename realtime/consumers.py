"""``/api/ws``: subscribe / unsubscribe / ping, replay from the log, then the live stream.

Every connection keeps a cursor per stream: the id of the last event it has passed on. Live
events come from the process's hub (``realtime.hub``), which reads the log once per process and
skips sockets whose cursor is already past an event; a subscribe or resume reads the log itself
until it has caught up with the hub. So a lost, late or duplicated bell can neither drop nor
repeat nor reorder an event.

Frames leave through one writer per socket, in order. A socket whose client stops reading
builds a backlog; past ``REALTIME_SEND_BACKLOG`` frames it is dropped, told so, and closed with
4408 (the client resumes from its last event id and loses nothing).

``SocketFanoutConsumer`` is the naive design (a layer channel, log read and encoding per socket),
selected with ``REALTIME_FANOUT=socket`` so that the benchmark can measure the difference.
"""

import asyncio
import logging
import time
from collections import deque
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from . import admission, metrics, protocol, selectors
from .hub import ENCODER, hub, text_message
from .protocol import ClientError, Lag, Ping, Subscribe, Unsubscribe
from .selectors import Credentials
from .server import ENCODED_FRAMES
from .watcher import log_watcher

logger = logging.getLogger(__name__)


class RateLimiter:
    """A token bucket: ``rate`` messages a second on average, bursts up to ``burst``."""

    def __init__(self, *, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def close_message(code: int) -> dict[str, Any]:
    return {"type": "websocket.close", "code": code}


# Where a shared text message keeps its frame once encoded by the server's extension.
ENCODED_FRAME_KEY = "realtime.encoded_frame"


class EventsConsumer(AsyncWebsocketConsumer):
    # No layer channel per socket: the hub holds the process's one (an alias that is not
    # configured gives no layer).
    channel_layer_alias = "realtime.hub-only"

    # Until ``connect`` has run: what ``release`` and ``fail`` read.
    ticket: admission.Ticket | None = None
    delivering = False
    closing = False
    writer: asyncio.Task[None] | None = None
    backlog: deque[dict[str, Any]] | None = None
    encoded_frames: dict[str, Any] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The socket's life. Whatever ends it (a disconnect, an exception anywhere on its path,
        a cancellation), its ticket, hub entry and gauge are released here, once; an unexpected
        exception is logged and closes the socket with 1011 instead of leaving it half dead."""
        self.base_send = send
        try:
            if get_channel_layer(self.channel_layer_alias) is not None:
                await super().__call__(scope, receive, send)
            else:
                await self.receive_loop(scope, receive)
        except Exception:
            logger.exception("A socket failed; it is closed with 1011.")
            self.fail()
        finally:
            await self.release()

    async def receive_loop(self, scope: dict[str, Any], receive: Any) -> None:
        """Channels' consumer loop for a consumer that only reads its socket: no task and no
        ``asyncio.wait`` per message, nothing held for the socket's life but this frame."""
        self.scope = scope
        self.channel_layer = None
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    def fail(self) -> None:
        """Drop what is queued and close with 1011 (internal error), unless already closing."""
        if self.closing:
            return
        self.closing = True
        if self.backlog:
            self.backlog.clear()
        self.enqueue(close_message(protocol.CLOSE_INTERNAL_ERROR))

    async def release(self) -> None:
        """Give back what an admitted socket holds; does nothing the second time."""
        ticket, self.ticket = self.ticket, None
        if ticket is None:
            return
        self.closing = True
        try:
            if self.delivering:
                self.delivering = False
                await self.stop_delivery()
        finally:
            self.cursors = {}
            metrics.CONNECTIONS_OPEN.dec()
            await admission.release(ticket)

    async def connect(self) -> None:
        self.cursors: dict[str, int] = {}
        # Set once the server closes the socket: frames the client sent before it saw the close
        # frame still arrive, and are dropped; nothing more is queued.
        self.closing = False
        self.replaying = False
        # uvicorn with ``realtime.server.WebSocketProtocol``: frames encoded once per process,
        # written straight to the transport (see ``write_directly``).
        self.encoded_frames = self.scope.get("extensions", {}).get(ENCODED_FRAMES)
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept first: a close before accept is a bare HTTP 403 with no close code.
            await self.refuse(protocol.CLOSE_UNAUTHENTICATED, "unauthenticated")
            return
        decision = await admission.admit(user.pk)
        if decision.ticket is None:
            await self.refuse_admission(decision)
            return
        self.ticket = decision.ticket
        metrics.CONNECTIONS_OPEN.inc()
        self.user = user
        session = self.scope.get("session")
        self.credentials = Credentials(
            user_id=user.pk,
            session_key=session.session_key if session is not None else None,
            token_key=self.scope.get("auth_token"),
        )
        self.limiter = RateLimiter(
            rate=settings.REALTIME_RATE_LIMIT_PER_SECOND, burst=settings.REALTIME_RATE_LIMIT_BURST
        )
        await self.accept()
        self.delivering = True
        await self.start_delivery()

    async def refuse(self, code: int, reason: str, error: dict[str, Any] | None = None) -> None:
        metrics.CONNECTIONS_REFUSED.labels(reason).inc()
        self.closing = True
        await self.accept()
        if error is not None:
            await self.send(text_data=ENCODER.encode(error))
        await self.close(code=code)

    async def refuse_admission(self, decision: admission.Decision) -> None:
        error = protocol.error_frame(ClientError(decision.reason))
        if decision.reason == protocol.SERVER_BUSY:
            error["retry_after"] = settings.REALTIME_RETRY_AFTER_SECONDS
            await self.refuse(protocol.CLOSE_SERVER_BUSY, decision.reason, error)
        else:
            await self.refuse(protocol.CLOSE_TOO_MANY_CONNECTIONS, decision.reason, error)

    async def disconnect(self, code: int) -> None:
        await self.release()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        if not self.limiter.allow():
            await self.send_json(protocol.error_frame(ClientError(protocol.RATE_LIMITED)))
            await self.close_with(protocol.CLOSE_RATE_LIMITED)
            return
        try:
            if text_data is None:
                raise ClientError(protocol.INVALID_MESSAGE, "Send JSON text frames, not binary.")
            if len(text_data.encode()) > settings.REALTIME_MAX_FRAME_BYTES:
                raise ClientError(protocol.TOO_LARGE)
            message = protocol.parse(text_data)
            await self.handlers[type(message)](self, message)
        except ClientError as error:
            await self.send_json(protocol.error_frame(error))

    # Client messages.
    async def subscribe(self, message: Subscribe) -> None:
        allowed = await database_sync_to_async(selectors.streams_viewable_by)(
            self.user, message.events
        )
        refused = [stream for stream in message.events if stream not in allowed]
        if refused:
            raise ClientError(
                protocol.FORBIDDEN, f"You may not view: {', '.join(refused)}. Nothing subscribed."
            )
        # Join before reading the log, so no event falls between replay and live.
        await self.join([stream for stream in message.events if stream not in self.cursors])
        # A resume from before the pruned log gets ``resync_required`` from the replay, which
        # reads the pruning point with each page of the log.
        start = message.last_event_id
        if start is None:
            start = await database_sync_to_async(selectors.log_head)()
        for stream in message.events:
            self.cursors[stream] = start
        head = await self.replay()
        # Streams whose permission went during the replay were answered ``forbidden``.
        events = [stream for stream in message.events if stream in self.cursors]
        if events:
            await self.send_json({"type": "subscribed", "events": events, "last_event_id": head})

    async def unsubscribe(self, message: Unsubscribe) -> None:
        left = [stream for stream in message.events if self.cursors.pop(stream, None) is not None]
        await self.leave(left)
        await self.send_json({"type": "unsubscribed", "events": list(message.events)})

    async def ping(self, message: Ping) -> None:
        await self.send_json(protocol.pong_frame(message))

    async def lag(self, message: Lag) -> None:
        metrics.change_to_screen_observe(message.samples)

    handlers = {Subscribe: subscribe, Unsubscribe: unsubscribe, Ping: ping, Lag: lag}

    # Delivery through the hub.
    async def start_delivery(self) -> None:
        hub.attach(self)

    async def stop_delivery(self) -> None:
        hub.detach(self)

    async def join(self, streams: list[str]) -> None:
        if self.cursors and not self.replaying:
            # A live socket has every event of its streams up to the hub's head: replay from
            # there, not from an old cursor of a quiet stream.
            for stream, cursor in self.cursors.items():
                self.cursors[stream] = max(cursor, hub.head)
        self.replaying = True
        hub.subscribe(self, streams)

    async def leave(self, streams: list[str]) -> None:
        hub.unsubscribe(self, streams)

    async def replay(self) -> int:
        """Read the log until this socket is level with the hub, then let the hub deliver."""
        await hub.ready.wait()
        try:
            while True:
                head = await self.catch_up()
                if self.closing or not self.cursors or head >= hub.head:
                    return head
        finally:
            self.replaying = False

    async def catch_up(self) -> int:
        """Send every event of the subscribed streams after the cursors; returns the log head."""
        head = 0
        while True:
            # The hub may have taken every stream away (lost permissions) while this waited.
            if not self.cursors:
                return head
            # The login and the permissions are checked before each delivery, in the same
            # database call as the read.
            page = await database_sync_to_async(selectors.log_page_if_allowed)(
                credentials=self.credentials,
                after=min(self.cursors.values()),
                streams=list(self.cursors),
            )
            if self.credentials in page.logins.rejected:
                await self.close_with(protocol.CLOSE_UNAUTHENTICATED)
                return 0
            viewable = page.logins.viewable.get(self.credentials.user_id, frozenset())
            lost = [stream for stream in self.cursors if stream not in viewable]
            if lost:
                await self.leave(lost)
                for stream in lost:
                    del self.cursors[stream]
                await self.send_json(protocol.forbidden_frame(lost))
                if not self.cursors:
                    return page.head
            # Events the cursors needed may have been pruned before the read: start those
            # streams again after this page, and have the client reload them.
            stale = [s for s, cursor in self.cursors.items() if cursor < page.pruned_through]
            if stale:
                await self.send_json({"type": "resync_required", "events": stale})
                for stream in stale:
                    self.cursors[stream] = page.head
            sent = 0
            for frame in page.frames:
                if frame["id"] > self.cursors.get(frame["event"], frame["id"]):
                    await self.send_replayed(frame)
                    sent += 1
            if sent:
                metrics.EVENTS_REPLAYED.inc(sent)
                metrics.FRAMES_SENT.inc(sent)
            for stream, cursor in self.cursors.items():
                self.cursors[stream] = max(cursor, page.head)
            head = page.head
            if not page.more:
                return head

    # Sending: one writer per socket, frames in order, a bounded backlog.
    async def send_json(self, content: Any) -> None:
        self.push(text_message(content))

    async def send_replayed(self, frame: Any) -> None:
        """A replayed frame: the replay waits for the client instead of counting as behind."""
        if not self.closing:
            self.enqueue(text_message(frame))
            if self.backlog is not None and len(self.backlog) >= settings.REALTIME_SEND_BACKLOG:
                await self.drained()

    async def drained(self) -> None:
        if self.writer is not None:
            await asyncio.wait([self.writer])

    async def close_with(self, code: int) -> None:
        if not self.closing:
            self.closing = True
            self.enqueue(close_message(code))

    def forbid(self, streams: list[str]) -> None:
        """The hub found the view permission of ``streams`` gone, and unsubscribed them."""
        for stream in streams:
            self.cursors.pop(stream, None)
        self.push(text_message(protocol.forbidden_frame(streams)))

    def reject_login(self) -> None:
        """The hub found the login gone (logout, deactivation, revoked token)."""
        if not self.closing:
            self.closing = True
            self.enqueue(close_message(protocol.CLOSE_UNAUTHENTICATED))

    def push(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        backlog = self.backlog
        if backlog is not None and len(backlog) >= settings.REALTIME_SEND_BACKLOG:
            self.fall_behind()
            return
        self.enqueue(message)

    def push_all(
        self, messages: list[dict[str, Any]], joined: dict[tuple[int, ...], bytes]
    ) -> None:
        """Several frames at once. Through the encoded-frames extension they leave in one write
        to the transport (fewer system calls in a burst; still one frame per event), their bytes
        joined once for all the sockets that get the same frames (``joined``, by identity)."""
        if len(messages) > 1 and self.writer is None and self.encoded_frames is not None:
            if self.closing:
                return
            key = tuple(map(id, messages))
            frames = joined.get(key)
            if frames is None:
                frames = joined[key] = b"".join(map(self.encoded_frame, messages))
            if self.encoded_frames["write"](frames):
                return
        for message in messages:
            self.push(message)

    def enqueue(self, message: dict[str, Any]) -> None:
        if self.writer is None:
            if self.encoded_frames is not None and self.write_directly(message):
                return
            # Usually the write completes at once (the transport takes it): no task switch.
            loop = asyncio.get_running_loop()
            task = asyncio.Task(self.write(message), loop=loop, eager_start=True)
            if not task.done():
                self.writer = task
            return
        if self.backlog is None:
            self.backlog = deque()
        self.backlog.append(message)

    def write_directly(self, message: dict[str, Any]) -> bool:
        """Write a text message through the server's encoded-frames extension; the first socket
        to write a shared message encodes it for all. ``False``: send it through ASGI."""
        if "text" not in message:
            return False
        return self.encoded_frames["write"](self.encoded_frame(message))

    def encoded_frame(self, message: dict[str, Any]) -> bytes:
        """The frame of a text message, encoded by the first socket that writes it."""
        frame = message.get(ENCODED_FRAME_KEY)
        if frame is None:
            frame = message[ENCODED_FRAME_KEY] = self.encoded_frames["encode"](message["text"])
        return frame

    async def write(self, message: dict[str, Any]) -> None:
        try:
            await self.base_send(message)
            while self.backlog:
                await self.base_send(self.backlog.popleft())
        except Exception:
            metrics.SEND_FAILURES.inc()
            logger.debug("Sending to a socket failed; it is closed.", exc_info=True)
            self.closing = True
            if self.backlog:
                self.backlog.clear()
        finally:
            self.writer = None

    def fall_behind(self) -> None:
        """Drop the backlog of a client that stopped reading; tell it and close."""
        metrics.SLOW_CONSUMER_DISCONNECTS.inc()
        if self.backlog:
            self.backlog.clear()
        self.enqueue(text_message(protocol.error_frame(ClientError(protocol.SLOW_CONSUMER))))
        self.closing = True
        self.enqueue(close_message(protocol.CLOSE_SLOW_CONSUMER))


class SocketFanoutConsumer(EventsConsumer):
    """The naive design: every socket joins the streams' groups, reads the log on each bell and
    encodes and sends its own copy of each frame (``REALTIME_FANOUT=socket``)."""

    channel_layer_alias = "default"

    async def start_delivery(self) -> None:
        log_watcher.attach()

    async def stop_delivery(self) -> None:
        await self.leave(list(self.cursors))
        log_watcher.detach()

    async def join(self, streams: list[str]) -> None:
        for stream in streams:
            await self.channel_layer.group_add(protocol.group_for(stream), self.channel_name)

    async def leave(self, streams: list[str]) -> None:
        for stream in streams:
            await self.channel_layer.group_discard(protocol.group_for(stream), self.channel_name)

    async def replay(self) -> int:
        return await self.catch_up()

    async def send_json(self, content: Any) -> None:
        if not self.closing:
            await self.send(text_data=ENCODER.encode(content))

    send_replayed = send_json

    async def close_with(self, code: int) -> None:
        if not self.closing:
            self.closing = True
            await self.close(code=code)

    # Channel-layer messages.
    async def realtime_event(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        if any(cursor < message["id"] for cursor in self.cursors.values()):
            await self.catch_up()
