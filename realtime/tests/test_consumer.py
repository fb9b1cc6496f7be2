"""The protocol, driven through the real ASGI application with the in-memory layer."""

import datetime
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from asgiref.sync import SyncToAsync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import OperationalError
from prometheus_client import REGISTRY
from rest_framework.authtoken.models import Token

from realtime import admission, hub, metrics, protocol, selectors
from realtime.consumers import EventsConsumer
from realtime.models import Event, EventLogState
from realtime.protocol import Ping
from schedule.models import Task
from schedule.roles import FOREMEN, roles_ensure
from schedule.services import task_create, task_update
from scheduler_project.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

# A socket opens only from its own origin: the Host a browser on http://127.0.0.1:8000 sends.
HOST = (b"host", b"127.0.0.1:8000")
ORIGIN = (b"origin", b"http://127.0.0.1:8000")


@pytest.fixture(autouse=True)
def _layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.REALTIME_LOG_POLL_SECONDS = 0.05
    settings.REALTIME_RATE_LIMIT_PER_SECOND = 5
    settings.REALTIME_RATE_LIMIT_BURST = 20
    settings.REALTIME_MAX_FRAME_BYTES = 1024


@database_sync_to_async
def make_token(role: str | None = FOREMEN, username: str = "ivan") -> str:
    user = get_user_model().objects.create_user(username, password="pw-12345-x")
    if role:
        user.groups.add(roles_ensure()[role])
    return Token.objects.create(user=user).key


@asynccontextmanager
async def socket(*headers: tuple[bytes, bytes]) -> AsyncIterator[WebsocketCommunicator]:
    communicator = WebsocketCommunicator(application, "/api/ws", headers=[HOST, *headers])
    try:
        yield communicator
    finally:
        await communicator.disconnect()


def auth(key: str) -> tuple[bytes, bytes]:
    return (b"authorization", f"Token {key}".encode())


@database_sync_to_async
def create_task(code: str, **fields) -> Task:
    data = {
        "code": code,
        "name": f"Работа {code}",
        "unit": "м³",
        "volume_plan": Decimal(10),
        "start_date": datetime.date(2026, 11, 1),
        "end_date": datetime.date(2026, 11, 30),
    } | fields
    return task_create(data=data)


@database_sync_to_async
def frame_of(event_id: int) -> dict:
    return json.loads(json.dumps(Event.objects.get(pk=event_id).to_frame()))


async def test_a_socket_without_login_is_closed_with_4401():
    async with socket(ORIGIN) as ws:
        connected, _ = await ws.connect()
        assert connected
        assert await ws.receive_output() == {"type": "websocket.close", "code": 4401}


async def test_a_bad_token_is_closed_with_4401():
    async with socket(ORIGIN, auth("nope")) as ws:
        await ws.connect()
        assert await ws.receive_output() == {"type": "websocket.close", "code": 4401}


async def test_a_foreign_origin_cannot_open_the_socket():
    key = await make_token()
    async with socket((b"origin", b"http://evil.example.com"), auth(key)) as ws:
        connected, _ = await ws.connect()
        assert not connected


async def test_a_session_cookie_authenticates(client):
    user = await database_sync_to_async(get_user_model().objects.create_user)("maria", None, "x")
    await database_sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    async with socket(ORIGIN, (b"cookie", cookie)) as ws:
        await ws.connect()
        await ws.send_json_to({"type": "ping"})
        assert await ws.receive_json_from() == {"type": "pong"}
        await ws.receive_nothing()


async def test_a_session_user_can_subscribe(client):
    # The session's user is a lazy wrapper around the user, not an instance of the user model.
    user = await database_sync_to_async(get_user_model().objects.create_superuser)("maria")
    await database_sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    async with socket(ORIGIN, (b"cookie", cookie)) as ws:
        await ws.connect()
        await ws.send_json_to({"type": "subscribe", "events": ["tasks"]})
        assert await ws.receive_json_from() == {
            "type": "subscribed",
            "events": ["tasks"],
            "last_event_id": 0,
        }
        await ws.receive_nothing()


async def test_frames_that_arrive_after_the_4401_close_are_dropped():
    async with socket(ORIGIN) as ws:
        await ws.connect()
        assert await ws.receive_output() == {"type": "websocket.close", "code": 4401}
        await ws.send_json_to({"type": "ping"})
        await ws.receive_nothing()


async def test_ping_echoes_its_other_fields():
    key = await make_token()
    async with socket(ORIGIN, auth(key)) as ws:
        await ws.connect()
        await ws.send_json_to({"type": "ping", "n": 3, "at": "x"})
        assert await ws.receive_json_from() == {"type": "pong", "n": 3, "at": "x"}
        await ws.receive_nothing()


async def test_a_subscriber_receives_each_committed_change_once_and_in_order():
    key = await make_token()
    async with socket(ORIGIN, auth(key)) as ws:
        await ws.connect()
        await ws.send_json_to({"type": "subscribe", "events": ["tasks"]})
        assert await ws.receive_json_from() == {
            "type": "subscribed",
            "events": ["tasks"],
            "last_event_id": 0,
        }

        task = await create_task("1.1")
        await database_sync_to_async(task_update)(task=task, data={"name": "B"}, version=1)

        first = await ws.receive_json_from()
        second = await ws.receive_json_from()
        assert first == await frame_of(first["id"])
        assert second == await frame_of(second["id"])
        assert (first["type"], second["type"]) == ("task_created", "task_updated")
        assert second["data"]["name"] == "B"
        assert first["id"] < second["id"]
        await ws.receive_nothing()


async def test_resume_replays_what_was_missed_then_goes_live():
    await create_task("1.1")
    missed = [await create_task("1.2"), await create_task("1.3")]
    first_id = await database_sync_to_async(lambda: Event.objects.order_by("id")[0].id)()
    key = await make_token()

    async with socket(ORIGIN, auth(key)) as ws:
        await ws.connect()
        await ws.send_json_to({"type": "subscribe", "events": ["tasks"], "last_event_id": first_id})
        replayed = [await ws.receive_json_from(), await ws.receive_json_from()]
        assert [f["data"]["code"] for f in replayed] == [t.code for t in missed]
        subscribed = await ws.receive_json_from()
        assert subscribed == {
            "type": "subscribed",
            "events": ["tasks"],
            "last_event_id": replayed[-1]["id"],
        }

        await create_task("1.4")
        live = await ws.receive_json_from()
        assert live["data"]["code"] == "1.4"
        await ws.receive_nothing()


async def test_resume_from_before_the_pruned_log_asks_for_a_resync():
    await create_task("1.1")
    await database_sync_to_async(EventLogState.objects.create)(pk=1, pruned_through=5)
    key = await make_token()

    async with socket(ORIGIN, auth(key)) as ws:
        await ws.connect()
        await ws.send_json_to({"type": "subscribe", "events": ["tasks"], "last_event_id": 2})
        assert await ws.receive_json_from() == {"type": "resync_required", "events": ["tasks"]}
        subscribed = await ws.receive_json_from()
        assert subscribed["type"] == "subscribed"
        await ws.receive_nothing()


async def test_a_stream_needs_the_view_permission():
    key = await make_token(role=None)
    async with socket(ORIGIN, auth(key)) as ws:
        await ws.connect()
        await ws.send_json_to({"type": "subscribe", "events": ["tasks"]})
        frame = await ws.receive_json_from()
        assert frame["type"] == "error"
        assert frame["code"] == "forbidden"

        await create_task("1.1")
        await ws.receive_nothing(timeout=0.3)


async def test_unsubscribed_streams_receive_nothing_more():
    key = await make_token()
    async with socket(ORIGIN, auth(key)) as ws:
        await ws.connect()
        await ws.send_json_to({"type": "subscribe", "events": ["tasks", "daily_works"]})
        await ws.receive_json_from()
        await ws.send_json_to({"type": "unsubscribe", "events": ["tasks"]})
        assert await ws.receive_json_from() == {"type": "unsubscribed", "events": ["tasks"]}

        await create_task("1.1")
        await ws.receive_nothing(timeout=0.3)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{oops", "invalid_json"),
        ("[]", "invalid_message"),
        ('{"type": "shout"}', "unknown_type"),
        ('{"type": "subscribe", "events": ["users"]}', "unknown_event"),
        ('{"type": "subscribe", "events": ["tasks"], "last_event_id": "x"}', "invalid_message"),
        ('{"type": "ping", "pad": "' + "x" * 2000 + '"}', "too_large"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_stays_usable(frame, code):
    key = await make_token()
    async with socket(ORIGIN, auth(key)) as ws:
        await ws.connect()
        await ws.send_to(text_data=frame)
        error = await ws.receive_json_from()
        assert error["type"] == "error"
        assert error["code"] == code
        assert error["message"]

        await ws.send_json_to({"type": "ping"})
        assert await ws.receive_json_from() == {"type": "pong"}
        await ws.receive_nothing()


async def test_a_flooding_client_is_told_and_closed_and_others_are_unaffected():
    flooder, calm = await make_token(username="a"), await make_token(username="b")
    async with socket(ORIGIN, auth(flooder)) as bad, socket(ORIGIN, auth(calm)) as good:
        await bad.connect()
        await good.connect()
        for _ in range(25):
            await bad.send_json_to({"type": "ping"})
        frames = []
        while True:
            output = await bad.receive_output()
            if output["type"] == "websocket.close":
                assert output["code"] == 4429
                break
            frames.append(json.loads(output["text"]))
        assert frames[-1]["code"] == "rate_limited"

        await good.send_json_to({"type": "ping"})
        assert await good.receive_json_from() == {"type": "pong"}


async def test_changes_from_another_process_arrive_through_the_log_poll():
    key = await make_token()
    async with socket(ORIGIN, auth(key)) as ws:
        await ws.connect()
        await ws.send_json_to({"type": "subscribe", "events": ["tasks"]})
        await ws.receive_json_from()

        # An event committed by another process: in the log, but no bell in this layer.
        event = await database_sync_to_async(Event.objects.create)(
            stream="tasks", type="task_deleted", object_id=99, data={"id": 99, "code": "x"}
        )

        frame = await ws.receive_json_from(timeout=5)
        assert frame == await frame_of(event.id)
        await ws.receive_nothing()


async def test_the_log_poll_survives_a_failed_first_read(monkeypatch, caplog):
    failures = [OperationalError("database is locked")]  # a locked or restarting database

    def flaky_latest_id() -> int:
        if failures:
            raise failures.pop()
        return Event.objects.latest_id()

    monkeypatch.setattr(hub, "log_head", flaky_latest_id)
    key = await make_token()
    async with socket(ORIGIN, auth(key)) as ws:
        await ws.connect()
        await ws.send_json_to({"type": "subscribe", "events": ["tasks"]})
        await ws.receive_json_from(timeout=5)

        event = await database_sync_to_async(Event.objects.create)(
            stream="tasks", type="task_deleted", object_id=99, data={"id": 99, "code": "x"}
        )

        assert await ws.receive_json_from(timeout=5) == await frame_of(event.id)
        await ws.receive_nothing()
    assert "Reading the event log failed; retrying." in caplog.messages


async def test_a_revoked_token_stops_the_stream():
    key = await make_token()
    async with socket(ORIGIN, auth(key)) as ws:
        await ws.connect()
        await ws.send_json_to({"type": "subscribe", "events": ["tasks"]})
        await ws.receive_json_from()

        await database_sync_to_async(Token.objects.filter(key=key).delete)()
        await create_task("1.1")

        assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}


async def test_an_unexpected_exception_closes_with_1011_and_releases_every_slot(
    monkeypatch, caplog
):
    async def broken_ping(consumer, session, message) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setitem(EventsConsumer.handlers, Ping, broken_ping)
    open_before = metrics.CONNECTIONS_OPEN._value.get()
    key = await make_token()
    async with socket(ORIGIN, auth(key)) as ws:
        await ws.connect()
        await ws.send_json_to({"type": "subscribe", "events": ["tasks"]})
        await ws.receive_json_from()
        assert metrics.CONNECTIONS_OPEN._value.get() == open_before + 1

        await ws.send_json_to({"type": "ping"})

        assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 1011}
        assert admission.open_connections() == 0
        assert metrics.CONNECTIONS_OPEN._value.get() == open_before
        assert hub.hub.sessions == set()
    assert "A socket failed; it is closed with 1011." in caplog.messages


@database_sync_to_async
def leave_every_group(key: str) -> None:
    Token.objects.get(key=key).user.groups.clear()


async def test_a_replay_whose_streams_are_all_taken_away_midway_ends_quietly(monkeypatch):
    """The hub may unsubscribe every stream of a replaying socket (lost permissions) while the
    replay waits for its client: the replay stops there instead of failing the socket."""
    monkeypatch.setattr(selectors, "BATCH", 1)  # one event a page: the replay reads three
    for code in ("1.1", "1.2", "1.3"):
        await create_task(code)
    key = await make_token()

    send_replayed = hub.Session._send_replayed

    async def send_then_lose_every_stream(self, frame):
        await send_replayed(self, frame)
        self.cursors.clear()  # what the hub's forbid() leaves when every stream is lost

    monkeypatch.setattr(hub.Session, "_send_replayed", send_then_lose_every_stream)

    async with socket(ORIGIN, auth(key)) as ws:
        await ws.connect()
        await ws.send_json_to({"type": "subscribe", "events": ["tasks"], "last_event_id": 0})

        first = await ws.receive_json_from()
        assert (first["type"], first["data"]["code"]) == ("task_created", "1.1")
        # No `subscribed`: nothing is left subscribed. The socket carries on.
        await ws.send_json_to({"type": "ping"})
        assert await ws.receive_json_from() == {"type": "pong"}
        await ws.receive_nothing()


async def test_a_lost_view_permission_unsubscribes_its_streams_with_forbidden():
    key = await make_token()
    async with socket(ORIGIN, auth(key)) as ws:
        await ws.connect()
        await ws.send_json_to({"type": "subscribe", "events": ["tasks", "daily_works"]})
        await ws.receive_json_from()

        await leave_every_group(key)
        await create_task("1.1")

        assert await ws.receive_json_from(timeout=5) == {
            "type": "error",
            "code": "forbidden",
            "message": "You may no longer view: tasks, daily_works. Unsubscribed.",
            "events": ["tasks", "daily_works"],
        }
        await create_task("1.2")
        await ws.send_json_to({"type": "ping"})
        assert await ws.receive_json_from(timeout=5) == {"type": "pong"}
        await ws.receive_nothing()


async def test_a_ping_is_answered_on_the_event_loop_without_a_thread(monkeypatch):
    key = await make_token()
    async with socket(ORIGIN, auth(key)) as ws:
        await ws.connect()
        await ws.send_json_to({"type": "subscribe", "events": ["tasks"]})
        await ws.receive_json_from()

        async def no_thread(self, *args, **kwargs):
            raise AssertionError("a ping took a thread")

        monkeypatch.setattr(SyncToAsync, "__call__", no_thread)
        await ws.send_json_to({"type": "ping", "n": 1})

        assert await ws.receive_json_from(timeout=5) == {"type": "pong", "n": 1}


# Change-to-screen lag reports: only for a sampled event this socket was sent live, once.
LAGS = "realtime_change_to_screen_seconds_count"


def lags_counted() -> float:
    return REGISTRY.get_sample_value(LAGS) or 0.0


async def handled(ws: WebsocketCommunicator) -> None:
    """The messages sent before are handled: the socket answers in order."""
    await ws.send_json_to({"type": "ping", "handled": True})
    assert await ws.receive_json_from() == {"type": "pong", "handled": True}


async def subscribed_socket(ws: WebsocketCommunicator) -> None:
    await ws.connect()
    await ws.send_json_to({"type": "subscribe", "events": ["tasks"]})
    assert (await ws.receive_json_from())["type"] == "subscribed"


def report(*samples: tuple[int, float]) -> dict:
    return {"type": "lag", "samples": [{"id": id_, "seconds": s} for id_, s in samples]}


async def test_a_sampled_events_lag_counts_once_and_invented_ones_not_at_all(settings):
    settings.REALTIME_LAG_SAMPLE_RATE = 1
    key = await make_token()
    async with socket(ORIGIN, auth(key)) as ws:
        await subscribed_socket(ws)
        await create_task("1.1")
        event_id = (await ws.receive_json_from())["id"]
        before = lags_counted()

        # The event twice, an event never sent, the event again in a second report.
        await ws.send_json_to(report((event_id, 0.2), (event_id, 0.3), (event_id + 1000, 0.1)))
        await ws.send_json_to(report((event_id, 0.2)))
        await handled(ws)

        assert lags_counted() == before + 1
        await ws.receive_nothing()


async def test_a_lag_report_without_event_ids_is_refused_and_counts_nothing(settings):
    settings.REALTIME_LAG_SAMPLE_RATE = 1
    key = await make_token()
    async with socket(ORIGIN, auth(key)) as ws:
        await ws.connect()
        before = lags_counted()

        await ws.send_json_to({"type": "lag", "samples": [0.02, 0.3]})

        assert await ws.receive_json_from() == {
            "type": "error",
            "code": "invalid_message",
            "message": (
                'Each of "samples" must be {"id": an event id, "seconds": a number from 0 to 600}.'
            ),
        }
        await handled(ws)
        assert lags_counted() == before
        await ws.receive_nothing()


async def test_with_a_sample_rate_of_0_no_lag_counts(settings):
    settings.REALTIME_LAG_SAMPLE_RATE = 0
    key = await make_token()
    async with socket(ORIGIN, auth(key)) as ws:
        await subscribed_socket(ws)
        await create_task("1.1")
        event_id = (await ws.receive_json_from())["id"]
        before = lags_counted()

        await ws.send_json_to(report((event_id, 0.2)))
        await handled(ws)

        assert lags_counted() == before
        await ws.receive_nothing()


async def test_only_the_sampled_events_lags_count(settings):
    settings.REALTIME_LAG_SAMPLE_RATE = 0.5
    key = await make_token()
    async with socket(ORIGIN, auth(key)) as ws:
        await subscribed_socket(ws)
        for code in ["1.1", "1.2", "1.3", "1.4"]:
            await create_task(code)
        ids = [(await ws.receive_json_from())["id"] for _ in range(4)]
        sampled = [id_ for id_ in ids if protocol.lag_sampled(id_, 0.5)]
        assert 0 < len(sampled) < len(ids)  # the ids of this test's events: both kinds
        before = lags_counted()

        await ws.send_json_to(report(*[(id_, 0.1) for id_ in ids]))
        await handled(ws)

        assert lags_counted() == before + len(sampled)
        await ws.receive_nothing()


async def test_a_replayed_event_or_another_sockets_event_counts_no_lag(settings):
    settings.REALTIME_LAG_SAMPLE_RATE = 1
    key = await make_token()
    async with socket(ORIGIN, auth(key)) as live, socket(ORIGIN, auth(key)) as other:
        await subscribed_socket(live)
        await create_task("1.1")
        event_id = (await live.receive_json_from())["id"]
        await other.connect()
        await other.send_json_to({"type": "subscribe", "events": ["tasks"], "last_event_id": 0})
        assert (await other.receive_json_from())["id"] == event_id  # replayed
        assert (await other.receive_json_from())["type"] == "subscribed"
        before = lags_counted()

        await other.send_json_to(report((event_id, 0.2)))
        await handled(other)

        assert lags_counted() == before
        await live.receive_nothing()
        await other.receive_nothing()
