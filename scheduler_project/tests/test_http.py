"""HTTP through the WSGI thread pool (``scheduler_project.http``) on real daphne and uvicorn
processes: a write rings the sockets of the process that served it, and a burst of requests uses
no more threads or database connections than the pool has."""

import asyncio
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from scheduler_project import http
from scheduler_project.http import call_async, serving_loop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

HTTP_THREADS = 3
CONCURRENT_REQUESTS = 40
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
    return server_factory(
        request.param, HTTP_THREADS=str(HTTP_THREADS), REALTIME_LOG_POLL_SECONDS="3600"
    )


def open_database_files(pid: int) -> int:
    """How many descriptors of process ``pid`` point at the SQLite database file."""
    database = Path(settings.DATABASES["default"]["NAME"]).resolve()
    fds = Path(f"/proc/{pid}/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            count += Path(os.readlink(fd)) == database
        except OSError:
            continue  # closed meanwhile
    return count


async def test_a_rest_write_reaches_the_sockets_of_its_process_through_the_bell(
    server, ws_connect, token, rest
):
    async with ws_connect(server, token=token.key) as client:
        await client.subscribe(["tasks"])

        created = await rest(server, "POST", "/api/tasks/", token.key, TASK)

        assert created.status_code == 201
        frame = await client.receive_json()
        assert (frame["type"], frame["data"]) == ("task_created", created.json())


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's files; PostgreSQL's pool has its own test"
)
async def test_a_burst_of_requests_keeps_one_database_connection_per_thread(server, token, rest):
    requests = [rest(server, "GET", "/api/tasks/", token.key) for _ in range(CONCURRENT_REQUESTS)]

    responses = await asyncio.gather(*requests)

    assert {response.status_code for response in responses} == {200}
    # One kept connection per HTTP thread, plus the real-time thread's and the health check's.
    assert open_database_files(server.process.pid) <= HTTP_THREADS + 2


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
