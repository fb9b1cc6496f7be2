"""What a request carries down to the code it calls: the acting user and the serving loop.

Both the project package (``scheduler_project``: HTTP, versioned writes, health checks) and this
app (``realtime.events``) need them, so they live here, in a module that imports nothing of the
project's own. Imports go one way: ``scheduler_project`` may import ``realtime``; nothing in
``realtime`` imports ``scheduler_project`` (``scheduler_project/tests/test_imports.py``).

- The acting user: ``acting_as(user)`` around a write attributes the events it publishes to
  ``user`` (set by services and the page middleware; ``None`` for bare ORM code).
- The way in: ``writing_via(via)`` around a write says through what it came (the daily order
  page, the МСГ, the schedule, the admin, the API, an import; ``script`` when nothing said so: a
  shell, a management command), for its history.
- The cause: inside ``recording_causes()``, a change another one brings about (a task's volume
  done recalculated after a report) is recorded as that change's consequence, not as an edit.
- The serving loop: the HTTP application sets ``serving_loop`` for each request before a thread
  runs it; sync code in that thread runs coroutines on that loop, where the channel layer's
  connections live (``call_async`` waits, ``call_async_soon`` does not).
"""

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)

# The acting user.
_actor: contextvars.ContextVar[AbstractBaseUser | None] = contextvars.ContextVar(
    "realtime_actor", default=None
)


def current_actor() -> AbstractBaseUser | None:
    return _actor.get()


@contextmanager
def acting_as(user: AbstractBaseUser | None) -> Iterator[None]:
    """Attribute the events published inside the block to ``user`` (ignored if anonymous)."""
    if user is not None and not user.is_authenticated:
        user = None
    token = _actor.set(user)
    try:
        yield
    finally:
        _actor.reset(token)


# The way in.
VIA_DAILY = "daily"  # the daily order page
VIA_MSG = "msg"  # the МСГ (month by day): its plan rows and day cells
VIA_SCHEDULE = "schedule"  # the schedule's task forms
VIA_PAGE = "page"  # any other page (and the rows recorded before the pages were told apart)
VIA_API = "api"
VIA_ADMIN = "admin"
VIA_SCRIPT = "script"
VIA_IMPORT = "import"
VIAS = (VIA_DAILY, VIA_MSG, VIA_SCHEDULE, VIA_PAGE, VIA_API, VIA_ADMIN, VIA_SCRIPT, VIA_IMPORT)
# The pages a REST request may say it was sent from (``X-Source``: the pages' offline outbox).
PAGE_SOURCES = frozenset({VIA_DAILY, VIA_MSG, VIA_SCHEDULE})

_via: contextvars.ContextVar[str] = contextvars.ContextVar("realtime_via", default=VIA_SCRIPT)


def current_via() -> str:
    return _via.get()


@contextmanager
def writing_via(via: str) -> Iterator[None]:
    """Record the changes made inside the block as made through ``via`` (one of ``VIAS``)."""
    if via not in VIAS:
        raise ValueError(f"Unknown way in: {via!r}")
    token = _via.set(via)
    try:
        yield
    finally:
        _via.reset(token)


# The cause.
_causes: contextvars.ContextVar[dict[Hashable, Any] | None] = contextvars.ContextVar(
    "realtime_causes", default=None
)


@contextmanager
def recording_causes() -> Iterator[None]:
    """Let the changes recorded inside the block name their causes: a change noted with
    ``cause_note(key, change)`` is the cause of a later change that looks ``key`` up
    (``cause_of``). Outside a block nothing is noted, so nothing is taken for a cause; nested
    blocks share the outermost one's notes."""
    if _causes.get() is not None:
        yield
        return
    token = _causes.set({})
    try:
        yield
    finally:
        _causes.reset(token)


# Noted for two changes: no one of them is the cause.
_SEVERAL = object()


def cause_note(key: Hashable, change: Any) -> None:
    causes = _causes.get()
    if causes is not None:
        noted = causes.get(key)
        causes[key] = change if noted is None or noted is change else _SEVERAL


def cause_of(key: Hashable) -> Any:
    """The change noted under ``key`` in the open block; None outside one, and when several
    were (a bulk write of several reports on one task recalculates it once, for all of them:
    naming one would credit it with the others' volume, so the recalculation stands alone)."""
    causes = _causes.get()
    cause = None if causes is None else causes.get(key)
    return None if cause is _SEVERAL else cause


def person_name(user: AbstractBaseUser) -> str:
    """How a person is named to others: the full name, else the login."""
    full_name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return full_name or user.get_username()


# The serving loop.
# A coroutine run for a request thread that has not finished by then (the loop stopped, or hangs)
# raises TimeoutError in the thread instead of holding it for ever.
CALL_TIMEOUT_SECONDS = 30.0

serving_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "serving_loop", default=None
)


def call_async_soon(function: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Start ``function(*args)`` on the loop serving this request without waiting for it (a
    failure is logged); outside a request, run it to completion as ``call_async`` does.

    One ``call_soon_threadsafe``, not ``run_coroutine_threadsafe``: nothing waits for the
    result, so the thread-safe future and its chaining to the task (a lock and two callbacks
    each time) bought nothing; the bell of every write went through them."""
    loop = serving_loop.get()
    if loop is None or loop.is_closed() or not loop.is_running():
        call_async(function, *args)
        return
    loop.call_soon_threadsafe(_start, function, args)


# The tasks started by call_async_soon until they finish: the loop keeps only weak references.
_started: set[asyncio.Task[Any]] = set()


def _start(function: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
    task = asyncio.ensure_future(function(*args))
    _started.add(task)
    task.add_done_callback(_started.discard)
    task.add_done_callback(log_failure)


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
