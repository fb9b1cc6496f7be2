"""Who is on the other end: HTTP requests set the actor of the events they cause and the way in
of their changes; sockets may authenticate with a DRF token in the ``Authorization`` header
(scripts), else the session."""

from collections.abc import Callable
from functools import cache
from importlib import import_module
from typing import Any

from channels.auth import get_user
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.http.cookie import parse_cookie
from django.urls import NoReverseMatch, Resolver404, get_urlconf, resolve, reverse

from .context import (
    PAGE_SOURCES,
    VIA_ADMIN,
    VIA_API,
    VIA_DAILY,
    VIA_MSG,
    VIA_PAGE,
    VIA_SCHEDULE,
    acting_as,
    writing_via,
)
from .models import Event
from .selectors import token_user

API_PREFIX = "/api/"
# The pages that write, by their URLs' namespace.
PAGE_VIAS = {"daily": VIA_DAILY, "monthly": VIA_MSG, "schedule": VIA_SCHEDULE}
# The header by which a REST request says which page sent it (the pages' offline outbox).
SOURCE_HEADER = "X-Source"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


@cache
def _admin_prefix(urlconf: str) -> str | None:
    """Where the admin is mounted in ``urlconf``, if it is."""
    try:
        return reverse("admin:index", urlconf=urlconf)
    except NoReverseMatch:
        return None


class ActorMiddleware:
    """Attribute events caused by a page or admin request to its (session) user, and record
    the request's changes as made through the admin, the API or the page that sent them.

    By the request, in one place, rather than a hook per interface: every view under
    ``/api/`` is the API whatever authenticates it (a token user is set by DRF later, and the
    services act as it), every admin view, the admin's own saves and deletes included, is under
    its index, and a page's forms are under its app's URLs (``PAGE_VIAS``). A REST request sent
    by a page's outbox says so in ``X-Source`` (one of ``PAGE_SOURCES``; any other value is
    ignored: a script stays the API). The header is a label, not a permission: the user and
    their permissions are checked as for any request.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with acting_as(getattr(request, "user", None)), writing_via(self.via(request)):
            return self.get_response(request)

    def via(self, request: HttpRequest) -> str:
        path = request.path
        admin_prefix = _admin_prefix(get_urlconf() or settings.ROOT_URLCONF)
        if admin_prefix is not None and path.startswith(admin_prefix):
            return VIA_ADMIN
        if path.startswith(API_PREFIX):
            source = request.headers.get(SOURCE_HEADER, "").strip()
            return source if source in PAGE_SOURCES else VIA_API
        if request.method in SAFE_METHODS:
            return VIA_PAGE  # reads record nothing: no need to resolve the path
        try:
            namespace = resolve(request.path_info).namespaces[:1]
        except Resolver404:
            return VIA_PAGE
        return PAGE_VIAS.get(namespace[0], VIA_PAGE) if namespace else VIA_PAGE


@database_sync_to_async
def user_for_token(key: str) -> AbstractBaseUser | None:
    user = token_user(key)
    return user if user is not None and user.is_active else None


class SocketAuthMiddleware:
    """``scope["user"]`` of a socket: from ``Authorization: Token <key>`` (scripts), else from
    the session named by the handshake's cookie (pages).

    One step instead of Channels' Cookie, Session and Auth middleware: each of those copied the
    scope and stayed on the stack for the socket's life (a few KB a socket), and Channels'
    ``SessionMiddleware`` inspected the session on every frame sent (a sixth of the fan-out's
    CPU time) to save it on HTTP responses, which a socket never has after its handshake.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        login = await self.login(scope)
        return await self.inner({**scope, **login}, receive, send)

    async def login(self, scope: dict[str, Any]) -> dict[str, Any]:
        """``user`` and, by token, ``auth_token`` or, by cookie, ``session``."""
        headers = dict(scope.get("headers", []))
        keyword, _, key = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if keyword.lower() == "token":
            key = key.strip()
            return {"user": await user_for_token(key) or AnonymousUser(), "auth_token": key}
        cookies = parse_cookie(headers.get(b"cookie", b"").decode("latin-1"))
        session = self.session_store(cookies.get(settings.SESSION_COOKIE_NAME))
        return {"session": session, "user": await get_user({"session": session})}


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
