"""The wire vocabulary of ``/api/ws``: streams, event and frame types, error and close codes.

Client frames are parsed here into typed messages; anything malformed raises ``ClientError``
with the code the client gets back in an ``error`` frame.
"""

import json
import math
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
    UNKNOWN_TYPE: "Unknown message type; expected subscribe, unsubscribe, ping or lag.",
    UNKNOWN_EVENT: "Unknown stream; expected tasks, daily_works, monthly_tasks or calendar_days.",
    FORBIDDEN: "You may not view this stream.",
    TOO_LARGE: "The frame is larger than the limit.",
    RATE_LIMITED: "Too many messages; the connection is closed.",
    SLOW_CONSUMER: "The connection fell too far behind; reconnect and resume with last_event_id.",
    TOO_MANY_CONNECTIONS: "Too many open connections for this user; close one and retry.",
    SERVER_BUSY: "The server has too many connections; retry after retry_after seconds.",
}

# Change-to-screen lag reports (``lag``): at most this many samples a message, each a number of
# seconds from 0 to ``LAG_SECONDS_MAX`` (a longer wait is a sleeping laptop, not a lag).
LAG_SAMPLES_MAX = 100
LAG_SECONDS_MAX = 600

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


class ErrorFrame(TypedDict):
    type: Literal["error"]
    code: str
    message: str
    events: NotRequired[list[str]]


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
class Lag:
    """Change-to-screen lags the browser measured, in seconds (see docs/realtime.md)."""

    samples: tuple[float, ...]


ClientMessage = Subscribe | Unsubscribe | Ping | Lag


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


def _lag_samples(message: dict[str, Any]) -> tuple[float, ...]:
    samples = message.get("samples")
    if not isinstance(samples, list) or not 1 <= len(samples) <= LAG_SAMPLES_MAX:
        raise ClientError(
            INVALID_MESSAGE, f'"samples" must be a list of 1 to {LAG_SAMPLES_MAX} numbers.'
        )
    for sample in samples:
        # ``json`` reads NaN and Infinity too.
        if (
            isinstance(sample, bool)
            or not isinstance(sample, int | float)
            or not math.isfinite(sample)
            or not 0 <= sample <= LAG_SECONDS_MAX
        ):
            raise ClientError(
                INVALID_MESSAGE,
                f'Each of "samples" must be a number of seconds from 0 to {LAG_SECONDS_MAX}.',
            )
    return tuple(float(sample) for sample in samples)


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
    raise ClientError(UNKNOWN_TYPE)
