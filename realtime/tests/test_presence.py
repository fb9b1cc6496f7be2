"""Presence through the real ASGI application with the in-memory layer: who is on a page, what
they edit, idle tabs, permissions and the per-socket rate."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token

from realtime.hub import Session, hub, text_message
from realtime.presence import merge, person_of
from realtime.tests.test_consumer import HOST, ORIGIN, auth, create_task
from schedule.roles import FOREMEN, roles_ensure
from scheduler_project.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

TASK_12 = {"stream": "tasks", "id": 12}
CELL = {"stream": "daily_works", "task": 12, "date": "2026-03-05"}


@pytest.fixture(autouse=True)
def _layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.REALTIME_LOG_POLL_SECONDS = 0.05
    settings.REALTIME_PRESENCE_RATE_PER_SECOND = 100
    settings.REALTIME_PRESENCE_BURST = 100


@database_sync_to_async
def make_user(username: str, name: str = "", role: str | None = FOREMEN) -> tuple[str, int]:
    first, _, last = name.partition(" ")
    user = get_user_model().objects.create_user(
        username, password="pw-12345-x", first_name=first, last_name=last
    )
    if role:
        user.groups.add(roles_ensure()[role])
    return Token.objects.create(user=user).key, user.pk


@database_sync_to_async
def take_groups(user_id: int) -> None:
    get_user_model().objects.get(pk=user_id).groups.clear()


@asynccontextmanager
async def socket(key: str) -> AsyncIterator[WebsocketCommunicator]:
    communicator = WebsocketCommunicator(application, "/api/ws", headers=[HOST, ORIGIN, auth(key)])
    try:
        connected, _ = await communicator.connect()
        assert connected
        yield communicator
    finally:
        await communicator.disconnect()


def person(user_id: int, name: str, initials: str, editing=(), idle=False) -> dict:
    return {
        "id": user_id,
        "name": name,
        "initials": initials,
        "editing": list(editing),
        "idle": idle,
    }


def presence(page: str, *people: dict) -> dict:
    return {"type": "presence", "page": page, "people": list(people)}


async def announce(ws, page: str | None, editing=None, idle: bool = False) -> None:
    await ws.send_json_to({"type": "presence", "page": page, "editing": editing, "idle": idle})


async def test_two_people_on_a_page_see_each_other_and_a_disconnect_removes_at_once():
    maria_key, maria = await make_user("maria", "Maria Petrova")
    ivan_key, ivan = await make_user("ivan", "Ivan Sidorov")
    async with socket(maria_key) as maria_ws:
        await announce(maria_ws, "schedule")
        assert await maria_ws.receive_json_from() == presence("schedule")
        async with socket(ivan_key) as ivan_ws:
            await announce(ivan_ws, "schedule")
            assert await ivan_ws.receive_json_from() == presence(
                "schedule", person(maria, "Maria Petrova", "MP")
            )
            assert await maria_ws.receive_json_from() == presence(
                "schedule", person(ivan, "Ivan Sidorov", "IS")
            )
            await ivan_ws.receive_nothing()
        assert await maria_ws.receive_json_from() == presence("schedule")
        await maria_ws.receive_nothing()


async def test_an_editing_marker_appears_and_clears_for_the_others():
    maria_key, maria = await make_user("maria", "Maria Petrova")
    ivan_key, _ivan = await make_user("ivan", "Ivan Sidorov")
    async with socket(maria_key) as maria_ws, socket(ivan_key) as ivan_ws:
        await announce(ivan_ws, "msg:2026-03")
        assert await ivan_ws.receive_json_from() == presence("msg:2026-03")
        await announce(maria_ws, "msg:2026-03")
        await maria_ws.receive_json_from()
        await ivan_ws.receive_json_from()

        await announce(maria_ws, "msg:2026-03", editing=CELL)
        assert await ivan_ws.receive_json_from() == presence(
            "msg:2026-03", person(maria, "Maria Petrova", "MP", editing=[CELL])
        )
        await announce(maria_ws, "msg:2026-03", editing=None)
        assert await ivan_ws.receive_json_from() == presence(
            "msg:2026-03", person(maria, "Maria Petrova", "MP")
        )
        await maria_ws.receive_nothing()
        await ivan_ws.receive_nothing()


async def test_people_on_another_page_are_not_shown_and_leaving_a_page_removes_you():
    maria_key, maria = await make_user("maria", "Maria Petrova")
    ivan_key, _ivan = await make_user("ivan")
    async with socket(maria_key) as maria_ws, socket(ivan_key) as ivan_ws:
        await announce(maria_ws, "daily:2026-03-05")
        await maria_ws.receive_json_from()
        await announce(ivan_ws, "daily:2026-03-06")
        assert await ivan_ws.receive_json_from() == presence("daily:2026-03-06")
        await maria_ws.receive_nothing()

        await announce(ivan_ws, "daily:2026-03-05")
        assert await ivan_ws.receive_json_from() == presence(
            "daily:2026-03-05", person(maria, "Maria Petrova", "MP")
        )
        await maria_ws.receive_json_from()
        await announce(ivan_ws, None)
        assert await maria_ws.receive_json_from() == presence("daily:2026-03-05")
        await ivan_ws.receive_nothing()


async def test_several_tabs_of_a_user_show_once_editing_wins_and_idle_only_when_all_are():
    maria_key, maria = await make_user("maria", "Maria Petrova")
    ivan_key, _ivan = await make_user("ivan")
    async with (
        socket(ivan_key) as ivan_ws,
        socket(maria_key) as tab_1,
        socket(maria_key) as tab_2,
    ):
        await announce(ivan_ws, "schedule")
        await ivan_ws.receive_json_from()
        await announce(tab_1, "schedule", idle=True)
        assert await ivan_ws.receive_json_from() == presence(
            "schedule", person(maria, "Maria Petrova", "MP", idle=True)
        )
        await announce(tab_2, "schedule", editing=TASK_12)
        assert await ivan_ws.receive_json_from() == presence(
            "schedule", person(maria, "Maria Petrova", "MP", editing=[TASK_12])
        )
        await announce(tab_2, "schedule", editing=TASK_12, idle=True)
        assert await ivan_ws.receive_json_from() == presence(
            "schedule", person(maria, "Maria Petrova", "MP", editing=[TASK_12], idle=True)
        )
        # A user's other tab is not "someone else": each tab sees Ivan only, once.
        for tab in (tab_1, tab_2):
            assert await tab.receive_json_from() == presence("schedule", person(_ivan, "ivan", "I"))
            await tab.receive_nothing()
        await ivan_ws.receive_nothing()


async def test_a_page_whose_streams_the_user_may_not_view_is_refused_and_shows_nothing():
    maria_key, _maria = await make_user("maria", "Maria Petrova")
    guest_key, _guest = await make_user("guest", role=None)
    async with socket(maria_key) as maria_ws, socket(guest_key) as guest_ws:
        await announce(maria_ws, "schedule")
        await maria_ws.receive_json_from()

        await announce(guest_ws, "schedule")
        assert await guest_ws.receive_json_from() == {
            "type": "error",
            "code": "forbidden",
            "message": "You may not view: tasks. No presence on schedule.",
            "page": "schedule",
        }
        await guest_ws.receive_nothing()
        await maria_ws.receive_nothing()


async def test_editing_an_object_of_another_stream_needs_its_view_permission():
    key, user_id = await make_user("tasker", role=None)
    await database_sync_to_async(
        lambda: (
            get_user_model()
            .objects.get(pk=user_id)
            .user_permissions.add(Permission.objects.get(codename="view_task"))
        )
    )()
    async with socket(key) as ws:
        await announce(ws, "schedule", editing={"stream": "daily_works", "id": 3})
        frame = await ws.receive_json_from()
        assert (frame["code"], frame["page"]) == ("forbidden", "schedule")
        await announce(ws, "schedule", editing=TASK_12)
        assert await ws.receive_json_from() == presence("schedule")
        await ws.receive_nothing()


async def test_a_lost_view_permission_ends_the_presence_with_forbidden():
    maria_key, maria = await make_user("maria", "Maria Petrova")
    ivan_key, _ivan = await make_user("ivan")
    async with socket(maria_key) as maria_ws, socket(ivan_key) as ivan_ws:
        await announce(ivan_ws, "schedule")
        await ivan_ws.receive_json_from()
        await announce(maria_ws, "schedule")
        await maria_ws.receive_json_from()
        await ivan_ws.receive_json_from()

        await take_groups(maria)
        await create_task("1.1")  # the hub checks its sockets' logins when it reads the log

        assert await maria_ws.receive_json_from(timeout=5) == {
            "type": "error",
            "code": "forbidden",
            "message": "You may no longer view: tasks. No presence on schedule.",
            "page": "schedule",
        }
        assert await ivan_ws.receive_json_from() == presence("schedule")
        await maria_ws.receive_nothing()
        await ivan_ws.receive_nothing()


async def test_updates_past_the_rate_wait_and_only_the_newest_is_applied(settings):
    settings.REALTIME_PRESENCE_RATE_PER_SECOND = 0.0001
    settings.REALTIME_PRESENCE_BURST = 1
    maria_key, _maria = await make_user("maria", "Maria Petrova")
    ivan_key, _ivan = await make_user("ivan")
    async with socket(ivan_key) as ivan_ws, socket(maria_key) as maria_ws:
        await announce(ivan_ws, "schedule")
        await ivan_ws.receive_json_from()
        await announce(maria_ws, "schedule")
        await maria_ws.receive_json_from()
        await ivan_ws.receive_json_from()

        for task_id in (1, 2, 3):
            await announce(maria_ws, "schedule", editing={"stream": "tasks", "id": task_id})
        await ivan_ws.receive_nothing()
        # Leaving is never held back.
        await announce(maria_ws, None)
        assert await ivan_ws.receive_json_from() == presence("schedule")
        await ivan_ws.receive_nothing()
        await maria_ws.receive_nothing()


async def test_presence_frames_of_a_socket_that_is_behind_are_replaced_not_queued():
    sent: list[dict] = []

    class Stalled:
        def __init__(self) -> None:
            self.release = asyncio.Event()

        async def __call__(self, message: dict) -> None:
            await self.release.wait()
            sent.append(message)

    send = Stalled()
    session = Session(hub, send, None, None)  # type: ignore[arg-type]
    session.send({"type": "pong", "n": 1})
    session.send_presence(presence("schedule", person(1, "A", "A")))
    session.send_presence(presence("schedule"))
    session.send({"type": "pong", "n": 2})
    assert len(session.backlog) == 1

    send.release.set()
    await session.writer

    assert sent == [
        text_message({"type": "pong", "n": 1}),
        text_message({"type": "pong", "n": 2}),
        text_message(presence("schedule")),
    ]


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "presence", "page": "nowhere"},
        {"type": "presence", "page": "schedule", "editing": {"stream": "tasks"}},
        {"type": "presence", "page": "schedule", "idle": "no"},
    ],
)
async def test_a_malformed_presence_gets_an_error_and_the_socket_stays_usable(frame):
    key, _user = await make_user("maria")
    async with socket(key) as ws:
        await ws.send_json_to(frame)
        error = await ws.receive_json_from()
        assert (error["type"], error["code"]) == ("error", "invalid_message")
        await announce(ws, "schedule")
        assert await ws.receive_json_from() == presence("schedule")
        await ws.receive_nothing()


@pytest.mark.parametrize(
    ("first", "last", "username", "name", "initials"),
    [
        ("Maria", "Petrova", "m", "Maria Petrova", "MP"),
        ("Мария", "", "m", "Мария", "М"),
        ("", "", "ivan.s", "ivan.s", "I"),
        ("Anna Maria", "de la Cruz", "a", "Anna Maria de la Cruz", "AM"),
    ],
)
async def test_a_person_shows_the_full_name_or_username_and_two_initials(
    first, last, username, name, initials
):
    user = get_user_model()(pk=1, username=username, first_name=first, last_name=last)
    assert (person_of(user).name, person_of(user).initials) == (name, initials)


async def test_merging_keeps_one_entry_per_user_sorted_by_name():
    assert merge(
        [
            person(2, "Ivan", "I", editing=[TASK_12], idle=True),
            person(1, "Anna", "A", idle=True),
            person(2, "Ivan", "I", editing=[CELL, TASK_12], idle=False),
        ]
    ) == [
        person(1, "Anna", "A", idle=True),
        person(2, "Ivan", "I", editing=[CELL, TASK_12], idle=False),
    ]
