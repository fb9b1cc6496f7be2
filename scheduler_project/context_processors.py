"""What every page template gets: the real-time client's configuration and the strings it shows.

``base.html`` embeds both with ``json_script`` (``#realtime-config``, ``#live-messages``) for the
ES modules in ``static/``; the client reads no globals and the pages build no text of their own.
"""

from typing import Any

from django.apps import apps
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from realtime.protocol import ADMIN_MODEL_STREAMS, WEBSOCKET_PATH
from scheduler_project.pwa import OFFLINE_USER_COOKIE, offline_client, offline_user

# %(…)s placeholders are filled in by static/js/live.js.
LIVE_MESSAGES = {
    "status": {
        "connecting": _("Connecting…"),
        "connected": _("Connected"),
        "reconnecting": _("Reconnecting (attempt %(attempt)s)…"),
        "offline": _("Offline"),
        # Refused by the server (close codes 4409 and 4503); attempts go on.
        "limited": _("Too many connections; reconnecting (attempt %(attempt)s)…"),
        "busy": _("Server busy; reconnecting (attempt %(attempt)s)…"),
    },
    # A change someone made (static/js/live.js, ``describe``): who, then what, written as the
    # pages write it. %(volume)s, %(date)s (day and month) and %(month)s (month and year) come
    # formatted in the page's language; %(task)s is "task" below.
    "notice": {
        "task": {
            "created": _("%(actor)s: new task %(task)s"),
            "updated": _("%(actor)s: changed task %(task)s"),
            "deleted": _("%(actor)s: deleted task %(task)s"),
        },
        "daily_work": {
            "created": _("%(actor)s: %(volume)s %(unit)s of %(code)s on %(date)s"),
            "updated": _("%(actor)s: now %(volume)s %(unit)s of %(code)s on %(date)s"),
            "deleted": _("%(actor)s: deleted %(volume)s %(unit)s of %(code)s on %(date)s"),
        },
        "monthly_task": {
            "created": _("%(actor)s: plan of %(code)s for %(month)s — %(volume)s %(unit)s"),
            "updated": _("%(actor)s: plan of %(code)s for %(month)s now %(volume)s %(unit)s"),
            "deleted": _("%(actor)s: deleted the plan of %(code)s for %(month)s"),
        },
    },
    # A task in a sentence, as the history writes it (scheduler_project/changes.py).
    "task": _("%(code)s “%(name)s”"),
    # Who made a change without a user: ORM code, management commands.
    "script": _("A script"),
    "resynced": _(
        "This page was away too long to catch up change by change; its data was reloaded."
    ),
    "dismiss": _("Dismiss"),
    # A page the service worker answered with its kept copy (static/pwa/register.js).
    "offline_copy": _("Offline — last updated %(time)s"),
    # Presence (static/realtime/presence.js): the people in the header, the editing markers.
    "presence": {
        "here": _("%(name)s is on this page"),
        "idle": _("%(name)s is away"),
        "editing": _("%(name)s is editing"),
    },
    # Fetches of a live table's rows that failed (static/js/live.js, LiveTable).
    "fragment": {
        "server_error": _(
            "The server failed to send the latest changes (HTTP %(status)s); "
            "trying again (attempt %(attempt)s)…"
        ),
        "unreachable": _(
            "The server cannot be reached for the latest changes; "
            "trying again (attempt %(attempt)s)…"
        ),
        "forbidden": _(
            "You may no longer view this page, so it is not kept up to date. "
            "Reload it or sign in again."
        ),
        "refused": _("This page can no longer be kept up to date (HTTP %(status)s). Reload it."),
    },
}


def _unit_decimals() -> dict[str, int]:
    return apps.get_model("schedule", "Unit").objects.decimals()


def realtime_client(request: HttpRequest) -> dict[str, Any]:
    return {
        "realtime_client": {
            "url": WEBSOCKET_PATH,
            "loginUrl": reverse("login"),
            "reconnectDelay": settings.REALTIME_CLIENT_RECONNECT_DELAY_MS,
            "reconnectDelayMax": settings.REALTIME_CLIENT_RECONNECT_DELAY_MAX_MS,
            "heartbeatInterval": settings.REALTIME_CLIENT_HEARTBEAT_INTERVAL_MS,
            "heartbeatTimeout": settings.REALTIME_CLIENT_HEARTBEAT_TIMEOUT_MS,
            "lagSampleRate": settings.REALTIME_LAG_SAMPLE_RATE,
            "lagReportInterval": settings.REALTIME_CLIENT_LAG_REPORT_INTERVAL_MS,
        },
        "live_messages": LIVE_MESSAGES,
        # Each unit's decimals, for the volumes a live notice names: a callable, so only a
        # page that shows it (``base.html``) reads them, not a fragment.
        "unit_decimals": _unit_decimals,
        "presence_idle_seconds": settings.REALTIME_PRESENCE_IDLE_SECONDS,
        "presence_admin_models": ADMIN_MODEL_STREAMS,
        "offline_client": offline_client,
        # Whose page this is, for the service worker's copies and the outbox (pwa.py).
        "offline_user": offline_user(request),
        "offline_user_cookie": OFFLINE_USER_COOKIE,
        "csrf_cookie_name": settings.CSRF_COOKIE_NAME,
    }
