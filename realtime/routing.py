from typing import Any

from django.conf import settings
from django.urls import path

from .consumers import EventsConsumer, SocketFanoutConsumer
from .protocol import WEBSOCKET_PATH

_events = EventsConsumer.as_asgi()
_socket_fanout = SocketFanoutConsumer.as_asgi()


async def events_application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The socket's consumer for ``REALTIME_FANOUT``, read per connection."""
    consumer = _socket_fanout if settings.REALTIME_FANOUT == "socket" else _events
    return await consumer(scope, receive, send)


websocket_urlpatterns = [path(WEBSOCKET_PATH.removeprefix("/"), events_application)]
