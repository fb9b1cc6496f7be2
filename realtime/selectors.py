"""Reads the consumer makes, each one ``database_sync_to_async`` call."""

import datetime
from dataclasses import dataclass
from importlib import import_module
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import AbstractBaseUser, Permission
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from rest_framework.authtoken.models import Token

from .models import Event, EventLogState
from .protocol import STREAM_PERMISSIONS, STREAMS, EventFrame

BATCH = 1000


@dataclass(frozen=True)
class LogPage:
    """A page of the log; ``pruned_through`` was read after the events: when a cursor is older,
    events it needed may be missing from ``frames`` (a resync is due)."""

    frames: list[EventFrame]
    head: int
    more: bool
    pruned_through: int


class Credentials(NamedTuple):
    """The login a socket was opened with: a token, or else a session."""

    user_id: int
    session_key: str | None
    token_key: str | None


@dataclass(frozen=True)
class Logins:
    """The logins that no longer hold, and the streams each user (by id) may view now."""

    rejected: frozenset[Credentials]
    viewable: dict[int, frozenset[str]]


@dataclass(frozen=True)
class CheckedPage(LogPage):
    """A page read with its readers' logins checked (``None``: not checked, the page is empty)."""

    logins: Logins | None


def log_head() -> int:
    return Event.objects.latest_id()


def log_page(*, after: int, streams: list[str]) -> LogPage:
    """Events of ``streams`` after ``after``, at most ``BATCH``, the newest id at the time, and
    the pruning point.

    ``head`` is read first: publishing transactions commit in id order, so every event up to
    ``head`` is already visible to the query that follows. The pruning point is read last: a
    prune that deleted events before the events were read has committed its pruning point by
    then, so it cannot go unnoticed (``event_log_prune`` writes both in one transaction).
    """
    head = Event.objects.latest_id()
    events = list(Event.objects.after(after, streams).filter(id__lte=head)[: BATCH + 1])
    more = len(events) > BATCH
    events = events[:BATCH]
    if more:
        head = events[-1].id
    return LogPage(
        frames=[event.to_frame() for event in events],
        head=head,
        more=more,
        pruned_through=EventLogState.pruned_through_id(),
    )


def users_with_stream_permissions(user_ids: set[int]) -> list[AbstractBaseUser]:
    """The active users of ``user_ids``, each annotated with whether it holds each stream's view
    permission directly (``user_<stream>``) or through a group (``group_<stream>``); one query.

    The project authenticates with ``ModelBackend`` alone, so these are exactly the permissions
    ``has_perm`` (and thus the REST API) checks, read fresh rather than from a cache.
    """
    flags = {}
    for stream, permission in STREAM_PERMISSIONS.items():
        app_label, codename = permission.split(".")
        held = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        flags[f"user_{stream}"] = Exists(held.filter(user=OuterRef("pk")))
        flags[f"group_{stream}"] = Exists(held.filter(group__user=OuterRef("pk")))
    return list(
        get_user_model()._default_manager.filter(pk__in=user_ids, is_active=True).annotate(**flags)
    )


def streams_of(user: Any) -> frozenset[str]:
    """The streams a user from ``users_with_stream_permissions`` may view."""
    return frozenset(
        stream
        for stream in STREAMS
        if user.is_superuser or getattr(user, f"user_{stream}") or getattr(user, f"group_{stream}")
    )


def streams_viewable_by(user: AbstractBaseUser, streams: tuple[str, ...]) -> list[str]:
    """The streams of ``streams`` whose model ``user`` may view (fresh permissions)."""
    users = users_with_stream_permissions({user.pk})
    viewable = streams_of(users[0]) if users else frozenset()
    return [stream for stream in streams if stream in viewable]


def log_page_if_allowed(*, credentials: Credentials, after: int, streams: list[str]) -> CheckedPage:
    """``log_page`` with the login checked, in one thread hop for both."""
    logins = logins_check([credentials])
    page = log_page(after=after, streams=streams)
    return CheckedPage(**vars(page), logins=logins)


def logins_check(credentials: list[Credentials]) -> Logins:
    """Which logins no longer hold (user deactivated, token revoked, session gone or made for
    another password: a password change ends every other session, as it does for pages), and
    what each user may view now; a few queries however many sockets share them."""
    if not credentials:
        return Logins(rejected=frozenset(), viewable={})
    users = {
        user.pk: user for user in users_with_stream_permissions({c.user_id for c in credentials})
    }
    token_keys = {c.token_key for c in credentials if c.token_key is not None}
    tokens = set(Token.objects.filter(key__in=token_keys).values_list("key", "user_id"))
    session_keys = {c.session_key for c in credentials if c.token_key is None and c.session_key}
    sessions = session_data(session_keys)

    def holds(login: Credentials) -> bool:
        user = users.get(login.user_id)
        if user is None:
            return False
        if login.token_key is not None:
            return (login.token_key, login.user_id) in tokens
        data = sessions.get(login.session_key)
        return data is not None and session_verifies(data, user)

    return Logins(
        rejected=frozenset(c for c in credentials if not holds(c)),
        viewable={pk: streams_of(user) for pk, user in users.items()},
    )


def session_verifies(data: dict[str, Any], user: Any) -> bool:
    """Whether session ``data`` is still a login of ``user``, as ``django.contrib.auth.get_user``
    decides: the user id, and the hash of the password it was made with (the current secret key
    or one of ``SECRET_KEY_FALLBACKS``)."""
    if str(data.get(SESSION_KEY)) != str(user.pk):
        return False
    session_hash = data.get(HASH_SESSION_KEY)
    if not session_hash:
        return False
    return constant_time_compare(session_hash, user.get_session_auth_hash()) or any(
        constant_time_compare(session_hash, fallback)
        for fallback in user.get_session_auth_fallback_hash()
    )


def session_data(keys: set[str]) -> dict[str, dict[str, Any]]:
    """The data of the sessions of ``keys`` that the session store still has."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if issubclass(store, DatabaseSessionStore):
        rows = (
            store.get_model_class()
            .objects.filter(session_key__in=keys, expire_date__gt=timezone.now())
            .values_list("session_key", "session_data")
        )
        return {key: store().decode(data) for key, data in rows}
    found = {key: store(session_key=key).load() for key in keys}
    return {key: data for key, data in found.items() if data}


def log_page_for_fanout(*, after: int, credentials: list[Credentials]) -> CheckedPage:
    """Every stream's events after ``after`` and, when there are any, the logins of their
    readers checked; one thread hop."""
    page = log_page(after=after, streams=list(STREAM_PERMISSIONS))
    logins = logins_check(credentials) if page.frames else None
    return CheckedPage(**vars(page), logins=logins)


def frame_time(frame: EventFrame) -> float:
    """When the event was recorded (its ``ts``), as a Unix time."""
    return datetime.datetime.fromisoformat(frame["ts"]).timestamp()
