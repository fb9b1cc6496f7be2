"""Presence across two real daphne processes behind a real redis-server: the people of a page
travel between the processes, a leave is seen at once, and the users of a server killed with
``kill -9`` disappear from the other server's pages once their announcement's TTL runs out."""

import asyncio
import os
import signal

import pytest
from rest_framework.authtoken.models import Token

from schedule.roles import FOREMEN, PLANNERS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

# Small enough for a quick test; the defaults (3 s, 8 s) keep a killed server's users at most
# 8 s on the others' pages.
ANNOUNCE_SECONDS = 0.5
TTL_SECONDS = 2.0


@pytest.fixture
def pair(redis_url, daphne_factory):
    """Two daphne processes sharing the Redis layer (new ones per test: a test kills one)."""
    env = {
        "REDIS_URL": redis_url,
        "REALTIME_LOG_POLL_SECONDS": "0.05",
        "REALTIME_PRESENCE_ANNOUNCE_SECONDS": str(ANNOUNCE_SECONDS),
        "REALTIME_PRESENCE_TTL_SECONDS": str(TTL_SECONDS),
    }
    return daphne_factory(**env), daphne_factory(**env)


@pytest.fixture
def people(make_user):
    maria = make_user(PLANNERS, username="maria", first_name="Maria", last_name="Petrova")
    ivan = make_user(FOREMEN, username="ivan", first_name="Ivan", last_name="Sidorov")
    return [(user, Token.objects.create(user=user).key) for user in (maria, ivan)]


def presence(page: str, *people: dict) -> dict:
    return {"type": "presence", "page": page, "people": list(people)}


def person(user, initials: str, editing=(), idle=False) -> dict:
    return {
        "id": user.pk,
        "name": user.get_full_name(),
        "initials": initials,
        "editing": list(editing),
        "idle": idle,
    }


async def test_people_on_two_servers_see_each_other_and_a_killed_server_s_users_vanish(
    pair, people, ws_connect
):
    first, second = pair
    (maria, maria_key), (ivan, ivan_key) = people
    editing = {"stream": "daily_works", "id": 12}  # a foreman's to change
    async with ws_connect(first, token=maria_key) as maria_ws:
        await maria_ws.send_json({"type": "presence", "page": "schedule"})
        assert await maria_ws.receive_json() == presence("schedule")

        async with ws_connect(second, token=ivan_key) as ivan_ws:
            await ivan_ws.send_json({"type": "presence", "page": "schedule"})
            # Its own process knows nobody yet; the first server answers the join's question.
            assert await ivan_ws.receive_json() == presence("schedule")
            assert await ivan_ws.receive_json() == presence("schedule", person(maria, "MP"))
            assert await maria_ws.receive_json() == presence("schedule", person(ivan, "IS"))

            await ivan_ws.send_json({"type": "presence", "page": "schedule", "editing": editing})
            assert await maria_ws.receive_json() == presence(
                "schedule", person(ivan, "IS", editing=[editing])
            )
        # A disconnect is announced at once, not left to the TTL.
        assert await maria_ws.receive_json() == presence("schedule")

        async with ws_connect(second, token=ivan_key) as ivan_ws:
            await ivan_ws.send_json({"type": "presence", "page": "schedule", "idle": True})
            assert await maria_ws.receive_json() == presence(
                "schedule", person(ivan, "IS", idle=True)
            )

            os.kill(second.process.pid, signal.SIGKILL)
            await asyncio.to_thread(second.process.wait)

            # Within the TTL (twice over: the timeout guards a hang, it measures nothing).
            assert await maria_ws.receive_json(timeout=2 * TTL_SECONDS) == presence("schedule")


async def test_presence_on_one_server_is_not_shown_on_another_page_of_the_other(
    pair, people, ws_connect
):
    first, second = pair
    (_maria, maria_key), (_ivan, ivan_key) = people
    async with (
        ws_connect(first, token=maria_key) as maria_ws,
        ws_connect(second, token=ivan_key) as ivan_ws,
    ):
        await maria_ws.send_json({"type": "presence", "page": "daily:2026-03-05"})
        assert await maria_ws.receive_json() == presence("daily:2026-03-05")
        await ivan_ws.send_json({"type": "presence", "page": "daily:2026-03-06"})
        assert await ivan_ws.receive_json() == presence("daily:2026-03-06")

        # Ordering proves the negative: a later announcement arrives with nothing before it.
        await ivan_ws.send_json({"type": "presence", "page": "daily:2026-03-05"})
        assert await ivan_ws.receive_json() == presence("daily:2026-03-05")
        frame = await ivan_ws.receive_json()
        assert frame["page"] == "daily:2026-03-05"
        assert [p["name"] for p in frame["people"]] == ["Maria Petrova"]
        assert [p["name"] for p in (await maria_ws.receive_json())["people"]] == ["Ivan Sidorov"]
