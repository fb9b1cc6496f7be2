"""Delivery, owned by one hub per process: each socket's session (its cursors, the handoff from
its replay to live delivery, its writer and bounded backlog) and the fan-out of new events.

The hub of a process joins every stream's group once. A bell (an event id, rung after commit by
``realtime.events``) or a poll every ``REALTIME_LOG_POLL_SECONDS`` (events committed by a process
whose bell never came) makes it read the log after the last id it delivered (``head``), check
the logins of its sockets in the same database call, encode each event once and hand the same
frame to every subscribed session whose cursor is behind it.

A session that subscribes (or resumes) joins its streams first, then reads the log itself from
its cursors until it has reached the hub's head; meanwhile the hub skips it (``replaying``).
Every event is then either one the replay read (its id at most the head the replay reached,
which is at least the hub's) or one the hub reads after that head, and the cursors drop any
event already sent: a lost, late or duplicated bell can neither drop nor repeat nor reorder an
event. Both halves of that handoff are in this module (``Session.subscribe`` and
``Hub.deliver``); realtime/tests/test_hub.py drives their interleavings.

Frames leave through one writer per session, in order. A client that stops reading builds a
backlog; past ``REALTIME_SEND_BACKLOG`` frames it is dropped, told so, and closed with 4408 (the
client resumes from its last event id and loses nothing).
"""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from . import metrics, presence, protocol, selectors
from .protocol import STREAMS, ClientError, group_for
from .selectors import Credentials, Logins, frame_time, log_head, log_page_for_fanout

logger = logging.getLogger(__name__)

ENCODER = DjangoJSONEncoder()
# channels-redis forgets group members after a day; the hub joins again well before that.
REJOIN_SECONDS = 3600
# A burst is handed out in slices of events with the event loop running in between: the loop
# stays responsive, and a socket's backlog measures how far its client is behind, not the
# burst's size. A socket gets a slice's frames in one write where the server allows it.
EVENTS_PER_SLICE = 32


def text_message(frame: Any) -> dict[str, Any]:
    """The ASGI message that sends ``frame`` as JSON; one per event, shared by all sockets."""
    return {"type": "websocket.send", "text": ENCODER.encode(frame)}


def close_message(code: int) -> dict[str, Any]:
    return {"type": "websocket.close", "code": code}


# Where a shared text message keeps its frame once encoded by the server's extension.
ENCODED_FRAME_KEY = "realtime.encoded_frame"

Send = Callable[[dict[str, Any]], Awaitable[None]]
"""The socket's ASGI ``send``."""


class Session:
    """One socket's delivery (``Hub.attach`` makes it): a cursor per subscribed stream, the id
    of the last event passed on; its replay from the log; its frames in order through one
    writer, straight to the transport where the server offers that (``realtime.server``)."""

    # A session lives as long as its socket: no ``__dict__`` per socket.
    __slots__ = (
        "backlog",
        "base_send",
        "closing",
        "credentials",
        "cursors",
        "encoded_frames",
        "hub",
        "lag_pending",
        "presence",
        "replaying",
        "writer",
    )

    def __init__(
        self,
        hub: "Hub",
        send: Send,
        credentials: Credentials,
        encoded_frames: dict[str, Any] | None,
    ) -> None:
        self.hub = hub
        self.base_send = send
        self.credentials = credentials
        self.encoded_frames = encoded_frames
        self.cursors: dict[str, int] = {}
        # The session reads the log itself (subscribe, resume): the hub skips it meanwhile.
        self.replaying = False
        # Set once the server closes the socket: nothing more is queued.
        self.closing = False
        self.writer: asyncio.Task[None] | None = None
        self.backlog: deque[dict[str, Any]] | None = None
        # The newest presence frame, waiting for the writer: presence never joins the backlog
        # (it neither delays events nor counts toward a slow consumer), and a stale one is
        # replaced, not queued.
        self.presence: dict[str, Any] | None = None
        # The sampled events sent live whose lag the client has yet to report (made on the
        # first; at most ``LAG_PENDING_MAX``, the oldest forgotten).
        self.lag_pending: deque[int] | None = None

    # What the consumer calls.
    async def subscribe(self, streams: Sequence[str], last_event_id: int | None) -> int:
        """Deliver ``streams`` from after ``last_event_id`` (None: from now on): replay the log
        up to the hub's head, then leave the rest to the hub. Returns the log head reached;
        the streams still in ``cursors`` are those subscribed (a permission lost meanwhile is
        answered ``forbidden`` and its stream dropped). Raises ``ClientError(FORBIDDEN)``,
        subscribing nothing, if the user may not view one of ``streams``.

        One database call checks the login and the permissions and reads the log's head. A
        subscription from now on (or from that head) with the hub no further than it needs no
        replay: every later event is one the hub has yet to read, and it delivers it.
        """
        check = await database_sync_to_async(selectors.subscription_check)(
            credentials=self.credentials
        )
        if self.credentials in check.logins.rejected:
            self.close(protocol.CLOSE_UNAUTHENTICATED)
            return 0
        viewable = check.logins.viewable.get(self.credentials.user_id, frozenset())
        refused = [stream for stream in streams if stream not in viewable]
        if refused:
            raise ClientError(
                protocol.FORBIDDEN, f"You may not view: {', '.join(refused)}. Nothing subscribed."
            )
        start = check.head if last_event_id is None else last_event_id
        # Join before reading the log, so no event falls between replay and live.
        if self.cursors and not self.replaying:
            # A live session has every event of its streams up to the hub's head: replay from
            # there, not from an old cursor of a quiet stream.
            for stream, cursor in self.cursors.items():
                self.cursors[stream] = max(cursor, self.hub.head)
        live = not self.replaying and self.hub.ready.is_set()
        self.replaying = True
        self.hub.subscribe(self, [stream for stream in streams if stream not in self.cursors])
        for stream in streams:
            self.cursors[stream] = start
        if (
            last_event_id is None
            and live
            and min(self.cursors.values(), default=0) >= self.hub.head
        ):
            # Nothing to replay: no event after the head just read has been handed out yet, and
            # every cursor is there or beyond. (A resume always replays: its id may be older
            # than the pruned log, even when the log is empty now.)
            self.replaying = False
            return start
        # A resume from before the pruned log gets ``resync_required`` from the replay, which
        # reads the pruning point with each page of the log.
        return await self._replay()

    def unsubscribe(self, streams: Sequence[str]) -> None:
        left = [stream for stream in streams if self.cursors.pop(stream, None) is not None]
        self.hub.unsubscribe(self, left)

    def send(self, frame: Any) -> None:
        """Queue a frame of the protocol after those already queued."""
        self.push(text_message(frame))

    def send_presence(self, frame: Any) -> None:
        """Send a presence frame after the frames queued, replacing one still waiting."""
        if self.closing:
            return
        if self.writer is None:
            self._enqueue(text_message(frame))
        else:
            self.presence = text_message(frame)

    def close(self, code: int) -> None:
        """Close the socket with ``code`` once the frames queued before are sent."""
        if not self.closing:
            self.closing = True
            self._enqueue(close_message(code))

    def fail(self) -> None:
        """Drop what is queued and close with 1011 (internal error), unless already closing."""
        if self.closing:
            return
        self.closing = True
        if self.backlog:
            self.backlog.clear()
        self._enqueue(close_message(protocol.CLOSE_INTERNAL_ERROR))

    def lag_reported(self, samples: Iterable[protocol.LagSample]) -> list[float]:
        """The lags of ``samples`` that count: each of a sampled event this socket was sent
        live and has not reported before. Anything else (an event never sent, a replayed or
        unsampled one, a second report) is ignored."""
        pending = self.lag_pending
        accepted: list[float] = []
        for sample in samples:
            if pending and sample.event_id in pending:
                pending.remove(sample.event_id)
                accepted.append(sample.seconds)
        return accepted

    def release(self) -> None:
        """The socket is gone: leave the hub. Does nothing the second time."""
        self.closing = True
        self.cursors = {}
        self.hub.detach(self)

    # The replay.
    async def _replay(self) -> int:
        """Read the log until this session is level with the hub, then let the hub deliver."""
        await self.hub.ready.wait()
        try:
            while True:
                head = await self._catch_up()
                if self.closing or not self.cursors or head >= self.hub.head:
                    return head
        finally:
            self.replaying = False

    async def _catch_up(self) -> int:
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
                self.close(protocol.CLOSE_UNAUTHENTICATED)
                return 0
            viewable = page.logins.viewable.get(self.credentials.user_id, frozenset())
            lost = [stream for stream in self.cursors if stream not in viewable]
            if lost:
                self.unsubscribe(lost)
                self.send(protocol.forbidden_frame(lost))
                if not self.cursors:
                    return page.head
            # Events the cursors needed may have been pruned before the read: start those
            # streams again after this page, and have the client reload them.
            stale = [s for s, cursor in self.cursors.items() if cursor < page.pruned_through]
            if stale:
                self.send(protocol.resync_required_frame(stale))
                for stream in stale:
                    self.cursors[stream] = page.head
            sent = 0
            for frame in page.frames:
                if frame["id"] > self.cursors.get(frame["event"], frame["id"]):
                    await self._send_replayed(frame)
                    sent += 1
            if sent:
                metrics.EVENTS_REPLAYED.inc(sent)
                metrics.FRAMES_SENT.inc(sent)
            for stream, cursor in self.cursors.items():
                self.cursors[stream] = max(cursor, page.head)
            head = page.head
            if not page.more:
                return head

    async def _send_replayed(self, frame: Any) -> None:
        """A replayed frame: the replay waits for the client instead of counting as behind."""
        if not self.closing:
            self._enqueue(text_message(frame))
            if self.backlog is not None and len(self.backlog) >= settings.REALTIME_SEND_BACKLOG:
                await self._drained()

    async def _drained(self) -> None:
        if self.writer is not None:
            await asyncio.wait([self.writer])

    # What the hub calls.
    def forbid(self, streams: list[str]) -> None:
        """The hub found the view permission of ``streams`` gone, and unsubscribed them."""
        for stream in streams:
            self.cursors.pop(stream, None)
        self.send(protocol.forbidden_frame(streams))

    def reject_login(self) -> None:
        """The hub found the login gone (logout, deactivation, revoked token)."""
        self.close(protocol.CLOSE_UNAUTHENTICATED)

    def lag_expect(self, event_id: int) -> None:
        """A sampled event is being sent live: its lag may be reported once."""
        if self.lag_pending is None:
            self.lag_pending = deque(maxlen=protocol.LAG_PENDING_MAX)
        self.lag_pending.append(event_id)

    def push(self, message: dict[str, Any]) -> None:
        """Queue a live message; a client too far behind is dropped instead."""
        if self.closing:
            return
        backlog = self.backlog
        if backlog is not None and len(backlog) >= settings.REALTIME_SEND_BACKLOG:
            self._fall_behind()
            return
        self._enqueue(message)

    def push_all(
        self, messages: list[dict[str, Any]], joined: dict[tuple[int, ...], bytes]
    ) -> None:
        """Several frames at once. Through the encoded-frames extension they leave in one write
        to the transport (fewer system calls in a burst; still one frame per event), their bytes
        joined once for all the sessions that get the same frames (``joined``, by identity)."""
        if len(messages) > 1 and self.writer is None and self.encoded_frames is not None:
            if self.closing:
                return
            key = tuple(map(id, messages))
            frames = joined.get(key)
            if frames is None:
                frames = joined[key] = b"".join(map(self._encoded_frame, messages))
            if self.encoded_frames["write"](frames):
                return
        for message in messages:
            self.push(message)

    # Writing.
    def _enqueue(self, message: dict[str, Any]) -> None:
        if self.writer is None:
            if self.encoded_frames is not None and self._write_directly(message):
                return
            # Usually the write completes at once (the transport takes it): no task switch.
            loop = asyncio.get_running_loop()
            task = asyncio.Task(self._write(message), loop=loop, eager_start=True)
            if not task.done():
                self.writer = task
            return
        if self.backlog is None:
            self.backlog = deque()
        self.backlog.append(message)

    def _write_directly(self, message: dict[str, Any]) -> bool:
        """Write a text message through the server's encoded-frames extension; the first
        session to write a shared message encodes it for all. ``False``: send it through ASGI."""
        if "text" not in message:
            return False
        return self.encoded_frames["write"](self._encoded_frame(message))  # type: ignore[index]

    def _encoded_frame(self, message: dict[str, Any]) -> bytes:
        """The frame of a text message, encoded by the first session that writes it."""
        frame = message.get(ENCODED_FRAME_KEY)
        if frame is None:
            encode = self.encoded_frames["encode"]  # type: ignore[index]
            frame = message[ENCODED_FRAME_KEY] = encode(message["text"])
        return frame

    async def _write(self, message: dict[str, Any]) -> None:
        try:
            await self.base_send(message)
            while True:
                while self.backlog:
                    await self.base_send(self.backlog.popleft())
                presence, self.presence = self.presence, None
                if presence is None:
                    break
                await self.base_send(presence)
        except Exception:
            metrics.SEND_FAILURES.inc()
            logger.debug("Sending to a socket failed; it is closed.", exc_info=True)
            self.closing = True
            self.presence = None
            if self.backlog:
                self.backlog.clear()
        finally:
            self.writer = None

    def _fall_behind(self) -> None:
        """Drop the backlog of a client that stopped reading; tell it and close."""
        metrics.SLOW_CONSUMER_DISCONNECTS.inc()
        if self.backlog:
            self.backlog.clear()
        self._enqueue(text_message(protocol.error_frame(ClientError(protocol.SLOW_CONSUMER))))
        self.closing = True
        self._enqueue(close_message(protocol.CLOSE_SLOW_CONSUMER))


class Hub:
    def __init__(self) -> None:
        self.subscribers: dict[str, set[Session]] = {stream: set() for stream in STREAMS}
        self.sessions: set[Session] = set()
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

    # Sessions (made and ended by consumers, in the event loop, no awaits).
    def attach(
        self,
        send: Send,
        credentials: Credentials,
        encoded_frames: dict[str, Any] | None = None,
    ) -> Session:
        """A session for a socket that ``send`` writes to, logged in with ``credentials``."""
        loop = asyncio.get_running_loop()
        if self.loop is not loop or not self.tasks:
            self._start(loop)
        session = Session(self, send, credentials, encoded_frames)
        self.sessions.add(session)
        self.credentials[credentials] = self.credentials.get(credentials, 0) + 1
        return session

    def detach(self, session: Session) -> None:
        self.unsubscribe(session, STREAMS)
        if session in self.sessions:
            self.sessions.discard(session)
            key = session.credentials
            self.credentials[key] -= 1
            if not self.credentials[key]:
                del self.credentials[key]
        if not self.sessions:
            self._stop()

    def subscribe(self, session: Session, streams: Iterable[str]) -> None:
        for stream in streams:
            if session not in self.subscribers[stream]:
                self.subscribers[stream].add(session)
                metrics.SUBSCRIPTIONS.labels(stream).inc()

    def unsubscribe(self, session: Session, streams: Iterable[str]) -> None:
        for stream in streams:
            if session in self.subscribers[stream]:
                self.subscribers[stream].discard(session)
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
        for session in list(self.sessions):
            if session.closing:
                continue
            if session.credentials in logins.rejected:
                session.reject_login()
                continue
            viewable = logins.viewable.get(session.credentials.user_id, frozenset())
            lost = [stream for stream in session.cursors if stream not in viewable]
            if lost:
                self.unsubscribe(session, lost)
                session.forbid(lost)
            grants = logins.grants.get(session.credentials.user_id, frozenset())
            refusal = presence.board.check(session, grants)
            if refusal is not None:
                session.send(refusal)

    def deliver(self, frames: list[Any]) -> int:
        """Hand each of ``frames`` (in id order) to every socket that is behind it, all of a
        socket's frames at once; returns how many were handed out."""
        batches: dict[Session, list[dict[str, Any]]] = {}
        sent = 0
        lag_rate = settings.REALTIME_LAG_SAMPLE_RATE
        for frame in frames:
            event_id, stream = frame["id"], frame["event"]
            committed = self.commit_times.pop(event_id, None)
            sampled = protocol.lag_sampled(event_id, lag_rate)
            message: dict[str, Any] | None = None
            for session in self.subscribers[stream]:
                if session.replaying or session.closing:
                    continue
                if session.cursors.get(stream, event_id) >= event_id:
                    continue
                if message is None:
                    message = text_message(frame)
                session.cursors[stream] = event_id
                if sampled:
                    session.lag_expect(event_id)
                batch = batches.get(session)
                if batch is None:
                    batches[session] = [message]
                else:
                    batch.append(message)
                sent += 1
            if message is not None:
                if committed is None:
                    committed = frame_time(frame)
                metrics.COMMIT_TO_SEND.observe(max(0.0, time.time() - committed))
        # Sockets that get the same frames share their joined bytes (see push_all).
        joined: dict[tuple[int, ...], bytes] = {}
        for session, batch in batches.items():
            session.push_all(batch, joined)
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
