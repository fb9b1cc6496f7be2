"""``realtime.server.WebSocketProtocol`` in a real uvicorn, with a real client: a frame encoded
once reaches the client as a text message; the extension steps aside (``write`` says ``False``)
where the plain ASGI send must be used."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect

from realtime.server import ENCODED_FRAMES, WebSocketProtocol, encode_text_frame

from .conftest import RECEIVE_TIMEOUT


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
