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

The class reaches into uvicorn's ``WebSocketsSansIOProtocol`` (attributes no API promises) and
into websockets' sans-I/O classes; uvicorn and websockets are pinned in requirements.txt. What it
relies on is listed in ``RELIED_ON`` and checked when uvicorn loads this module: after an upgrade
that changed any of it, uvicorn stops at start-up with ``ImproperlyConfigured`` naming what
changed, instead of sockets failing (or silently taking the slow path) later.
"""

import ast
import inspect
import textwrap
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, State

from .protocol import ENCODED_FRAMES

# (class, name, kind): what ``WebSocketProtocol`` uses of uvicorn's and websockets' classes.
# Kinds: "attribute" (set on instances by the class's own code), "property", "method(<params>)",
# "coroutine method(<params>)" (parameter names after self), "member" (of an enum).
RELIED_ON: list[tuple[type, str, str]] = [
    (WebSocketsSansIOProtocol, "handle_connect", "method(event)"),
    (WebSocketsSansIOProtocol, "send", "coroutine method(message)"),
    (WebSocketsSansIOProtocol, "scope", "attribute"),
    (WebSocketsSansIOProtocol, "request", "attribute"),
    (WebSocketsSansIOProtocol, "response", "attribute"),
    (WebSocketsSansIOProtocol, "handshake_complete", "attribute"),
    (WebSocketsSansIOProtocol, "close_sent", "attribute"),
    (WebSocketsSansIOProtocol, "disconnected", "attribute"),
    (WebSocketsSansIOProtocol, "writable", "attribute"),
    (WebSocketsSansIOProtocol, "transport", "attribute"),
    (WebSocketsSansIOProtocol, "conn", "attribute"),
    (Protocol, "state", "property"),
    (Protocol, "extensions", "attribute"),
    (State, "OPEN", "member"),
    (Opcode, "TEXT", "member"),
    (Frame, "serialize", "method(mask, extensions)"),
    (Headers, "clear", "method()"),
]


def assigned_attributes(cls: type) -> set[str]:
    """The names the code of ``cls`` and of its bases from the same library assigns on ``self``."""
    library = cls.__module__.partition(".")[0]
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__.partition(".")[0] != library:
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AnnAssign | ast.AugAssign):
                targets = [node.target]
            else:
                continue
            for target in targets:
                for part in ast.walk(target):  # also ``self.a, self.b = ...``
                    if (
                        isinstance(part, ast.Attribute)
                        and isinstance(part.value, ast.Name)
                        and part.value.id == "self"
                    ):
                        names.add(part.attr)
    return names


def kind_of(cls: type, name: str) -> str | None:
    """What ``name`` is on ``cls``, in ``RELIED_ON``'s terms (``None``: absent)."""
    if isinstance(cls, type) and hasattr(cls, "__members__") and name in cls.__members__:
        return "member"
    found = inspect.getattr_static(cls, name, None)
    if isinstance(found, property):
        return "property"
    if inspect.isfunction(found):
        parameters = ", ".join(list(inspect.signature(found).parameters)[1:])
        prefix = "coroutine method" if inspect.iscoroutinefunction(found) else "method"
        return f"{prefix}({parameters})"
    if found is not None or name in assigned_attributes(cls):
        return "attribute"
    return None


def incompatibilities(relied_on: list[tuple[type, str, str]] = RELIED_ON) -> list[str]:
    """What ``WebSocketProtocol`` relies on and the installed uvicorn or websockets lacks."""
    problems = []
    for cls, name, expected in relied_on:
        try:
            found = kind_of(cls, name)
        except (OSError, TypeError) as error:  # no source to read
            found = f"unreadable ({error})"
        if found != expected:
            problems.append(
                f"{cls.__module__}.{cls.__qualname__}.{name}: expected {expected}, "
                f"found {found or 'nothing'}"
            )
    return problems


if problems := incompatibilities():
    raise ImproperlyConfigured(
        "realtime.server.WebSocketProtocol does not fit the installed uvicorn / websockets "
        "(requirements.txt pins the versions it was written for); adapt realtime/server.py or "
        "run uvicorn without --ws realtime.server:WebSocketProtocol. Changed: "
        + "; ".join(problems)
    )


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
            # The handshake's request and response are not read again, nor the scope's headers
            # (the origin check and the login read them before the accept); a socket lives for
            # hours, so let them go (about 4 KB a socket). The application's copies of the
            # scope share its list of headers.
            self.request.headers.clear()
            self.response = None
            self.scope["headers"].clear()

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
