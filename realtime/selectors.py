"""Reads the consumer makes, each one ``database_sync_to_async`` call."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.sessions.backends.base import SessionBase
from rest_framework.authtoken.models import Token

from .models import Event, EventLogState
from .protocol import STREAM_PERMISSIONS, EventFrame

BATCH = 1000


@dataclass(frozen=True)
class LogPage:
    frames: list[EventFrame]
    head: int
    more: bool


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


def credentials_still_valid(
    *, user: AbstractBaseUser, session: SessionBase | None, token_key: str | None
) -> bool:
    """False once the user is deactivated, logged out (session gone) or the token revoked."""
    if not get_user_model()._default_manager.filter(pk=user.pk, is_active=True).exists():
        return False
    if token_key is not None:
        return Token.objects.filter(key=token_key, user_id=user.pk).exists()
    if session is None or session.session_key is None:
        return False
    return session.exists(session.session_key)


def log_page_if_allowed(
    *,
    user: AbstractBaseUser,
    session: SessionBase | None,
    token_key: str | None,
    after: int,
    streams: list[str],
) -> LogPage | None:
    """``log_page`` for a user whose login still holds, else ``None``; one thread hop for both."""
    if not credentials_still_valid(user=user, session=session, token_key=token_key):
        return None
    return log_page(after=after, streams=streams)
