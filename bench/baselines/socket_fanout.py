"""The naive fan-out, kept for the benchmark's comparison only: the project's protocol and
stack, but every socket on its own.

Each socket joins the channel-layer group of each stream it subscribes to with a channel of its
own; each bell (``realtime.event``, rung after commit by ``realtime.events``) makes every socket
read the log after its own cursors (its login checked in the same call), encode its own copy of
each frame and send it through ASGI. This is the design the project had before its hub
(``realtime.hub``): one log read and one encoding per event per process instead of per socket.

Left out, as they change nothing of what is measured: the log poll that repairs lost bells (the
benchmark's writes ring in the process that serves the clients; the next bell repairs a lost
one anyway), the rate limit and the bounded backlog.

Run: ``daphne bench.baselines.socket_fanout:application`` (or ``uvicorn``), with the project's
settings; the benchmark's ``daphne-socket`` and ``uvicorn-socket`` variants do.
"""

import os
from typing import Any

import django
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler_project.settings")
django.setup(set_prefix=False)

# The project's modules need the app registry.
from realtime import admission, protocol, selectors  # noqa: E402
from realtime.middleware import SocketAuthMiddleware  # noqa: E402
from realtime.origin import OriginValidator  # noqa: E402
from realtime.protocol import ClientError, Ping, Subscribe, Unsubscribe  # noqa: E402
from realtime.selectors import Credentials  # noqa: E402
from scheduler_project import asgi as project_asgi  # noqa: E402

ENCODER = DjangoJSONEncoder()


def streams_viewable_by(user: Any, streams: tuple[str, ...]) -> list[str]:
    """The streams of ``streams`` whose model ``user`` may view (fresh permissions)."""
    users = selectors.users_with_stream_permissions({user.pk})
    viewable = selectors.streams_of(users[0]) if users else frozenset()
    return [stream for stream in streams if stream in viewable]


class SocketFanoutConsumer(AsyncJsonWebsocketConsumer):
    """Subscribe / unsubscribe / ping, a replay from the log, then a log read per bell."""

    ticket: admission.Ticket | None = None
    closing = False

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        return ENCODER.encode(content)

    async def connect(self) -> None:
        self.cursors: dict[str, int] = {}
        user = self.scope.get("user")
        # Accept first: a close before accept is a bare HTTP 403 with no close code.
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close_with(protocol.CLOSE_UNAUTHENTICATED)
            return
        decision = await admission.admit(user.pk)
        if decision.ticket is None:
            await self.send_json(protocol.error_frame(ClientError(decision.reason)))
            busy = decision.reason == protocol.SERVER_BUSY
            await self.close_with(
                protocol.CLOSE_SERVER_BUSY if busy else protocol.CLOSE_TOO_MANY_CONNECTIONS
            )
            return
        self.ticket = decision.ticket
        self.user = user
        session = self.scope.get("session")
        self.credentials = Credentials(
            user_id=user.pk,
            session_key=session.session_key if session is not None else None,
            token_key=self.scope.get("auth_token"),
        )

    async def disconnect(self, code: int) -> None:
        self.closing = True
        await self.leave(list(self.cursors))
        self.cursors = {}
        ticket, self.ticket = self.ticket, None
        if ticket is not None:
            await admission.release(ticket)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        try:
            if text_data is None:
                raise ClientError(protocol.INVALID_MESSAGE, "Send JSON text frames, not binary.")
            message = protocol.parse(text_data)
            await self.handlers[type(message)](self, message)
        except ClientError as error:
            await self.send_json(protocol.error_frame(error))

    # Client messages.
    async def subscribe(self, message: Subscribe) -> None:
        allowed = await database_sync_to_async(streams_viewable_by)(self.user, message.events)
        refused = [stream for stream in message.events if stream not in allowed]
        if refused:
            raise ClientError(
                protocol.FORBIDDEN, f"You may not view: {', '.join(refused)}. Nothing subscribed."
            )
        # Join before reading the log, so no event falls between replay and live.
        await self.join([stream for stream in message.events if stream not in self.cursors])
        start = message.last_event_id
        if start is None:
            start = await database_sync_to_async(selectors.log_head)()
        for stream in message.events:
            self.cursors[stream] = start
        head = await self.catch_up()
        events = [stream for stream in message.events if stream in self.cursors]
        if events and not self.closing:
            await self.send_json({"type": "subscribed", "events": events, "last_event_id": head})

    async def unsubscribe(self, message: Unsubscribe) -> None:
        left = [stream for stream in message.events if self.cursors.pop(stream, None) is not None]
        await self.leave(left)
        await self.send_json({"type": "unsubscribed", "events": list(message.events)})

    async def ping(self, message: Ping) -> None:
        await self.send_json({**message.extra, "type": "pong"})

    handlers = {Subscribe: subscribe, Unsubscribe: unsubscribe, Ping: ping}

    # Channel-layer messages: a bell per committed event.
    async def realtime_event(self, message: dict[str, Any]) -> None:
        if not self.closing and any(cursor < message["id"] for cursor in self.cursors.values()):
            await self.catch_up()

    async def join(self, streams: list[str]) -> None:
        for stream in streams:
            await self.channel_layer.group_add(protocol.group_for(stream), self.channel_name)

    async def leave(self, streams: list[str]) -> None:
        for stream in streams:
            await self.channel_layer.group_discard(protocol.group_for(stream), self.channel_name)

    async def close_with(self, code: int) -> None:
        if not self.closing:
            self.closing = True
            await self.close(code=code)

    async def catch_up(self) -> int:
        """Send every event of the subscribed streams after the cursors; returns the log head."""
        head = 0
        while self.cursors and not self.closing:
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
            stale = [s for s, cursor in self.cursors.items() if cursor < page.pruned_through]
            if stale:
                await self.send_json({"type": "resync_required", "events": stale})
                for stream in stale:
                    self.cursors[stream] = page.head
            for frame in page.frames:
                if frame["id"] > self.cursors.get(frame["event"], frame["id"]):
                    await self.send(text_data=ENCODER.encode(frame))
            for stream, cursor in self.cursors.items():
                self.cursors[stream] = max(cursor, page.head)
            head = page.head
            if not page.more:
                break
        return head


application = ProtocolTypeRouter(
    {
        "http": project_asgi.application.application_mapping["http"],
        "websocket": OriginValidator(
            SocketAuthMiddleware(
                URLRouter(
                    [
                        path(
                            protocol.WEBSOCKET_PATH.removeprefix("/"),
                            SocketFanoutConsumer.as_asgi(),
                        )
                    ]
                )
            )
        ),
    }
)
