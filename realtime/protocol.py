"""The wire vocabulary of ``/api/ws``: streams, event and frame types, error and close codes.

Client frames are parsed here into typed messages; anything malformed raises ``ClientError``
with the code the client gets back in an ``error`` frame.
"""

import datetime
import json
import math
import re
import time
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict

# Where the socket is served.
WEBSOCKET_PATH = "/api/ws"

# The ASGI scope extension through which ``realtime.server.WebSocketProtocol`` (under uvicorn)
# lets a socket write a frame encoded once for all its sockets.
ENCODED_FRAMES = "realtime.websocket.encoded"

# Streams, each the events of one model.
TASKS = "tasks"
DAILY_WORKS = "daily_works"
MONTHLY_TASKS = "monthly_tasks"
CALENDAR_DAYS = "calendar_days"

# The permission a user needs to subscribe to a stream.
STREAM_PERMISSIONS: dict[str, str] = {
    TASKS: "schedule.view_task",
    DAILY_WORKS: "daily.view_dailywork",
    MONTHLY_TASKS: "monthly.view_monthlytask",
    CALENDAR_DAYS: "schedule.view_calendarday",
}
STREAMS = tuple(STREAM_PERMISSIONS)

# Event types are <entity>_<past participle>.
STREAM_ENTITIES: dict[str, str] = {
    TASKS: "task",
    DAILY_WORKS: "daily_work",
    MONTHLY_TASKS: "monthly_task",
    CALENDAR_DAYS: "calendar_day",
}
CREATED, UPDATED, DELETED = "created", "updated", "deleted"


def event_type(stream: str, action: str) -> str:
    return f"{STREAM_ENTITIES[stream]}_{action}"


# Channel-layer message type (never sent to clients).
LAYER_EVENT = "realtime.event"


def group_for(stream: str) -> str:
    """The channel-layer group of a stream (letters, digits, ``-``, ``_`` and ``.`` only)."""
    if stream not in STREAM_PERMISSIONS:
        raise ValueError(f"unknown stream {stream!r}")
    return f"events.{stream}"


# Presence (docs/realtime.md "Presence"): a socket says which page it shows and what it edits;
# the people on a page are announced to the processes that serve it through the page's group.
LAYER_PRESENCE = "realtime.presence"

# Page keys and the streams whose view permission each needs: those its view requires (the МСГ
# shows tasks, plans and reports). Admin change forms are ``admin:<app>.<model>:<id>`` (or
# ``:add``) for the published models.
PAGE_STREAMS: dict[str, tuple[str, ...]] = {
    "schedule": (TASKS,),
    "progress": (TASKS, DAILY_WORKS),
    "msg": (TASKS, MONTHLY_TASKS, DAILY_WORKS),
    "daily": (DAILY_WORKS,),
}
ADMIN_MODEL_STREAMS: dict[str, str] = {
    "schedule.task": TASKS,
    "monthly.monthlytask": MONTHLY_TASKS,
    "daily.dailywork": DAILY_WORKS,
    "schedule.calendarday": CALENDAR_DAYS,
}
PAGE_KEY_MAX = 80
_ADMIN_PAGE = re.compile(r"admin:([a-z_]+\.[a-z_]+):([1-9][0-9]{0,17}|add)")


def page_streams(page: str) -> tuple[str, ...]:
    """The streams a page key needs, or ``ClientError(INVALID_MESSAGE)`` for a key that names no
    page: ``schedule``, ``progress``, ``msg:YYYY-MM``, ``daily:YYYY-MM-DD``,
    ``admin:<app>.<model>:<id|add>``."""
    invalid = ClientError(INVALID_MESSAGE, f"Unknown page {page[:PAGE_KEY_MAX]!r}.")
    if len(page) > PAGE_KEY_MAX:
        raise invalid
    name, _, rest = page.partition(":")
    if name in {"schedule", "progress"} and not rest:
        return PAGE_STREAMS[name]
    if name == "msg" and re.fullmatch(r"[0-9]{4}-[0-9]{2}", rest) and _is_date(f"{rest}-01"):
        return PAGE_STREAMS[name]
    if name == "daily" and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", rest) and _is_date(rest):
        return PAGE_STREAMS[name]
    admin = _ADMIN_PAGE.fullmatch(page)
    if admin and admin.group(1) in ADMIN_MODEL_STREAMS:
        return (ADMIN_MODEL_STREAMS[admin.group(1)],)
    raise invalid


def _is_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


# What a presence needs of its user. A grant is a permission name (``schedule.change_task``)
# or ``STAFF`` (the admin site's is_staff); a need is a set of grants, any of which will do.
STAFF = "staff"
Need = frozenset[str]


def stream_permission(stream: str, action: str) -> str:
    """The permission to ``action`` (view, add, change) the objects of ``stream``."""
    app_label, codename = STREAM_PERMISSIONS[stream].split(".")
    return f"{app_label}.{action}_{codename.removeprefix('view_')}"


PRESENCE_ACTIONS = ("view", "add", "change")
PRESENCE_PERMISSIONS: dict[str, tuple[str, str]] = {
    stream_permission(stream, action): (action, stream)
    for stream in STREAM_PERMISSIONS
    for action in PRESENCE_ACTIONS
}
"""Every permission a presence may need, with its action and stream."""


def page_needs(page: str) -> tuple[Need, ...]:
    """What opening ``page`` needs, as its view does: the view permission of its streams; an
    admin form, the admin site and the model's view (or change) permission, or its add
    permission for ``:add``."""
    streams = page_streams(page)
    if not page.startswith("admin:"):
        return tuple(frozenset({stream_permission(stream, "view")}) for stream in streams)
    [stream] = streams
    actions = ("add",) if page.endswith(":add") else ("view", "change")
    return (
        frozenset({STAFF}),
        frozenset(stream_permission(stream, action) for action in actions),
    )


def editing_needs(page: str, target: "EditingTarget") -> tuple[Need, ...]:
    """What claiming to edit ``target`` on ``page`` needs: viewing its stream and changing it.
    An МСГ cell is its day's work, added or changed; a task's row on the МСГ without a plan
    edits the task's new plan (adding one)."""
    stream = target["stream"]
    view = frozenset({stream_permission(stream, "view")})
    if "date" in target:
        change = frozenset({stream_permission(stream, "add"), stream_permission(stream, "change")})
    elif stream == TASKS and page.startswith("msg:"):
        change = frozenset(
            {stream_permission(TASKS, "change"), stream_permission(MONTHLY_TASKS, "add")}
        )
    else:
        change = frozenset({stream_permission(stream, "change")})
    return (view, change)


def unmet(needs: tuple[Need, ...], grants: frozenset[str]) -> list[Need]:
    """The needs none of whose grants ``grants`` holds."""
    return [need for need in needs if not need & grants]


def _in_order(permission: tuple[str, str]) -> tuple[int, int]:
    action, stream = permission
    return STREAMS.index(stream), PRESENCE_ACTIONS.index(action)


def _phrases(needs: list[Need]) -> str:
    """What ``needs`` ask, in words: ``view: tasks, daily_works; open the admin site``."""
    viewed: list[str] = []
    others: list[str] = []
    for need in needs:
        if need == {STAFF}:
            others.append("open the admin site")
            continue
        actions: dict[str, list[str]] = {}
        for action, stream in sorted(map(PRESENCE_PERMISSIONS.__getitem__, need), key=_in_order):
            actions.setdefault(stream, []).append(action)
        if list(actions.values()) == [["view"]]:
            viewed.extend(actions)
            continue
        by_stream = [f"{' or '.join(done)}: {stream}" for stream, done in actions.items()]
        others.append(" or ".join(by_stream))
    return "; ".join([f"view: {', '.join(viewed)}"] * bool(viewed) + others)


def presence_group_for(page: str) -> str:
    """The channel-layer group of a page key checked by ``page_streams`` (its colons, which
    groups may not hold, become dots: the keys' shapes keep the names distinct)."""
    page_streams(page)
    return f"presence.{page.replace(':', '.')}"


# Error codes.
INVALID_JSON = "invalid_json"
INVALID_MESSAGE = "invalid_message"
UNKNOWN_TYPE = "unknown_type"
UNKNOWN_EVENT = "unknown_event"
FORBIDDEN = "forbidden"
TOO_LARGE = "too_large"
RATE_LIMITED = "rate_limited"
SLOW_CONSUMER = "slow_consumer"
TOO_MANY_CONNECTIONS = "too_many_connections"
SERVER_BUSY = "server_busy"

ERROR_MESSAGES: dict[str, str] = {
    INVALID_JSON: "The frame is not valid JSON.",
    INVALID_MESSAGE: "The message is not a JSON object with the fields its type needs.",
    UNKNOWN_TYPE: ("Unknown message type; expected subscribe, unsubscribe, ping, lag or presence."),
    UNKNOWN_EVENT: "Unknown stream; expected tasks, daily_works, monthly_tasks or calendar_days.",
    FORBIDDEN: "You may not view this stream.",
    TOO_LARGE: "The frame is larger than the limit.",
    RATE_LIMITED: "Too many messages; the connection is closed.",
    SLOW_CONSUMER: "The connection fell too far behind; reconnect and resume with last_event_id.",
    TOO_MANY_CONNECTIONS: "Too many open connections for this user; close one and retry.",
    SERVER_BUSY: "The server has too many connections; retry after retry_after seconds.",
}

# Change-to-screen lag reports (``lag``): at most this many samples a message, each an event id
# and a number of seconds from 0 to ``LAG_SECONDS_MAX`` (a longer wait is a sleeping laptop, not
# a lag).
LAG_SAMPLES_MAX = 100
LAG_SECONDS_MAX = 600
# The sampled events a socket was sent live and has not reported yet, newest kept: a report
# names at most ``LAG_SAMPLES_MAX`` of them, drawn from those applied since the last one.
LAG_PENDING_MAX = 2 * LAG_SAMPLES_MAX
# Knuth's multiplicative hash: consecutive ids spread evenly over [0, 2**32).
_LAG_HASH = 2654435761


def lag_sampled(event_id: int, rate: float) -> bool:
    """Whether the change-to-screen lag of event ``event_id`` is measured at sample rate
    ``rate`` (0 to 1): the same answer on every process and in the pages
    (``lagSampled`` in static/realtime/websocket.js), so no frame needs to say it."""
    return ((event_id * _LAG_HASH) & 0xFFFFFFFF) < rate * 2**32


# Close codes.
# An unexpected exception on the socket's path (logged on the server); the client reconnects.
CLOSE_INTERNAL_ERROR = 1011
CLOSE_UNAUTHENTICATED = 4401
CLOSE_RATE_LIMITED = 4429
# The client stopped reading and its backlog passed REALTIME_SEND_BACKLOG frames.
CLOSE_SLOW_CONSUMER = 4408
# The user already has REALTIME_MAX_CONNECTIONS_PER_USER sockets open (on any process).
CLOSE_TOO_MANY_CONNECTIONS = 4409
# This process holds REALTIME_MAX_CONNECTIONS sockets; the error frame says when to retry.
CLOSE_SERVER_BUSY = 4503


class ClientError(Exception):
    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or ERROR_MESSAGES[code])
        self.code = code
        self.message = message or ERROR_MESSAGES[code]


# Frames the server sends.
class ActorFrame(TypedDict):
    id: int
    username: str
    # The full name at the time of the change, else the login: what notices call the person.
    name: str


class EventFrame(TypedDict):
    type: str
    event: str
    id: int
    data: dict[str, Any]
    actor: ActorFrame | None
    # When the change was committed (server clock, ISO 8601 UTC): the event row's time, written
    # in the committing transaction after the log's lock, so at most the rest of that transaction
    # before its commit. The same in a live and a replayed frame.
    ts: str
    # Only on a change another one brought about (a task's volume done recalculated after a
    # report): the id of that event. Pages tell the cause, not its consequences.
    cause: NotRequired[int]


class SubscribedFrame(TypedDict):
    type: Literal["subscribed"]
    events: list[str]
    last_event_id: int


class UnsubscribedFrame(TypedDict):
    type: Literal["unsubscribed"]
    events: list[str]


class ResyncRequiredFrame(TypedDict):
    type: Literal["resync_required"]
    events: list[str]


class PongFrame(TypedDict, total=False):
    """A ping's answer: ``type`` and whatever else the ping carried, echoed."""

    type: Literal["pong"]
    # With ``"clock": true`` in the ping: the server's time (Unix epoch, milliseconds), for the
    # client's estimate of its clock offset.
    server_time: float


class EditingTarget(TypedDict, total=False):
    """What a person edits: an object (``stream`` and ``id``) or an МСГ cell (``stream``
    ``daily_works``, ``task`` and ``date``)."""

    stream: str
    id: int
    task: int
    date: str


class PersonFrame(TypedDict):
    id: int
    name: str
    initials: str
    # Every object or cell one of the person's tabs edits (sorted), empty when none.
    editing: list[EditingTarget]
    # True only when every tab of the person on the page is idle.
    idle: bool


class PresenceFrame(TypedDict):
    """The other people on ``page`` (the recipient is left out), sorted by name."""

    type: Literal["presence"]
    page: str
    people: list[PersonFrame]


class ErrorFrame(TypedDict):
    type: Literal["error"]
    code: str
    message: str
    events: NotRequired[list[str]]
    # A presence refused or ended: its page key.
    page: NotRequired[str]
    # An editing claim refused or ended (the presence on ``page`` stays, editing nothing).
    editing: NotRequired["EditingTarget"]


def subscribed_frame(streams: list[str], last_event_id: int) -> SubscribedFrame:
    return {"type": "subscribed", "events": streams, "last_event_id": last_event_id}


def unsubscribed_frame(streams: list[str]) -> UnsubscribedFrame:
    return {"type": "unsubscribed", "events": streams}


def resync_required_frame(streams: list[str]) -> ResyncRequiredFrame:
    """The events ``streams`` needed were pruned: the client reloads them over the REST API."""
    return {"type": "resync_required", "events": streams}


def error_frame(error: ClientError) -> ErrorFrame:
    return {"type": "error", "code": error.code, "message": error.message}


def forbidden_frame(streams: list[str]) -> ErrorFrame:
    """Sent when the user loses the view permission of ``streams``: they are unsubscribed."""
    message = f"You may no longer view: {', '.join(streams)}. Unsubscribed."
    return {**error_frame(ClientError(FORBIDDEN, message)), "events": streams}


def forbidden_presence_frame(page: str, needs: list[Need], *, lost: bool) -> ErrorFrame:
    """A presence on ``page`` refused (or, ``lost``, ended) because the user lacks ``needs``:
    they are not (any more) among its people, and see none of them."""
    said = "may no longer" if lost else "may not"
    message = f"You {said} {_phrases(needs)}. No presence on {page}."
    return {**error_frame(ClientError(FORBIDDEN, message)), "page": page}


def forbidden_editing_frame(
    page: str, target: "EditingTarget", needs: list[Need], *, lost: bool
) -> ErrorFrame:
    """A claim to edit ``target`` refused (or, ``lost``, ended) because the user lacks
    ``needs``: the presence on ``page`` stays, editing nothing."""
    said = "may no longer" if lost else "may not"
    message = f"You {said} {_phrases(needs)}. Your presence on {page} shows no editing."
    return {**error_frame(ClientError(FORBIDDEN, message)), "page": page, "editing": target}


# Messages the client sends.
@dataclass(frozen=True)
class Subscribe:
    events: tuple[str, ...]
    last_event_id: int | None


@dataclass(frozen=True)
class Unsubscribe:
    events: tuple[str, ...]


@dataclass(frozen=True)
class Ping:
    extra: dict[str, Any]
    clock: bool = False


@dataclass(frozen=True)
class LagSample:
    event_id: int
    seconds: float


@dataclass(frozen=True)
class Lag:
    """Change-to-screen lags the browser measured, each of a sampled event it was sent live
    (see docs/realtime.md)."""

    samples: tuple[LagSample, ...]


@dataclass(frozen=True)
class Presence:
    """The page a socket shows (``None``: none, it leaves presence), what it edits, whether
    its tab is idle."""

    page: str | None
    editing: EditingTarget | None = None
    idle: bool = False

    @property
    def needs(self) -> tuple[Need, ...]:
        """What this presence needs of its user: its page's needs, then its claim's."""
        if self.page is None:
            return ()
        if self.editing is None:
            return page_needs(self.page)
        return page_needs(self.page) + editing_needs(self.page, self.editing)


ClientMessage = Subscribe | Unsubscribe | Ping | Lag | Presence


def pong_frame(ping: Ping) -> PongFrame:
    """The answer to ``ping``: its other fields, and the server's time when it asked for it."""
    pong: Any = {**ping.extra, "type": "pong"}
    if ping.clock:
        pong["server_time"] = round(time.time() * 1000, 1)
    return pong


def _streams(message: dict[str, Any]) -> tuple[str, ...]:
    events = message.get("events")
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise ClientError(INVALID_MESSAGE, '"events" must be a list of stream names.')
    unknown = [e for e in events if e not in STREAM_PERMISSIONS]
    if unknown:
        raise ClientError(UNKNOWN_EVENT, f"Unknown stream(s): {', '.join(unknown)}.")
    return tuple(dict.fromkeys(events))


def _lag_samples(message: dict[str, Any]) -> tuple[LagSample, ...]:
    samples = message.get("samples")
    if not isinstance(samples, list) or not 1 <= len(samples) <= LAG_SAMPLES_MAX:
        raise ClientError(
            INVALID_MESSAGE,
            f'"samples" must be a list of 1 to {LAG_SAMPLES_MAX} {{"id", "seconds"}} objects.',
        )
    parsed = []
    for sample in samples:
        seconds = sample.get("seconds") if isinstance(sample, dict) else None
        # ``json`` reads NaN and Infinity too.
        if (
            not isinstance(sample, dict)
            or set(sample) != {"id", "seconds"}
            or not _positive_id(sample["id"])
            or isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or not 0 <= seconds <= LAG_SECONDS_MAX
        ):
            raise ClientError(
                INVALID_MESSAGE,
                'Each of "samples" must be {"id": an event id, "seconds": a number from 0 to '
                f"{LAG_SECONDS_MAX}}}.",
            )
        parsed.append(LagSample(event_id=sample["id"], seconds=float(seconds)))
    return tuple(parsed)


def _positive_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _editing(value: Any) -> EditingTarget | None:
    """An editing target in its one canonical shape, or ``ClientError``."""
    if value is None:
        return None
    invalid = ClientError(
        INVALID_MESSAGE,
        '"editing" must be null, {"stream", "id"} or {"stream": "daily_works", "task", "date"}.',
    )
    if not isinstance(value, dict) or value.get("stream") not in STREAM_PERMISSIONS:
        raise invalid
    stream = value["stream"]
    if set(value) == {"stream", "id"} and _positive_id(value["id"]):
        return {"stream": stream, "id": value["id"]}
    if (
        stream == DAILY_WORKS
        and set(value) == {"stream", "task", "date"}
        and _positive_id(value["task"])
        and isinstance(value["date"], str)
        and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value["date"])
        and _is_date(value["date"])
    ):
        return {"stream": stream, "task": value["task"], "date": value["date"]}
    raise invalid


def _presence(message: dict[str, Any]) -> Presence:
    page = message.get("page")
    if page is None:
        return Presence(page=None)
    if not isinstance(page, str):
        raise ClientError(INVALID_MESSAGE, '"page" must be a page key or null.')
    page_streams(page)
    idle = message.get("idle", False)
    if not isinstance(idle, bool):
        raise ClientError(INVALID_MESSAGE, '"idle" must be true or false.')
    return Presence(page=page, editing=_editing(message.get("editing")), idle=idle)


def parse(text: str) -> ClientMessage:
    """Turn a text frame into a client message, or raise ``ClientError``."""
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):  # nesting deeper than the parser's stack
        raise ClientError(INVALID_JSON) from None
    if not isinstance(message, dict):
        raise ClientError(INVALID_MESSAGE, "The message must be a JSON object.")
    kind = message.get("type")
    if kind == "ping":
        clock = message.get("clock", False)
        if not isinstance(clock, bool):
            raise ClientError(INVALID_MESSAGE, '"clock" must be true or false.')
        return Ping(extra={k: v for k, v in message.items() if k != "type"}, clock=clock)
    if kind == "lag":
        return Lag(samples=_lag_samples(message))
    if kind == "subscribe":
        last_event_id = message.get("last_event_id")
        if last_event_id is not None and (
            isinstance(last_event_id, bool)
            or not isinstance(last_event_id, int)
            or last_event_id < 0
        ):
            raise ClientError(
                INVALID_MESSAGE, '"last_event_id" must be a non-negative integer or null.'
            )
        return Subscribe(events=_streams(message), last_event_id=last_event_id)
    if kind == "unsubscribe":
        return Unsubscribe(events=_streams(message))
    if kind == "presence":
        return _presence(message)
    raise ClientError(UNKNOWN_TYPE)
