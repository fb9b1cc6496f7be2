"""Two daphne processes sharing a real redis-server: the layer carries events between them.

The hubs poll the log once an hour here, so every delivery below has come through Redis.
"""

import asyncio
from typing import Any

import pytest
import redis.asyncio as redis

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(scope="module")
def servers(daphne_factory, redis_url):
    env = {"REDIS_URL": redis_url, "REALTIME_LOG_POLL_SECONDS": "3600"}
    return daphne_factory(**env), daphne_factory(**env)


def task_data(code: str) -> dict[str, Any]:
    return {
        "code": code,
        "name": f"Работа {code}",
        "unit": "м³",
        "volume_plan": "50",
        "start_date": "2026-11-01",
        "end_date": "2026-11-30",
    }


async def test_a_write_through_one_server_reaches_a_client_of_the_other(
    servers, ws_connect, token, rest, log_frames
):
    a, b = servers
    async with ws_connect(b, token=token.key) as client:
        await client.subscribe(["tasks"])

        created = await rest(a, "POST", "/api/tasks/", token.key, task_data("1.1"))
        frame = await client.receive_json()
        assert (frame["type"], frame["data"]) == ("task_created", created.json())
        assert [frame] == await log_frames()
        assert await client.frames_before_pong() == []


async def test_orm_code_in_another_process_reaches_the_servers_through_redis(
    servers, ws_connect, token, orm, redis_url, log_frames
):
    a, b = servers
    async with ws_connect(a, token=token.key) as on_a, ws_connect(b, token=token.key) as on_b:
        await on_a.subscribe(["tasks"])
        await on_b.subscribe(["tasks"])

        await orm.run(
            "from schedule.models import Task\n"
            "Task.objects.create(code='2.1', name='x', unit='м', volume_plan=1,"
            " start_date='2026-11-01', end_date='2026-11-02')",
            REDIS_URL=redis_url,
        )
        (logged,) = await log_frames()
        assert await on_a.receive_json() == logged
        assert await on_b.receive_json() == logged


async def test_resume_works_across_servers(servers, ws_connect, token, rest, log_frames):
    a, b = servers
    async with ws_connect(a, token=token.key) as client:
        await client.subscribe(["tasks"])
        await rest(a, "POST", "/api/tasks/", token.key, task_data("3.1"))
        seen = await client.receive_json()

    for code in ["3.2", "3.3", "3.4"]:
        await rest(b, "POST", "/api/tasks/", token.key, task_data(code))
    missed = await log_frames(after=seen["id"])
    assert [frame["data"]["code"] for frame in missed] == ["3.2", "3.3", "3.4"]

    async with ws_connect(b, token=token.key) as client:
        assert await client.subscribe(["tasks"], last_event_id=seen["id"]) == [
            *missed,
            {"type": "subscribed", "events": ["tasks"], "last_event_id": missed[-1]["id"]},
        ]
        live = await rest(a, "POST", "/api/tasks/", token.key, task_data("3.5"))
        frame = await client.receive_json()
        assert frame["data"] == live.json()
        assert await client.frames_before_pong() == []


async def a_blocking_read_ends_with_nothing_read(redis_url: str) -> None:
    """Wait until a connection blocked in the layer's BZPOPMIN (5 s) blocks again: its read ran
    out quietly. A read the client gave up on instead closes its connection, and the next
    BZPOPMIN comes from another one."""
    client = redis.Redis.from_url(redis_url, socket_timeout=None)
    try:
        async with client.monitor() as monitor:
            blocked = set()
            while True:
                command = await monitor.next_command()
                if command["command"].startswith("BZPOPMIN"):
                    connection = (command["client_address"], command["client_port"])
                    if connection in blocked:
                        return
                    blocked.add(connection)
    finally:
        await client.aclose()


async def test_a_server_idle_longer_than_the_layers_blocking_read_still_hears_the_next_write(
    servers, ws_connect, token, rest, redis_url
):
    """redis-py 8 times reads out after 5 s by default, as long as channels_redis blocks in
    BZPOPMIN: an idle hub's listener then failed and, polling once an hour here, went deaf."""
    a, b = servers
    async with ws_connect(b, token=token.key) as client:
        await client.subscribe(["tasks"])
        # The scenario is the quiet itself: nobody writes until a blocking read has run out.
        await asyncio.wait_for(a_blocking_read_ends_with_nothing_read(redis_url), 60)

        created = await rest(a, "POST", "/api/tasks/", token.key, task_data("3.1"))
        frame = await client.receive_json()
        assert (frame["type"], frame["data"]) == ("task_created", created.json())
