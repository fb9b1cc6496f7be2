"""ASGI entry point: HTTP through Django's WSGI handler on a thread pool
(``scheduler_project.http``), WebSockets at ``/api/ws``.

The socket stack, outside in: the origin must be one of ALLOWED_HOSTS; the session cookie (or a
``Token`` header) gives the user; the consumer closes unauthenticated sockets with 4401.
"""

import os

import django
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler_project.settings")
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402

from realtime.middleware import SocketAuthMiddleware  # noqa: E402  (needs the app registry)
from realtime.routing import websocket_urlpatterns  # noqa: E402
from scheduler_project.http import DjangoHTTP  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": DjangoHTTP(threads=settings.HTTP_THREADS),
        "websocket": AllowedHostsOriginValidator(
            SocketAuthMiddleware(URLRouter(websocket_urlpatterns))
        ),
    }
)
