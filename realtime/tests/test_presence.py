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
from schedule.roles import FOREMEN, PLANNERS, VIEWERS, roles_ensure
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


@database_sync_to_async
def grant(user_id: int, *codenames: str, staff: bool = False) -> None:
    """Give the user these permissions directly (and staff status if ``staff``)."""
    user = get_user_model().objects.get(pk=user_id)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    if staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])


@database_sync_to_async
def revoke(user_id: int, *codenames: str) -> None:
    user = get_user_model().objects.get(pk=user_id)
    user.user_permissions.remove(*Permission.objects.filter(codename__in=codenames))


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
    maria_key, maria = await make_user("maria", "Maria Petrova", role=PLANNERS)
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
    await grant(user_id, "view_task", "change_dailywork")
    work = {"stream": "daily_works", "id": 3}
    async with socket(key) as ws:
        await announce(ws, "schedule", editing=work)

        assert await ws.receive_json_from() == {
            "type": "error",
            "code": "forbidden",
            "message": "You may not view: daily_works. Your presence on schedule shows no editing.",
            "page": "schedule",
            "editing": work,
        }
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
    maria_key, _maria = await make_user("maria", "Maria Petrova", role=PLANNERS)
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


# Who may see a page's presence, and who may claim to edit what.
def forbidden(message: str, page: str, **extra) -> dict:
    return {"type": "error", "code": "forbidden", "message": message, "page": page, **extra}


async def test_the_msgs_presence_is_refused_to_a_user_the_msg_refuses():
    maria_key, _maria = await make_user("maria", "Maria Petrova")
    # Plans and reports, but not the tasks: the МСГ's page refuses this user.
    guest_key, guest = await make_user("guest", role=None)
    await grant(guest, "view_monthlytask", "view_dailywork")
    async with socket(maria_key) as maria_ws, socket(guest_key) as guest_ws:
        await announce(maria_ws, "msg:2026-03")
        await maria_ws.receive_json_from()

        await announce(guest_ws, "msg:2026-03")

        assert await guest_ws.receive_json_from() == forbidden(
            "You may not view: tasks. No presence on msg:2026-03.", "msg:2026-03"
        )
        await guest_ws.receive_nothing()
        await maria_ws.receive_nothing()


ADMIN_TASK = "admin:schedule.task:12"


async def test_an_admin_forms_presence_is_only_for_staff_who_may_open_the_form():
    admin_key, admin = await make_user("olga", "Olga Admin", role=PLANNERS)
    await grant(admin, staff=True)
    viewer_key, _viewer = await make_user("viewer", role=VIEWERS)
    staff_viewer_key, staff_viewer = await make_user("vera", "Vera Staff", role=VIEWERS)
    await grant(staff_viewer, staff=True)
    async with (
        socket(admin_key) as admin_ws,
        socket(viewer_key) as viewer_ws,
        socket(staff_viewer_key) as staff_ws,
    ):
        await announce(admin_ws, ADMIN_TASK, editing=TASK_12)
        assert await admin_ws.receive_json_from() == presence(ADMIN_TASK)

        await announce(viewer_ws, ADMIN_TASK)
        assert await viewer_ws.receive_json_from() == forbidden(
            f"You may not open the admin site. No presence on {ADMIN_TASK}.", ADMIN_TASK
        )
        # A staff user who may view the object may open its form, and see who edits it.
        await announce(staff_ws, ADMIN_TASK)
        assert await staff_ws.receive_json_from() == presence(
            ADMIN_TASK, person(admin, "Olga Admin", "OA", editing=[TASK_12])
        )
        # Adding a task is not for a viewer, staff or not.
        await announce(staff_ws, "admin:schedule.task:add")
        assert await staff_ws.receive_json_from() == forbidden(
            "You may not add: tasks. No presence on admin:schedule.task:add.",
            "admin:schedule.task:add",
        )
        assert await admin_ws.receive_json_from() == presence(
            ADMIN_TASK, person(staff_viewer, "Vera Staff", "VS")
        )
        assert await admin_ws.receive_json_from() == presence(ADMIN_TASK)
        for ws in (admin_ws, viewer_ws, staff_ws):
            await ws.receive_nothing()


async def test_a_claim_to_edit_what_the_user_may_not_change_is_refused_and_the_page_kept():
    maria_key, _maria = await make_user("maria", "Maria Petrova", role=PLANNERS)
    viewer_key, viewer = await make_user("viewer", "Vic Viewer", role=VIEWERS)
    async with socket(maria_key) as maria_ws, socket(viewer_key) as viewer_ws:
        await announce(maria_ws, "schedule")
        await maria_ws.receive_json_from()

        await announce(viewer_ws, "schedule", editing=TASK_12)

        assert await viewer_ws.receive_json_from() == forbidden(
            "You may not change: tasks. Your presence on schedule shows no editing.",
            "schedule",
            editing=TASK_12,
        )
        assert await viewer_ws.receive_json_from() == presence(
            "schedule", person(_maria, "Maria Petrova", "MP")
        )
        assert await maria_ws.receive_json_from() == presence(
            "schedule", person(viewer, "Vic Viewer", "VV")
        )
        # An МСГ cell is its day's work: added or changed.
        await announce(viewer_ws, "msg:2026-03", editing=CELL)
        assert await viewer_ws.receive_json_from() == forbidden(
            "You may not add or change: daily_works. Your presence on msg:2026-03 shows no "
            "editing.",
            "msg:2026-03",
            editing=CELL,
        )
        assert await viewer_ws.receive_json_from() == presence("msg:2026-03")
        assert await maria_ws.receive_json_from() == presence("schedule")
        await viewer_ws.receive_nothing()
        await maria_ws.receive_nothing()


async def test_a_task_being_edited_is_not_shown_to_a_user_who_may_not_view_tasks():
    planner_key, planner = await make_user("maria", "Maria Petrova", role=PLANNERS)
    daily_key, _daily = await make_user("dina", role=None)
    await grant(_daily, "view_dailywork")
    viewer_key, _viewer = await make_user("viewer", role=VIEWERS)
    day = "daily:2026-03-05"
    async with (
        socket(daily_key) as daily_ws,
        socket(viewer_key) as viewer_ws,
        socket(planner_key) as planner_ws,
    ):
        for ws in (daily_ws, viewer_ws):
            await announce(ws, day)
        await daily_ws.receive_json_from()
        await daily_ws.receive_json_from()
        await viewer_ws.receive_json_from()

        await announce(planner_ws, day, editing=TASK_12)
        await planner_ws.receive_json_from()

        assert await daily_ws.receive_json_from() == presence(
            day, person(planner, "Maria Petrova", "MP"), person(_viewer, "viewer", "V")
        )
        assert await viewer_ws.receive_json_from() == presence(
            day,
            person(planner, "Maria Petrova", "MP", editing=[TASK_12]),
            person(_daily, "dina", "D"),
        )
        for ws in (daily_ws, viewer_ws, planner_ws):
            await ws.receive_nothing()


async def test_a_lost_change_permission_drops_the_claim_and_keeps_the_page():
    maria_key, maria = await make_user("maria", "Maria Petrova", role=None)
    await grant(maria, "view_task", "change_task")
    ivan_key, _ivan = await make_user("ivan")
    async with socket(maria_key) as maria_ws, socket(ivan_key) as ivan_ws:
        await announce(ivan_ws, "schedule")
        await ivan_ws.receive_json_from()
        await announce(maria_ws, "schedule", editing=TASK_12)
        await maria_ws.receive_json_from()
        assert await ivan_ws.receive_json_from() == presence(
            "schedule", person(maria, "Maria Petrova", "MP", editing=[TASK_12])
        )

        await revoke(maria, "change_task")
        await create_task("1.1")  # the hub checks its sockets' logins when it reads the log

        assert await maria_ws.receive_json_from(timeout=5) == forbidden(
            "You may no longer change: tasks. Your presence on schedule shows no editing.",
            "schedule",
            editing=TASK_12,
        )
        assert await ivan_ws.receive_json_from() == presence(
            "schedule", person(maria, "Maria Petrova", "MP")
        )
        await maria_ws.receive_nothing()
        await ivan_ws.receive_nothing()
