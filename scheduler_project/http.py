"""HTTP requests run Django's WSGI handler on a fixed pool of ``HTTP_THREADS`` threads.

The application's views and middleware are synchronous. Django's ASGI handler runs each request
in a thread created for it and hops between that thread and the event loop for every sync/async
boundary of the middleware chain and of its signals; measured on uvicorn, a ``/healthz`` cost 4.9
ms of CPU that way and 1.5 ms here, an API write 15 ms and 8.6 ms. A fixed pool also bounds the
database connections a process holds and lets them be reused (``DB_CONN_MAX_AGE``).

Sync code in a request that needs the event loop (ringing the channel layer after a commit) runs
its coroutine on the loop that serves the request: ``call_async``.
"""

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

from a2wsgi import WSGIMiddleware
from asgiref.sync import async_to_sync
from django.core.wsgi import get_wsgi_application

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
        # The request's thread runs in a copy of this context (a2wsgi), so it sees the loop.
        serving_loop.set(asyncio.get_running_loop())
        await self.wsgi(scope, receive, send)


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
