"""``/api/ws`` end to end: a real daphne process, real WebSocket clients, real HTTP requests and
ORM code run in other Python processes, all on the same (committed) test database.

Nothing here waits a fixed time: a negative is proven by ordering (a later change arrives and
nothing came before it, or a ping's pong comes back with nothing before it).
"""

import asyncio
import contextlib
import re
import socket
from typing import Any

import pytest
import requests
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode

from realtime import protocol
from realtime.models import EventLogState
from realtime.tests.conftest import event_data

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

PASSWORD = "a-long-admin-password"


def task_data(code: str, **fields: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": f"Работа {code}",
        "unit": "м³",
        "volume_plan": "120.000",
        "start_date": "2026-11-01",
        "end_date": "2026-11-30",
    } | fields


def make_token(user) -> str:
    return Token.objects.create(user=user).key


@pytest.fixture(autouse=True)
def _server_stays_healthy(daphne):
    """No request or socket of a test makes the server log an exception."""
    before = len(daphne.log())
    yield
    assert daphne.errors(since=before) == ""


@pytest.fixture
def key(token) -> str:
    return token.key


async def test_rest_writes_reach_a_subscriber_as_the_rest_api_returns_them(
    daphne, ws_connect, token, rest, log_frames
):
    user = token.user
    actor = {"id": user.pk, "username": user.username, "name": user.username}
    async with ws_connect(daphne, token=token.key) as client:
        assert await client.subscribe(["tasks"]) == [
            {"type": "subscribed", "events": ["tasks"], "last_event_id": 0}
        ]

        created = await rest(daphne, "POST", "/api/tasks/", token.key, task_data("1.1"))
        assert created.status_code == 201
        frame = await client.receive_json()
        assert frame == {
            "type": "task_created",
            "event": "tasks",
            "id": frame["id"],
            "data": created.json(),
            "actor": actor,
            "ts": frame["ts"],
        }

        task_id = created.json()["id"]
        updated = await rest(
            daphne, "PATCH", f"/api/tasks/{task_id}/", token.key, {"name": "Новое", "version": 1}
        )
        assert updated.status_code == 200
        frame = await client.receive_json()
        assert (frame["type"], frame["data"], frame["actor"]) == (
            "task_updated",
            updated.json(),
            actor,
        )

        deleted = await rest(daphne, "DELETE", f"/api/tasks/{task_id}/", token.key)
        assert deleted.status_code == 204
        frame = await client.receive_json()
        assert (frame["type"], frame["data"]) == ("task_deleted", updated.json())  # last values
        gone = await rest(daphne, "GET", f"/api/tasks/{task_id}/", token.key)
        assert gone.status_code == 404

        assert await client.frames_before_pong() == []
    assert [frame["type"] for frame in await log_frames()] == [
        "task_created",
        "task_updated",
        "task_deleted",
    ]


@pytest.fixture
def superuser(db):
    # The daphne process has the default password hashers, not the fast one of the test settings.
    return get_user_model().objects.create(
        username="boss",
        is_staff=True,
        is_superuser=True,
        password=make_password(PASSWORD, hasher=PBKDF2PasswordHasher()),
    )


def admin_login(server, username: str) -> requests.Session:
    http = requests.Session()
    http.get(f"{server.url}/admin/login/", timeout=30).raise_for_status()
    response = http.post(
        f"{server.url}/admin/login/",
        data={
            "username": username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": http.cookies["csrftoken"],
            "next": "/admin/",
        },
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text
    return http


def admin_add(http: requests.Session, url: str, data: dict[str, str]) -> None:
    page = http.get(url, timeout=30)
    page.raise_for_status()
    management = dict(
        re.findall(
            r'name="([\w-]+-(?:TOTAL|INITIAL|MIN_NUM|MAX_NUM)_FORMS)" value="(\d+)"', page.text
        )
    )
    form = management | data | {"csrfmiddlewaretoken": http.cookies["csrftoken"], "_save": "1"}
    response = http.post(url, data=form, allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.text


async def test_an_admin_form_post_reaches_a_subscriber_with_the_admin_as_actor(
    daphne, ws_connect, superuser, viewer, log_frames
):
    viewer_key = await database_sync_to_async(make_token)(viewer)
    http = await asyncio.to_thread(admin_login, daphne, superuser.username)
    form = task_data("2.1") | {
        "daily_works-TOTAL_FORMS": "1",
        "daily_works-0-date": "2026-11-03",
        "daily_works-0-volume": "7.5",
        "daily_works-0-description": "",
    }

    async with ws_connect(daphne, token=viewer_key) as client:
        await client.subscribe(["tasks", "daily_works"])
        await asyncio.to_thread(admin_add, http, f"{daphne.url}/admin/schedule/task/add/", form)

        frames = [await client.receive_json() for _ in range(3)]
        assert [frame["type"] for frame in frames] == [
            "task_created",
            "daily_work_created",
            "task_updated",
        ]
        assert frames == await log_frames()
        admin = {"id": superuser.pk, "username": "boss", "name": "boss"}
        assert all(frame["actor"] == admin for frame in frames)
        task_id, daily_work_id = frames[0]["data"]["id"], frames[1]["data"]["id"]
        task = await asyncio.to_thread(http.get, f"{daphne.url}/api/tasks/{task_id}/")
        assert frames[2]["data"] == task.json()
        assert task.json()["volume_fact"] == "7.500"
        daily_work = await asyncio.to_thread(
            http.get, f"{daphne.url}/api/daily-works/{daily_work_id}/"
        )
        assert frames[1]["data"] == event_data(daily_work)
        assert await client.frames_before_pong() == []


CREATE_AND_UPDATE = """
from schedule.models import Task
task = Task.objects.create(code="3.1", name="Из скрипта", unit="м", volume_plan=5,
                           start_date="2026-11-01", end_date="2026-11-02")
Task.objects.filter(pk=task.pk).update(name="Из скрипта, исправлено")
print(task.pk)
"""


async def test_orm_code_in_another_process_reaches_a_subscriber(
    daphne, ws_connect, key, orm, rest, log_frames
):
    async with ws_connect(daphne, token=key) as client:
        await client.subscribe(["tasks"])
        task_id = int(await orm.run(CREATE_AND_UPDATE))

        frames = [await client.receive_json(), await client.receive_json()]
        assert frames == await log_frames()
        assert [(f["type"], f["actor"]) for f in frames] == [
            ("task_created", None),
            ("task_updated", None),
        ]
        task = await rest(daphne, "GET", f"/api/tasks/{task_id}/", key)
        assert frames[1]["data"] == task.json()
        assert task.json()["name"] == "Из скрипта, исправлено"
        assert await client.frames_before_pong() == []


ROLLBACK_THEN_COMMIT = """
from django.db import transaction
from schedule.models import Task
fields = dict(name="x", unit="м", volume_plan=1, start_date="2026-11-01", end_date="2026-11-02")
try:
    with transaction.atomic():
        Task.objects.create(code="rolled-back", **fields)
        raise RuntimeError("abort")
except RuntimeError:
    pass
Task.objects.create(code="kept", **fields)
"""


async def test_a_rolled_back_write_emits_nothing(daphne, ws_connect, key, orm, log_frames):
    async with ws_connect(daphne, token=key) as client:
        await client.subscribe(["tasks"])
        await orm.run(ROLLBACK_THEN_COMMIT)

        # The kept task was created after the rolled-back one: had that emitted, it came first.
        frame = await client.receive_json()
        assert (frame["type"], frame["data"]["code"]) == ("task_created", "kept")
        assert await client.frames_before_pong() == []
    assert [frame["data"]["code"] for frame in await log_frames()] == ["kept"]


async def test_a_client_that_comes_back_gets_exactly_what_it_missed_then_the_live_stream(
    daphne, ws_connect, key, rest, log_frames
):
    async with ws_connect(daphne, token=key) as client:
        await client.subscribe(["tasks", "daily_works"])
        first = await rest(daphne, "POST", "/api/tasks/", key, task_data("4.1"))
        seen = await client.receive_json()
        assert seen["data"] == first.json()

    # Changes while the client is away, on both of its streams.
    second = await rest(daphne, "POST", "/api/tasks/", key, task_data("4.2"))
    work = await rest(
        daphne,
        "POST",
        "/api/daily-works/",
        key,
        {"task": first.json()["id"], "date": "2026-11-05", "volume": "3"},
    )
    await rest(daphne, "DELETE", f"/api/tasks/{second.json()['id']}/", key)
    assert work.status_code == 201

    missed = await log_frames(after=seen["id"])
    assert [frame["type"] for frame in missed] == [
        "task_created",
        "daily_work_created",
        "task_updated",
        "task_deleted",
    ]
    async with ws_connect(daphne, token=key) as client:
        frames = await client.subscribe(["tasks", "daily_works"], last_event_id=seen["id"])
        assert frames == [
            *missed,
            {
                "type": "subscribed",
                "events": ["tasks", "daily_works"],
                "last_event_id": missed[-1]["id"],
            },
        ]

        live = await rest(daphne, "POST", "/api/tasks/", key, task_data("4.3"))
        frame = await client.receive_json()
        assert frame["data"] == live.json()
        assert frame["id"] > missed[-1]["id"]
        assert await client.frames_before_pong() == []


async def test_resuming_from_before_the_pruned_log_asks_for_a_resync(
    daphne, ws_connect, key, orm, rest, log_frames
):
    for code in ["5.1", "5.2", "5.3"]:
        await rest(daphne, "POST", "/api/tasks/", key, task_data(code))
    first, second, newest = await log_frames()

    await orm.manage("prune_events", "--keep", "1")

    assert await log_frames() == [newest]
    assert await database_sync_to_async(EventLogState.pruned_through_id)() == second["id"]
    async with ws_connect(daphne, token=key) as client:
        assert await client.subscribe(["tasks"], last_event_id=first["id"]) == [
            {"type": "resync_required", "events": ["tasks"]},
            {"type": "subscribed", "events": ["tasks"], "last_event_id": newest["id"]},
        ]
    async with ws_connect(daphne, token=key) as client:
        # Everything after the cut is still there: no resync.
        assert await client.subscribe(["tasks"], last_event_id=second["id"]) == [
            newest,
            {"type": "subscribed", "events": ["tasks"], "last_event_id": newest["id"]},
        ]


@pytest.mark.parametrize(
    "headers",
    [{}, {"token": "not-a-token"}, {"cookie": "sessionid=not-a-session"}],
    ids=["nothing", "bad token", "bad session"],
)
async def test_a_socket_without_valid_credentials_is_closed_with_4401(daphne, ws_connect, headers):
    async with ws_connect(daphne, **headers) as client:
        with pytest.raises(ConnectionClosed) as closed:
            await client.send_json({"type": "subscribe", "events": ["tasks"]})
            await client.receive_json()
    assert closed.value.rcvd.code == 4401


def talk_after_the_server_has_closed(server) -> bytes:
    """Open an unauthenticated socket by hand and send frames after the server's close frame,
    before answering it, as a client that did not read yet would; returns all that came back."""
    host = f"127.0.0.1:{server.port}"
    request = (
        f"GET /api/ws HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    close_frame = b"\x88\x02" + protocol.CLOSE_UNAUTHENTICATED.to_bytes(2, "big")
    ping = Frame(Opcode.TEXT, b'{"type": "ping"}').serialize(mask=True, extensions=[])
    answer = Frame(Opcode.CLOSE, close_frame[2:]).serialize(mask=True, extensions=[])
    reply = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw:
        raw.sendall(request.encode())
        while not reply.endswith(close_frame):
            chunk = raw.recv(4096)
            assert chunk, reply
            reply += chunk
        raw.sendall(ping * 5 + answer)
        with contextlib.suppress(ConnectionResetError):  # the server may drop it once closed
            while chunk := raw.recv(4096):
                reply += chunk
    return reply


async def test_frames_that_cross_the_4401_close_are_dropped(daphne):
    # A crash shows in the server's log, which daphne writes within a second: checked after
    # each later test of the module and when the server stops.
    reply = await asyncio.to_thread(talk_after_the_server_has_closed, daphne)
    assert reply.startswith(b"HTTP/1.1 101 ")


async def test_a_session_cookie_authenticates_and_logging_out_closes_the_socket(
    daphne, ws_connect, superuser, key, rest
):
    http = await asyncio.to_thread(admin_login, daphne, superuser.username)
    async with ws_connect(daphne, cookie=f"sessionid={http.cookies['sessionid']}") as client:
        await client.subscribe(["tasks"])
        await rest(daphne, "POST", "/api/tasks/", key, task_data("6.1"))
        assert (await client.receive_json())["type"] == "task_created"

        logout = await asyncio.to_thread(
            http.post,
            f"{daphne.url}/admin/logout/",
            data={"csrfmiddlewaretoken": http.cookies["csrftoken"]},
            timeout=30,
        )
        assert logout.status_code == 200
        await rest(daphne, "POST", "/api/tasks/", key, task_data("6.2"))
        with pytest.raises(ConnectionClosed) as closed:
            await client.receive_json()
    assert closed.value.rcvd.code == 4401


async def test_a_foreign_origin_cannot_open_the_socket(daphne, ws_connect, key):
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(daphne, token=key, origin="http://evil.example.com"):
            pass
    assert refused.value.response.status_code == 403


@pytest.fixture
def daily_works_viewer_key(make_user) -> str:
    """A user who may view daily works and nothing else."""
    user = make_user(None, username="daily-only")
    user.user_permissions.add(Permission.objects.get(codename="view_dailywork"))
    return make_token(user)


async def test_a_stream_without_the_view_permission_is_forbidden_and_sends_nothing(
    daphne, ws_connect, key, daily_works_viewer_key, rest
):
    async with ws_connect(daphne, token=daily_works_viewer_key) as client:
        error = await client.subscribe(["tasks", "daily_works"])
        assert error == [{"type": "error", "code": "forbidden", "message": error[0]["message"]}]
        assert await client.subscribe(["daily_works"]) == [
            {"type": "subscribed", "events": ["daily_works"], "last_event_id": 0}
        ]

        task = await rest(daphne, "POST", "/api/tasks/", key, task_data("7.1"))
        work = await rest(
            daphne,
            "POST",
            "/api/daily-works/",
            key,
            {"task": task.json()["id"], "date": "2026-11-05", "volume": "1"},
        )

        # The task events have lower ids: had they been sent, they would have come first.
        frame = await client.receive_json()
        assert (frame["type"], frame["data"]) == ("daily_work_created", event_data(work))
        assert await client.frames_before_pong() == []


BAD_FRAMES = [
    ("{oops", "invalid_json"),
    ("", "invalid_json"),
    ("[]", "invalid_message"),
    ('"subscribe"', "invalid_message"),
    ("42", "invalid_message"),
    (b"\x00\x01", "invalid_message"),
    ('{"events": ["tasks"]}', "unknown_type"),
    ('{"type": "shout"}', "unknown_type"),
    ('{"type": 1}', "unknown_type"),
    ('{"type": "subscribe", "events": ["users"]}', "unknown_event"),
    ('{"type": "unsubscribe", "events": ["tasks", "secrets"]}', "unknown_event"),
    ('{"type": "subscribe"}', "invalid_message"),
    ('{"type": "subscribe", "events": "tasks"}', "invalid_message"),
    ('{"type": "subscribe", "events": [1]}', "invalid_message"),
    ('{"type": "subscribe", "events": ["tasks"], "last_event_id": "7"}', "invalid_message"),
    ('{"type": "subscribe", "events": ["tasks"], "last_event_id": -1}', "invalid_message"),
    ('{"type": "subscribe", "events": ["tasks"], "last_event_id": true}', "invalid_message"),
    ('{"type": "subscribe", "events": ["tasks"], "last_event_id": 1.5}', "invalid_message"),
    ('{"type": "ping", "pad": "' + "x" * 64 * 1024 + '"}', "too_large"),
]


@pytest.mark.parametrize(("frame", "code"), BAD_FRAMES)
async def test_a_bad_frame_gets_its_error_and_the_connection_stays_usable(
    daphne, ws_connect, key, frame, code, rest
):
    async with (
        ws_connect(daphne, token=key) as client,
        ws_connect(daphne, token=key) as bystander,
    ):
        await bystander.subscribe(["tasks"])
        await client.ws.send(frame)
        error = await client.receive_json()
        assert error == {"type": "error", "code": code, "message": error["message"]}
        assert error["message"]

        assert (await client.subscribe(["tasks"]))[-1]["type"] == "subscribed"
        created = await rest(daphne, "POST", "/api/tasks/", key, task_data("8.1"))
        assert (await client.receive_json())["data"] == created.json()
        assert (await bystander.receive_json())["data"] == created.json()
        assert await client.frames_before_pong() == []
        assert await bystander.frames_before_pong() == []


async def test_a_flooding_client_is_told_and_closed_and_another_client_is_unaffected(
    daphne, ws_connect, key, rest
):
    async with (
        ws_connect(daphne, token=key) as flooder,
        ws_connect(daphne, token=key) as calm,
    ):
        await calm.subscribe(["tasks"])
        try:
            for n in range(500):
                await flooder.send_json({"type": "ping", "n": n})
        except ConnectionClosed:
            pass  # closed while still sending
        frames = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frames.append(await flooder.receive_json())
        assert closed.value.rcvd.code == 4429
        assert frames[-1] == {
            "type": "error",
            "code": "rate_limited",
            "message": frames[-1]["message"],
        }
        assert [frame["n"] for frame in frames[:-1]] == list(range(len(frames) - 1))

        created = await rest(daphne, "POST", "/api/tasks/", key, task_data("9.1"))
        assert (await calm.receive_json())["data"] == created.json()
        assert await calm.frames_before_pong() == []
