"""What changes while a socket is open, against a real daphne and a real uvicorn: a password
change ends its session's stream (4401), a lost permission ends the streams it covered
(``forbidden``), and a prune during a resume is answered with ``resync_required``."""

import asyncio
import socket

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.contrib.auth.models import Group, Permission
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from realtime import protocol
from realtime.models import Event
from schedule.roles import VIEWERS

from .conftest import STARTUP_TIMEOUT, Client, Server, event_data
from .test_integration import PASSWORD, admin_login, make_token, task_data

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def server(request, server_factory) -> Server:
    return server_factory(request.param, REALTIME_LOG_POLL_SECONDS="0.05")


@pytest.fixture
def key(token) -> str:
    return token.key


@pytest.fixture
def superuser(db):
    """A user who logs in through the admin (the servers have the default password hashers)."""
    return get_user_model().objects.create(
        username="boss",
        is_staff=True,
        is_superuser=True,
        password=make_password(PASSWORD, hasher=PBKDF2PasswordHasher()),
    )


async def test_a_password_change_closes_the_sessions_socket_with_4401(
    server, ws_connect, superuser, key, rest
):
    http = await asyncio.to_thread(admin_login, server, superuser.username)
    async with ws_connect(server, cookie=f"sessionid={http.cookies['sessionid']}") as client:
        await client.subscribe(["tasks"])
        await rest(server, "POST", "/api/tasks/", key, task_data("P.1"))
        assert (await client.receive_json())["type"] == "task_created"

        superuser.set_password("another-long-password")
        await database_sync_to_async(superuser.save)()
        await rest(server, "POST", "/api/tasks/", key, task_data("P.2"))

        with pytest.raises(ConnectionClosed) as closed:
            await client.receive_json()
    assert closed.value.rcvd.code == protocol.CLOSE_UNAUTHENTICATED


def permission(codename: str) -> Permission:
    return Permission.objects.get(codename=codename)


def lose_view_task_directly(user) -> None:
    user.user_permissions.remove(permission("view_task"))


def leave_the_viewers(user) -> None:
    user.groups.remove(Group.objects.get(name=VIEWERS))


@pytest.mark.parametrize(
    ("grant", "revoke"),
    [
        (lambda user: user.user_permissions.add(permission("view_task")), lose_view_task_directly),
        (lambda user: user.groups.add(Group.objects.get(name=VIEWERS)), leave_the_viewers),
    ],
    ids=["permission removed", "group left"],
)
async def test_a_lost_view_permission_ends_that_stream_with_forbidden(
    server, ws_connect, make_user, key, rest, grant, revoke
):
    @database_sync_to_async
    def viewer_of_daily_works_and(grant) -> tuple[object, str]:
        user = make_user(None, username="loses-tasks")
        user.user_permissions.add(permission("view_dailywork"))
        grant(user)
        return user, make_token(user)

    user, token = await viewer_of_daily_works_and(grant)
    async with ws_connect(server, token=token) as client:
        assert (await client.subscribe(["tasks", "daily_works"]))[-1]["type"] == "subscribed"

        await database_sync_to_async(revoke)(user)
        task = await rest(server, "POST", "/api/tasks/", key, task_data("F.1"))
        work = await rest(
            server,
            "POST",
            "/api/daily-works/",
            key,
            {"task": task.json()["id"], "date": "2026-11-05", "volume": "1"},
        )

        error = await client.receive_json()
        assert error == {
            "type": "error",
            "code": protocol.FORBIDDEN,
            "message": error["message"],
            "events": ["tasks"],
        }
        frame = await client.receive_json()
        assert (frame["type"], frame["data"]) == ("daily_work_created", event_data(work))
        await rest(server, "PATCH", f"/api/tasks/{task.json()['id']}/", key, {"version": 1})
        assert await client.frames_before_pong() == []


# A resume that a prune overtakes. Under uvicorn the replay waits for its client between
# frames, so a client that stops reading holds the replay inside its first page of the log;
# daphne buffers every write without limit, and nothing there can pause a replay between pages.
PAGE = 1000
PAD = "x" * 20_000  # 1,000 such frames are far more than every buffer between server and client


@database_sync_to_async
def fill_the_log(count: int) -> list[int]:
    Event.objects.bulk_create(
        Event(stream="tasks", type="task_updated", object_id=1, data={"pad": PAD})
        for _ in range(count)
    )
    return list(Event.objects.order_by("id").values_list("id", flat=True))


async def test_a_prune_during_a_resume_is_answered_with_resync_required(uvicorn_factory, key, orm):
    server = uvicorn_factory(REALTIME_SEND_BACKLOG="10", socket_buffer_bytes=32_768)
    ids = await fill_the_log(PAGE + 200)
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32_768)
    async with connect(
        server.ws_url,
        sock=raw,
        origin=server.url,
        additional_headers={"Authorization": f"Token {key}"},
        open_timeout=STARTUP_TIMEOUT,
        max_size=None,
        max_queue=1,
    ) as ws:
        client = Client(ws)
        await client.send_json({"type": "subscribe", "events": ["tasks"], "last_event_id": 0})
        first = await client.receive_json()
        assert first["id"] == ids[0]  # the replay has begun: its first page is read

        await orm.manage("prune_events", "--keep", "1")

        frames = [first]
        while frames[-1]["type"] != "subscribed":
            frames.append(await client.receive_json())
    assert [frame["id"] for frame in frames[:PAGE]] == ids[:PAGE]
    assert frames[PAGE:] == [
        {"type": "resync_required", "events": ["tasks"]},
        {"type": "subscribed", "events": ["tasks"], "last_event_id": ids[-1]},
    ]
