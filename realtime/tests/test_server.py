"""``realtime.server.WebSocketProtocol`` in a real uvicorn, with a real client: a frame encoded
once reaches the client as a text message; the extension steps aside (``write`` says ``False``)
where the plain ASGI send must be used. It relies on uvicorn's and websockets' internals: an
upgrade that changes them fails here, naming what changed, and stops uvicorn at start-up."""

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from django.conf import settings
from websockets.asyncio.client import connect
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

from realtime.protocol import ENCODED_FRAMES
from realtime.server import WebSocketProtocol, encode_text_frame, incompatibilities

from .conftest import RECEIVE_TIMEOUT, STARTUP_TIMEOUT


class EchoThroughExtension:
    """Accepts, then writes each text it receives back as an encoded frame; records what the
    extension's ``write`` answered."""

    def __init__(self) -> None:
        self.answers: list[bool] = []
        self.extensions: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        extension = scope["extensions"].get(ENCODED_FRAMES)
        self.extensions.append(extension)
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                if extension is not None:
                    self.answers.append(extension["write"](extension["encode"]("too late")))
                return
            text = message["text"]
            if text == "close":
                await send({"type": "websocket.close", "code": 4000})
                self.answers.append(extension["write"](extension["encode"]("after close")))
                continue
            answered = extension["write"](extension["encode"](text))
            self.answers.append(answered)
            if not answered:
                await send({"type": "websocket.send", "text": text})


@contextlib.asynccontextmanager
async def serving(app: Any, **options: Any) -> AsyncIterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, ws=WebSocketProtocol, lifespan="off", log_level="warning", **options
    )
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[listener])
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        await server.shutdown(sockets=[listener])


def test_an_encoded_frame_is_what_the_plain_framing_sends():
    assert encode_text_frame("hé") == b"\x81\x03h\xc3\xa9"
    assert encode_text_frame("x" * 200)[:4] == b"\x81\x7e\x00\xc8"


@pytest.mark.asyncio
async def test_a_frame_written_through_the_extension_arrives_as_a_text_message():
    app = EchoThroughExtension()
    async with (
        serving(app, ws_per_message_deflate=False) as url,
        connect(url, compression=None) as client,
    ):
        for text in ["first", "второй", "x" * 70_000]:
            await client.send(text)
            assert await asyncio.wait_for(client.recv(), RECEIVE_TIMEOUT) == text
    assert app.answers[:3] == [True, True, True]


@pytest.mark.asyncio
async def test_the_extension_steps_aside_once_the_socket_closes():
    app = EchoThroughExtension()
    async with (
        serving(app, ws_per_message_deflate=False) as url,
        connect(url, compression=None) as client,
    ):
        await client.send("close")
        await asyncio.wait_for(client.wait_closed(), RECEIVE_TIMEOUT)
        assert client.close_code == 4000
    assert app.answers == [False, False]


@pytest.mark.asyncio
async def test_the_extension_steps_aside_when_compression_was_negotiated():
    app = EchoThroughExtension()
    async with (
        serving(app, ws_per_message_deflate=True) as url,
        connect(url, compression="deflate") as client,
    ):
        await client.send("compressed")
        assert await asyncio.wait_for(client.recv(), RECEIVE_TIMEOUT) == "compressed"
    assert app.answers[0] is False


# What the protocol's attributes hold, as ``WebSocketProtocol`` uses them: during the handshake
# (``handle_connect`` has run) and once the socket is accepted.
CONNECTING_KINDS = {
    "scope": dict,
    "request": Request,
    "response": Response,
    "handshake_complete": bool,
    "close_sent": bool,
    "disconnected": bool,
    "writable": asyncio.Event,
    "conn": ServerProtocol,
}


class RecordProtocolState:
    """Accepts and records the types of the protocol's attributes, reached through the bound
    ``write`` of the extension, before and after the accept."""

    def __init__(self) -> None:
        self.connecting: dict[str, type] = {}
        self.accepted: dict[str, Any] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        protocol = scope["extensions"][ENCODED_FRAMES]["write"].__self__
        await receive()  # websocket.connect
        self.connecting = {name: type(getattr(protocol, name)) for name in CONNECTING_KINDS}
        self.connecting["request.headers"] = type(protocol.request.headers)
        self.connecting["conn.state"] = type(protocol.conn.state)
        self.connecting["conn.extensions"] = type(protocol.conn.extensions)
        await send({"type": "websocket.accept"})
        self.accepted = {
            "handshake_complete": protocol.handshake_complete,
            "conn.state": protocol.conn.state,
            "request.headers": len(protocol.request.headers),
            "scope.headers": len(scope["headers"]),
            "response": protocol.response,
            "transport.write": callable(protocol.transport.write),
            "transport.is_closing": protocol.transport.is_closing(),
        }
        await send({"type": "websocket.close", "code": 4000})


def test_the_installed_uvicorn_and_websockets_have_everything_the_extension_relies_on():
    assert incompatibilities() == []


@pytest.mark.asyncio
async def test_the_protocol_s_attributes_hold_what_the_extension_expects():
    app = RecordProtocolState()
    async with (
        serving(app, ws_per_message_deflate=False) as url,
        connect(url, compression=None) as client,
    ):
        await asyncio.wait_for(client.wait_closed(), RECEIVE_TIMEOUT)
    assert app.connecting == {
        **CONNECTING_KINDS,
        "request.headers": Headers,
        "conn.state": State,
        "conn.extensions": list,
    }
    assert app.accepted == {
        "handshake_complete": True,
        "conn.state": State.OPEN,
        "request.headers": 0,  # let go after the accept
        "scope.headers": 0,  # the application's scope too
        "response": None,
        "transport.write": True,
        "transport.is_closing": False,
    }


class UpgradedProtocol:
    """A uvicorn protocol as an upgrade might change it."""

    def __init__(self) -> None:
        self.handshake_done = False  # was handshake_complete
        self.close_sent = False

    def handle_connect(self, request: Any) -> None:  # the parameter was "event"
        pass

    def send(self, message: Any) -> None:  # no longer a coroutine
        pass


@pytest.mark.parametrize(
    ("name", "kind", "problem"),
    [
        (
            "handshake_complete",
            "attribute",
            "handshake_complete: expected attribute, found nothing",
        ),
        ("close_sent", "attribute", None),
        (
            "send",
            "coroutine method(message)",
            "send: expected coroutine method(message), found method(message)",
        ),
        (
            "handle_connect",
            "method(event)",
            "handle_connect: expected method(event), found method(request)",
        ),
        ("handle_events", "method()", "handle_events: expected method(), found nothing"),
    ],
)
def test_a_changed_internal_is_named(name, kind, problem):
    found = incompatibilities([(UpgradedProtocol, name, kind)])
    expected = [] if problem is None else [f"{__name__}.UpgradedProtocol.{problem}"]
    assert found == expected


UPGRADED_UVICORN = """
import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

def send(self, message):  # an upgrade that made send() synchronous
    pass

WebSocketsSansIOProtocol.send = send
uvicorn.run(
    "scheduler_project.asgi:application",
    ws="realtime.server:WebSocketProtocol",
    host="127.0.0.1",
    port=0,
    lifespan="off",
)
"""


def test_uvicorn_refuses_to_start_when_an_upgrade_changed_what_the_extension_relies_on():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "scheduler_project.settings"}
    result = subprocess.run(
        [sys.executable, "-c", UPGRADED_UVICORN],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
        check=False,
    )
    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured" in result.stderr
    assert (
        "WebSocketsSansIOProtocol.send: expected coroutine method(message), found method(message)"
        in result.stderr
    )
