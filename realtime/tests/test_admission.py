"""Admission: the per-process cap and the per-user limit, in this process and, through a real
redis-server, shared with another Python process."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
import redis.asyncio as redis

from realtime import admission
from realtime.admission import Decision, user_key
from realtime.protocol import SERVER_BUSY, TOO_MANY_CONNECTIONS

from .conftest import STARTUP_TIMEOUT, OrmProcesses, free_port, until

pytestmark = pytest.mark.asyncio

USER, OTHER_USER = 7, 8
BUSY = Decision(None, SERVER_BUSY)
TOO_MANY = Decision(None, TOO_MANY_CONNECTIONS)

# Another process: admits and releases sockets as told on stdin, one JSON line per command
# ("admit USER COUNT": the ticket ids or refusal reasons; "release": all its tickets).
HOLDER = """
import asyncio, json, sys
from realtime import admission

async def main():
    tickets = []
    while line := await asyncio.to_thread(sys.stdin.readline):
        command, *args = line.split()
        if command == "admit":
            user, count = int(args[0]), int(args[1])
            decisions = await asyncio.gather(*(admission.admit(user) for _ in range(count)))
            tickets += [decision.ticket for decision in decisions if decision.admitted]
            print(json.dumps([d.ticket.id if d.admitted else d.reason for d in decisions]))
        elif command == "release":
            for ticket in tickets:
                await admission.release(ticket)
            tickets = []
            print(json.dumps([]))
        sys.stdout.flush()

asyncio.run(main())
"""


@pytest.fixture(autouse=True)
def _limits(settings) -> None:
    settings.REDIS_URL = ""
    settings.REALTIME_MAX_CONNECTIONS = 100
    settings.REALTIME_MAX_CONNECTIONS_PER_USER = 2
    settings.REALTIME_ADMISSION_TTL_SECONDS = 60


@pytest_asyncio.fixture(autouse=True)
async def _every_ticket_released() -> AsyncIterator[None]:
    yield
    await admission.aclose()
    assert admission.open_connections() == 0


@pytest_asyncio.fixture
async def shared(settings, redis_url) -> AsyncIterator[redis.Redis]:
    """The limit counted in a real redis-server (emptied first); a client to look into it."""
    settings.REDIS_URL = redis_url
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


async def admit_many(user_id: int, count: int) -> list[Decision]:
    return list(await asyncio.gather(*(admission.admit(user_id) for _ in range(count))))


async def release_all(decisions: list[Decision]) -> None:
    for decision in decisions:
        if decision.admitted:
            await admission.release(decision.ticket)


class Holder:
    """A second Python process running ``HOLDER`` against the same redis-server."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def command(self, line: str) -> list[str]:
        self.process.stdin.write(f"{line}\n".encode())
        await self.process.stdin.drain()
        answer = await asyncio.wait_for(self.process.stdout.readline(), STARTUP_TIMEOUT)
        assert answer, "the holder process exited"
        return json.loads(answer)

    async def kill(self) -> None:
        """Die without releasing anything, as a crashed server does."""
        self.process.kill()
        await self.process.wait()


@pytest_asyncio.fixture
async def start_holder(
    orm: OrmProcesses, redis_url
) -> AsyncIterator[Callable[..., Awaitable[Holder]]]:
    """``await start_holder(**env)``: a ``Holder`` with these settings; each ends with the test
    (its stdin closed, it releases nothing: its tickets expire)."""
    holders: list[Holder] = []

    async def start(**env: str) -> Holder:
        settings_env = {"REDIS_URL": redis_url, "REALTIME_MAX_CONNECTIONS_PER_USER": "2"}
        holder = Holder(await orm.start(HOLDER, **(settings_env | env)))
        holders.append(holder)
        return holder

    yield start
    for holder in holders:
        if holder.process.returncode is None:  # not killed
            holder.process.stdin.close()
            await orm.finish(holder.process)


async def redis_now_ms(client: redis.Redis) -> float:
    seconds, microseconds = await client.time()
    return seconds * 1000 + microseconds / 1000


# In this process.


async def test_the_process_cap_refuses_sockets_past_it_with_server_busy(settings):
    settings.REALTIME_MAX_CONNECTIONS = 3
    held = await admit_many(USER, 2) + await admit_many(OTHER_USER, 1)

    assert all(decision.admitted for decision in held)
    assert await admission.admit(OTHER_USER) == BUSY
    await admission.release(held[0].ticket)
    again = await admission.admit(OTHER_USER)
    assert again.admitted
    await release_all([*held[1:], again])


async def test_a_user_past_the_limit_is_refused_and_others_are_not():
    held = await admit_many(USER, 2)

    assert await admission.admit(USER) == TOO_MANY
    other = await admission.admit(OTHER_USER)
    assert other.admitted
    await admission.release(held[0].ticket)
    again = await admission.admit(USER)
    assert again.admitted
    await release_all([held[1], other, again])


async def test_refused_sockets_hold_no_slot():
    held = await admit_many(USER, 2)
    assert await admit_many(USER, 5) == [TOO_MANY] * 5

    assert admission.open_connections() == 2
    await release_all(held)
    assert admission.open_connections() == 0


async def test_releasing_a_ticket_twice_frees_one_slot():
    held = await admit_many(USER, 2)

    await admission.release(held[0].ticket)
    await admission.release(held[0].ticket)

    assert admission.open_connections() == 1
    again = await admission.admit(USER)
    assert again.admitted
    assert await admission.admit(USER) == TOO_MANY  # one slot came back, not two
    await release_all([held[1], again])


async def test_a_limit_of_zero_admits_any_number_and_never_asks_redis(settings, caplog):
    settings.REALTIME_MAX_CONNECTIONS_PER_USER = 0
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there

    with caplog.at_level(logging.WARNING, logger="realtime.admission"):
        held = await admit_many(USER, 30)

    assert all(decision.admitted and not decision.ticket.shared for decision in held)
    assert caplog.records == []
    await release_all(held)


# Shared through Redis.


async def test_the_limit_counts_the_users_sockets_on_every_process(shared, start_holder):
    holder = await start_holder()
    assert len(await holder.command(f"admit {USER} 1")) == 1
    mine = await admission.admit(USER)

    assert mine.admitted and mine.ticket.shared
    assert await admission.admit(USER) == TOO_MANY
    assert await holder.command(f"admit {USER} 1") == [TOO_MANY_CONNECTIONS]
    other = await admission.admit(OTHER_USER)
    assert other.admitted

    await holder.command("release")
    again = await admission.admit(USER)
    assert again.admitted
    await release_all([mine, other, again])


async def test_two_processes_admitting_at_once_never_pass_the_limit(settings, shared, start_holder):
    settings.REALTIME_MAX_CONNECTIONS_PER_USER = 5
    holder = await start_holder(REALTIME_MAX_CONNECTIONS_PER_USER="5")

    theirs, mine = await asyncio.gather(holder.command(f"admit {USER} 20"), admit_many(USER, 20))

    admitted = [answer for answer in theirs if answer != TOO_MANY_CONNECTIONS]
    admitted += [decision.ticket.id for decision in mine if decision.admitted]
    assert len(admitted) == 5
    assert sorted(await shared.zrange(user_key(USER), 0, -1)) == sorted(admitted)
    await release_all(mine)
    await holder.command("release")
    assert await shared.exists(user_key(USER)) == 0


async def test_a_process_at_its_cap_takes_no_shared_slot(settings, shared):
    settings.REALTIME_MAX_CONNECTIONS = 3
    settings.REALTIME_MAX_CONNECTIONS_PER_USER = 10

    decisions = await admit_many(USER, 10)  # all wait on Redis at once

    assert [d.reason for d in decisions].count(SERVER_BUSY) == 7
    assert await shared.zcard(user_key(USER)) == 3
    await release_all(decisions)


async def test_a_released_ticket_leaves_redis_and_a_second_release_does_nothing(shared):
    decision = await admission.admit(USER)
    assert await shared.zrange(user_key(USER), 0, -1) == [decision.ticket.id]

    await admission.release(decision.ticket)
    await admission.release(decision.ticket)

    assert await shared.exists(user_key(USER)) == 0
    assert admission.open_connections() == 0


async def test_the_sockets_of_a_process_that_died_stop_counting_after_the_ttl(shared, start_holder):
    holder = await start_holder(REALTIME_ADMISSION_TTL_SECONDS="0.5")
    dead = await holder.command(f"admit {USER} 2")
    await holder.kill()
    expiries = [score for _, score in await shared.zrange(user_key(USER), 0, -1, withscores=True)]
    assert len(expiries) == 2

    async def expired() -> bool:
        return await redis_now_ms(shared) > max(expiries)

    await until(expired)
    mine = await admit_many(USER, 2)

    assert all(decision.admitted for decision in mine)
    members = await shared.zrange(user_key(USER), 0, -1)
    assert sorted(members) == sorted(decision.ticket.id for decision in mine)
    assert not set(dead) & set(members)
    await release_all(mine)


async def test_a_live_process_renews_its_tickets_before_they_expire(shared, start_holder):
    holder = await start_holder(REALTIME_ADMISSION_TTL_SECONDS="0.6")
    (ticket,) = await holder.command(f"admit {USER} 1")
    first_expiry = await shared.zscore(user_key(USER), ticket)

    async def renewed() -> bool:
        return (await shared.zscore(user_key(USER), ticket) or 0) > first_expiry

    await until(renewed)
    assert await shared.pttl(user_key(USER)) > 0  # the set itself expires with its last ticket
    await holder.command("release")
    assert await shared.exists(user_key(USER)) == 0


async def test_renewing_does_not_bring_back_a_ticket_released_meanwhile(shared):
    decision = await admission.admit(USER)
    registry = admission._registry()
    await admission.release(decision.ticket)

    registry.tickets.add(decision.ticket)  # a renewal that read the tickets before the release
    await registry.renew()
    registry.tickets.clear()

    assert await shared.exists(user_key(USER)) == 0


async def test_an_unreachable_redis_falls_back_to_the_limit_of_this_process(settings, caplog):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there

    with caplog.at_level(logging.WARNING, logger="realtime.admission"):
        held = await admit_many(USER, 2)
        refused = await admission.admit(USER)

    assert all(decision.admitted and not decision.ticket.shared for decision in held)
    assert refused == TOO_MANY
    assert len(caplog.records) == 1  # once per outage, not once per socket
    assert "Redis did not answer" in caplog.records[0].getMessage()
    await release_all(held)
