"""Reads the consumer makes, each one ``database_sync_to_async`` call."""

import datetime
import functools
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connection
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from rest_framework.authtoken.models import Token

from .models import Event, EventLogState
from .protocol import PRESENCE_PERMISSIONS, STAFF, STREAM_PERMISSIONS, STREAMS, EventFrame

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
    """The logins that no longer hold, the streams each user (by id) may view now, and the
    grants each holds that presence needs (``protocol.PRESENCE_PERMISSIONS``, ``STAFF``)."""

    rejected: frozenset[Credentials]
    viewable: dict[int, frozenset[str]]
    grants: dict[int, frozenset[str]] = field(default_factory=dict)


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
    """The active users of ``user_ids``, each with ``viewable_streams``: the streams whose view
    permission it holds, directly or through a group, or all of them for a superuser; and
    ``presence_grants``: the permissions of ``PRESENCE_PERMISSIONS`` it holds so, and ``STAFF``
    for a staff user (the admin site asks for it, superusers included); two queries.

    The project authenticates with ``ModelBackend`` alone, so these are exactly the permissions
    ``has_perm`` (and thus the REST API) checks, read fresh rather than from a cache. The grants
    are one plain SQL query (``STREAM_GRANTS_SQL``): the ORM's version, a subquery per stream
    and way of holding it, took milliseconds to compile, on every subscribe and every read of
    the hub.
    """
    users = list(get_user_model()._default_manager.filter(pk__in=user_ids, is_active=True))
    if not users:
        return []
    granted: dict[int, set[str]] = {}
    held: dict[int, set[str]] = {}
    ids = [user.pk for user in users if not user.is_superuser]
    if ids:
        placeholders = ", ".join(["%s"] * len(ids))
        with connection.cursor() as cursor:
            cursor.execute(
                stream_grants_sql().format(users=placeholders), [*ids, *ids, *STREAM_CODENAMES]
            )
            for user_id, app_label, codename in cursor.fetchall():
                permission = f"{app_label}.{codename}"
                stream = STREAMS_BY_PERMISSION.get(permission)
                if stream is not None:
                    granted.setdefault(user_id, set()).add(stream)
                if permission in PRESENCE_PERMISSIONS:
                    held.setdefault(user_id, set()).add(permission)
    for user in users:
        user.viewable_streams = (  # type: ignore[attr-defined]
            frozenset(STREAMS) if user.is_superuser else frozenset(granted.get(user.pk, ()))
        )
        permissions = set(PRESENCE_PERMISSIONS) if user.is_superuser else held.get(user.pk, set())
        user.presence_grants = frozenset(  # type: ignore[attr-defined]
            permissions | ({STAFF} if user.is_staff else set())
        )
    return users


STREAMS_BY_PERMISSION = {permission: stream for stream, permission in STREAM_PERMISSIONS.items()}
# The codenames the grants query reads: the streams' view permissions and presence's.
STREAM_CODENAMES = sorted(
    {
        permission.split(".")[1]
        for permission in [*STREAM_PERMISSIONS.values(), *PRESENCE_PERMISSIONS]
    }
)


@functools.cache
def stream_grants_sql() -> str:
    """Rows (user id, app label, codename) of the permissions of ``STREAM_CODENAMES`` held by
    the users ``{users}`` (placeholders, twice), directly or through a group; tables and
    columns from the models' metadata."""
    user_model = get_user_model()
    quote = connection.ops.quote_name
    direct = user_model._meta.get_field("user_permissions")
    groups = user_model._meta.get_field("groups")
    held_by_group = Group._meta.get_field("permissions")
    permission = quote(Permission._meta.db_table)
    content_type = quote(ContentType._meta.db_table)
    codename = quote(Permission._meta.get_field("codename").column)
    app_label = quote(ContentType._meta.get_field("app_label").column)
    permission_type = quote(Permission._meta.get_field("content_type").column)
    codenames = ", ".join(["%s"] * len(STREAM_CODENAMES))
    held = (
        f"SELECT d.{quote(direct.m2m_column_name())} AS user_id, "
        f"d.{quote(direct.m2m_reverse_name())} AS permission_id "
        f"FROM {quote(direct.m2m_db_table())} d "
        f"WHERE d.{quote(direct.m2m_column_name())} IN ({{users}}) "
        "UNION "
        f"SELECT g.{quote(groups.m2m_column_name())}, "
        f"gp.{quote(held_by_group.m2m_reverse_name())} "
        f"FROM {quote(groups.m2m_db_table())} g "
        f"JOIN {quote(held_by_group.m2m_db_table())} gp "
        f"ON gp.{quote(held_by_group.m2m_column_name())} "
        f"= g.{quote(groups.m2m_reverse_name())} "
        f"WHERE g.{quote(groups.m2m_column_name())} IN ({{users}})"
    )
    return (
        f"SELECT held.user_id, ct.{app_label}, p.{codename} FROM ({held}) held "
        f"JOIN {permission} p ON p.{quote(Permission._meta.pk.column)} = held.permission_id "
        f"JOIN {content_type} ct ON ct.{quote(ContentType._meta.pk.column)} = p.{permission_type} "
        f"WHERE p.{codename} IN ({codenames})"
    )


def streams_of(user: Any) -> frozenset[str]:
    """The streams a user from ``users_with_stream_permissions`` may view."""
    return user.viewable_streams


@dataclass(frozen=True)
class SubscriptionCheck:
    """A socket's login and permissions checked, and the log's head read after them."""

    logins: Logins
    head: int


def subscription_check(*, credentials: Credentials) -> SubscriptionCheck:
    """What a subscribe needs before it joins its streams, in one thread hop."""
    logins = logins_check([credentials])
    return SubscriptionCheck(logins=logins, head=Event.objects.latest_id())


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
        return Logins(rejected=frozenset(), viewable={}, grants={})
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
        grants={pk: user.presence_grants for pk, user in users.items()},
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


def login_user(*, token_key: str | None, session_key: str | None) -> Any:
    """The active user a request's token (first, as the API reads it) or else session cookie
    logs in, or ``None``. Read only: a session made for another password is not ended here but
    by the request itself, as Django does."""
    if token_key is not None:
        user = token_user(token_key)
    elif session_key:
        data = session_data({session_key}).get(session_key)
        if data is None or SESSION_KEY not in data:
            return None
        user = get_user_model()._default_manager.filter(pk=data[SESSION_KEY]).first()
        if user is not None and not session_verifies(data, user):
            return None
    else:
        return None
    return user if user is not None and user.is_active else None


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


def token_user(key: str) -> Any:
    """The user whose token is ``key``, or ``None``: one join written once (the ORM built its
    query on every request), for the sockets' and the REST API's token logins. Nothing is
    cached: a deleted token stops working at once."""
    return next(iter(get_user_model()._default_manager.raw(token_user_sql(), [key])), None)


@functools.cache
def token_user_sql() -> str:
    users = get_user_model()._meta
    tokens = Token._meta
    quote = connection.ops.quote_name
    columns = ", ".join(
        f"{quote(users.db_table)}.{quote(field.column)}" for field in users.concrete_fields
    )
    return (
        f"SELECT {columns} FROM {quote(users.db_table)} "
        f"INNER JOIN {quote(tokens.db_table)} "
        f"ON {quote(tokens.db_table)}.{quote(tokens.get_field('user').column)} "
        f"= {quote(users.db_table)}.{quote(users.pk.column)} "
        f"WHERE {quote(tokens.db_table)}.{quote(tokens.pk.column)} = %s"
    )
