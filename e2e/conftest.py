"""Browser tests: the system Chromium, driven by Playwright, against a real daphne process.

They run as a pytest invocation of their own (``pytest e2e``): Playwright's sync API keeps an
event loop running in this process, so the ORM calls the tests make need
``DJANGO_ALLOW_ASYNC_UNSAFE``, which must not hide async-safety bugs in the main suite.

pytest-django's ``live_server`` is WSGI and has no WebSocket, so each test gets a daphne process
of its own (a fresh one: the test database is flushed between tests, and the admin caches
content type ids). It opens the SQLite test database by its file name (root ``conftest.py``).
"""

import os

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from scheduler_project.tests.subprocesses import skip_unless_available, subprocess_env

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(settings.BASE_DIR) / "artifacts" / "e2e"
STARTUP_TIMEOUT = 60  # seconds; a guard against a server that never comes up, not a wait

# Short client delays, so that a reconnect after a server restart takes a fraction of a second.
CLIENT_SETTINGS = {
    "REALTIME_CLIENT_RECONNECT_DELAY_MS": "100",
    "REALTIME_CLIENT_RECONNECT_DELAY_MAX_MS": "500",
    "REALTIME_CLIENT_HEARTBEAT_INTERVAL_MS": "2000",
    "REALTIME_CLIENT_HEARTBEAT_TIMEOUT_MS": "4000",
    "REALTIME_LOG_POLL_SECONDS": "0.1",
    # A page answered slowly by a loaded machine is still the server's answer, never the service
    # worker's kept copy (static/pwa/sw.js); offline, the copy answers at once anyway.
    "OFFLINE_NETWORK_TIMEOUT_MS": "120000",
}

# Auto-waiting assertions: generous on a loaded 2-core machine; they return as soon as they hold.
expect.set_options(timeout=15_000)


# The browser.


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = shutil.which(CHROMIUM)
    if executable is None:
        reason = f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)"
        skip_unless_available(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a screenshot of the whole page as ``artifacts/e2e/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


# The server.


@dataclass
class Server:
    """A daphne process serving ``scheduler_project.asgi`` on a port that stays the same across
    ``stop()`` and ``start()``; ``env``: settings on top of ``CLIENT_SETTINGS``."""

    log_path: Path
    port: int = 0
    process: subprocess.Popen | None = None
    starts: int = 0
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # The listening socket is bound here and handed over: the port is known before daphne
        # runs, and requests made meanwhile wait in the backlog.
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self.starts += 1
        with listener, self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "daphne",
                    "--fd",
                    str(listener.fileno()),
                    "scheduler_project.asgi:application",
                ],
                cwd=settings.BASE_DIR,
                env=subprocess_env(**(CLIENT_SETTINGS | self.env)),
                pass_fds=[listener.fileno()],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_until_serving()

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/accounts/login/", timeout=5):
                    return
            except urllib.error.HTTPError:
                return  # any HTTP answer means it serves
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"daphne did not answer:\n{self.log()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop daphne as Ctrl+C does; kill it if it lingers (with a browser connected it now
        and then does not exit for many seconds)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def server(transactional_db, tmp_path) -> Iterator[Server]:
    """A daphne process of this test's own, stopped before the database is flushed."""
    server = Server(log_path=tmp_path / "daphne.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


# A server that takes one socket and asks the others to come back in two seconds.
ONE_SLOT_SETTINGS = {"REALTIME_MAX_CONNECTIONS": "1", "REALTIME_RETRY_AFTER_SECONDS": "2"}


@pytest.fixture
def one_slot_server(transactional_db, tmp_path) -> Iterator[Server]:
    """A daphne process of this test's own that admits one socket at a time
    (``ONE_SLOT_SETTINGS``); the others get ``server_busy`` with ``retry_after``."""
    server = Server(log_path=tmp_path / "daphne.log", env=ONE_SLOT_SETTINGS)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run_orm(code: str) -> str:
    """Run Python code in ``manage.py shell`` in another process, against the test database."""
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=settings.BASE_DIR,
        env=subprocess_env(**CLIENT_SETTINGS),
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


# Pages.


def log_in(context: BrowserContext, user: AbstractUser, server: "Server") -> None:
    """Give the browser context a session of ``user`` on ``server`` (no login form)."""
    client = Client()
    client.force_login(user)
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session_key, "url": server.url}]
    )


@pytest.fixture
def open_page(browser: Browser, server: Server) -> Iterator[Callable[..., Page]]:
    """``open_page(user, path, locale="en-US")``: a page in a new browser context logged in as
    ``user``; a live page is returned once it is connected. An uncaught error in any page fails
    the test."""
    contexts: list[BrowserContext] = []
    pages: list[Page] = []

    def open_(user: AbstractUser, path: str, *, locale: str = "en-US") -> Page:
        context = browser.new_context(
            base_url=server.url, locale=locale, viewport={"width": 1280, "height": 800}
        )
        contexts.append(context)
        log_in(context, user, server)
        page = context.new_page()
        accept_plausibility_questions(page)
        pages.append(page)
        page.goto(path)
        if page.locator("[data-live-page], [data-live-watch]").count():
            expect(live_status(page)).to_have_attribute("data-state", "connected")
        return page

    yield open_
    errors = [str(error) for page in pages if not page.is_closed() for error in page.page_errors()]
    for context in contexts:
        context.close()
    assert errors == []


PLAUSIBILITY_QUESTIONS = ("Save anyway?", "Всё равно сохранить?")
"""How the daily page ends its question before sending a report that looks wrong."""


def accept_plausibility_questions(page: Page) -> None:
    """Answer the daily page's "Save anyway?" with yes, as the tests' reports are made up; a
    test of the question itself sets ``page.answers_questions_itself``. Other dialogs (a
    deletion's confirmation) are left to the test's own handler."""

    def answer(dialog) -> None:
        if getattr(page, "answers_questions_itself", False):
            return
        if any(question in dialog.message for question in PLAUSIBILITY_QUESTIONS):
            dialog.accept()

    page.on("dialog", answer)


def wait_until_subscribed(page: Page) -> None:
    """The page's subscribe answered: "connected" is shown as soon as the socket opens."""
    page.evaluate(
        """async () => {
             window.e2eRealtime = (await import("/static/realtime/websocket.js")).realtime;
           }"""
    )
    page.wait_for_function("() => window.e2eRealtime.subscribing === 0")


FORBIDDEN = (
    "You may no longer view this page, so it is not kept up to date. Reload it or sign in again."
)
"""What a live page says once the user may no longer view its streams."""


def live_status(page: Page):
    return page.locator("[data-live-status]")


@pytest.fixture(autouse=True)
def _no_channel_layer_here(settings) -> None:
    """This process is no server: its writes reach daphne through the event log (its hub's log
    poll), as any other process's do. Without a layer, ``publish`` rings no bell here."""
    settings.CHANNEL_LAYERS = {}


def notices(page: Page):
    """The texts of the live notices in the page's corner."""
    return page.locator("[data-live-notices] .live-notice p")


def mark_document(page: Page) -> None:
    """Mark the loaded document; ``assert_not_reloaded`` proves later that it is the same one."""
    page.evaluate("document.documentElement.dataset.e2eMark = 'still here'")


def assert_not_reloaded(page: Page) -> None:
    expect(page.locator("html")).to_have_attribute("data-e2e-mark", "still here")
