"""Faults on a socket's path, against a real daphne and a real uvicorn: whatever a client sends,
the socket answers or is closed on purpose, and every slot it held (admission ticket, hub entry,
``connections_open``) is given back."""

import asyncio
import json
import uuid

import pytest
import requests
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed

from realtime import protocol

from .conftest import RECEIVE_TIMEOUT, Client, Server, until

pytestmark = pytest.mark.django_db(transaction=True)

METRICS_TOKEN = "faults-secret"
# A frame that made ``json.loads`` raise ``RecursionError`` (under the 64 KiB frame limit).
DEEP = "[" * 60000


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def kind(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def server(server_factory, kind) -> Server:
    """The default per-user limit (20 sockets)."""
    return server_factory(kind, METRICS_TOKEN=METRICS_TOKEN, REALTIME_LOG_POLL_SECONDS="0.05")


@pytest.fixture(scope="module")
def unlimited_server(server_factory, kind) -> Server:
    """No per-user limit: a socket per example, however fast they come and go."""
    return server_factory(
        kind,
        METRICS_TOKEN=METRICS_TOKEN,
        REALTIME_LOG_POLL_SECONDS="0.05",
        REALTIME_MAX_CONNECTIONS_PER_USER="0",
    )


def gauges(server: Server) -> dict[str, float]:
    """The server's non-zero ``realtime_connections_open`` and ``realtime_subscriptions``
    samples (a stream's sample appears at its first subscription)."""
    response = requests.get(
        f"{server.url}/metrics",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        timeout=RECEIVE_TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return {
        f"{found.name}{sorted(found.labels.items())}": found.value
        for family in text_string_to_metric_families(response.text)
        for found in family.samples
        if found.name in {"realtime_connections_open", "realtime_subscriptions"} and found.value
    }


async def back_to(server: Server, start: dict[str, float]) -> None:
    """Wait until the server has released every socket opened since ``start`` was read."""

    async def released() -> bool:
        return await asyncio.to_thread(gauges, server) == start

    await until(released)


@pytest.mark.asyncio
async def test_deeply_nested_frames_get_invalid_json_and_leak_no_slot(server, ws_connect, token):
    start = await asyncio.to_thread(gauges, server)
    for _socket in range(25):  # more than the user's 20 sockets
        async with ws_connect(server, token=token.key) as client:
            await client.ws.send(DEEP)
            error = await client.receive_json()
            assert error == {
                "type": "error",
                "code": protocol.INVALID_JSON,
                "message": protocol.ERROR_MESSAGES[protocol.INVALID_JSON],
            }
            assert (await client.subscribe(["tasks"]))[-1]["type"] == "subscribed"
            assert await client.frames_before_pong() == []

    await back_to(server, start)
    async with ws_connect(server, token=token.key) as client:
        assert await client.frames_before_pong() == []
    await back_to(server, start)
    assert server.errors() == ""


# Random frames: JSON of every shape (near-misses of the protocol's messages among them), text
# that is not JSON, binary frames, and nesting deep enough to exhaust a recursive parser.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
MESSAGES = st.fixed_dictionaries(
    {"type": st.sampled_from(["subscribe", "unsubscribe", "ping", "shout"]) | JSON_VALUES},
    optional={
        "events": st.lists(st.sampled_from(protocol.STREAMS) | st.text(max_size=12), max_size=4)
        | JSON_VALUES,
        "last_event_id": st.integers(min_value=-3, max_value=2**70) | JSON_VALUES,
    },
)
NESTED = st.builds(
    lambda opener, depth, tail: opener * depth + tail,
    st.sampled_from(["[", '{"a":', '[{"type":', '{"type": "ping", "x": [']),
    st.integers(min_value=1, max_value=70000),
    st.sampled_from(["", "1", "]", "}" * 3]),
)
FRAMES = st.one_of(
    MESSAGES.map(json.dumps),
    JSON_VALUES.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200),
    NESTED,
)
# Closes a client can cause on purpose; anything else (1011, no close frame) is a fault.
DELIBERATE_CLOSES = {protocol.CLOSE_RATE_LIMITED, protocol.CLOSE_UNAUTHENTICATED}
REPLIES = {"error", "pong", "subscribed", "unsubscribed", "resync_required"}


async def answers_after(client: Client, frame: str | bytes) -> None:
    """Send ``frame``, then a ping: what comes before the pong is a known reply; or the socket
    was closed with a deliberate code."""
    probe = uuid.uuid4().hex
    try:
        await client.ws.send(frame)
        await client.send_json({"type": "ping", "probe": probe})
        while (reply := await client.receive_json()) != {"type": "pong", "probe": probe}:
            assert reply["type"] in REPLIES or reply.get("event") in protocol.STREAMS, reply
            if reply["type"] == "error":
                assert reply["code"] in protocol.ERROR_MESSAGES, reply
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code in DELIBERATE_CLOSES, closed


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame=FRAMES)
def test_random_frames_never_break_a_socket_or_leak_its_slots(
    unlimited_server, ws_connect, token, frame
):
    """Each example on a socket of its own, in an event loop of its own; no slot outlives it."""

    async def example() -> None:
        start = await asyncio.to_thread(gauges, unlimited_server)
        async with ws_connect(unlimited_server, token=token.key) as client:
            await answers_after(client, frame)
        await back_to(unlimited_server, start)

    asyncio.run(example())
    assert unlimited_server.errors() == ""
