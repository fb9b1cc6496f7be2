"""ASGI entry point: HTTP through Django, WebSockets at ``/api/ws``.

The socket stack, outside in: the origin must be one of ALLOWED_HOSTS; the session cookie (or a
``Token`` header) gives the user; the consumer closes unauthenticated sockets with 4401.
"""

import os

from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler_project.settings")

django_asgi_app = get_asgi_application()

from realtime.middleware import socket_auth_stack  # noqa: E402  (needs the app registry)
from realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            socket_auth_stack(URLRouter(websocket_urlpatterns))
        ),
    }
)
