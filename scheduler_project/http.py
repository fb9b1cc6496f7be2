"""HTTP requests run Django's WSGI handler on a fixed pool of ``HTTP_THREADS`` threads.

The application's views and middleware are synchronous. Django's ASGI handler runs each request
in a thread created for it and hops between that thread and the event loop for every sync/async
boundary of the middleware chain and of its signals; measured on uvicorn, a ``/healthz`` cost 4.9
ms of CPU that way and 1.5 ms here, an API write 15 ms and 8.6 ms. A fixed pool also bounds the
database connections a process holds and lets them be reused (``DB_CONN_MAX_AGE``).

A request's body is read on the event loop before a thread takes the request: a thread is never
held by a slow upload, a body sent in chunks (no ``Content-Length``, which Django's WSGI request
needs) is handed over with its length, a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is
answered 413 (the 413 says the limit), and a request whose client went away before its body was
complete never runs. Only where a view allows it (``allows_uploads``: the import's
``SPREADSHEET_IMPORT_MAX_BYTES``) may a multipart/form-data body be larger, and only a logged-in
user's with the view's permissions.

Bodies are read before the request is authenticated, so three bounds keep clients from holding
memory: a body not complete within ``HTTP_BODY_TIMEOUT_SECONDS`` is answered 408; past
``HTTP_BODY_BUFFER_MAX_BYTES`` held by the process's requests at once (read, waiting for a
thread or running) a request is answered 503 with ``Retry-After``; and one sender's bodies may
hold at once no more than its share, the largest body it may send anywhere (else 503 too). A
sender is its address (``scope["client"]``) until a request needs more than an address may
have; then the request's credentials (a token, else the session cookie) are looked up, once, on
a pool thread, and if they log someone in the request counts as that user's (``BodyReader``).
So an anonymous address holds at most one small body's worth, and nobody is looked up in the
database for an ordinary request. (Measured before: 30 connections each holding back the last
byte of a 2.6 MB body held 77 MB; four anonymous slow 10 MB multipart uploads held the whole
32 MiB, and every POST, logins included, was answered 503 while they lasted.)

A thread hands a complete response back whole and the event loop sends it: while Django runs, the
thread never waits for the loop (a2wsgi's adapter, used before, waited for it to take the body and
each response message: four round trips a request, about a sixth of an API write's CPU time).
Only a streaming response (a static file, a download) is sent from the thread chunk by chunk,
each chunk waiting until the loop has taken it, so a slow client slows the stream down.

Each request's thread sees the loop that serves it (``realtime.context.serving_loop``): sync code
in the request that needs the event loop runs its coroutine there (``realtime.context.call_async``
and ``call_async_soon``).
"""

import asyncio
import contextvars
import functools
import io
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from a2wsgi.wsgi import build_environ
from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.http.cookie import parse_cookie
from django.urls import Resolver404, resolve
from prometheus_client import Counter, Gauge

from realtime.context import serving_loop
from realtime.selectors import login_user

logger = logging.getLogger(__name__)

# How long a client refused with 503 for the body cap is asked to wait.
RETRY_AFTER_SECONDS = 5

BODY_BYTES_HELD = Gauge(
    "http_request_body_bytes_held",
    "Bytes of request bodies held by requests being read, waiting or running.",
    multiprocess_mode="livesum",
)
REQUESTS_REFUSED = Counter(
    "http_requests_refused", "HTTP requests refused before they ran, by status.", ["status"]
)


class DjangoHTTP:
    """The ASGI application for ``http`` scopes."""

    def __init__(self, *, threads: int) -> None:
        self.django = get_wsgi_application()
        self.threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="http")
        self.bodies = BodyBuffer()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        reader = BodyReader(
            sender=anonymous_sender(scope),
            buffer=self.bodies,
            identify=functools.partial(self.identify, scope),
        )
        try:
            await self.serve(scope, receive, send, reader)
        finally:
            reader.release()

    async def serve(
        self, scope: dict[str, Any], receive: Any, send: Any, reader: "BodyReader"
    ) -> None:
        try:
            async with asyncio.timeout(settings.HTTP_BODY_TIMEOUT_SECONDS or None):
                body = await reader.read(receive)
        except TimeoutError:
            body = 408
        if body is None:
            return  # the client went away
        if isinstance(body, int):
            reader.release()  # before the answer, which a slow client may take long to read
            REQUESTS_REFUSED.labels(status=str(body)).inc()
            await refuse(send, body, limit=reader.sender.limit)
            return
        headers = [
            (name, value)
            for name, value in scope.get("headers", [])
            if name not in (b"content-length", b"transfer-encoding")
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        environ = build_environ({**scope, "headers": headers}, io.BytesIO(body))
        loop = asyncio.get_running_loop()
        # The request's thread runs in a copy of this context, so it sees the loop.
        serving_loop.set(loop)
        context = contextvars.copy_context()
        complete = await loop.run_in_executor(
            self.threads, context.run, self.respond, environ, send, loop
        )
        if complete is not None:
            start, content = complete
            await send(start)
            await send({"type": "http.response.body", "body": content})

    async def identify(self, scope: dict[str, Any]) -> "Sender | None":
        """The request's sender as the login its credentials name, looked up on a pool thread;
        ``None`` without credentials (no lookup) or when they log no one in."""
        token_key, session_key = credentials(scope)
        if token_key is None and not session_key:
            return None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.threads, logged_in_sender, scope, token_key, session_key
        )

    def respond(
        self, environ: dict[str, Any], send: Any, loop: asyncio.AbstractEventLoop
    ) -> tuple[dict[str, Any], bytes] | None:
        """Run Django on a pool thread: a complete response is returned (start message, body)
        for the loop to send; a streaming one is sent from here, and ``None`` returned."""
        started: list[dict[str, Any]] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            started.append(
                {
                    "type": "http.response.start",
                    "status": int(status.split(" ", 1)[0]),
                    "headers": [
                        (name.lower().encode("latin-1"), value.encode("latin-1"))
                        for name, value in headers
                    ],
                }
            )
            return push_chunk  # WSGI's write(), which Django never calls

        def push(message: dict[str, Any]) -> None:
            asyncio.run_coroutine_threadsafe(send(message), loop).result()

        def push_chunk(chunk: bytes) -> None:
            push({"type": "http.response.body", "body": chunk, "more_body": True})

        response = self.django(environ, start_response)
        try:
            if not response.streaming:
                return started[0], b"".join(response)
            push(started[0])
            for chunk in response:
                if chunk:
                    push_chunk(chunk)
            push({"type": "http.response.body", "body": b""})
            return None
        finally:
            response.close()


class BodyBuffer:
    """The bytes of request bodies this process's requests hold, in all
    (``HTTP_BODY_BUFFER_MAX_BYTES``, 0: no cap) and per sender (its ``share``). Used on the
    event loop only: no lock."""

    def __init__(self) -> None:
        self.held = 0
        self.by_sender: dict[str, int] = {}

    def take(self, sender: "Sender", size: int) -> str | None:
        """Count ``size`` more bytes of ``sender``'s; ``None`` when counted, else why not (and
        nothing counted): ``"process"``, past the cap, or ``"sender"``, past its share of it
        (no cap, no shares)."""
        cap = settings.HTTP_BODY_BUFFER_MAX_BYTES
        mine = self.by_sender.get(sender.key, 0)
        if cap and self.held + size > cap:
            return "process"
        if cap and sender.share is not None and mine + size > sender.share:
            return "sender"
        self.held += size
        self.by_sender[sender.key] = mine + size
        BODY_BYTES_HELD.inc(size)
        return None

    def give_back(self, sender: "Sender", size: int) -> None:
        if not size:
            return
        self.held -= size
        left = self.by_sender[sender.key] - size
        if left:
            self.by_sender[sender.key] = left
        else:
            del self.by_sender[sender.key]
        BODY_BYTES_HELD.dec(size)


FORM_ROOM = 64 * 1024
"""Beyond a body's limit: room for a form's field names and its multipart framing."""


@dataclass(frozen=True)
class Sender:
    """Who sends a request body, for its bounds: an address (anyone not identified yet) or a
    logged-in user. ``limit`` is the largest body this request may carry (before ``FORM_ROOM``)
    and ``share`` what all the sender's bodies may hold at once: the largest body it may send
    anywhere. ``None``: no bound."""

    key: str
    limit: int | None
    share: int | None


def anonymous_sender(scope: dict[str, Any]) -> Sender:
    """The sender as its address: the small limit (``DATA_UPLOAD_MAX_MEMORY_SIZE``) and one
    such body's share. Behind a proxy the address is the client's when the server trusts the
    proxy's ``X-Forwarded-For`` (uvicorn ``--proxy-headers``, docs/deploy.md)."""
    client = scope.get("client") or ("", 0)
    return Sender(
        key=f"address {client[0]}", limit=_small_limit(), share=_with_room(_small_limit())
    )


@dataclass(frozen=True)
class UploadAllowance:
    """Multipart bodies sent to a view may be as large as the setting ``setting`` says, for
    users with all of ``permissions`` (``allows_uploads``)."""

    setting: str
    permissions: tuple[str, ...]

    @property
    def max_bytes(self) -> int:
        return getattr(settings, self.setting)


UPLOAD_ALLOWANCES: list[UploadAllowance] = []
"""Every view's allowance, for a user's share: filled as the URL configuration imports the
views (``logged_in_sender`` resolves a path first)."""


def allows_uploads[ViewT: Callable[..., Any]](
    *, setting: str, permissions: tuple[str, ...]
) -> Callable[[ViewT], ViewT]:
    """Let the decorated view take multipart bodies as large as the setting ``setting`` says
    from users with all of ``permissions``; anyone else's stay within
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (a view declares it, as it declares its permissions)."""
    allowance = UploadAllowance(setting=setting, permissions=tuple(permissions))
    UPLOAD_ALLOWANCES.append(allowance)

    def decorate(view: ViewT) -> ViewT:
        view.upload_allowance = allowance  # type: ignore[attr-defined]
        return view

    return decorate


def credentials(scope: dict[str, Any]) -> tuple[str | None, str | None]:
    """The token key (``Authorization: Token …``) and the session key (cookie) a request
    carries, unchecked."""
    token_key = None
    cookies = []
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            keyword, _space, key = value.decode("latin-1").partition(" ")
            if keyword.lower() == "token":
                token_key = key.strip()
        elif name == b"cookie":
            cookies.append(value.decode("latin-1"))
    session_key = parse_cookie("; ".join(cookies)).get(settings.SESSION_COOKIE_NAME)
    return token_key, session_key


def logged_in_sender(
    scope: dict[str, Any], token_key: str | None, session_key: str | None
) -> Sender | None:
    """The sender as the user the credentials log in (``None``: they log no one in), on a pool
    thread: its limit is the view's upload allowance for a multipart body when the user has
    its permissions, else the small one."""
    close_old_connections()
    try:
        try:
            view = resolve(scope["path"]).func
        except Resolver404:
            view = None
        user = login_user(token_key=token_key, session_key=session_key)
        if user is None:
            return None
        small = _small_limit()
        if small is None:
            return Sender(key=f"user {user.pk}", limit=None, share=None)
        granted = [a for a in UPLOAD_ALLOWANCES if user.has_perms(a.permissions)]
        share = max([small, *(a.max_bytes for a in granted)])
        limit = small
        allowance = getattr(view, "upload_allowance", None)
        if allowance in granted and is_upload(scope):
            limit = max(small, allowance.max_bytes)
        return Sender(key=f"user {user.pk}", limit=limit, share=_with_room(share))
    finally:
        close_old_connections()


def _small_limit() -> int | None:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _with_room(limit: int | None) -> int | None:
    return None if limit is None else limit + FORM_ROOM


def is_upload(scope: dict[str, Any]) -> bool:
    """Whether the request carries a multipart/form-data body (a file upload)."""
    content_type = dict(scope.get("headers", [])).get(b"content-type", b"")
    return content_type.split(b";", 1)[0].strip().lower() == b"multipart/form-data"


class BodyReader:
    """Reads one request's body within its sender's bounds, counting it in ``buffer``.

    The request starts as its address's (``anonymous_sender``). When a chunk would take it past
    that limit or share, the request is identified once (``identify``: its login, looked up on a
    pool thread) and, if that is someone, goes on as theirs: its bytes so far move to the user's
    count. So a logged-in user's requests never wait for the database unless they need more
    than an anonymous one may have, and an address's anonymous bodies together never hold more
    than one small body's worth of the process's budget.
    """

    def __init__(
        self,
        *,
        sender: Sender,
        buffer: BodyBuffer | None = None,
        identify: Callable[[], Awaitable[Sender | None]] | None = None,
    ) -> None:
        self.sender = sender
        self.buffer = buffer
        self.identify = identify
        self.held = 0

    async def read(self, receive: Any) -> bytes | int | None:
        """The whole body; ``None`` if the client disconnected first, 413 if too large, 503 if
        the process's cap or the sender's share is reached. The bytes read stay counted until
        ``release``."""
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            refusal = await self._admit(len(chunk))
            if refusal is not None:
                return refusal
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _admit(self, size: int) -> int | None:
        """Count ``size`` more bytes, or say why not (413, 503). Past the sender's limit or
        share, the request is identified (once) and, if that is someone, tried as theirs."""
        refusal, why = self._count(size)
        if refusal is None or why == "process" or self.identify is None:
            return refusal
        identify, self.identify = self.identify, None
        identified = await identify()
        if identified is None:
            return refusal
        if not self._move_to(identified):
            return 503  # the user's own bodies leave no room for what was read
        return self._count(size)[0]

    def _count(self, size: int) -> tuple[int | None, str | None]:
        """(``None``, ``None``) when ``size`` more bytes are counted, else the refusal and whose
        bound it is (``"sender"``, ``"process"``)."""
        limit = _with_room(self.sender.limit)
        if limit is not None and self.held + size > limit:
            return 413, "sender"
        if self.buffer is not None and (full := self.buffer.take(self.sender, size)):
            return 503, full
        self.held += size
        return None, None

    def _move_to(self, sender: Sender) -> bool:
        """Count the bytes read so far as ``sender``'s, if its share has room for them."""
        if self.buffer is not None and self.held:
            self.buffer.give_back(self.sender, self.held)
            if self.buffer.take(sender, self.held) is not None:
                self.buffer.take(self.sender, self.held)  # back where they were: room for them
                return False
        self.sender = sender
        return True

    def release(self) -> None:
        """Give back the bytes counted (when the request is done, or refused)."""
        if self.buffer is not None:
            self.buffer.give_back(self.sender, self.held)
        self.held = 0


REFUSALS = {
    408: b"Request body not received in time.\n",
    503: b"Too many request bodies in transit: retry later.\n",
}


def too_large(limit: int | None) -> bytes:
    """The 413's text: the limit, in the units a file manager shows (MiB, written MB)."""
    return f"Request body too large: the limit is {(limit or 0) / 2**20:.1f} MB.\n".encode()


async def refuse(send: Any, status: int, *, limit: int | None = None) -> None:
    """Answer ``status`` without running the request; a 413 says the body's ``limit``. 408
    and 503 close the connection: the rest of the body is never read."""
    body = too_large(limit) if status == 413 else REFUSALS[status]
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status != 413:
        headers.append((b"connection", b"close"))
    if status == 503:
        headers.append((b"retry-after", str(RETRY_AFTER_SECONDS).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
