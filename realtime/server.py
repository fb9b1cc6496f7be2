"""uvicorn's WebSocket protocol with one addition: a socket can write a frame encoded once for all.

Run uvicorn with ``--ws realtime.server:WebSocketProtocol``. Each socket's scope then carries the
``realtime.websocket.encoded`` extension: ``encode(text)`` returns the bytes of an unmasked,
uncompressed text frame, the same for every socket, and ``write(frame)`` puts them on the
socket's transport directly, without an ASGI ``send`` (a coroutine, a task, and the framing per
socket). ``write`` returns ``False`` and writes nothing when the plain path must be taken
instead: the handshake is not complete, the connection is closing, the transport's buffer is
above its high-water mark (the plain ``send`` waits for it), or per-message compression was
negotiated (each socket compresses with its own context).

Under any other server (daphne, uvicorn's own protocols) the extension is absent and the
consumer sends through ASGI.
"""

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

ENCODED_FRAMES = "realtime.websocket.encoded"


def encode_text_frame(text: str) -> bytes:
    """A final, unmasked text frame (what a server sends) carrying ``text``."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """``WebSocketsSansIOProtocol`` offering the ``realtime.websocket.encoded`` extension."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        if not self.close_sent:
            self.scope["extensions"][ENCODED_FRAMES] = {
                "encode": encode_text_frame,
                "write": self.write_encoded,
            }

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The handshake's request and response are not read again; a socket lives for
            # hours, so let their headers go (about 3 KB a socket).
            self.request.headers.clear()
            self.response = None

    def write_encoded(self, frame: bytes) -> bool:
        """Write a frame from ``encode_text_frame`` now, if the socket can take it as is."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or not self.writable.is_set()
            or self.conn.state is not State.OPEN
            or self.conn.extensions
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(frame)
        return True
