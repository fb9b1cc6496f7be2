"""Probes for a load balancer or an orchestrator; they need no login and reveal nothing.

``/healthz``: the process serves requests (no database, no channel layer), so a failing database
does not get every process restarted. ``/readyz``: the process can do its work — the database
answers and the channel layer carries a message — else 503 naming what failed, so that traffic
goes elsewhere until it recovers.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from realtime.context import call_async

logger = logging.getLogger(__name__)

# A check that has not answered by then counts as failed (a dead Redis host can hang a connect).
CHECK_TIMEOUT_SECONDS = 3.0
PROBE_MESSAGE = {"type": "readyz.probe"}


@login_not_required
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok\n", content_type="text/plain")


def database_check() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def channel_layer_check() -> None:
    """Send a message to a fresh channel of the default layer (the one the hub listens on) and
    receive it back: with Redis, a round trip through the server."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")
    channel = await layer.new_channel()
    await layer.send(channel, PROBE_MESSAGE)
    if await layer.receive(channel) != PROBE_MESSAGE:
        raise RuntimeError("the channel layer returned another message")


async def failure(name: str, check: Callable[[], Awaitable[None]]) -> str | None:
    """``None`` if ``check()`` succeeds in time, else "timeout" or "error" (details in the log:
    the answer is public, and an error message can name hosts).

    Any exception counts: the probe's job is to say "not ready", not to fail itself.
    """
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await check()
    except TimeoutError:
        logger.warning("readyz: %s did not answer within %s s", name, CHECK_TIMEOUT_SECONDS)
        return "timeout"
    except Exception as error:  # one line per failed probe, not a traceback every few seconds
        logger.warning("readyz: %s failed: %r", name, error)
        return "error"
    return None


async def readiness() -> list[str | None]:
    return await asyncio.gather(
        failure("database", sync_to_async(database_check)),
        failure("channel layer", channel_layer_check),
    )


@login_not_required
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    # On the serving loop: the channel layer's connections belong to it (with Redis, a receive
    # from another loop fails while the hub receives).
    database, channel_layer = call_async(readiness)
    checks = {"database": database or "ok", "channel_layer": channel_layer or "ok"}
    ready = database is None and channel_layer is None
    return JsonResponse({"ready": ready, "checks": checks}, status=200 if ready else 503)
