"""``/metrics``: the Prometheus metrics of ``realtime.metrics``, for a scraper or a staff user.

A scraper sends ``Authorization: Bearer <METRICS_TOKEN>`` (token access is off while the setting
is empty); a browser needs a staff user's session. Without credentials the answer is 401, with
wrong ones 403: never the login page's redirect, which a scraper would take for success.
"""

import contextlib
import glob
import hmac
import os

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector


def bearer_token(request: HttpRequest) -> str | None:
    """The token of an ``Authorization: Bearer`` header (``None`` without one)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def token_matches(token: str) -> bool:
    expected = settings.METRICS_TOKEN
    return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's
    return True


def forget_dead_processes(directory: str) -> None:
    """Drop the live gauges (open connections, subscriptions) of processes that are gone.

    prometheus_client leaves this to the process manager (gunicorn's ``child_exit`` hook);
    daphne and uvicorn have none, so a killed process's sockets would count until the
    directory is emptied. The directory is per host, like the pids.
    """
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        pid = int(path.removesuffix(".db").rpartition("_")[2])
        if not process_alive(pid):
            # Another process's scrape may have removed the file meanwhile.
            with contextlib.suppress(FileNotFoundError):
                multiprocess.mark_process_dead(pid, directory)


def metrics_registry() -> Collector:
    """Every process's values in multiprocess mode (read afresh each time), else this one's."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return REGISTRY
    forget_dead_processes(directory)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, directory)
    return registry


@login_not_required
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = bearer_token(request)
    allowed = (token is not None and token_matches(token)) or request.user.is_staff
    if not allowed:
        if token is None and not request.user.is_authenticated:
            response = HttpResponse("Authentication required.\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return HttpResponse("Forbidden.\n", status=403)
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(metrics_registry()), content_type=content_type)
