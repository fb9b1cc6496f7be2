"""The installable app (docs/offline.md): the web app manifest, the service worker and what it
caches when it installs.

The worker is served from the site's root (``/sw.js``) rather than ``/static/``, because a
worker controls only the URLs under its own path. It is a plain file (``static/pwa/sw.js``); its
settings arrive in its URL's query (``offline_client()``), so a changed setting or a changed app
shell is a new worker URL, which makes the browsers install it again.

The manifest, the worker, its app-shell list and the offline page need no login: they are the same
for everyone and reveal nothing, and the browser fetches the manifest without cookies.

Whose copies: the worker keeps the pages and API reads of one login apart from any other's, and
forgets them when the login ends or changes, however that happens (the site's or the admin's
login, logout or password change, a session that expired or was ended on the server).
``OfflineUserMiddleware`` tags every response of a logged-in session (``X-Offline-User``) and
keeps a cookie the worker can read (``offline_user``, not HttpOnly) equal to the tag of the
browser's current login, or absent: the worker files a copy under its response's tag and
answers only from the copies of the cookie's tag. The tag is ``<user id>.<digest of the session
key>``: a new login (another user's or the same one's) and a password change (which gives the
session a new key) are a new tag; the outbox compares the user id.
"""

import functools
import hashlib
import json
from collections.abc import Callable
from http.cookies import Morsel
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

SERVICE_WORKER = "pwa/sw.js"
OFFLINE_USER_COOKIE = "offline_user"
OFFLINE_USER_HEADER = "X-Offline-User"
# The site's colours (static/css/site.css): the header's and the page's background.
THEME_COLOR = "#243342"
BACKGROUND_COLOR = "#f4f5f7"


@functools.cache
def app_shell() -> tuple[str, ...]:
    """The URLs of the project's own static files (styles, modules, icons, vendor files), which
    every page needs offline; the worker itself and the admin's files are not among them."""
    root = Path(settings.BASE_DIR) / "static"
    names = sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    )
    return tuple(static(name) for name in names if name != SERVICE_WORKER)


def offline_client() -> dict[str, str]:
    """What the pages need to register the worker: its URL with its settings in the query."""
    query = {
        "days": f"{settings.OFFLINE_CACHE_DAYS:g}",
        "timeout": str(settings.OFFLINE_NETWORK_TIMEOUT_MS),
        "shell": reverse("pwa:shell"),
        "offline": reverse("pwa:offline"),
        "login": reverse("login"),
        "logout": reverse("logout"),
        "cookie": OFFLINE_USER_COOKIE,
        "header": OFFLINE_USER_HEADER,
    }
    version = hashlib.sha256(json.dumps([app_shell(), query]).encode()).hexdigest()[:12]
    return {"url": f"{reverse('pwa:service_worker')}?{urlencode({'v': version, **query})}"}


def offline_user(request: HttpRequest) -> str:
    """The tag of the request's login, ``<user id>.<digest>``, or "" without one (anonymous, or
    authenticated by a token rather than a session)."""
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    key = session.session_key if session is not None else None
    if user is None or not user.is_authenticated or not key:
        return ""
    mac = salted_hmac("scheduler_project.pwa.offline_user", key, algorithm="sha256")
    return f"{user.pk}.{mac.hexdigest()[:20]}"


class OfflineUserMiddleware:
    """Tags a logged-in session's responses with ``offline_user()`` and keeps the browser's
    ``offline_user`` cookie equal to it (set with the session cookie's lifetime, deleted when
    the request has no login). Placed before ``SessionMiddleware``: it sees the session cookie
    that middleware sets or deletes, and follows it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        tag = offline_user(request)
        if tag:
            response.headers[OFFLINE_USER_HEADER] = tag
        held = request.COOKIES.get(OFFLINE_USER_COOKIE, "")
        session_cookie = response.cookies.get(settings.SESSION_COOKIE_NAME)
        if not tag:
            if held:
                response.delete_cookie(
                    OFFLINE_USER_COOKIE,
                    path=settings.SESSION_COOKIE_PATH,
                    domain=settings.SESSION_COOKIE_DOMAIN,
                    samesite=settings.SESSION_COOKIE_SAMESITE,
                )
        elif tag != held or (session_cookie is not None and session_cookie.value):
            self.set_cookie(request, response, tag, session_cookie)
        return response

    @staticmethod
    def set_cookie(
        request: HttpRequest, response: HttpResponse, tag: str, session_cookie: Morsel | None
    ) -> None:
        """The cookie lives as long as the session cookie: the one just set, else the
        session's expiry."""
        if session_cookie is not None and session_cookie.value:
            max_age = session_cookie["max-age"] or None
            expires = session_cookie["expires"] or None
        elif request.session.get_expire_at_browser_close():
            max_age, expires = None, None
        else:
            max_age, expires = request.session.get_expiry_age(), None
        response.set_cookie(
            OFFLINE_USER_COOKIE,
            tag,
            max_age=max_age,
            expires=expires,
            path=settings.SESSION_COOKIE_PATH,
            domain=settings.SESSION_COOKIE_DOMAIN,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=False,  # the worker and the outbox read it
            samesite=settings.SESSION_COOKIE_SAMESITE,
        )


@login_not_required
@require_safe
def service_worker(request: HttpRequest) -> HttpResponse:
    path = finders.find(SERVICE_WORKER)
    response = HttpResponse(Path(path).read_bytes(), content_type="text/javascript")
    response["Service-Worker-Allowed"] = "/"
    # The browser checks the worker for updates itself; no cache may hold an old one.
    response["Cache-Control"] = "no-cache"
    return response


@login_not_required
@require_safe
def shell(request: HttpRequest) -> JsonResponse:
    """The URLs the worker caches when it installs: the app shell and the offline page."""
    return JsonResponse({"urls": [*app_shell(), reverse("pwa:offline")]})


@login_not_required
@require_safe
def offline(request: HttpRequest) -> HttpResponse:
    """The page shown, from the worker's cache, for a page never opened while online."""
    return render(request, "pwa/offline.html")


def manifest_data() -> dict[str, Any]:
    """The manifest in the active language; the daily page is where the installed app opens."""
    icon = functools.partial(dict, type="image/png")
    return {
        "name": _("Works schedule"),
        "short_name": _("Works"),
        "description": _("Daily orders and the works schedule of the construction site"),
        "lang": get_language(),
        "start_url": reverse("daily:day"),
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "icons": [
            icon(src=static("pwa/icon-192.png"), sizes="192x192", purpose="any"),
            icon(src=static("pwa/icon-512.png"), sizes="512x512", purpose="any"),
            icon(src=static("pwa/icon-maskable-512.png"), sizes="512x512", purpose="maskable"),
            {"src": static("pwa/icon.svg"), "sizes": "any", "type": "image/svg+xml"},
        ],
    }


@login_not_required
@require_safe
def manifest(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        manifest_data(),
        content_type="application/manifest+json",
        json_dumps_params={"ensure_ascii": False},
    )
