"""``/metrics``: who may read it, and its figures moving with real traffic — in this process,
and summed over two daphne processes that share a ``PROMETHEUS_MULTIPROC_DIR``."""

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed

from realtime import metrics

from .conftest import RECEIVE_TIMEOUT, Server, stop_process

TOKEN = "scrape-secret"


def sample(text: str, name: str, **labels: str) -> float:
    """The value of sample ``name`` with exactly ``labels`` in a scrape (0 if absent)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return 0.0


TASK = {
    "code": "M.1",
    "name": "Кладка",
    "unit": "м³",
    "volume_plan": "1.000",
    "start_date": "2026-11-01",
    "end_date": "2026-11-30",
}


# Access, through Django's test client.
@pytest.fixture
def metrics_token(settings) -> str:
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (f"Bearer {TOKEN}", 200),
        (f"bearer  {TOKEN}", 200),
        ("Bearer wrong-secret", 403),
        (f"Bearer {TOKEN}x", 403),
        ("Bearer ", 403),
        (None, 401),
        (f"Token {TOKEN}", 401),  # a DRF token is no metrics token
    ],
)
def test_the_metrics_token_is_checked(client, metrics_token, authorization, status):
    headers = {} if authorization is None else {"Authorization": authorization}

    response = client.get("/metrics", headers=headers)

    assert response.status_code == status


def test_no_credentials_get_401_with_a_bearer_challenge_not_the_login_page(client):
    response = client.get("/metrics")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


def test_an_empty_metrics_token_turns_token_access_off(client, settings):
    settings.METRICS_TOKEN = ""

    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 403


@pytest.mark.parametrize(("is_staff", "status"), [(True, 200), (False, 403)])
def test_a_session_needs_a_staff_user(client, make_user, is_staff, status):
    client.force_login(make_user(None, username="ops", is_staff=is_staff))

    assert client.get("/metrics").status_code == status


def test_metrics_come_in_the_prometheus_text_format(client, metrics_token):
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.content.decode()
    for name in [
        "realtime_events_published_total",
        "realtime_frames_sent_total",
        "realtime_send_failures_total",
        "realtime_slow_consumer_disconnects_total",
        "realtime_events_replayed_total",
        "realtime_commit_to_send_seconds_count",
        "realtime_change_to_screen_seconds_count",
    ]:
        assert f"\n{name} " in text, name


def test_a_prometheus_server_gets_openmetrics_when_it_asks(client, metrics_token):
    response = client.get(
        "/metrics",
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Accept": "application/openmetrics-text; version=1.0.0",
        },
    )

    assert response["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.content.endswith(b"# EOF\n")


def test_each_committed_event_counts_once_as_published(
    client, metrics_token, api_client, capture_events
):
    def published() -> float:
        scrape = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        return sample(scrape.content.decode(), "realtime_events_published_total")

    before = published()
    with capture_events(expected=1):
        assert api_client.post("/api/tasks/", TASK, format="json").status_code == 201

    assert published() == before + 1


def test_lags_fall_into_the_change_to_screen_buckets_from_10_ms_to_10_s():
    name = "realtime_change_to_screen_seconds"
    bounds = ["0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf"]

    def buckets() -> list[float]:
        return [REGISTRY.get_sample_value(f"{name}_bucket", {"le": le}) for le in bounds]

    before, count, total = (
        buckets(),
        REGISTRY.get_sample_value(f"{name}_count"),
        REGISTRY.get_sample_value(f"{name}_sum"),
    )

    metrics.change_to_screen_observe([0.004, 0.04, 0.04, 3.0, 30.0])

    added = [after - earlier for after, earlier in zip(buckets(), before, strict=True)]
    assert added == [1, 1, 3, 3, 3, 3, 3, 3, 4, 4, 5]
    assert REGISTRY.get_sample_value(f"{name}_count") == count + 5
    assert REGISTRY.get_sample_value(f"{name}_sum") == pytest.approx(total + 33.084)


# Real traffic on two daphne processes that share one metrics directory.
def start_pair(daphne_factory, directory: Path) -> tuple[Server, Server]:
    """Two daphne processes sharing the metrics directory ``directory``. Each has its in-memory
    layer: the log poll carries events across."""
    directory.mkdir()
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "METRICS_TOKEN": TOKEN,
        "REALTIME_LOG_POLL_SECONDS": "0.05",
        # Every live event's lag is measured: a report counts for any event a socket was sent.
        "REALTIME_LAG_SAMPLE_RATE": "1",
    }
    return daphne_factory(**env), daphne_factory(**env)


@pytest.fixture(scope="module")
def pair(daphne_factory, tmp_path_factory) -> tuple[Server, Server]:
    """A pair for the tests that compare counters before and after."""
    return start_pair(daphne_factory, tmp_path_factory.mktemp("metrics") / "prometheus")


@pytest.fixture
def fresh_pair(daphne_factory, tmp_path) -> Iterator[tuple[Server, Server]]:
    """A pair of its own, stopped after the test: gauges with no socket of another test."""
    servers = start_pair(daphne_factory, tmp_path / "prometheus")
    yield servers
    for server in servers:
        stop_process(server.process)


@pytest.fixture
def scrape() -> Callable[[Server], Awaitable[str]]:
    async def get(server: Server) -> str:
        response = await asyncio.to_thread(
            requests.get,
            f"{server.url}/metrics",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=RECEIVE_TIMEOUT,
        )
        assert response.status_code == 200, response.text
        return response.text

    return get


@pytest.fixture
def key(token) -> str:
    return token.key


async def open_clients(stack: Any, ws_connect, server: Server, key: str, count: int) -> list:
    """``count`` sockets to ``server``; a pong on each shows its ``connect`` has finished."""
    clients = [await stack.enter_async_context(ws_connect(server, token=key)) for _ in range(count)]
    for client in clients:
        assert await client.frames_before_pong() == []
    return clients


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_either_process_reports_the_sockets_and_subscriptions_of_both(
    fresh_pair, ws_connect, key, scrape
):
    first, second = fresh_pair
    async with contextlib.AsyncExitStack() as stack:
        on_first = await open_clients(stack, ws_connect, first, key, 2)
        on_second = await open_clients(stack, ws_connect, second, key, 3)
        for client in [*on_first, on_second[0]]:
            await client.subscribe(["tasks"])
        await on_second[1].subscribe(["tasks", "daily_works"])

        for server in fresh_pair:
            text = await scrape(server)
            assert sample(text, "realtime_connections_open") == 5
            assert sample(text, "realtime_subscriptions", stream="tasks") == 4
            assert sample(text, "realtime_subscriptions", stream="daily_works") == 1
            assert sample(text, "realtime_subscriptions", stream="monthly_tasks") == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_sockets_of_a_killed_process_stop_counting(fresh_pair, ws_connect, key, scrape):
    survivor, victim = fresh_pair
    async with contextlib.AsyncExitStack() as stack:
        await open_clients(stack, ws_connect, survivor, key, 2)
        await open_clients(stack, ws_connect, victim, key, 3)
        assert sample(await scrape(survivor), "realtime_connections_open") == 5

        os.kill(victim.process.pid, signal.SIGKILL)
        await asyncio.to_thread(victim.process.wait)

        assert sample(await scrape(survivor), "realtime_connections_open") == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_rest_write_counts_as_published_once_and_as_frames_to_each_subscriber(
    pair, ws_connect, key, rest, scrape
):
    first, second = pair
    before = await scrape(first)
    async with contextlib.AsyncExitStack() as stack:
        readers = [
            *await open_clients(stack, ws_connect, first, key, 2),
            *await open_clients(stack, ws_connect, second, key, 1),
        ]
        for reader in readers:
            await reader.subscribe(["tasks"])

        created = await rest(first, "POST", "/api/tasks/", key, TASK)
        assert created.status_code == 201
        for reader in readers:
            assert (await reader.receive_json())["data"] == created.json()

        after = await scrape(second)
    published = "realtime_events_published_total"
    assert sample(after, published) == sample(before, published) + 1
    frames = "realtime_frames_sent_total"
    assert sample(after, frames) == sample(before, frames) + 3
    # One delivery per process that has subscribers: two latencies observed.
    count = "realtime_commit_to_send_seconds_count"
    assert sample(after, count) == sample(before, count) + 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_resume_counts_the_events_it_replays(pair, ws_connect, key, rest, scrape):
    first, _second = pair
    for code in ["R.1", "R.2"]:
        assert (await rest(first, "POST", "/api/tasks/", key, TASK | {"code": code})).ok
    before = await scrape(first)

    async with ws_connect(first, token=key) as client:
        frames = await client.subscribe(["tasks"], last_event_id=0)

    assert [frame["type"] for frame in frames] == ["task_created", "task_created", "subscribed"]
    after = await scrape(first)
    replayed = "realtime_events_replayed_total"
    assert sample(after, replayed) == sample(before, replayed) + 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_refused_socket_counts_by_reason(pair, ws_connect, scrape):
    first, _second = pair
    before = await scrape(first)

    async with ws_connect(first, token="not-a-token") as client:
        with pytest.raises(ConnectionClosed) as closed:
            await client.receive_json()

    assert closed.value.rcvd.code == 4401
    after = await scrape(first)
    refused = "realtime_connections_refused_total"
    assert sample(after, refused, reason="unauthenticated") == (
        sample(before, refused, reason="unauthenticated") + 1
    )


CHANGE_TO_SCREEN = "realtime_change_to_screen_seconds"


async def live_event_ids(client: Any, server: Server, rest, key: str, codes: list[str]) -> list:
    """Create a task of each of ``codes`` through ``server``'s API; the ids of their events as
    ``client`` (subscribed to tasks) was sent them live."""
    for code in codes:
        assert (await rest(server, "POST", "/api/tasks/", key, TASK | {"code": code})).ok
    return [(await client.receive_json())["id"] for _ in codes]


def lag_report(ids: list[int], seconds: list[float]) -> dict:
    samples = [{"id": id_, "seconds": s} for id_, s in zip(ids, seconds, strict=True)]
    return {"type": "lag", "samples": samples}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_pages_lag_report_counts_in_the_histogram_of_every_process(
    pair, ws_connect, key, rest, scrape
):
    first, second = pair
    async with ws_connect(first, token=key) as client:
        await client.subscribe(["tasks"])
        ids = await live_event_ids(client, first, rest, key, ["L.1", "L.2", "L.3", "L.4"])
        before = await scrape(second)

        await client.send_json(lag_report(ids, [0.02, 0.3, 0.4, 12]))
        # No answer: the report has been handled once the pong that follows it comes.
        assert await client.frames_before_pong() == []

    after = await scrape(second)
    for bucket, added in [("0.025", 1), ("0.5", 3), ("10.0", 3), ("+Inf", 4)]:
        assert sample(after, f"{CHANGE_TO_SCREEN}_bucket", le=bucket) == (
            sample(before, f"{CHANGE_TO_SCREEN}_bucket", le=bucket) + added
        )
    assert sample(after, f"{CHANGE_TO_SCREEN}_count") == (
        sample(before, f"{CHANGE_TO_SCREEN}_count") + 4
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_invented_lags_count_nothing(pair, ws_connect, key, rest, scrape):
    first, _second = pair
    async with ws_connect(first, token=key) as client:
        await client.subscribe(["tasks"])
        [sent] = await live_event_ids(client, first, rest, key, ["L.5"])
        before = await scrape(first)

        # Thousands of made-up lags: events never sent, and the one sent reported again.
        await client.send_json(lag_report([sent], [0.1]))
        for start in range(sent + 1, sent + 1001, 100):
            await client.send_json(lag_report(list(range(start, start + 100)), [0.1] * 100))
            await client.send_json(lag_report([sent] * 100, [0.1] * 100))
            assert await client.frames_before_pong() == []

    after = await scrape(first)
    count = f"{CHANGE_TO_SCREEN}_count"
    assert sample(after, count) == sample(before, count) + 1


LAG_LIST = '"samples" must be a list of 1 to 100 {"id", "seconds"} objects.'
LAG_SAMPLE = 'Each of "samples" must be {"id": an event id, "seconds": a number from 0 to 600}.'


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ('{"type": "lag"}', LAG_LIST),
        ('{"type": "lag", "samples": []}', LAG_LIST),
        (
            '{"type": "lag", "samples": [' + ", ".join(['{"id": 1, "seconds": 1}'] * 101) + "]}",
            LAG_LIST,
        ),
        ('{"type": "lag", "samples": [0.1]}', LAG_SAMPLE),
        ('{"type": "lag", "samples": [{"id": 1, "seconds": -1}]}', LAG_SAMPLE),
        ('{"type": "lag", "samples": [{"id": 1, "seconds": 1e308}]}', LAG_SAMPLE),
        ('{"type": "lag", "samples": [{"id": 1, "seconds": "0.2"}]}', LAG_SAMPLE),
        ('{"type": "lag", "samples": [{"id": 1, "seconds": NaN}]}', LAG_SAMPLE),
    ],
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_malformed_lag_report_gets_an_error_naming_the_problem_and_counts_nothing(
    pair, ws_connect, key, rest, scrape, frame, message
):
    first, _second = pair
    async with ws_connect(first, token=key) as client:
        await client.subscribe(["tasks"])
        [sent] = await live_event_ids(client, first, rest, key, ["L.9"])
        before = await scrape(first)

        await client.ws.send(frame)
        assert await client.receive_json() == {
            "type": "error",
            "code": "invalid_message",
            "message": message,
        }
        # The socket stays usable: a good report after the bad one counts.
        await client.send_json(lag_report([sent], [0.05]))
        assert await client.frames_before_pong() == []

    after = await scrape(first)
    count = f"{CHANGE_TO_SCREEN}_count"
    assert sample(after, count) == sample(before, count) + 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_clock_ping_gets_the_servers_time_between_its_sending_and_its_pong(
    pair, ws_connect, key
):
    first, _second = pair
    async with ws_connect(first, token=key) as client:
        sent = time.time() * 1000
        await client.send_json({"type": "ping", "clock": True, "sent": sent})
        pong = await client.receive_json()
        received = time.time() * 1000

    assert pong == {"type": "pong", "clock": True, "sent": sent, "server_time": pong["server_time"]}
    # The same host's clock; the server rounds to 0.1 ms.
    assert sent - 0.1 <= pong["server_time"] <= received + 0.1
