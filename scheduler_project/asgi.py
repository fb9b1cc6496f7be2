"""ASGI entry point: HTTP through Django's WSGI handler on a thread pool
(``scheduler_project.http``), WebSockets at ``/api/ws``.

The socket stack, outside in: the ``Origin`` must be the socket's own scheme, host and port, or
one of CSRF_TRUSTED_ORIGINS (``realtime.origin``); the session cookie (or a ``Token`` header)
gives the user; the consumer closes unauthenticated sockets with 4401.
"""

import gc
import os

import django
from channels.routing import ProtocolTypeRouter, URLRouter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler_project.settings")
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402

from realtime.middleware import SocketAuthMiddleware  # noqa: E402  (needs the app registry)
from realtime.origin import OriginValidator  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402
from scheduler_project.http import DjangoHTTP  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": DjangoHTTP(threads=settings.HTTP_THREADS),
        "websocket": OriginValidator(SocketAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)

# Everything loaded so far (Django, the apps, the URL conf) lives as long as the process: keep it
# out of the garbage collector's full passes, which otherwise walk it every few large pages
# (about 100 ms per pass under an МСГ of 300 tasks; `python -m bench.msg --gc-freeze`).
gc.freeze()
