"""HTTP requests run Django's WSGI handler on a fixed pool of ``HTTP_THREADS`` threads.

The application's views and middleware are synchronous. Django's ASGI handler runs each request
in a thread created for it and hops between that thread and the event loop for every sync/async
boundary of the middleware chain and of its signals; measured on uvicorn, a ``/healthz`` cost 4.9
ms of CPU that way and 1.5 ms here, an API write 15 ms and 8.6 ms. A fixed pool also bounds the
database connections a process holds and lets them be reused (``DB_CONN_MAX_AGE``).

A request's body is read on the event loop before a thread takes the request: a thread is never
held by a slow upload, a body sent in chunks (no ``Content-Length``, which Django's WSGI request
needs) is handed over with its length, a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is
answered 413, and a request whose client went away before its body was complete never runs.

Sync code in a request that needs the event loop runs its coroutine on the loop that serves the
request: ``call_async`` (and waits for it), ``call_async_soon`` (does not wait).
"""

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from a2wsgi import WSGIMiddleware
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.wsgi import get_wsgi_application

logger = logging.getLogger(__name__)

# A coroutine run for a request thread that has not finished by then (the loop stopped, or hangs)
# raises TimeoutError in the thread instead of holding it for ever.
CALL_TIMEOUT_SECONDS = 30.0

serving_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "serving_loop", default=None
)


class DjangoHTTP:
    """The ASGI application for ``http`` scopes."""

    def __init__(self, *, threads: int) -> None:
        self.wsgi = WSGIMiddleware(get_wsgi_application(), workers=threads)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await read_body(receive, limit=body_limit())
        if body is None:
            return  # the client went away
        if isinstance(body, int):
            await refuse_too_large(send)
            return
        headers = [
            (name, value)
            for name, value in scope.get("headers", [])
            if name not in (b"content-length", b"transfer-encoding")
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        # The request's thread runs in a copy of this context (a2wsgi), so it sees the loop.
        serving_loop.set(asyncio.get_running_loop())
        await self.wsgi({**scope, "headers": headers}, replay(body, receive), send)


def body_limit() -> int | None:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return None if limit is None else limit + 64 * 1024  # room for a form's field names


async def read_body(receive: Any, *, limit: int | None) -> bytes | int | None:
    """The whole request body; ``None`` if the client disconnected first, 413 if too large."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return 413
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Any) -> Callable[[], Awaitable[dict[str, Any]]]:
    """A ``receive`` that gives ``body`` once, then waits for the client's disconnect."""
    sent = False

    async def receive_again() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_again


async def refuse_too_large(send: Any) -> None:
    body = b"Request body too large.\n"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def call_async_soon(function: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Start ``function(*args)`` on the loop serving this request without waiting for it (a
    failure is logged); outside a request, run it to completion as ``call_async`` does."""
    loop = serving_loop.get()
    if loop is None or loop.is_closed() or not loop.is_running():
        call_async(function, *args)
        return
    future = asyncio.run_coroutine_threadsafe(function(*args), loop)
    future.add_done_callback(log_failure)


def log_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("A coroutine started for a request failed.", exc_info=future.exception())


def call_async[T](function: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``function(*args)`` to completion from sync code and return its result: on the loop
    serving this request when there is one (where the channel layer's connections live), else
    on a loop of its own (a management command, a test, Django's ASGI handler)."""
    loop = serving_loop.get()
    if loop is None or loop.is_closed() or not loop.is_running():
        return async_to_sync(function)(*args)
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        raise RuntimeError("call_async() would block the event loop it waits for.")
    future = asyncio.run_coroutine_threadsafe(function(*args), loop)
    try:
        return future.result(timeout=CALL_TIMEOUT_SECONDS)
    except TimeoutError:
        future.cancel()
        raise
