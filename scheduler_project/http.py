"""HTTP requests run Django's WSGI handler on a fixed pool of ``HTTP_THREADS`` threads.

The application's views and middleware are synchronous. Django's ASGI handler runs each request
in a thread created for it and hops between that thread and the event loop for every sync/async
boundary of the middleware chain and of its signals; measured on uvicorn, a ``/healthz`` cost 4.9
ms of CPU that way and 1.5 ms here, an API write 15 ms and 8.6 ms. A fixed pool also bounds the
database connections a process holds and lets them be reused (``DB_CONN_MAX_AGE``).

A request's body is read on the event loop before a thread takes the request: a thread is never
held by a slow upload, a body sent in chunks (no ``Content-Length``, which Django's WSGI request
needs) is handed over with its length, a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is
answered 413 (a multipart/form-data one may be as large as ``SPREADSHEET_IMPORT_MAX_BYTES``,
when that is larger: a schedule workbook is uploaded that way; the 413 says the limit), and a
request whose client went away before its body was complete never runs.
Bodies are read before anyone is authenticated, so two bounds keep anonymous clients from
holding memory: a body not complete within ``HTTP_BODY_TIMEOUT_SECONDS`` is answered 408, and
past ``HTTP_BODY_BUFFER_MAX_BYTES`` held by the process's requests at once (read, waiting for a
thread or running) a request is answered 503 with ``Retry-After``. (Measured before: 30
connections each holding back the last byte of a 2.6 MB body held 77 MB.)

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
import io
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from a2wsgi.wsgi import build_environ
from django.conf import settings
from django.core.wsgi import get_wsgi_application
from prometheus_client import Counter, Gauge

from realtime.context import serving_loop

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
        try:
            async with asyncio.timeout(settings.HTTP_BODY_TIMEOUT_SECONDS or None):
                body = await read_body(receive, limit=body_limit(scope), buffer=self.bodies)
        except TimeoutError:
            body = 408
        if body is None:
            return  # the client went away
        if isinstance(body, int):
            REQUESTS_REFUSED.labels(status=str(body)).inc()
            await refuse(send, body, limit=upload_limit(scope))
            return
        try:
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
        finally:
            self.bodies.give_back(len(body))

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
    """The bytes of request bodies this process's requests hold, with a cap
    (``HTTP_BODY_BUFFER_MAX_BYTES``, 0: none). Used on the event loop only: no lock."""

    def __init__(self) -> None:
        self.held = 0

    def take(self, size: int) -> bool:
        """Count ``size`` more bytes; ``False`` (and nothing counted) past the cap."""
        cap = settings.HTTP_BODY_BUFFER_MAX_BYTES
        if cap and self.held + size > cap:
            return False
        self.held += size
        BODY_BYTES_HELD.inc(size)
        return True

    def give_back(self, size: int) -> None:
        self.held -= size
        BODY_BYTES_HELD.dec(size)


FORM_ROOM = 64 * 1024
"""Beyond a body's limit: room for a form's field names and its multipart framing."""


def is_upload(scope: dict[str, Any]) -> bool:
    """Whether the request carries a multipart/form-data body (a file upload)."""
    content_type = dict(scope.get("headers", [])).get(b"content-type", b"")
    return content_type.split(b";", 1)[0].strip().lower() == b"multipart/form-data"


def upload_limit(scope: dict[str, Any]) -> int | None:
    """The largest body a request may carry, before ``FORM_ROOM``; ``None``: no limit."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return None
    if is_upload(scope):
        return max(limit, settings.SPREADSHEET_IMPORT_MAX_BYTES)
    return limit


def body_limit(scope: dict[str, Any]) -> int | None:
    limit = upload_limit(scope)
    return None if limit is None else limit + FORM_ROOM


async def read_body(
    receive: Any, *, limit: int | None, buffer: BodyBuffer | None = None
) -> bytes | int | None:
    """The whole request body; ``None`` if the client disconnected first, 413 if too large,
    503 if ``buffer`` is full. The bytes of a returned body stay counted in ``buffer``: the
    caller gives them back when the request is done; on any other outcome they are given back
    here (a cancellation by the read timeout too)."""
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if limit is not None and size + len(chunk) > limit:
                return 413
            if buffer is not None and not buffer.take(len(chunk)):
                return 503
            size += len(chunk)
            chunks.append(chunk)
            if not message.get("more_body", False):
                body = b"".join(chunks)
                size = 0  # now the caller's
                return body
    finally:
        if buffer is not None and size:
            buffer.give_back(size)


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
