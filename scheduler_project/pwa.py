"""The installable app (docs/offline.md): the web app manifest, the service worker and what it
caches when it installs.

The worker is served from the site's root (``/sw.js``) rather than ``/static/``, because a
worker controls only the URLs under its own path. It is a plain file (``static/pwa/sw.js``); its
settings arrive in its URL's query (``offline_client()``), so a changed setting or a changed app
shell is a new worker URL, which makes the browsers install it again.

The manifest, the worker, its app-shell list and the offline page need no login: they are the same
for everyone and reveal nothing, and the browser fetches the manifest without cookies.
"""

import functools
import hashlib
import json
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
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

SERVICE_WORKER = "pwa/sw.js"
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
    }
    version = hashlib.sha256(json.dumps([app_shell(), query]).encode()).hexdigest()[:12]
    return {"url": f"{reverse('pwa:service_worker')}?{urlencode({'v': version, **query})}"}


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
