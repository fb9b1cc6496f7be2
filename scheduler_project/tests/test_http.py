"""HTTP through the WSGI thread pool (``scheduler_project.http``) on real daphne and uvicorn
processes: a write rings the sockets of the process that served it; request bodies; ``call_async``.
(The bound on database connections: ``realtime/tests/test_database_pool.py``.)"""

import asyncio
import json
import logging
import socket
from typing import Any

import pytest
import requests
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import path

from realtime import context
from realtime.context import call_async, call_async_soon, serving_loop
from realtime.tests.conftest import RECEIVE_TIMEOUT, until
from scheduler_project.health import healthz
from scheduler_project.http import FORM_ROOM, DjangoHTTP, body_limit, read_body

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


async def test_call_async_soon_from_a_request_thread_starts_the_coroutine_on_the_serving_loop():
    loop = asyncio.get_running_loop()
    ran_on: list[asyncio.AbstractEventLoop] = []
    ran = asyncio.Event()

    async def note() -> None:
        ran_on.append(asyncio.get_running_loop())
        ran.set()

    serving = serving_loop.set(loop)
    try:
        await asyncio.to_thread(call_async_soon, note)
    finally:
        serving_loop.reset(serving)

    await ran.wait()
    assert ran_on == [loop]


async def test_a_coroutine_started_soon_that_fails_is_logged():
    logged = asyncio.Event()
    records: list[logging.LogRecord] = []

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)
            logged.set()

    async def fail() -> None:
        raise ValueError("the layer is gone")

    handler = Handler()
    context.logger.addHandler(handler)
    serving = serving_loop.set(asyncio.get_running_loop())
    try:
        await asyncio.to_thread(call_async_soon, fail)
        await logged.wait()
    finally:
        serving_loop.reset(serving)
        context.logger.removeHandler(handler)

    assert [(r.getMessage(), str(r.exc_info[1])) for r in records] == [
        ("A coroutine started for a request failed.", "the layer is gone")
    ]


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
    monkeypatch.setattr(context, "CALL_TIMEOUT_SECONDS", 0.05)
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

    assert (refused.status_code, refused.text) == (
        413,
        "Request body too large: the limit is 2.5 MB.\n",
    )


async def test_a_multipart_upload_as_large_as_a_spreadsheet_import_reaches_the_view_whole(
    server, token
):
    upload = b"x" * (settings.SPREADSHEET_IMPORT_MAX_BYTES - 1024)

    created = await asyncio.to_thread(
        requests.post,
        f"{server.url}/api/tasks/",
        data={**TASK, "code": "7.3"},
        files={"file": ("schedule.xlsx", upload)},
        headers={"Authorization": f"Token {token.key}"},
        timeout=60,
    )

    assert created.status_code == 201, created.text
    assert created.json()["code"] == "7.3"


async def test_a_multipart_upload_over_the_spreadsheet_limit_is_refused_with_413_saying_it(
    server, token
):
    upload = b"x" * (settings.SPREADSHEET_IMPORT_MAX_BYTES + 128 * 1024)

    refused = await asyncio.to_thread(
        requests.post,
        f"{server.url}/api/tasks/",
        data={**TASK, "code": "7.4"},
        files={"file": ("schedule.xlsx", upload)},
        headers={"Authorization": f"Token {token.key}"},
        timeout=60,
    )

    assert (refused.status_code, refused.text) == (
        413,
        "Request body too large: the limit is 10.0 MB.\n",
    )


@pytest.mark.parametrize(
    ("content_type", "import_limit", "limit"),
    [
        (b"multipart/form-data; boundary=x", 10 * 2**20, 10 * 2**20 + FORM_ROOM),
        (b"Multipart/Form-Data;boundary=x", 10 * 2**20, 10 * 2**20 + FORM_ROOM),
        (b"application/json", 10 * 2**20, 2_621_440 + FORM_ROOM),
        (b"application/x-www-form-urlencoded", 10 * 2**20, 2_621_440 + FORM_ROOM),
        (b"multipart/form-data; boundary=x", 2**20, 2_621_440 + FORM_ROOM),
    ],
)
async def test_only_a_multipart_body_may_be_as_large_as_a_spreadsheet_import(
    settings, content_type, import_limit, limit
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
    settings.SPREADSHEET_IMPORT_MAX_BYTES = import_limit
    scope = {**http_scope("/"), "method": "POST"}
    scope["headers"] = [*scope["headers"], (b"content-type", content_type)]

    assert body_limit(scope) == limit


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


# Request bodies come before authentication: a read timeout and a cap on the bytes held.
# uvicorn (production) hands a body to the application as it arrives; daphne (Twisted) keeps
# the whole body itself, in a temporary file above 100 KB, and calls the application only when
# it is complete, so a held-back body never reaches this code there.

METRICS_TOKEN = "metrics-token-for-the-test"


def hold_back_the_last_byte(port: int, length: int) -> socket.socket:
    """An anonymous POST of ``length`` bytes whose last byte is never sent."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=RECEIVE_TIMEOUT)
    head = (
        f"POST /api/tasks/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
    raw.sendall(head.encode() + b"x" * (length - 1))
    return raw


def answer(raw: socket.socket) -> bytes:
    """All the server sends until it closes the connection."""
    reply = b""
    while chunk := raw.recv(65536):
        reply += chunk
    return reply


async def test_a_body_not_complete_in_time_is_answered_408_and_the_connection_closed(
    server_factory,
):
    server = server_factory("uvicorn", HTTP_BODY_TIMEOUT_SECONDS="1")

    with hold_back_the_last_byte(server.port, 1000) as raw:
        reply = await asyncio.to_thread(answer, raw)

    assert reply.startswith(b"HTTP/1.1 408 ")
    assert reply.endswith(b"\r\n\r\nRequest body not received in time.\n")


def bytes_held(server) -> float:
    metrics = requests.get(
        f"{server.url}/metrics",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        timeout=RECEIVE_TIMEOUT,
    ).text
    lines = [
        line for line in metrics.splitlines() if line.startswith("http_request_body_bytes_held ")
    ]
    return float(lines[0].split()[1]) if lines else -1.0


def post(server, size: int) -> requests.Response:
    return requests.post(
        f"{server.url}/api/tasks/",
        data=b"x" * size,
        headers={"Content-Type": "application/json"},
        timeout=RECEIVE_TIMEOUT,
    )


async def test_bodies_past_the_process_cap_are_answered_503_until_the_held_ones_are_gone(
    server_factory,
):
    server = server_factory(
        "uvicorn",
        HTTP_BODY_BUFFER_MAX_BYTES="1000000",
        HTTP_BODY_TIMEOUT_SECONDS="600",
        METRICS_TOKEN=METRICS_TOKEN,
    )

    async def held_at_least(size: int) -> bool:
        return await asyncio.to_thread(bytes_held, server) >= size

    with hold_back_the_last_byte(server.port, 700_000):
        await until(lambda: held_at_least(699_999))

        refused = await asyncio.to_thread(post, server, 400_000)
        small = await asyncio.to_thread(post, server, 1000)

    async def nothing_held() -> bool:
        return await asyncio.to_thread(bytes_held, server) == 0

    await until(nothing_held)
    after = await asyncio.to_thread(post, server, 400_000)

    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "5")
    assert refused.text == "Too many request bodies in transit: retry later.\n"
    assert small.status_code == 401  # read, run, and refused for want of a login
    assert after.status_code == 401


# The thread pool's adapter, driven in this process: what it sends uvicorn for a response.


@login_not_required
def streamed(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(iter([b"one,", b"", b"two"]), content_type="text/plain")


urlpatterns = [path("streamed", streamed), path("healthz", healthz)]


def http_scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
    }


async def sent_for(path: str) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    receive = scripted_receive({"type": "http.request", "body": b"", "more_body": False})
    await DjangoHTTP(threads=1)(http_scope(path), receive, send)
    return sent


@pytest.mark.urls("scheduler_project.tests.test_http")
async def test_a_complete_response_is_sent_as_its_start_and_one_whole_body():
    sent = await sent_for("/healthz")

    assert [(message["type"], message.get("more_body", False)) for message in sent] == [
        ("http.response.start", False),
        ("http.response.body", False),
    ]
    assert (sent[0]["status"], sent[1]["body"]) == (200, b"ok\n")


@pytest.mark.urls("scheduler_project.tests.test_http")
async def test_a_streaming_response_is_sent_chunk_by_chunk():
    sent = await sent_for("/streamed")

    assert sent[0]["type"] == "http.response.start"
    assert (b"content-type", b"text/plain") in sent[0]["headers"]
    assert [(message["body"], message.get("more_body", False)) for message in sent[1:]] == [
        (b"one,", True),
        (b"two", True),
        (b"", False),
    ]
