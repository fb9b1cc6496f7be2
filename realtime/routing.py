from django.urls import path

from .consumers import EventsConsumer
from .protocol import WEBSOCKET_PATH

websocket_urlpatterns = [path(WEBSOCKET_PATH.removeprefix("/"), EventsConsumer.as_asgi())]
