"""A client that stops reading, against a real uvicorn: the others keep receiving, the server
drops its backlog and closes it with 4408, and it resumes from its last event id losing nothing.

The server's sockets and the stalled client's get small kernel buffers, so that a few hundred
events fill every buffer between the server's writer and that client.
"""

import asyncio
import datetime
import socket
from decimal import Decimal
from typing import Any

import pytest
import requests
from channels.db import database_sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from realtime import protocol
from schedule.models import Task

from .conftest import RECEIVE_TIMEOUT, STARTUP_TIMEOUT, Client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

BACKLOG = 100
EVENTS = 600  # ~360 KB of frames
SMALL_BUFFER = 4096
LIVE_EVENTS = 20


@pytest.fixture(scope="module")
def server(server_factory):
    return server_factory(
        "uvicorn",
        socket_buffer_bytes=SMALL_BUFFER,
        REALTIME_SEND_BACKLOG=str(BACKLOG),
        REALTIME_LOG_POLL_SECONDS="0.05",
        METRICS_TOKEN="metrics-secret",
    )


@database_sync_to_async
def create_tasks(count: int, prefix: str) -> list[int]:
    """``count`` tasks in one transaction, so one event each (another process's commit)."""
    tasks = Task.objects.bulk_create(
        Task(
            code=f"{prefix}.{number}",
            name="Кладка стен " * 8,
            unit="м³",
            volume_plan=Decimal(10),
            start_date=datetime.date(2026, 11, 1),
            end_date=datetime.date(2026, 11, 30),
        )
        for number in range(count)
    )
    return [task.pk for task in tasks]


async def client_with_buffer(server, key: str, buffer_bytes: int, **options: Any) -> Client:
    """A client whose socket has a receive buffer of ``buffer_bytes`` (set before connecting,
    so that the TCP window follows it)."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_bytes)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", server.port))
    ws = await connect(
        server.ws_url,
        sock=raw,
        origin=server.url,
        additional_headers={"Authorization": f"Token {key}"},
        open_timeout=STARTUP_TIMEOUT,
        **options,
    )
    return Client(ws)


async def read_until_closed(client: Client) -> tuple[list[dict], int | None]:
    frames = []
    try:
        while True:
            frames.append(await client.receive_json())
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None


async def slow_consumer_disconnects(server) -> str:
    response = await asyncio.to_thread(
        requests.get,
        f"{server.url}/metrics",
        headers={"Authorization": "Bearer metrics-secret"},
        timeout=RECEIVE_TIMEOUT,
    )
    (line,) = [
        line
        for line in response.text.splitlines()
        if line.startswith("realtime_slow_consumer_disconnects_total ")
    ]
    return line.split()[1]


async def test_a_client_that_stops_reading_is_closed_and_resumes_without_loss(
    server, ws_connect, token
):
    stalled = await client_with_buffer(server, token.key, SMALL_BUFFER, max_queue=2)
    (subscribed,) = await stalled.subscribe(["tasks"])
    start = subscribed["last_event_id"]

    # A burst the stalled client does not read: far more than its buffers and backlog hold.
    await create_tasks(EVENTS, "1")

    # Meanwhile another client subscribes, catches up on the burst (a replay waits for its
    # reader, it is never "behind") and receives new events live; the live ones are fewer than
    # the backlog, so however the machine schedules this client it is not behind either. Their
    # arrival also proves that the server has handed out the whole burst.
    async with ws_connect(server, token=token.key) as reader:
        replayed = await reader.subscribe(["tasks"], last_event_id=start)
        await create_tasks(LIVE_EVENTS, "2")
        live = [await reader.receive_json() for _ in range(LIVE_EVENTS)]
    ids = [frame["id"] for frame in replayed[:-1] + live]
    assert len(ids) == EVENTS + LIVE_EVENTS and ids == sorted(set(ids))
    assert await slow_consumer_disconnects(server) == "1.0"

    # The stalled client, reading again, finds a prefix, an error and the 4408 close.
    async with stalled.ws:
        frames, code = await read_until_closed(stalled)
    assert code == protocol.CLOSE_SLOW_CONSUMER
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == protocol.SLOW_CONSUMER
    got = [frame["id"] for frame in frames[:-1]]
    assert got == ids[: len(got)] and len(got) < EVENTS

    # It resumes from the last id it saw and misses nothing.
    async with ws_connect(server, token=token.key) as again:
        resumed = await again.subscribe(["tasks"], last_event_id=got[-1])
    assert got + [frame["id"] for frame in resumed[:-1]] == ids
    assert resumed[-1]["last_event_id"] == ids[-1]
