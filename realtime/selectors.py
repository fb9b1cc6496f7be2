"""Reads the consumer makes, each one ``database_sync_to_async`` call."""

import datetime
from dataclasses import dataclass
from importlib import import_module
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone
from rest_framework.authtoken.models import Token

from .models import Event, EventLogState
from .protocol import STREAM_PERMISSIONS, EventFrame

BATCH = 1000


@dataclass(frozen=True)
class LogPage:
    frames: list[EventFrame]
    head: int
    more: bool


class Credentials(NamedTuple):
    """The login a socket was opened with: a token, or else a session."""

    user_id: int
    session_key: str | None
    token_key: str | None


@dataclass(frozen=True)
class FanoutPage(LogPage):
    rejected: frozenset[Credentials]


def log_head() -> int:
    return Event.objects.latest_id()


def log_pruned_through() -> int:
    return EventLogState.pruned_through_id()


def log_page(*, after: int, streams: list[str]) -> LogPage:
    """Events of ``streams`` after ``after``, at most ``BATCH``, and the newest id at the time.

    ``head`` is read first: publishing transactions commit in id order, so every event up to
    ``head`` is already visible to the query that follows.
    """
    head = Event.objects.latest_id()
    events = list(Event.objects.after(after, streams).filter(id__lte=head)[: BATCH + 1])
    more = len(events) > BATCH
    events = events[:BATCH]
    if more:
        head = events[-1].id
    return LogPage(frames=[event.to_frame() for event in events], head=head, more=more)


def streams_viewable_by(user: AbstractBaseUser, streams: tuple[str, ...]) -> list[str]:
    """The streams whose model ``user`` may view (fresh permissions, not the cached ones).

    ``user`` may be the session's lazy wrapper, so the user model is looked up, not its type.
    """
    user = get_user_model()._default_manager.get(pk=user.pk)
    return [stream for stream in streams if user.has_perm(STREAM_PERMISSIONS[stream])]


def log_page_if_allowed(
    *, credentials: Credentials, after: int, streams: list[str]
) -> LogPage | None:
    """``log_page`` for a login that still holds, else ``None``; one thread hop for both."""
    if rejected_credentials([credentials]):
        return None
    return log_page(after=after, streams=streams)


def rejected_credentials(credentials: list[Credentials]) -> frozenset[Credentials]:
    """The logins that no longer hold (user deactivated, token revoked, session gone); a few
    queries however many sockets share them."""
    if not credentials:
        return frozenset()
    active = set(
        get_user_model()
        ._default_manager.filter(pk__in={c.user_id for c in credentials}, is_active=True)
        .values_list("pk", flat=True)
    )
    token_keys = {c.token_key for c in credentials if c.token_key is not None}
    tokens = set(Token.objects.filter(key__in=token_keys).values_list("key", "user_id"))
    session_keys = {c.session_key for c in credentials if c.token_key is None and c.session_key}
    sessions = existing_sessions(session_keys)
    return frozenset(
        c
        for c in credentials
        if c.user_id not in active
        or (
            (c.token_key, c.user_id) not in tokens
            if c.token_key is not None
            else c.session_key not in sessions
        )
    )


def existing_sessions(keys: set[str]) -> set[str]:
    """The session keys of ``keys`` that the session store still has."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if issubclass(store, DatabaseSessionStore):
        return set(
            store.get_model_class()
            .objects.filter(session_key__in=keys, expire_date__gt=timezone.now())
            .values_list("session_key", flat=True)
        )
    return {key for key in keys if store().exists(key)}


def log_page_for_fanout(*, after: int, credentials: list[Credentials]) -> FanoutPage:
    """Every stream's events after ``after`` and the logins to refuse; one thread hop."""
    page = log_page(after=after, streams=list(STREAM_PERMISSIONS))
    rejected = rejected_credentials(credentials) if page.frames else frozenset()
    return FanoutPage(**vars(page), rejected=rejected)


def frame_time(frame: EventFrame) -> float:
    """When the event was recorded (its ``ts``), as a Unix time."""
    return datetime.datetime.fromisoformat(frame["ts"]).timestamp()
