"""HTTP through the WSGI thread pool (``scheduler_project.http``) on real daphne and uvicorn
processes: a write rings the sockets of the process that served it; request bodies; ``call_async``.
(The bound on database connections: ``realtime/tests/test_database_pool.py``.)"""

import asyncio
import json
from typing import Any

import pytest
import requests
from django.conf import settings

from scheduler_project import http
from scheduler_project.http import call_async, read_body, serving_loop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

TASK = {
    "code": "7.1",
    "name": "Кладка",
    "unit": "м³",
    "volume_plan": "10",
    "start_date": "2026-11-01",
    "end_date": "2026-11-30",
}


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def server(request, server_factory):
    # No log poll: whatever a socket receives came through the bell rung after the commit.
    return server_factory(request.param, REALTIME_LOG_POLL_SECONDS="3600")


async def test_a_rest_write_reaches_the_sockets_of_its_process_through_the_bell(
    server, ws_connect, token, rest
):
    async with ws_connect(server, token=token.key) as client:
        await client.subscribe(["tasks"])

        created = await rest(server, "POST", "/api/tasks/", token.key, TASK)

        assert created.status_code == 201
        frame = await client.receive_json()
        assert (frame["type"], frame["data"]) == ("task_created", created.json())


async def running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


async def test_call_async_from_a_request_thread_runs_on_the_serving_loop():
    loop = asyncio.get_running_loop()
    serving = serving_loop.set(loop)
    try:
        # A request's thread runs in a copy of the serving task's context, as to_thread's does.
        ran_on = await asyncio.to_thread(call_async, running_loop)
    finally:
        serving_loop.reset(serving)

    assert ran_on is loop


async def test_call_async_outside_a_request_runs_on_a_loop_of_its_own():
    ran_on = await asyncio.to_thread(call_async, running_loop)

    assert ran_on is not asyncio.get_running_loop()


async def test_call_async_refuses_to_block_the_loop_it_would_wait_for():
    serving = serving_loop.set(asyncio.get_running_loop())
    try:
        with pytest.raises(RuntimeError, match="would block the event loop"):
            call_async(running_loop)
    finally:
        serving_loop.reset(serving)


async def test_call_async_gives_up_on_a_coroutine_that_never_finishes(monkeypatch):
    monkeypatch.setattr(http, "CALL_TIMEOUT_SECONDS", 0.05)
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    serving = serving_loop.set(asyncio.get_running_loop())
    try:
        with pytest.raises(TimeoutError):
            await asyncio.to_thread(call_async, forever)
    finally:
        serving_loop.reset(serving)

    await cancelled.wait()


async def test_readyz_is_ready_while_sockets_use_a_redis_layer(
    server_factory, redis_url, ws_connect, token, rest
):
    server = server_factory("uvicorn", REDIS_URL=redis_url)
    async with ws_connect(server, token=token.key) as client:
        await client.subscribe(["tasks"])

        ready = await rest(server, "GET", "/readyz", token.key)

    assert (ready.status_code, ready.json()["ready"]) == (200, True)


async def test_a_body_sent_in_chunks_reaches_the_view_whole(server, token):
    def chunks():
        body = json.dumps({**TASK, "code": "7.2"}).encode()
        yield body[:20]
        yield body[20:]

    created = await asyncio.to_thread(
        requests.post,
        f"{server.url}/api/tasks/",
        data=chunks(),
        headers={"Authorization": f"Token {token.key}", "Content-Type": "application/json"},
        timeout=30,
    )

    assert created.status_code == 201, created.text
    assert created.json()["code"] == "7.2"


async def test_a_body_over_the_upload_limit_is_refused_with_413(server, token):
    too_large = b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 128 * 1024)

    refused = await asyncio.to_thread(
        requests.post,
        f"{server.url}/api/tasks/",
        data=too_large,
        headers={"Authorization": f"Token {token.key}", "Content-Type": "application/json"},
        timeout=30,
    )

    assert refused.status_code == 413


def scripted_receive(*messages: dict) -> Any:
    queue = list(messages)

    async def receive() -> dict:
        return queue.pop(0)

    return receive


async def test_a_request_whose_client_left_mid_body_is_not_run():
    receive = scripted_receive(
        {"type": "http.request", "body": b'{"volume_plan": "12', "more_body": True},
        {"type": "http.disconnect"},
    )

    assert await read_body(receive, limit=None) is None


async def test_a_body_in_parts_is_read_whole():
    receive = scripted_receive(
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"cd", "more_body": False},
    )

    assert await read_body(receive, limit=None) == b"abcd"
