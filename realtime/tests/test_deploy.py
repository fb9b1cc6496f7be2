"""docs/deploy.md for real: two server processes sharing a redis-server and the test database
(PostgreSQL in CI's second run), and nginx with ``deploy/nginx.conf`` in front of them over TLS.

Each pair of processes is uvicorn + uvicorn (production) and uvicorn + daphne (both servers in
one deployment), started with docs/deploy.md's options. The processes poll the log once an hour
here, so every live delivery came through Redis, and every resume was read from the database by
whichever process served it. Without nginx the proxy tests are skipped (failed in CI).
"""

import asyncio
import datetime
import gzip
import hashlib
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from websockets.exceptions import ConnectionClosed

from realtime.tests.conftest import STARTUP_TIMEOUT, Server, stop_process
from schedule.roles import PLANNERS
from scheduler_project.tests.subprocesses import skip_unless_available

pytestmark = pytest.mark.django_db(transaction=True)

PAIRS = [("uvicorn", "uvicorn"), ("uvicorn", "daphne")]
# docs/deploy.md's options on top of SERVER_COMMANDS' (the address comes from the test).
DEPLOY_OPTIONS = {
    "uvicorn": [
        "--ws-max-size",
        "1048576",
        "--proxy-headers",
        "--forwarded-allow-ips",
        "127.0.0.1",
        "--timeout-keep-alive",
        "75",
        "--timeout-graceful-shutdown",
        "20",
    ],
    "daphne": ["--proxy-headers"],
}
PASSWORD = "a-long-planner-password"
WEBSOCKET_SOURCE = settings.BASE_DIR / "static" / "realtime" / "websocket.js"


@pytest.fixture(scope="module", params=PAIRS, ids="+".join)
def instances(request, server_factory, redis_url) -> Iterator[tuple[Server, Server]]:
    """Two server processes as docs/deploy.md runs them behind a proxy."""
    # BEHIND_TLS_PROXY as docs/deploy.md's environment has it: daphne puts no forwarded scheme
    # on a WebSocket's scope, so its sockets' origin check needs Django's own setting.
    env = {"REDIS_URL": redis_url, "REALTIME_LOG_POLL_SECONDS": "3600", "BEHIND_TLS_PROXY": "1"}
    a, b = (server_factory(kind, *DEPLOY_OPTIONS[kind], **env) for kind in request.param)
    yield a, b
    for server in (a, b):
        stop_process(server.process)  # the factory checks their logs at the end of the module


def task_data(code: str) -> dict[str, Any]:
    return {
        "code": code,
        "name": f"Работа {code}",
        "unit": "м³",
        "volume_plan": "50",
        "start_date": "2026-11-01",
        "end_date": "2026-11-30",
    }


async def create_task(rest, server: Server, key: str, code: str) -> dict[str, Any]:
    response = await rest(server, "POST", "/api/tasks/", key, task_data(code))
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.asyncio
async def test_a_client_resumes_on_either_instance_with_exactly_what_it_missed(
    instances, ws_connect, token, rest, log_frames
):
    a, b = instances
    async with ws_connect(a, token=token.key) as client:
        await client.subscribe(["tasks"])
        await create_task(rest, a, token.key, "1.1")
        seen = await client.receive_json()

    for writer, code in [(b, "1.2"), (b, "1.3"), (a, "1.4")]:
        await create_task(rest, writer, token.key, code)
    missed = await log_frames(after=seen["id"])
    assert [frame["data"]["code"] for frame in missed] == ["1.2", "1.3", "1.4"]

    for server in (b, a):
        async with ws_connect(server, token=token.key) as client:
            assert await client.subscribe(["tasks"], last_event_id=seen["id"]) == [
                *missed,
                {"type": "subscribed", "events": ["tasks"], "last_event_id": missed[-1]["id"]},
            ]
            assert await client.frames_before_pong() == []


@pytest.mark.asyncio
async def test_a_write_through_either_instance_reaches_the_subscribers_of_both(
    instances, ws_connect, token, rest, log_frames
):
    a, b = instances
    async with ws_connect(a, token=token.key) as on_a, ws_connect(b, token=token.key) as on_b:
        await on_a.subscribe(["tasks"])
        await on_b.subscribe(["tasks"])

        for writer, code in [(b, "2.1"), (a, "2.2")]:
            created = await create_task(rest, writer, token.key, code)
            frame = await on_a.receive_json()
            assert frame["data"] == created
            assert await on_b.receive_json() == frame

        assert [frame["data"]["code"] for frame in await log_frames()] == ["2.1", "2.2"]
        assert await on_a.frames_before_pong() == []
        assert await on_b.frames_before_pong() == []


def test_each_instance_serves_pages_and_static_files(instances):
    """Static files come from whitenoise in Django's middleware, under either server (here from
    the finders, as with DEBUG on; with DEBUG off from collectstatic's output)."""
    for server in instances:
        script = requests.get(f"{server.url}/static/realtime/websocket.js", timeout=30)
        assert script.status_code == 200
        assert "javascript" in script.headers["Content-Type"]
        assert script.content == WEBSOCKET_SOURCE.read_bytes()
        login = requests.get(f"{server.url}/accounts/login/", timeout=30)
        assert login.status_code == 200
        assert 'name="csrfmiddlewaretoken"' in login.text


# nginx: deploy/nginx.conf with only the addresses, ports and file paths changed.


@pytest.fixture(scope="module")
def nginx_executable() -> str:
    executable = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if executable is None:
        skip_unless_available("nginx is not installed (Debian: apt-get install nginx)")
    return executable


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate_path, key_path


def collected_static_files(directory: Path) -> Path:
    """``realtime/websocket.js`` laid out as collectstatic's manifest storage leaves it: the
    file and a copy with its content hash in the name, each with a ``.gz`` beside it."""
    content = WEBSOCKET_SOURCE.read_bytes()
    hashed = f"websocket.{hashlib.md5(content).hexdigest()[:12]}.js"
    (directory / "realtime").mkdir(parents=True)
    for name in ["websocket.js", hashed]:
        (directory / "realtime" / name).write_bytes(content)
        (directory / "realtime" / f"{name}.gz").write_bytes(gzip.compress(content))
    return directory


def nginx_config(replacements: dict[str, str]) -> str:
    """deploy/nginx.conf with each key replaced; every key must occur in it."""
    config = (settings.BASE_DIR / "deploy" / "nginx.conf").read_text()
    for old, new in replacements.items():
        assert old in config, f"deploy/nginx.conf no longer contains {old!r}"
        config = config.replace(old, new)
    return config


@dataclass
class Proxy(Server):
    """nginx: HTTPS on ``port``, the redirect to it on ``http_port``."""

    http_port: int = 0

    def problems(self) -> list[str]:
        """The error log's error, crit and emerg lines. (Alerts include the refused setrlimit of
        ``worker_rlimit_nofile`` in a container.)"""
        levels = ["[error]", "[crit]", "[emerg]"]
        lines = self.log().splitlines()
        return [line for line in lines if any(level in line for level in levels)]


def start_nginx(executable: str, directory: Path, upstreams: tuple[Server, Server]) -> Proxy:
    """nginx on free ports in front of ``upstreams``; started again if it exits at once."""
    certificate, key = self_signed_certificate(directory)
    static = collected_static_files(directory / "staticfiles")
    error_log = directory / "error.log"
    temp_paths = "".join(
        f"\n    {kind}_temp_path {directory / kind};"
        for kind in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    )
    for _attempt in range(5):
        # The listening sockets are bound here and handed to nginx (``NGINX=fd;fd;``, how nginx
        # inherits them): a request waits in their backlog until nginx serves it.
        listeners = [listening_socket() for _ in range(2)]
        http_port, https_port = (listener.getsockname()[1] for listener in listeners)
        config = directory / "nginx.conf"
        config.write_text(
            nginx_config(
                {
                    # Workers run as this user; a master that is not root ignores the directive.
                    "user www-data;": f"user {pwd.getpwuid(os.geteuid()).pw_name};",
                    "pid /run/nginx.pid;": f"pid {directory / 'nginx.pid'};",
                    "error_log /var/log/nginx/error.log;": f"error_log {error_log};",
                    "/var/log/nginx/schedule.access.log": str(directory / "access.log"),
                    "http {": f"http {{{temp_paths}",
                    "server 127.0.0.1:8001;": f"server 127.0.0.1:{upstreams[0].port};",
                    "server 127.0.0.1:8002;": f"server 127.0.0.1:{upstreams[1].port};",
                    "listen 80;": f"listen 127.0.0.1:{http_port};",
                    "listen 443 ssl": f"listen 127.0.0.1:{https_port} ssl",
                    "server_name schedule.example.com;": "server_name 127.0.0.1;",
                    "/etc/letsencrypt/live/schedule.example.com/fullchain.pem": str(certificate),
                    "/etc/letsencrypt/live/schedule.example.com/privkey.pem": str(key),
                    "/srv/schedule/staticfiles/": f"{static}/",
                    # The variant the file documents for a port other than 443.
                    "proxy_set_header Host $host;": "proxy_set_header Host $host:$server_port;",
                }
            )
        )
        command = [executable, "-p", f"{directory}/", "-c", str(config), "-e", str(error_log)]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        inherited = "".join(f"{listener.fileno()};" for listener in listeners)
        with (directory / "nginx.out").open("wb") as output:
            process = subprocess.Popen(
                [*command, "-g", "daemon off;"],
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, "NGINX": inherited},
                pass_fds=[listener.fileno() for listener in listeners],
            )
        for listener in listeners:
            listener.close()  # nginx holds them now: they close if it exits
        proxy = Proxy(
            process=process,
            port=https_port,
            log_path=error_log,
            kind="nginx",
            ca_file=certificate,
            http_port=http_port,
        )
        try:
            if nginx_answers(proxy):
                return proxy
        except BaseException:
            stop_process(process)
            raise
        stop_process(process)
    raise RuntimeError(f"nginx did not start:\n{error_log.read_text()}")


def nginx_answers(proxy: Proxy) -> bool:
    """Whether nginx answers over TLS with the test's certificate: the request waits in the
    inherited socket's backlog until nginx serves it; False if nginx exits instead."""
    try:
        requests.get(
            f"{proxy.url}/static/realtime/websocket.js",
            verify=str(proxy.ca_file),
            timeout=STARTUP_TIMEOUT,
        )
        return True
    except requests.ConnectionError:
        if proxy.process.poll() is None:
            raise RuntimeError(f"nginx did not answer:\n{proxy.log()}") from None
        return False


def listening_socket() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.set_inheritable(True)
    return listener


@pytest.fixture(scope="module")
def proxy(instances, nginx_executable, tmp_path_factory) -> Iterator[Proxy]:
    """nginx with deploy/nginx.conf over TLS in front of both instances."""
    proxy = start_nginx(nginx_executable, tmp_path_factory.mktemp("nginx"), instances)
    yield proxy
    stop_process(proxy.process)
    assert proxy.problems() == []


@pytest.fixture
def planner_login(make_user):
    """A planner with a password the server processes can check (their default hashers)."""
    user = make_user(PLANNERS)
    user.password = make_password(PASSWORD, hasher=PBKDF2PasswordHasher())
    user.save(update_fields=["password"])
    return user


def browser_login(proxy: Proxy, username: str) -> requests.Session:
    """Log in through the login form as a browser does, with its ``Origin`` header."""
    http = requests.Session()
    http.get(f"{proxy.url}/accounts/login/", verify=str(proxy.ca_file), timeout=30)
    response = http.post(
        f"{proxy.url}/accounts/login/",
        data={
            "username": username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": http.cookies["csrftoken"],
        },
        headers={"Origin": proxy.url},
        allow_redirects=False,
        verify=str(proxy.ca_file),
        timeout=30,
    )
    assert response.status_code == 302, response.text
    return http


@pytest.mark.asyncio
async def test_behind_the_proxy_django_sees_the_scheme_and_host_the_browser_used(
    proxy, planner_login, token, rest, ws_connect
):
    """The login form's CSRF check compares the browser's Origin with the scheme and host
    Django sees; the API's links are built from them."""
    http = await asyncio.to_thread(browser_login, proxy, planner_login.username)
    page = await asyncio.to_thread(http.get, f"{proxy.url}/", verify=str(proxy.ca_file), timeout=30)
    assert page.status_code == 200
    assert planner_login.username in page.text

    for code in ["3.1", "3.2"]:
        await create_task(rest, proxy, token.key, code)
    listing = await rest(proxy, "GET", "/api/tasks/?limit=1", token.key)
    assert listing.json()["next"] == f"{proxy.url}/api/tasks/?limit=1&offset=1"

    newest = int(listing.headers["X-Last-Event-Id"])
    async with ws_connect(proxy, cookie=f"sessionid={http.cookies['sessionid']}") as client:
        assert await client.subscribe(["tasks"]) == [
            {"type": "subscribed", "events": ["tasks"], "last_event_id": newest}
        ]

    plain = requests.get(
        f"http://127.0.0.1:{proxy.http_port}/api/tasks/", allow_redirects=False, timeout=30
    )
    assert (plain.status_code, plain.headers["Location"]) == (301, "https://127.0.0.1/api/tasks/")


def test_the_proxy_serves_static_files_from_collectstatics_output(proxy):
    content = WEBSOCKET_SOURCE.read_bytes()
    hashed = f"realtime/websocket.{hashlib.md5(content).hexdigest()[:12]}.js"
    plain = requests.get(
        f"{proxy.url}/static/realtime/websocket.js", verify=str(proxy.ca_file), timeout=30
    )
    assert plain.content == content
    assert plain.headers["Cache-Control"] == "no-cache"
    assert "javascript" in plain.headers["Content-Type"]
    cached = requests.get(
        f"{proxy.url}/static/{hashed}",
        headers={"Accept-Encoding": "gzip"},
        verify=str(proxy.ca_file),
        timeout=30,
    )
    assert cached.content == content
    assert cached.headers["Content-Encoding"] == "gzip"
    assert cached.headers["Cache-Control"] == "public, max-age=31536000, immutable"


@pytest.mark.asyncio
async def test_through_the_proxy_either_instance_serves_a_resume(
    instances, proxy, ws_connect, token, rest, log_frames
):
    async with ws_connect(proxy, token=token.key) as client:
        await client.subscribe(["tasks"])
        await create_task(rest, proxy, token.key, "4.1")
        seen = await client.receive_json()

    for code in ["4.2", "4.3", "4.4"]:
        await create_task(rest, proxy, token.key, code)
    missed = await log_frames(after=seen["id"])
    assert [frame["data"]["code"] for frame in missed] == ["4.2", "4.3", "4.4"]

    handshakes = [server.handshakes() for server in instances]
    async with (
        ws_connect(proxy, token=token.key) as first,
        ws_connect(proxy, token=token.key) as second,
    ):
        # least_conn: the second socket goes to the process that does not hold the first.
        served = [
            server.handshakes() - before
            for server, before in zip(instances, handshakes, strict=True)
        ]
        assert served == [1, 1]
        for client in (first, second):
            assert await client.subscribe(["tasks"], last_event_id=seen["id"]) == [
                *missed,
                {"type": "subscribed", "events": ["tasks"], "last_event_id": missed[-1]["id"]},
            ]

        live = await create_task(rest, proxy, token.key, "4.5")
        for client in (first, second):
            frame = await client.receive_json()
            assert frame["data"] == live
            assert await client.frames_before_pong() == []


@pytest.mark.asyncio
async def test_a_rolling_restart_behind_the_proxy_loses_nothing(
    server_factory,
    redis_url,
    nginx_executable,
    tmp_path_factory,
    ws_connect,
    token,
    rest,
    log_frames,
):
    """The process holding the client's socket stops (uvicorn closes it with 1012), writes go on
    through the proxy (which skips the stopped process), and the client comes back through the
    proxy to the other process and resumes."""
    # BEHIND_TLS_PROXY as docs/deploy.md's environment has it: daphne puts no forwarded scheme
    # on a WebSocket's scope, so its sockets' origin check needs Django's own setting.
    env = {"REDIS_URL": redis_url, "REALTIME_LOG_POLL_SECONDS": "3600", "BEHIND_TLS_PROXY": "1"}
    instances = [server_factory("uvicorn", *DEPLOY_OPTIONS["uvicorn"], **env) for _ in range(2)]
    proxy = start_nginx(nginx_executable, tmp_path_factory.mktemp("nginx"), tuple(instances))
    try:
        handshakes = [server.handshakes() for server in instances]
        async with ws_connect(proxy, token=token.key) as client:
            await client.subscribe(["tasks"])
            await create_task(rest, proxy, token.key, "5.1")
            seen = await client.receive_json()
            (serving,) = [
                server
                for server, before in zip(instances, handshakes, strict=True)
                if server.handshakes() > before
            ]
            stop_process(serving.process)
            with pytest.raises(ConnectionClosed) as closed:
                await client.receive_json()
            assert closed.value.rcvd.code == 1012  # service restart: the client reconnects

        for code in ["5.2", "5.3"]:
            await create_task(rest, proxy, token.key, code)
        missed = await log_frames(after=seen["id"])
        assert [frame["data"]["code"] for frame in missed] == ["5.2", "5.3"]
        async with ws_connect(proxy, token=token.key) as client:
            assert await client.subscribe(["tasks"], last_event_id=seen["id"]) == [
                *missed,
                {"type": "subscribed", "events": ["tasks"], "last_event_id": missed[-1]["id"]},
            ]
    finally:
        stop_process(proxy.process)
        for server in instances:
            stop_process(server.process)
