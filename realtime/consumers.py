"""``/api/ws``: log in and admit the socket, then answer its subscribe / unsubscribe / ping.

The socket's delivery (replay, live events, the order and backlog of its frames) is its session
with the process's hub (``realtime.hub``); the socket has no channel-layer channel of its own.
(The naive design, a layer channel, log read and encoding per socket, lives in
``bench/baselines/socket_fanout.py`` for the benchmark's comparison.)
"""

import contextlib
import dataclasses
import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from . import admission, metrics, protocol
from .hub import ENCODER, Session, close_message, hub
from .presence import board, person_of
from .protocol import ENCODED_FRAMES, ClientError, Lag, Ping, Presence, Subscribe, Unsubscribe
from .ratelimit import RateLimiter
from .selectors import Credentials, logins_check

logger = logging.getLogger(__name__)


class EventsConsumer(AsyncWebsocketConsumer):
    # Until ``connect`` has admitted the socket.
    ticket: admission.Ticket | None = None
    session: Session | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The socket's life. Whatever ends it (a disconnect, an exception anywhere on its path,
        a cancellation), its ticket, session and gauge are released here, once; an unexpected
        exception is logged and closes the socket with 1011 instead of leaving it half dead."""
        self.base_send = send
        try:
            await self.receive_loop(scope, receive)
        except Exception:
            logger.exception("A socket failed; it is closed with 1011.")
            await self.fail()
        finally:
            await self.release()

    async def receive_loop(self, scope: dict[str, Any], receive: Any) -> None:
        """Channels' consumer loop for a consumer that only reads its socket: no task and no
        ``asyncio.wait`` per message, no layer channel, nothing held for the socket's life but
        this frame."""
        self.scope = scope
        self.channel_layer = None
        with contextlib.suppress(StopConsumer):
            while True:
                await self.dispatch(await receive())

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' ``dispatch`` without its thread hop per message (``aclose_old_connections``):
        a ping touches no database, and the handlers that do go through
        ``database_sync_to_async``, which closes stale connections itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def fail(self) -> None:
        if self.session is not None:
            self.session.fail()
        else:
            with contextlib.suppress(Exception):
                await self.base_send(close_message(protocol.CLOSE_INTERNAL_ERROR))

    async def release(self) -> None:
        """Give back what an admitted socket holds; does nothing the second time."""
        ticket, self.ticket = self.ticket, None
        if ticket is None:
            return
        try:
            if self.session is not None:
                board.leave(self.session)
                self.session.release()
        finally:
            metrics.CONNECTIONS_OPEN.dec()
            await admission.release(ticket)

    async def connect(self) -> None:
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
        self.limiter = RateLimiter(
            rate=settings.REALTIME_RATE_LIMIT_PER_SECOND, burst=settings.REALTIME_RATE_LIMIT_BURST
        )
        await self.accept()
        session = self.scope.get("session")
        self.session = hub.attach(
            self.base_send,
            Credentials(
                user_id=user.pk,
                session_key=session.session_key if session is not None else None,
                token_key=self.scope.get("auth_token"),
            ),
            # uvicorn with ``realtime.server.WebSocketProtocol``: frames encoded once per
            # process, written straight to the transport.
            self.scope.get("extensions", {}).get(ENCODED_FRAMES),
        )

    async def refuse(
        self, code: int, reason: str, error: protocol.ErrorFrame | None = None
    ) -> None:
        metrics.CONNECTIONS_REFUSED.labels(reason).inc()
        await self.accept()
        if error is not None:
            await self.send(text_data=ENCODER.encode(error))
        await self.close(code=code)

    async def refuse_admission(self, decision: admission.Decision) -> None:
        error = protocol.error_frame(ClientError(decision.reason))
        if decision.reason == protocol.SERVER_BUSY:
            error["retry_after"] = settings.REALTIME_RETRY_AFTER_SECONDS  # type: ignore[typeddict-unknown-key]
            await self.refuse(protocol.CLOSE_SERVER_BUSY, decision.reason, error)
        else:
            await self.refuse(protocol.CLOSE_TOO_MANY_CONNECTIONS, decision.reason, error)

    async def disconnect(self, code: int) -> None:
        await self.release()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        session = self.session
        # Refused, or closing: frames the client sent before it saw the close are dropped.
        if session is None or session.closing:
            return
        if not self.limiter.allow():
            session.send(protocol.error_frame(ClientError(protocol.RATE_LIMITED)))
            session.close(protocol.CLOSE_RATE_LIMITED)
            return
        try:
            if text_data is None:
                raise ClientError(protocol.INVALID_MESSAGE, "Send JSON text frames, not binary.")
            if len(text_data.encode()) > settings.REALTIME_MAX_FRAME_BYTES:
                raise ClientError(protocol.TOO_LARGE)
            message = protocol.parse(text_data)
            await self.handlers[type(message)](self, session, message)
        except ClientError as error:
            session.send(protocol.error_frame(error))

    # Client messages.
    async def subscribe(self, session: Session, message: Subscribe) -> None:
        head = await session.subscribe(message.events, message.last_event_id)
        # Streams whose permission went during the replay were answered ``forbidden``.
        events = [stream for stream in message.events if stream in session.cursors]
        if events:
            session.send(protocol.subscribed_frame(events, head))

    async def unsubscribe(self, session: Session, message: Unsubscribe) -> None:
        session.unsubscribe(message.events)
        session.send(protocol.unsubscribed_frame(list(message.events)))

    async def ping(self, session: Session, message: Ping) -> None:
        session.send(protocol.pong_frame(message))

    async def lag(self, session: Session, message: Lag) -> None:
        """Count the lags of the sampled events this socket was sent, once each; invented ones
        (an event not sent live here, or reported before) are dropped without an answer."""
        metrics.change_to_screen_observe(session.lag_reported(message.samples))

    async def presence(self, session: Session, message: Presence) -> None:
        """Show the socket on a page after checking that the user may open it, and that they
        may change what they claim to edit (read again only when the grants last read fall
        short). A refused page is left, and its people are not shown; a refused claim is
        dropped with a ``forbidden`` error, the page kept."""
        if message.page is None:
            board.leave(session)
            return
        grants = board.grants(session)
        if protocol.unmet(message.needs, grants):
            logins = await database_sync_to_async(logins_check)([session.credentials])
            if session.credentials in logins.rejected:
                session.close(protocol.CLOSE_UNAUTHENTICATED)
                return
            grants = logins.grants.get(session.credentials.user_id, frozenset())
            refused = protocol.unmet(protocol.page_needs(message.page), grants)
            if refused:
                board.leave(session)
                session.send(protocol.forbidden_presence_frame(message.page, refused, lost=False))
                return
            if message.editing is not None:
                needs = protocol.editing_needs(message.page, message.editing)
                refused = protocol.unmet(needs, grants)
                if refused:
                    session.send(
                        protocol.forbidden_editing_frame(
                            message.page, message.editing, refused, lost=False
                        )
                    )
                    message = dataclasses.replace(message, editing=None)
        board.update(session, message, person=person_of(self.scope["user"]), grants=grants)

    handlers = {
        Subscribe: subscribe,
        Unsubscribe: unsubscribe,
        Ping: ping,
        Lag: lag,
        Presence: presence,
    }
