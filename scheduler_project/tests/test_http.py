"""HTTP through the WSGI thread pool (``scheduler_project.http``) on real daphne and uvicorn
processes: a write rings the sockets of the process that served it; request bodies; ``call_async``.
(The bound on database connections: ``realtime/tests/test_database_pool.py``.)"""

import asyncio
import contextlib
import json
import logging
import select
import socket
from typing import Any

import pytest
import requests
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.http import HttpRequest, StreamingHttpResponse
from django.test import Client
from django.urls import path
from requests.adapters import HTTPAdapter

from realtime import context
from realtime.context import call_async, call_async_soon, serving_loop
from realtime.tests.conftest import RECEIVE_TIMEOUT, until
from scheduler_project.health import healthz
from scheduler_project.http import (
    FORM_ROOM,
    BodyBuffer,
    BodyReader,
    DjangoHTTP,
    Sender,
    anonymous_sender,
    logged_in_sender,
)

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


# Who may send how large a body: the import's page takes a workbook as large as
# SPREADSHEET_IMPORT_MAX_BYTES from a logged-in user with the import's permissions; any other
# body, a multipart one included, keeps DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB).

CSRF_SECRET = "a" * 32
"""The CSRF cookie's secret, which a form may send back as its token."""


def browser_of(user) -> requests.Session:
    """A client with ``user``'s session cookie (made here, in the shared database) and a CSRF
    cookie, as a browser that logged in has."""
    client = Client()
    client.force_login(user)
    http = requests.Session()
    http.cookies.set(
        settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value
    )
    http.cookies.set(settings.CSRF_COOKIE_NAME, CSRF_SECRET)
    return http


@pytest.fixture
def planner_browser(planner) -> requests.Session:
    return browser_of(planner)


@pytest.fixture
def viewer_browser(viewer) -> requests.Session:
    return browser_of(viewer)


def upload(http: requests.Session, server, path: str, size: int, **headers: str):
    """A workbook of ``size`` bytes posted as the import page's form posts it."""
    return http.post(
        f"{server.url}{path}",
        data={"csrfmiddlewaretoken": CSRF_SECRET},
        files={"file": ("schedule.xlsx", b"x" * size)},
        headers=headers,
        timeout=60,
    )


async def test_an_upload_as_large_as_a_spreadsheet_import_reaches_the_import_page_whole(
    server, planner_browser
):
    size = settings.SPREADSHEET_IMPORT_MAX_BYTES - 1024

    answer = await asyncio.to_thread(upload, planner_browser, server, "/import/", size)

    # Read whole and run: the page says the file is no workbook.
    assert answer.status_code == 400, answer.text[:200]
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"


async def test_an_upload_over_the_spreadsheet_limit_is_refused_with_413_saying_it(
    server, planner_browser
):
    size = settings.SPREADSHEET_IMPORT_MAX_BYTES + 128 * 1024

    refused = await asyncio.to_thread(upload, planner_browser, server, "/import/", size)

    assert (refused.status_code, refused.text) == (
        413,
        "Request body too large: the limit is 10.0 MB.\n",
    )


@pytest.mark.parametrize(
    ("who", "path"),
    [
        pytest.param("anonymous", "/import/", id="anonymous-import"),
        pytest.param("viewer", "/import/", id="without-permission-import"),
        pytest.param("planner", "/api/tasks/", id="planner-elsewhere"),
        pytest.param("planner", "/accounts/login/", id="planner-login"),
    ],
)
async def test_a_multipart_body_elsewhere_or_from_anyone_else_keeps_the_small_limit(
    server, planner_browser, viewer_browser, who, path
):
    http = {"anonymous": requests.Session(), "viewer": viewer_browser}.get(who, planner_browser)
    size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 128 * 1024

    refused = await asyncio.to_thread(upload, http, server, path, size)

    assert (refused.status_code, refused.text) == (
        413,
        "Request body too large: the limit is 2.5 MB.\n",
    )


def http_scope(path: str, *, headers: list[tuple[bytes, bytes]] = ()) -> dict[str, Any]:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
    }


MULTIPART = (b"content-type", b"multipart/form-data; boundary=x")
JSON = (b"content-type", b"application/json")
SMALL = 2_621_440 + FORM_ROOM
LARGE = 10 * 2**20 + FORM_ROOM


@pytest.mark.parametrize(
    ("login", "path", "content_type", "limit", "share"),
    [
        ("planner", "/import/", MULTIPART, LARGE, LARGE),
        ("planner-token", "/import/", MULTIPART, LARGE, LARGE),
        ("planner", "/import/", JSON, SMALL, LARGE),
        ("planner", "/api/tasks/", MULTIPART, SMALL, LARGE),
        ("planner", "/no/such/page/", MULTIPART, SMALL, LARGE),
        ("viewer", "/import/", MULTIPART, SMALL, SMALL),
        ("stale-session", "/import/", MULTIPART, None, None),
        ("bad-token", "/import/", MULTIPART, None, None),
    ],
)
async def test_a_logged_in_sender_may_send_a_views_upload_allowance_if_it_has_the_permissions(
    planner, viewer, token, login, path, content_type, limit, share
):
    """``limit`` and ``share`` with ``FORM_ROOM``; ``None``: no one is logged in."""
    sessions = {
        "planner": Client(),
        "viewer": Client(),
    }
    credentials: tuple[str | None, str | None]
    if login in sessions:
        user = planner if login == "planner" else viewer
        await asyncio.to_thread(sessions[login].force_login, user)
        credentials = (None, sessions[login].cookies[settings.SESSION_COOKIE_NAME].value)
    elif login == "planner-token":
        credentials = (token.key, None)
    elif login == "stale-session":
        credentials = (None, "no-such-session")
    else:
        credentials = ("no-such-token", None)
    scope = {**http_scope(path, headers=[content_type]), "method": "POST"}

    sender = await asyncio.to_thread(logged_in_sender, scope, *credentials)

    if limit is None:
        assert sender is None
    else:
        assert sender is not None and sender.key.startswith("user ")
        assert (sender.limit + FORM_ROOM, sender.share) == (limit, share)


def scripted_receive(*messages: dict) -> Any:
    queue = list(messages)

    async def receive() -> dict:
        return queue.pop(0)

    return receive


UNBOUNDED = Sender(key="address 127.0.0.1", limit=None, share=None)


async def test_a_request_whose_client_left_mid_body_is_not_run():
    receive = scripted_receive(
        {"type": "http.request", "body": b'{"volume_plan": "12', "more_body": True},
        {"type": "http.disconnect"},
    )

    assert await BodyReader(sender=UNBOUNDED).read(receive) is None


async def test_a_body_in_parts_is_read_whole():
    receive = scripted_receive(
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"cd", "more_body": False},
    )

    assert await BodyReader(sender=UNBOUNDED).read(receive) == b"abcd"


def parts(*sizes: int) -> Any:
    return scripted_receive(
        *[
            {"type": "http.request", "body": b"x" * size, "more_body": index < len(sizes) - 1}
            for index, size in enumerate(sizes)
        ]
    )


ADDRESS = Sender(key="address 10.0.0.1", limit=100, share=100 + FORM_ROOM)
IMPORTER = Sender(key="user 1", limit=300, share=300 + FORM_ROOM)
USER = Sender(key="user 2", limit=100, share=100 + FORM_ROOM)


async def test_an_addresss_bodies_together_hold_at_most_its_share(settings):
    settings.HTTP_BODY_BUFFER_MAX_BYTES = 10**9  # the share bounds them, not the process's cap
    buffer = BodyBuffer()
    holding = BodyReader(sender=ADDRESS, buffer=buffer)
    assert await holding.read(parts(FORM_ROOM, 100)) == b"x" * (FORM_ROOM + 100)

    over = await BodyReader(sender=ADDRESS, buffer=buffer).read(parts(1))
    elsewhere = BodyReader(sender=anonymous_sender(http_scope("/")), buffer=buffer)
    other_address = await elsewhere.read(parts(1000))
    holding.release()
    after = BodyReader(sender=ADDRESS, buffer=buffer)
    then = await after.read(parts(1))

    assert (over, other_address, then) == (503, b"x" * 1000, b"x")
    elsewhere.release()
    after.release()
    assert (buffer.held, buffer.by_sender) == (0, {})


async def test_a_request_needing_more_than_its_address_may_is_counted_as_its_users():
    buffer = BodyBuffer()
    neighbour = BodyReader(sender=ADDRESS, buffer=buffer)
    await neighbour.read(parts(100 + FORM_ROOM))  # the address's share is full
    asked: list[str] = []

    async def identify() -> Sender | None:
        asked.append("identify")
        return IMPORTER

    reader = BodyReader(sender=ADDRESS, buffer=buffer, identify=identify)
    body = await reader.read(parts(10, 250, 40))

    assert (len(body), asked, reader.sender) == (300, ["identify"], IMPORTER)
    assert buffer.by_sender == {ADDRESS.key: 100 + FORM_ROOM, IMPORTER.key: 300}
    reader.release()
    neighbour.release()
    assert (buffer.held, buffer.by_sender) == (0, {})


async def test_a_users_bodies_together_hold_at_most_their_share():
    buffer = BodyBuffer()
    first = BodyReader(sender=IMPORTER, buffer=buffer)
    await first.read(parts(300 + FORM_ROOM))

    async def identify() -> Sender | None:
        return IMPORTER

    second = BodyReader(sender=ADDRESS, buffer=buffer, identify=identify)

    assert await second.read(parts(100 + FORM_ROOM + 1)) == 503
    second.release()
    first.release()
    assert (buffer.held, buffer.by_sender) == (0, {})


@pytest.mark.parametrize(
    ("identified", "sizes", "answer"),
    [
        pytest.param(None, [100 + FORM_ROOM + 1], 413, id="no-one-over-the-limit"),
        pytest.param(USER, [100 + FORM_ROOM + 1], 413, id="a-user-over-their-limit"),
        pytest.param(IMPORTER, [300 + FORM_ROOM + 1], 413, id="an-importer-over-theirs"),
        pytest.param(IMPORTER, [300 + FORM_ROOM], b"x" * (300 + FORM_ROOM), id="within"),
    ],
)
async def test_the_limit_is_the_identified_senders(identified, sizes, answer):
    async def identify() -> Sender | None:
        return identified

    reader = BodyReader(sender=ADDRESS, buffer=BodyBuffer(), identify=identify)

    assert await reader.read(parts(*sizes)) == answer


async def test_a_request_without_credentials_is_not_looked_up():
    app = DjangoHTTP(threads=1)
    scope = {**http_scope("/import/", headers=[MULTIPART]), "method": "POST"}

    assert await app.identify(scope) is None  # no thread, no query


async def test_without_a_cap_for_the_process_there_are_no_shares_of_it(settings):
    settings.HTTP_BODY_BUFFER_MAX_BYTES = 0
    buffer = BodyBuffer()
    held = [BodyReader(sender=ADDRESS, buffer=buffer) for _ in range(3)]

    bodies = [await reader.read(parts(100 + FORM_ROOM)) for reader in held]

    assert [len(body) for body in bodies] == [100 + FORM_ROOM] * 3


async def test_a_full_process_is_not_a_reason_to_look_anyone_up(settings):
    settings.HTTP_BODY_BUFFER_MAX_BYTES = 10
    asked: list[str] = []

    async def identify() -> Sender | None:
        asked.append("identify")
        return IMPORTER

    reader = BodyReader(sender=ADDRESS, buffer=BodyBuffer(), identify=identify)

    assert (await reader.read(parts(11)), asked) == (503, [])


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


# One address's anonymous bodies hold at most one small body (its share): slow uploads from
# one client leave the rest of the budget to everyone else. The server sees each loopback
# address as another client.

ATTACKER, ELSEWHERE = "127.0.0.2", "127.0.0.3"
SHARE = 2_621_440 + FORM_ROOM
PASSWORD = "a password for the test"


class FromAddress(HTTPAdapter):
    """Connections made from ``address``."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


def client_at(address: str) -> requests.Session:
    http = requests.Session()
    http.mount("http://", FromAddress(address))
    return http


def start_slow_upload(port: int, length: int) -> socket.socket:
    """An anonymous multipart POST of ``length`` bytes from the attacker's address, its head
    sent."""
    raw = socket.create_connection(
        ("127.0.0.1", port), timeout=RECEIVE_TIMEOUT, source_address=(ATTACKER, 0)
    )
    head = (
        f"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {length}\r\n\r\n"
    )
    raw.sendall(head.encode())
    return raw


def send_all_but_the_last_byte(raw: socket.socket, length: int) -> None:
    with contextlib.suppress(OSError):  # refused: the server closed the connection
        raw.sendall(b"x" * (length - 1))


def reply_to_refused(raw: socket.socket) -> bytes:
    """What the server sent before it closed a connection whose body it did not read: the
    close resets it once the client sends on."""
    reply = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := raw.recv(65536):
            reply += chunk
    return reply


def answered(raw: socket.socket) -> bool:
    """Whether the server has answered (or closed), without waiting for it or taking it."""
    readable, _writable, _failed = select.select([raw], [], [], 0)
    return bool(readable)


def log_in(server, address: str, username: str) -> requests.Response:
    http = client_at(address)
    http.get(f"{server.url}/accounts/login/", timeout=RECEIVE_TIMEOUT).raise_for_status()
    return http.post(
        f"{server.url}/accounts/login/",
        data={
            "username": username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": http.cookies[settings.CSRF_COOKIE_NAME],
        },
        allow_redirects=False,
        timeout=RECEIVE_TIMEOUT,
    )


def create_task(server, address: str, key: str) -> requests.Response:
    return client_at(address).post(
        f"{server.url}/api/tasks/",
        json={**TASK, "code": "7.5"},
        headers={"Authorization": f"Token {key}"},
        timeout=RECEIVE_TIMEOUT,
    )


@pytest.fixture
def engineer(make_user):
    user = make_user(None, username="engineer")
    # The server hashes with its default hasher, not the fast one of the test settings.
    user.password = make_password(PASSWORD, hasher=PBKDF2PasswordHasher())
    user.save(update_fields=["password"])
    return user


async def test_slow_anonymous_uploads_from_one_address_hold_its_share_and_logins_go_on(
    server_factory, engineer, token
):
    server = server_factory(
        "uvicorn",
        HTTP_BODY_BUFFER_MAX_BYTES=str(4 * SHARE),  # four such uploads filled it
        HTTP_BODY_TIMEOUT_SECONDS="600",
        METRICS_TOKEN=METRICS_TOKEN,
    )
    uploads: list[socket.socket] = []
    sending: list[asyncio.Future] = []
    try:
        for _ in range(4):
            held_before = await asyncio.to_thread(bytes_held, server)
            raw = start_slow_upload(server.port, SHARE)
            uploads.append(raw)
            sending.append(
                asyncio.ensure_future(asyncio.to_thread(send_all_but_the_last_byte, raw, SHARE))
            )

            async def settled(raw: socket.socket = raw, before: float = held_before) -> bool:
                if answered(raw):
                    return True
                return await asyncio.to_thread(bytes_held, server) >= before + SHARE - 1

            await until(settled)
        held = await asyncio.to_thread(bytes_held, server)
        outcomes = [answered(raw) for raw in uploads]
        elsewhere = await asyncio.to_thread(log_in, server, ELSEWHERE, engineer.username)
        same_address = await asyncio.to_thread(log_in, server, ATTACKER, engineer.username)
        logged_in_there = await asyncio.to_thread(create_task, server, ATTACKER, token.key)
        refusals = [await asyncio.to_thread(reply_to_refused, raw) for raw in uploads[1:]]
    finally:
        for raw in uploads:
            raw.close()
        await asyncio.gather(*sending)

    assert outcomes == [False, True, True, True]  # the first one held, the others refused
    assert held == SHARE - 1
    assert all(reply.startswith(b"HTTP/1.1 503 ") for reply in refusals)
    assert elsewhere.status_code == 302, elsewhere.text[:200]  # logged in
    # An anonymous client at the same address waits for it (the address is all it is known by);
    # a logged-in one there is known by its login, and writes.
    assert same_address.status_code == 503
    assert logged_in_there.status_code == 201, logged_in_there.text

    async def nothing_held() -> bool:
        return await asyncio.to_thread(bytes_held, server) == 0

    await until(nothing_held)


# The thread pool's adapter, driven in this process: what it sends uvicorn for a response.


@login_not_required
def streamed(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(iter([b"one,", b"", b"two"]), content_type="text/plain")


urlpatterns = [path("streamed", streamed), path("healthz", healthz)]


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
