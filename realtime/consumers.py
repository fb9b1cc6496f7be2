"""``/api/ws``: subscribe / unsubscribe / ping, replay from the log, then the live stream.

Every connection keeps a cursor per stream: the id of the last event it has passed on. A bell
from the channel layer (or from the log watcher) only makes it read the log after its cursors,
so a lost, late or duplicated layer message can neither drop nor repeat nor reorder an event.
"""

import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from . import protocol, selectors
from .protocol import ClientError, Ping, Subscribe, Unsubscribe
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


class EventsConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.cursors: dict[str, int] = {}
        # Set once the server closes the socket: frames the client sent before it saw the close
        # frame still arrive, and are dropped.
        self.closing = False
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept first: a close before accept is a bare HTTP 403 with no close code.
            await self.accept()
            await self.close_with(protocol.CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.limiter = RateLimiter(
            rate=settings.REALTIME_RATE_LIMIT_PER_SECOND, burst=settings.REALTIME_RATE_LIMIT_BURST
        )
        await self.accept()
        log_watcher.attach()
        self.attached = True

    async def disconnect(self, code: int) -> None:
        for stream in self.cursors:
            await self.channel_layer.group_discard(protocol.group_for(stream), self.channel_name)
        self.cursors = {}
        if getattr(self, "attached", False):
            log_watcher.detach()
            self.attached = False

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

    async def send_json(self, content: Any) -> None:
        await self.send(text_data=DjangoJSONEncoder().encode(content))

    async def close_with(self, code: int) -> None:
        self.closing = True
        await self.close(code=code)

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
        for stream in message.events:
            if stream not in self.cursors:
                # Join before reading the log, so no event falls between replay and live.
                await self.channel_layer.group_add(protocol.group_for(stream), self.channel_name)
        start = message.last_event_id
        if start is not None:
            pruned = await database_sync_to_async(selectors.log_pruned_through)()
            if start < pruned:
                await self.send_json({"type": "resync_required", "events": list(message.events)})
                start = None
        if start is None:
            start = await database_sync_to_async(selectors.log_head)()
        for stream in message.events:
            self.cursors[stream] = start
        head = await self.catch_up()
        await self.send_json(
            {"type": "subscribed", "events": list(message.events), "last_event_id": head}
        )

    async def unsubscribe(self, message: Unsubscribe) -> None:
        for stream in message.events:
            if self.cursors.pop(stream, None) is not None:
                await self.channel_layer.group_discard(
                    protocol.group_for(stream), self.channel_name
                )
        await self.send_json({"type": "unsubscribed", "events": list(message.events)})

    async def ping(self, message: Ping) -> None:
        await self.send_json({**message.extra, "type": "pong"})

    handlers = {Subscribe: subscribe, Unsubscribe: unsubscribe, Ping: ping}

    # Channel-layer messages.
    async def realtime_event(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        if any(cursor < message["id"] for cursor in self.cursors.values()):
            await self.catch_up()

    async def catch_up(self) -> int:
        """Send every event of the subscribed streams after the cursors; returns the log head."""
        if not self.cursors:
            return 0
        while True:
            # The login is checked before each delivery, in the same database call as the read.
            page = await database_sync_to_async(selectors.log_page_if_allowed)(
                user=self.user,
                session=self.scope.get("session"),
                token_key=self.scope.get("auth_token"),
                after=min(self.cursors.values()),
                streams=list(self.cursors),
            )
            if page is None:
                await self.close_with(protocol.CLOSE_UNAUTHENTICATED)
                return 0
            for frame in page.frames:
                if frame["id"] > self.cursors.get(frame["event"], frame["id"]):
                    await self.send_json(frame)
            for stream, cursor in self.cursors.items():
                self.cursors[stream] = max(cursor, page.head)
            if not page.more:
                return page.head
