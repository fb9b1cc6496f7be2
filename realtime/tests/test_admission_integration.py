"""Admission on two real daphne processes sharing a redis-server: the per-user limit counts the
user's sockets on both (4409), and the per-process cap refuses with a retry hint (4503)."""

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as redis
from rest_framework.authtoken.models import Token
from websockets.exceptions import ConnectionClosed

from realtime import protocol
from realtime.admission import user_key
from schedule.roles import VIEWERS

from .conftest import Client, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

PER_USER = 2
PER_PROCESS = 3
RETRY_AFTER = 7


@pytest.fixture(scope="module")
def servers(daphne_factory, redis_url):
    env = {
        "REDIS_URL": redis_url,
        "REALTIME_MAX_CONNECTIONS_PER_USER": str(PER_USER),
        "REALTIME_MAX_CONNECTIONS": str(PER_PROCESS),
        "REALTIME_RETRY_AFTER_SECONDS": str(RETRY_AFTER),
    }
    return daphne_factory(**env), daphne_factory(**env)


@pytest_asyncio.fixture
async def shared(redis_url) -> AsyncIterator[redis.Redis]:
    """A client of the servers' redis-server. At the end of the test, waits until the servers
    have released every socket the test opened (the next test starts with no slot taken)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client

    async def released() -> bool:
        return not await client.keys(user_key("*"))

    await until(released)
    await client.aclose()


@pytest.fixture
def other_token(make_user) -> Token:
    return Token.objects.create(user=make_user(VIEWERS))


async def admitted(client: Client) -> bool:
    """An admitted socket answers a ping (a refused one was sent an error and closed)."""
    return await client.frames_before_pong() == []


async def refusal(client: Client) -> tuple[dict, int | None]:
    """The frame a refused socket gets, and its close code."""
    frame = await client.receive_json()
    with pytest.raises(ConnectionClosed) as closed:
        await client.receive_json()
    return frame, closed.value.rcvd.code if closed.value.rcvd else None


async def test_a_users_socket_past_the_limit_on_either_server_is_refused_with_4409(
    servers, ws_connect, token, other_token, shared
):
    a, b = servers
    async with ws_connect(a, token=token.key) as first, ws_connect(b, token=token.key) as second:
        assert await admitted(first) and await admitted(second)

        async with ws_connect(a, token=token.key) as third:
            assert await refusal(third) == (
                {
                    "type": "error",
                    "code": protocol.TOO_MANY_CONNECTIONS,
                    "message": protocol.ERROR_MESSAGES[protocol.TOO_MANY_CONNECTIONS],
                },
                protocol.CLOSE_TOO_MANY_CONNECTIONS,
            )
        async with ws_connect(b, token=other_token.key) as another_user:
            assert await admitted(another_user)

        await second.ws.close()

        async def one_left() -> bool:
            return await shared.zcard(user_key(token.user_id)) == 1

        await until(one_left)  # server b has released the socket
        async with ws_connect(a, token=token.key) as again:
            assert await admitted(again)


async def test_a_socket_past_the_process_cap_is_told_when_to_retry_and_closed_with_4503(
    servers, ws_connect, token, other_token, shared
):
    a, b = servers
    async with (
        ws_connect(a, token=token.key) as first,
        ws_connect(a, token=token.key) as second,
        ws_connect(a, token=other_token.key) as third,
    ):
        for client in (first, second, third):
            assert await admitted(client)

        async with ws_connect(a, token=other_token.key) as fourth:
            assert await refusal(fourth) == (
                {
                    "type": "error",
                    "code": protocol.SERVER_BUSY,
                    "message": protocol.ERROR_MESSAGES[protocol.SERVER_BUSY],
                    "retry_after": RETRY_AFTER,
                },
                protocol.CLOSE_SERVER_BUSY,
            )
        async with ws_connect(b, token=other_token.key) as on_the_other_server:
            assert await admitted(on_the_other_server)
