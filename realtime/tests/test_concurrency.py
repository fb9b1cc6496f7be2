"""Bursts: 16 writer processes commit at once while 200 WebSocket clients listen on one server
(daphne, as ``make run`` serves, and uvicorn, as production does).

Every client must receive every event exactly once, in id order, exactly as the log holds it,
and a client resuming from any id must get exactly the rest. The writers are other processes,
so with the in-memory layer the server learns of their commits only from its log poll.
"""

import asyncio
import contextlib
import json
import time
from typing import Any

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

WRITERS = 16
CLIENTS = 200
LATE_CLIENTS = 4  # subscribe with last_event_id=0 while the writers write
CONNECTING_AT_ONCE = 25
STREAMS = ["tasks", "daily_works", "monthly_tasks"]
DELIVERY_TIMEOUT = 120  # seconds; a failure guard only

# One process sets Django up and forks the writers (sixteen Django start-ups would take longer
# than the burst on two cores). Each writer makes ten events on three streams, two per
# transaction: on PostgreSQL a transaction that has taken an id and still works lets a later one
# commit first unless the event log's lock prevents it. The writers wait on a pipe: the parent
# prints "ready", and on a line from stdin releases them all at once.
WRITERS_SCRIPT = """
import datetime, os, sys, traceback
from django.db import connections, transaction
from daily.services import daily_work_create
from monthly.services import monthly_task_create
from schedule.services import task_create, task_delete, task_update

november = datetime.date(2026, 11, 1)


def write(writer):
    tasks = []
    for n in range(3):
        with transaction.atomic():
            task = task_create(data=dict(code=f"{writer}.{n}", name="Работа", unit="м",
                                         volume_plan=10, start_date=november,
                                         end_date=datetime.date(2026, 11, 30)))
            tasks.append(task_update(task=task, data={"name": f"Работа {task.code}"},
                                     version=task.version))
    with transaction.atomic():
        monthly_task_create(data=dict(task=tasks[0], month=november, volume_plan=5))
        task_delete(task=tasks[2])
    daily_work_create(data=dict(task=tasks[1], date=november, volume=1))  # and task_updated


connections.close_all()
gate, release = os.pipe()
children = []
for writer in range(int(os.environ["WRITERS"])):
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(release)
            os.read(gate, 1)
            write(writer)
            connections.close_all()
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(status)
    children.append(pid)
print("ready", flush=True)
sys.stdin.readline()
os.write(release, b"x" * len(children))
failed = [pid for pid in children if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])]
sys.exit(f"{len(failed)} writers failed" if failed else 0)
"""
EVENTS_PER_WRITER = 10


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def server(request, server_factory):
    # Daphne refuses a socket that the application has not accepted within 5 s; the clients
    # that join during the burst wait behind 200 catch-ups on a busy 2-core machine.
    options = ["--websocket_connect_timeout", "60"] if request.param == "daphne" else []
    return server_factory(
        request.param,
        *options,
        REALTIME_LOG_POLL_SECONDS="0.05",
        REALTIME_MAX_CONNECTIONS_PER_USER="0",  # every client here is the same user
    )


class Listener:
    """A subscribed client that collects event frames until it has seen the log's last id."""

    def __init__(self, client, last_event_id: int | None = None) -> None:
        self.client = client
        self.last_event_id = last_event_id
        self.frames: list[dict[str, Any]] = []
        self.subscribed: dict[str, Any] | None = None
        self.complete = asyncio.Event()
        self.target: int | None = None

    async def subscribe(self) -> None:
        *replayed, self.subscribed = await self.client.subscribe(STREAMS, self.last_event_id)
        assert self.subscribed["type"] == "subscribed"
        self.frames.extend(replayed)

    async def listen(self) -> None:
        try:
            async for message in self.client.ws:
                self.frames.append(json.loads(message))
                self.check()
        finally:
            self.complete.set()  # also when the socket closes: its frames tell what it missed

    def expect(self, target: int) -> None:
        self.target = target
        self.check()

    def check(self) -> None:
        if self.target is not None and self.frames and self.frames[-1]["id"] >= self.target:
            self.complete.set()


async def test_every_client_gets_every_event_of_concurrent_writers_once_and_in_order(
    server, ws_connect, token, orm, log_frames
):
    async with contextlib.AsyncExitStack() as stack:
        gate = asyncio.Semaphore(CONNECTING_AT_ONCE)

        async def join(last_event_id: int | None = None) -> Listener:
            async with gate:
                client = await stack.enter_async_context(ws_connect(server, token=token.key))
                listener = Listener(client, last_event_id)
                await listener.subscribe()
                return listener

        listeners = list(await asyncio.gather(*(join() for _ in range(CLIENTS))))
        writers = await orm.start(WRITERS_SCRIPT, WRITERS=str(WRITERS))
        if await writers.stdout.readline() != b"ready\n":
            pytest.fail(f"The writers did not start: {await orm.finish(writers)}")
        listening = [asyncio.create_task(listener.listen()) for listener in listeners]

        started = time.monotonic()
        writers.stdin.write(b"go\n")
        await writers.stdin.drain()
        late = list(await asyncio.gather(*(join(last_event_id=0) for _ in range(LATE_CLIENTS))))
        listening += [asyncio.create_task(listener.listen()) for listener in late]
        await orm.finish(writers, timeout=DELIVERY_TIMEOUT)
        written = time.monotonic()

        logged = await log_frames()
        assert len(logged) == WRITERS * EVENTS_PER_WRITER
        everyone = listeners + late
        for listener in everyone:
            listener.expect(logged[-1]["id"])
        await asyncio.wait_for(
            asyncio.gather(*(listener.complete.wait() for listener in everyone)),
            DELIVERY_TIMEOUT,
        )
        delivered = time.monotonic()
        for task in listening:
            task.cancel()  # safe: a cancelled recv() loses no message
        await asyncio.gather(*listening, return_exceptions=True)

        for listener in everyone:
            assert listener.frames == logged
        pending = await asyncio.gather(*(each.client.frames_before_pong() for each in everyone))
        assert pending == [[]] * len(everyone)

        # Resuming from any id gets exactly the rest.
        for resume_from in [0, *(frame["id"] for frame in logged[:: len(logged) // 7])]:
            remaining = [frame for frame in logged if frame["id"] > resume_from]
            async with ws_connect(server, token=token.key) as client:
                assert await client.subscribe(STREAMS, resume_from) == [
                    *remaining,
                    {"type": "subscribed", "events": STREAMS, "last_event_id": logged[-1]["id"]},
                ]

    frames = len(logged) * len(everyone)
    print(
        f"\n{server.kind}: {WRITERS} writers, {len(logged)} events, {len(everyone)} clients: "
        f"written in {written - started:.2f} s, all delivered after {delivered - started:.2f} s "
        f"({len(logged) / (delivered - started):.0f} events/s, {frames / (delivered - started):.0f}"
        " frames/s)"
    )
