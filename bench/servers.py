"""The servers the benchmark measures: the project under uvicorn or daphne (one process, or two
sharing a throwaway redis-server), the naive per-socket fan-out on the project's stack
(``bench/baselines/socket_fanout.py``) and the two FastAPI baselines under uvicorn (plain
``sqlite3``, and the seed's design with SQLAlchemy); each on a fresh database, on 127.0.0.1 only.

Every server gets a listening socket bound here and handed over with ``--fd``, so no other
process can take its port between choosing and listening.
"""

import contextlib
import ctypes
import importlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 60.0
USERNAME = "bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1

# The project's environment: production settings (DEBUG off), plain HTTP on loopback, one user
# holding every client's connection.
PROJECT_ENV = {
    "DJANGO_SETTINGS_MODULE": "scheduler_project.settings",
    "DEBUG": "0",
    "SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "127.0.0.1",
    "SECURE_SSL_REDIRECT": "0",
    "SESSION_COOKIE_SECURE": "0",
    "CSRF_COOKIE_SECURE": "0",
    "SECURE_HSTS_SECONDS": "0",
    "LOG_LEVEL": "WARNING",
    "REALTIME_MAX_CONNECTIONS_PER_USER": "0",
    "PYTHONUNBUFFERED": "1",
}
# Variables of the caller's environment that would change what is measured. Other settings
# (REALTIME_SEND_BACKLOG=...) pass through, for experiments; the results record them.
DROPPED_ENV = {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
PASSED_SETTINGS = ("REALTIME_", "DB_")


def passed_settings() -> dict[str, str]:
    """Project settings taken from the caller's environment."""
    return {
        key: value
        for key, value in os.environ.items()
        if key.startswith(PASSED_SETTINGS) and key not in DROPPED_ENV and key not in PROJECT_ENV
    }


UVICORN = ["uvicorn", "--lifespan", "off", "--no-access-log", "--log-level", "warning"]
NO_DEFLATE = ["--ws-per-message-deflate", "false"]
# The project's WebSocket protocol for uvicorn (frames encoded once per process).
PROJECT_WS = ["--ws", "realtime.server:WebSocketProtocol"]
# daphne as ``make run`` starts it, without the access log (uvicorn runs without one too).
DAPHNE = ["daphne", "-v", "0"]
# The ASGI applications of the "project" variants: the project's own, and the naive fan-out.
PROJECT_APPLICATION = "scheduler_project.asgi:application"
SOCKET_FANOUT_APPLICATION = "bench.baselines.socket_fanout:application"
# The baselines' modules, by ``Variant.app``: each has ``app``, ``database_init`` and
# ``token_create`` and reads its database's path from ``BASELINE_DATABASE``.
BASELINE_MODULES = {
    "baseline": "bench.baselines.fastapi_app",
    "sqlalchemy": "bench.baselines.fastapi_sqlalchemy_app",
}


@dataclass(frozen=True)
class Variant:
    """How one measured server is started."""

    name: str
    app: str  # "project" (the project's database and settings) or a key of BASELINE_MODULES
    server: str  # "uvicorn" or "daphne"
    description: str
    application: str = PROJECT_APPLICATION
    deflate: bool = False
    processes: int = 1  # more than one: a channel layer on a throwaway redis-server


VARIANTS = {
    variant.name: variant
    for variant in [
        Variant("uvicorn", "project", "uvicorn", "project, uvicorn, process-local fan-out"),
        Variant("daphne", "project", "daphne", "project, daphne, process-local fan-out"),
        Variant(
            "daphne-socket",
            "project",
            "daphne",
            "project's stack, daphne, naive per-socket fan-out",
            application=SOCKET_FANOUT_APPLICATION,
        ),
        Variant(
            "uvicorn-socket",
            "project",
            "uvicorn",
            "project's stack, uvicorn, naive per-socket fan-out",
            application=SOCKET_FANOUT_APPLICATION,
        ),
        Variant(
            "uvicorn-redis-2",
            "project",
            "uvicorn",
            "project, two uvicorn processes, channels-redis",
            processes=2,
        ),
        Variant(
            "fastapi",
            "baseline",
            "uvicorn",
            "FastAPI baseline, uvicorn defaults (deflate on)",
            deflate=True,
        ),
        Variant(
            "fastapi-nodeflate",
            "baseline",
            "uvicorn",
            "FastAPI baseline, deflate off",
        ),
        Variant(
            "fastapi-sqlalchemy",
            "sqlalchemy",
            "uvicorn",
            "the seed's design: FastAPI + SQLAlchemy session per request, deflate on",
            deflate=True,
        ),
        Variant(
            "fastapi-sqlalchemy-nodeflate",
            "sqlalchemy",
            "uvicorn",
            "the seed's design: FastAPI + SQLAlchemy session per request, deflate off",
        ),
    ]
}


def base_env(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in DROPPED_ENV}
    env.update(PROJECT_ENV)
    env.update(overrides)
    return env


def run_checked(command: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(command, cwd=BASE_DIR, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


# Databases.
@dataclass(frozen=True)
class Template:
    """A migrated database with the benchmark's user, copied for every server start."""

    path: Path
    token: str


CREATE_TOKEN = f"""
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
user = get_user_model().objects.create_superuser({USERNAME!r}, password=None)
print(Token.objects.create(user=user).key)
"""


def project_template(directory: Path) -> Template:
    """``manage.py migrate`` on a new SQLite file, then a superuser with a DRF token."""
    path = directory / "project-template.sqlite3"
    env = base_env(DATABASE_URL=f"sqlite:///{path}")
    run_checked([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], env)
    output = run_checked(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", CREATE_TOKEN], env
    )
    return Template(path=path, token=output.strip().splitlines()[-1])


def baseline_template(directory: Path, app: str = "baseline") -> Template:
    """The baseline ``app``'s schema and a user with a token, made by its own module."""
    module = importlib.import_module(BASELINE_MODULES[app])
    path = directory / f"{app}-template.sqlite3"
    module.database_init(str(path))
    return Template(path=path, token=module.token_create(str(path), USERNAME))


def database_copy(template: Path, target: Path) -> None:
    """A fresh database: the template's content, copied through SQLite (WAL-safe)."""
    with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(target)) as copy:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=WAL")


# Processes.
def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def proc_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def die_with_parent() -> None:
    """In the child before exec: SIGTERM when the runner dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def listening_socket(*, nodelay: bool = False) -> socket.socket:
    """A loopback listener; with ``nodelay``, TCP_NODELAY, which accepted sockets inherit on
    Linux."""
    listener = socket.socket()
    if nodelay:
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    return listener


@dataclass
class ServerProcess:
    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/ws"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    command: list[str], app: str, env: dict[str, str], log_path: Path, token: str
) -> ServerProcess:
    # uvicorn takes an ``--fd`` socket for a Unix one and leaves Nagle's algorithm on (a 40 ms
    # stall when it writes twice in a row), where it turns it off on a port it binds itself.
    nodelay = command[0] == "uvicorn"
    with closing(listening_socket(nodelay=nodelay)) as listener, log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", *command, "--fd", str(listener.fileno()), app],
            cwd=BASE_DIR,
            env=env,
            pass_fds=[listener.fileno()],
            preexec_fn=die_with_parent,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        port = listener.getsockname()[1]
    server = ServerProcess(process=process, port=port, log_path=log_path)
    try:
        wait_until_serving(server, token)
    except BaseException:
        stop_process(process)
        raise
    return server


def wait_until_serving(server: ServerProcess, token: str) -> None:
    """Until the task list answers (connections made earlier wait in the socket's backlog)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    request = urllib.request.Request(
        f"{server.url}/api/tasks/", headers={"Authorization": f"Token {token}"}
    )
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{server.log()}")
        try:
            with urllib.request.urlopen(request, timeout=10):
                return
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"the server answered {error.code}:\n{server.log()}") from None
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer:\n{server.log()}") from None
            time.sleep(0.05)


@contextmanager
def redis_server(directory: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """A redis-server of its own on a free loopback port, without persistence."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    for _attempt in range(5):
        with closing(listening_socket()) as probe:
            port = probe.getsockname()[1]
        log = (directory / "redis.log").open("wb")
        process = subprocess.Popen(
            [
                executable,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        log.close()
        if redis_answers(process, port):
            break
        stop_process(process)
    else:
        raise RuntimeError("redis-server did not start")
    try:
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        stop_process(process)


def redis_answers(process: subprocess.Popen, port: int) -> bool:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as probe:
                probe.sendall(b"PING\r\n")
                if probe.recv(64).startswith(b"+PONG"):
                    return True
        except OSError:
            time.sleep(0.02)
    return False


@dataclass
class Deployment:
    """Started servers of one variant: clients spread over ``servers``, writes go to the first;
    ``helpers`` (redis-server) count in the server CPU time but not in its memory."""

    variant: Variant
    servers: list[ServerProcess]
    token: str
    helpers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def writer(self) -> ServerProcess:
        return self.servers[0]

    def cpu_seconds(self) -> float:
        pids = [s.process.pid for s in self.servers] + [h.pid for h in self.helpers]
        return sum(proc_cpu_seconds(pid) for pid in pids)

    def rss_kb(self) -> int:
        return sum(proc_rss_kb(server.process.pid) for server in self.servers)

    def tracebacks(self) -> list[str]:
        """Each server's log from its first traceback on (none expected)."""
        found = []
        for server in self.servers:
            log = server.log()
            if "Traceback" in log:
                found.append(log[log.index("Traceback") :][:4000])
        return found


def server_command(variant: Variant) -> tuple[list[str], str]:
    if variant.app in BASELINE_MODULES:
        options = [] if variant.deflate else NO_DEFLATE
        return [*UVICORN, *options], f"{BASELINE_MODULES[variant.app]}:app"
    if variant.server == "daphne":
        return DAPHNE, variant.application
    return [*UVICORN, *NO_DEFLATE, *PROJECT_WS], variant.application


@contextmanager
def deploy(
    variant: Variant, templates: dict[str, Template], directory: Path, clients: int
) -> Iterator[Deployment]:
    """Start ``variant`` on a fresh copy of its template database; stop it on exit."""
    template = templates[variant.app]
    database = directory / f"{variant.app}.sqlite3"
    database_copy(template.path, database)
    command, app = server_command(variant)
    if variant.app in BASELINE_MODULES:
        env = base_env(BASELINE_DATABASE=str(database))
    else:
        env = base_env(
            DATABASE_URL=f"sqlite:///{database}",
            REALTIME_MAX_CONNECTIONS=str(2 * clients + 100),
        )
    with channel_layer(variant, directory, env) as (env, helpers):
        servers: list[ServerProcess] = []
        try:
            for index in range(variant.processes):
                log_path = directory / f"{variant.name}-{index}.log"
                servers.append(start_server(command, app, env, log_path, template.token))
            yield Deployment(
                variant=variant, servers=servers, token=template.token, helpers=helpers
            )
        finally:
            for server in servers:
                stop_process(server.process)


@contextmanager
def channel_layer(
    variant: Variant, directory: Path, env: dict[str, str]
) -> Iterator[tuple[dict[str, str], list[subprocess.Popen]]]:
    """The environment and helper processes of the variant's channel layer: a redis-server for
    several processes (``REDIS_URL`` pointing at it), else the default in-memory layer."""
    if variant.processes == 1:
        yield env, []
        return
    with redis_server(directory) as (url, process):
        yield env | {"REDIS_URL": url}, [process]


def task_payload() -> bytes:
    return json.dumps(
        {
            "code": "B-1",
            "name": "Разработка грунта в котловане экскаватором",
            "unit": "м³",
            "volume_plan": "0",
            "start_date": "2026-08-17",
            "end_date": "2026-09-20",
        }
    ).encode()
