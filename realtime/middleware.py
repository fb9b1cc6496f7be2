"""Who is on the other end: HTTP requests set the actor of the events they cause; sockets may
authenticate with a DRF token in the ``Authorization`` header (scripts), else the session."""

from collections.abc import Callable
from importlib import import_module
from typing import Any

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.sessions import CookieMiddleware
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest, HttpResponse
from rest_framework.authtoken.models import Token

from .events import acting_as
from .models import Event


class ActorMiddleware:
    """Attribute events caused by a page or admin request to its (session) user."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with acting_as(getattr(request, "user", None)):
            return self.get_response(request)


@database_sync_to_async
def user_for_token(key: str) -> AbstractBaseUser | None:
    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


class TokenAuthMiddleware(BaseMiddleware):
    """``Authorization: Token <key>`` wins over the session.

    It sits inside ``AuthMiddleware`` (not around it): ``AuthMiddleware`` would otherwise
    overwrite the user it finds in the scope.
    """

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers", []))
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        keyword, _, key = authorization.partition(" ")
        if keyword.lower() == "token":
            user = await user_for_token(key.strip())
            scope = {**scope, "user": user or AnonymousUser(), "auth_token": key.strip()}
        return await super().__call__(scope, receive, send)


class SocketSessionMiddleware(BaseMiddleware):
    """The session named by the handshake's cookie, as ``scope["session"]``.

    Channels' ``SessionMiddleware`` wraps ``send`` to save the session and set its cookie on an
    HTTP response; a socket has no response after its handshake, yet the wrapper inspected the
    session on every frame sent (a sixth of the fan-out's CPU time). This one leaves ``send``
    alone.
    """

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        key = scope["cookies"].get(settings.SESSION_COOKIE_NAME)
        scope = {**scope, "session": self.session_store(key)}
        return await super().__call__(scope, receive, send)


def socket_auth_stack(inner: Any) -> Any:
    """``scope["user"]`` from a DRF token header, else the session cookie."""
    return CookieMiddleware(SocketSessionMiddleware(AuthMiddleware(TokenAuthMiddleware(inner))))


class SnapshotMiddleware:
    """Read the newest event id *before* a GET is served, so that data and stream line up.

    Pages embed ``request.last_event_id`` and API responses carry it as ``X-Last-Event-Id``: a
    client that loads data and then subscribes with that id misses nothing (it may see a few
    events twice, which is harmless: applying an event is an upsert or a delete by id).
    """

    HEADER = "X-Last-Event-Id"
    # Probes and metrics answer without the database: /healthz while it is down.
    OPERATIONS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.method not in ("GET", "HEAD")
            or request.path in self.OPERATIONS_PATHS
            or request.path.startswith("/" + settings.STATIC_URL.lstrip("/"))
        ):
            return self.get_response(request)
        request.last_event_id = Event.objects.latest_id()
        response = self.get_response(request)
        if request.path.startswith("/api/") and response.status_code < 400:
            response[self.HEADER] = str(request.last_event_id)
        return response
