"""Which pages may open ``/api/ws`` (``realtime.origin``), on real daphne and uvicorn processes.

Each server answers on ``http://127.0.0.1:{port}`` with ``ALLOWED_HOSTS=127.0.0.1,localhost``.
uvicorn's own proxy-header handling is off (``--no-proxy-headers``): it trusts
``X-Forwarded-Proto`` from 127.0.0.1 by itself, and here only ``BEHIND_TLS_PROXY`` may decide.
"""

import pytest
from channels.testing import WebsocketCommunicator
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from realtime.tests.conftest import STARTUP_TIMEOUT, Server
from scheduler_project.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

OWN_PROXY_HEADERS_OFF = {"daphne": [], "uvicorn": ["--no-proxy-headers"]}
TRUSTED = "http://127.0.0.1:9999,https://*.example.com"


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def servers(request, server_factory) -> dict[str, Server]:
    """``plain``: development settings; ``proxied``: ``BEHIND_TLS_PROXY=1`` and two trusted
    origins."""
    kind = request.param
    options = OWN_PROXY_HEADERS_OFF[kind]
    return {
        "plain": server_factory(kind, *options),
        "proxied": server_factory(
            kind, *options, BEHIND_TLS_PROXY="1", CSRF_TRUSTED_ORIGINS=TRUSTED
        ),
    }


async def handshake(server: Server, origin: str | None, headers: dict[str, str]) -> int:
    """The HTTP status of a handshake: 101 when the socket opened."""
    try:
        async with connect(
            server.ws_url,
            origin=origin.format(port=server.port) if origin is not None else None,
            additional_headers=headers,
            open_timeout=STARTUP_TIMEOUT,
            close_timeout=5,
        ):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


@pytest.mark.parametrize(
    ("server", "origin", "headers", "status"),
    [
        ("plain", "http://127.0.0.1:{port}", {}, 101),
        ("plain", "http://127.0.0.1:9999", {}, 403),
        ("plain", "http://127.0.0.1", {}, 403),
        ("plain", "https://127.0.0.1:{port}", {}, 403),
        ("plain", "https://localhost", {}, 403),
        ("plain", "http://localhost:{port}", {}, 403),
        ("plain", "http://evil.example.com", {}, 403),
        ("plain", "null", {}, 403),
        ("plain", None, {}, 403),
        ("plain", "https://127.0.0.1:{port}", {"X-Forwarded-Proto": "https"}, 403),
        ("proxied", "https://127.0.0.1:{port}", {"X-Forwarded-Proto": "https"}, 101),
        ("proxied", "http://127.0.0.1:{port}", {"X-Forwarded-Proto": "https"}, 403),
        ("proxied", "https://127.0.0.1:{port}", {}, 403),
        ("proxied", "http://127.0.0.1:{port}", {}, 101),
        ("proxied", "http://127.0.0.1:9999", {}, 101),
        ("proxied", "https://127.0.0.1:9999", {}, 403),
        ("proxied", "https://schedule.example.com", {}, 101),
        ("proxied", "https://example.com", {}, 101),
        ("proxied", "http://schedule.example.com", {}, 403),
        ("proxied", "https://schedule.example.com.evil.test", {}, 403),
    ],
)
async def test_a_socket_opens_only_from_its_own_origin_or_a_trusted_one(
    servers, server, origin, headers, status
):
    assert await handshake(servers[server], origin, headers) == status


@pytest.mark.parametrize(
    "headers",
    [
        [(b"host", b"evil.example.com"), (b"origin", b"http://evil.example.com")],
        [(b"origin", b"http://127.0.0.1:8000")],
        [
            (b"host", b"127.0.0.1:8000"),
            (b"origin", b"http://127.0.0.1:8000"),
            (b"origin", b"http://127.0.0.1:8000"),
        ],
    ],
    ids=["host not allowed", "no host", "two origins"],
)
async def test_a_handshake_whose_own_origin_is_unknown_is_refused(headers):
    communicator = WebsocketCommunicator(application, "/api/ws", headers=headers)
    try:
        assert await communicator.connect() == (False, 1000)
    finally:
        await communicator.disconnect()
