"""Real parts for the integration tests: daphne, uvicorn and redis-server processes, WebSocket
clients from the ``websockets`` library, and ORM code run in a separate Python process.

Every process started here is stopped by the fixture that started it, also when a test fails.
The subprocesses open the test database by URL: SQLite's has a file name (root ``conftest.py``),
PostgreSQL's is reached by its name on the server ``DATABASE_URL`` points at.
"""

import asyncio
import contextlib
import functools
import itertools
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from channels.db import database_sync_to_async
from django.conf import settings
from websockets.asyncio.client import ClientConnection, connect

from realtime.models import Event
from scheduler_project.tests.subprocesses import skip_unless_available, subprocess_env

STARTUP_TIMEOUT = 60  # seconds; a failure guard, not a synchronisation
RECEIVE_TIMEOUT = 30


def free_port() -> int:
    """A TCP port nobody listens on right now (for servers that cannot adopt a socket)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# The ASGI servers the project runs under, as ``python -m`` arguments before the socket's
# ``--fd``: daphne as ``make run`` serves it; uvicorn as docs/deploy.md runs it in production.
# Channels' ProtocolTypeRouter has no lifespan handler (``--lifespan auto`` logs that it
# "appears unsupported"), and the project needs no start-up hook: lifespan is off.
SERVER_COMMANDS = {
    "daphne": ["daphne"],
    "uvicorn": [
        "uvicorn",
        "--ws",
        "realtime.server:WebSocketProtocol",
        "--ws-per-message-deflate",
        "false",
        "--lifespan",
        "off",
        "--no-access-log",
    ],
}


# What each server logs for a WebSocket handshake, before it answers it.
HANDSHAKE_LOG_LINES = {
    "daphne": '"WSCONNECTING /api/ws"',
    "uvicorn": '"WebSocket /api/ws" [accepted]',
}


@dataclass
class Server:
    """A process serving the project on ``port`` of 127.0.0.1: an ASGI server (``kind``: daphne
    or uvicorn), or a proxy in front of some; over TLS when ``ca_file`` (the certificate that
    clients trust) is given."""

    process: subprocess.Popen
    port: int
    log_path: Path
    kind: str = "daphne"
    ca_file: Path | None = None

    @property
    def url(self) -> str:
        scheme = "http" if self.ca_file is None else "https"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        scheme = "ws" if self.ca_file is None else "wss"
        return f"{scheme}://127.0.0.1:{self.port}/api/ws"

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.ca_file is None:
            return None
        return ssl.create_default_context(cafile=str(self.ca_file))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def handshakes(self) -> int:
        """How many WebSocket handshakes this daphne or uvicorn has logged."""
        return self.log().count(HANDSHAKE_LOG_LINES[self.kind])

    def errors(self, since: int = 0) -> str:
        """The log from its first traceback after ``since`` characters on ("" if none)."""
        log = self.log()[since:]
        start = log.find("Traceback")
        return "" if start < 0 else log[log.rfind("\n", 0, max(start - 1, 0)) + 1 :]


def start_server(
    kind: str,
    log_path: Path,
    *args: str,
    socket_buffer_bytes: int | None = None,
    **env: str,
) -> Server:
    """Start a ``kind`` server (``SERVER_COMMANDS``) on a socket bound here and handed over, so
    no other process can take the port.

    Connections made before the server is up wait in the socket's backlog: the first HTTP answer
    says it serves. ``socket_buffer_bytes`` sets the kernel's send and receive buffers of the
    server's sockets (the accepted ones inherit them from the listening one).
    """
    module, *options = SERVER_COMMANDS[kind]
    listener = socket.socket()
    if socket_buffer_bytes is not None:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, socket_buffer_bytes)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, socket_buffer_bytes)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    port = listener.getsockname()[1]
    command = [sys.executable, "-m", module, "--fd", str(listener.fileno()), *options, *args]
    with listener, log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "scheduler_project.asgi:application"],
            cwd=settings.BASE_DIR,
            env=subprocess_env(**env),
            pass_fds=[listener.fileno()],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process=process, port=port, log_path=log_path, kind=kind)
    try:
        wait_until_serving(server)
    except BaseException:
        stop_process(process)
        raise
    return server


def start_daphne(log_path: Path, *args: str, **env: str) -> Server:
    return start_server("daphne", log_path, *args, **env)


def start_uvicorn(log_path: Path, *args: str, **env: str) -> Server:
    return start_server("uvicorn", log_path, *args, **env)


def wait_until_serving(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.kind} exited with {server.process.returncode}:\n{server.log()}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/api/tasks/", timeout=5):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it serves
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.kind} did not answer:\n{server.log()}") from None
            time.sleep(0.05)


@pytest.fixture(scope="module")
def server_factory(django_db_setup, tmp_path_factory) -> Iterator[Callable[..., Server]]:
    """``server_factory(kind, *args, socket_buffer_bytes=None, **env)`` starts a daphne or
    uvicorn process with extra command-line arguments and environment variables (see
    ``start_server``); all of them stop (SIGTERM) with the module, and none may have logged a
    traceback."""
    servers: list[Server] = []
    counter = itertools.count(1)

    def start(kind: str, *args: str, socket_buffer_bytes: int | None = None, **env: str) -> Server:
        log_path = tmp_path_factory.mktemp(kind) / f"{kind}-{next(counter)}.log"
        server = start_server(kind, log_path, *args, socket_buffer_bytes=socket_buffer_bytes, **env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        stop_process(server.process)
    for server in servers:
        assert server.errors() == ""


@pytest.fixture(scope="module")
def daphne_factory(server_factory) -> Callable[..., Server]:
    """``daphne_factory(*args, **env)``: ``server_factory("daphne", *args, **env)``."""
    return functools.partial(server_factory, "daphne")


@pytest.fixture(scope="module")
def uvicorn_factory(server_factory) -> Callable[..., Server]:
    """``uvicorn_factory(*args, **env)``: ``server_factory("uvicorn", *args, **env)``."""
    return functools.partial(server_factory, "uvicorn")


@pytest.fixture(scope="module")
def daphne(daphne_factory) -> Server:
    """One daphne with the default in-memory layer and a quick log poll."""
    return daphne_factory(REALTIME_LOG_POLL_SECONDS="0.05")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory) -> Iterator[str]:
    """A redis-server of its own on a free port, without persistence."""
    executable = shutil.which("redis-server")
    if executable is None:
        reason = "redis-server is not installed (Debian: apt-get install redis-server)"
        skip_unless_available(reason)
    log_path = tmp_path_factory.mktemp("redis") / "redis.log"
    options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    for _attempt in range(5):
        port = free_port()
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [executable, "--port", str(port), *options],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            if redis_answers(process, port):
                break
        except BaseException:
            stop_process(process)
            raise
        stop_process(process)  # the port was taken in the meantime: another one
    else:
        raise RuntimeError(f"redis-server did not start:\n{log_path.read_text()}")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(process)


def redis_answers(process: subprocess.Popen, port: int) -> bool:
    """Wait until the server answers PING; False if it exits first."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as probe:
                probe.sendall(b"PING\r\n")
                if probe.recv(64).startswith(b"+PONG"):
                    return True
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not answer PING") from None
            time.sleep(0.02)
    return False


class Client:
    """A WebSocket client speaking the ``/api/ws`` protocol."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.nonces = itertools.count(1)

    async def send_json(self, message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def receive_json(self, timeout: float = RECEIVE_TIMEOUT) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def subscribe(self, events: list[str], last_event_id: int | None = None) -> list[dict]:
        """Subscribe; returns every frame up to and including ``subscribed``."""
        message: dict[str, Any] = {"type": "subscribe", "events": events}
        if last_event_id is not None:
            message["last_event_id"] = last_event_id
        await self.send_json(message)
        frames = [await self.receive_json()]
        while frames[-1]["type"] not in {"subscribed", "error"}:
            frames.append(await self.receive_json())
        return frames

    async def frames_before_pong(self) -> list[dict]:
        """Ping and return what arrives before the pong (frames are sent in order)."""
        nonce = next(self.nonces)
        await self.send_json({"type": "ping", "nonce": nonce})
        frames = []
        while (frame := await self.receive_json()) != {"type": "pong", "nonce": nonce}:
            frames.append(frame)
        return frames


@pytest.fixture
def ws_connect() -> Callable[..., Any]:
    """``async with ws_connect(server, token=key) as client:``; ``origin`` defaults to the
    server's own; ``cookie`` sends a session cookie instead."""

    @asynccontextmanager
    async def open_client(
        server: Server,
        *,
        token: str | None = None,
        cookie: str | None = None,
        origin: str | None = None,
    ) -> AsyncIterator[Client]:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Token {token}"
        if cookie is not None:
            headers["Cookie"] = cookie
        async with connect(
            server.ws_url,
            ssl=server.ssl_context(),
            origin=origin or server.url,
            additional_headers=headers,
            open_timeout=STARTUP_TIMEOUT,
            close_timeout=5,
        ) as ws:
            yield Client(ws)

    return open_client


class OrmProcesses:
    """Python processes that set Django up and run code against the test database."""

    def __init__(self) -> None:
        self.processes: list[asyncio.subprocess.Process] = []

    async def start(self, code: str, **env: str) -> asyncio.subprocess.Process:
        """Start ``manage.py shell -c code`` with pipes on stdin and stdout."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "manage.py",
            "shell",
            "--no-imports",
            "-c",
            code,
            cwd=settings.BASE_DIR,
            env=subprocess_env(**env),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self.processes.append(process)
        return process

    async def run(self, code: str, **env: str) -> str:
        """Run ``code`` to the end; returns its output, fails with its stderr."""
        process = await self.start(code, **env)
        return await self.finish(process)

    async def manage(self, *args: str) -> str:
        """Run a management command to the end."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "manage.py",
            *args,
            cwd=settings.BASE_DIR,
            env=subprocess_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self.processes.append(process)
        return await self.finish(process)

    async def finish(
        self, process: asyncio.subprocess.Process, timeout: float = STARTUP_TIMEOUT
    ) -> str:
        """Wait for the end of ``process``; returns its output, fails with its stderr."""
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
        assert process.returncode == 0, stderr.decode()
        return stdout.decode()

    def kill_running(self) -> None:
        """Kill what a failed test left running (an unreaped pid cannot have been reused)."""
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)


@pytest.fixture
def orm() -> Iterator[OrmProcesses]:
    processes = OrmProcesses()
    yield processes
    processes.kill_running()


@pytest.fixture
def rest() -> Callable[..., Awaitable[requests.Response]]:
    """``await rest(server, "POST", "/api/tasks/", key, payload)``: an HTTP request with a
    token, made in a thread so that the event loop keeps reading the sockets."""

    async def request(
        server: Server, method: str, path: str, key: str, payload: Any = None
    ) -> requests.Response:
        return await asyncio.to_thread(
            requests.request,
            method,
            f"{server.url}{path}",
            json=payload,
            headers={"Authorization": f"Token {key}"},
            timeout=RECEIVE_TIMEOUT,
            verify=True if server.ca_file is None else str(server.ca_file),
        )

    return request


def event_data(response: requests.Response) -> dict[str, Any]:
    """A write's answer as its event carries it: the serializer's data, without the answer's
    ``warnings`` (docs/msg.md, "Plausibility"), which are the writer's alone."""
    data = response.json()
    data.pop("warnings", None)
    return data


@pytest.fixture
def log_frames() -> Callable[..., Awaitable[list[dict[str, Any]]]]:
    """``await log_frames(after=N)``: the event log's frames after id N, as a client decodes
    them (the expected side of every comparison)."""

    @database_sync_to_async
    def frames(after: int = 0) -> list[dict[str, Any]]:
        events = Event.objects.filter(id__gt=after).order_by("id")
        return [json.loads(json.dumps(event.to_frame())) for event in events]

    return frames


async def until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``condition`` — state in another process or in Redis, which sends no notice — until
    it holds (the deadline only guards against a hang)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not await condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.02)
