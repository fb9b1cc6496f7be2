"""The browser client and the server's refusals: it honours ``retry_after`` (4503), keeps trying
with its backoff when the user has too many connections (4409), and resumes at once after being
dropped as a slow consumer (4408).

The first test runs against a real daphne that takes one socket; the others script the server
(``e2e/test_client.py``'s harness).
"""

# The scripted server's fixtures (client_page, scripted) are imported from the harness and named
# as test arguments: that is F811 to ruff.
# ruff: noqa: F811

import json
import re

import pytest
from playwright.sync_api import Browser, WebSocketRoute, expect
from rest_framework.authtoken.models import Token
from websockets.sync.client import connect

from e2e.conftest import ONE_SLOT_SETTINGS, live_status, log_in, screenshot
from e2e.test_client import client_page, run, scripted, task_updated  # noqa: F401
from realtime import protocol
from schedule.roles import VIEWERS

RETRY_AFTER_MS = int(ONE_SLOT_SETTINGS["REALTIME_RETRY_AFTER_SECONDS"]) * 1000

# Recorded from before the page's scripts run: each `realtime:status` event and each WebSocket
# the page opens (an attempt), with the page's clock; and the `subscribed` frames (a refused
# socket opens too, so only these say that a socket was accepted).
RECORDER = """
window.e2eStatuses = [];
window.e2eAttempts = [];
window.e2eSubscribed = 0;
document.addEventListener("realtime:status", ({ detail }) => {
  e2eStatuses.push({ status: detail.status, attempt: detail.attempt, at: performance.now() });
});
document.addEventListener("realtime:subscribed", () => {
  e2eSubscribed += 1;
});
window.WebSocket = class extends window.WebSocket {
  constructor(...args) {
    e2eAttempts.push(performance.now());
    super(...args);
  }
};
"""


def test_a_page_turned_away_by_a_full_server_comes_back_after_retry_after(
    browser: Browser, one_slot_server, make_user
):
    server = one_slot_server
    holder_user = make_user(VIEWERS, username="script")
    token = Token.objects.create(user=holder_user)
    user = make_user(VIEWERS, username="ivan")
    with connect(
        server.url.replace("http", "ws") + protocol.WEBSOCKET_PATH,
        origin=server.url,
        additional_headers={"Authorization": f"Token {token.key}"},
    ) as holder:
        holder.send(json.dumps({"type": "ping"}))
        assert json.loads(holder.recv(timeout=30)) == {"type": "pong"}  # it holds the one slot

        context = browser.new_context(base_url=server.url, locale="en-US")
        context.add_init_script(RECORDER)
        log_in(context, user, server)
        page = context.new_page()
        page.goto("/")

        badge = live_status(page)
        expect(badge).to_have_attribute("data-state", "busy")
        # Which attempt it shows depends on how long the page took to load (one every
        # retry_after); the numbering itself is checked on the recorded statuses below.
        expect(badge).to_have_text(re.compile(r"^Server busy; reconnecting \(attempt \d+\)…$"))
        screenshot(page, "schedule-server-busy")
    # The slot is free: the page's next attempt gets it.

    page.wait_for_function("() => window.e2eSubscribed === 1")
    expect(badge).to_have_text("Connected")
    statuses = page.evaluate("window.e2eStatuses")
    attempts = page.evaluate("window.e2eAttempts")
    refusals = [status for status in statuses if status["status"] == "busy"]
    assert refusals[0]["attempt"] == 1
    assert len(attempts) == len(refusals) + 1
    # Each attempt after a refusal came retry_after or later (the protocol's promise).
    for refusal, attempt in zip(refusals, attempts[1:], strict=True):
        assert attempt - refusal["at"] >= RETRY_AFTER_MS
    assert statuses[-1]["status"] == "connected"
    assert page.page_errors() == []
    context.close()


def refuse(socket: WebSocketRoute, code: str, close_code: int, **fields) -> None:
    """Answer as the server does when it refuses a socket: an error frame, then the close."""
    frame = {"type": "error", "code": code, "message": protocol.ERROR_MESSAGES[code], **fields}
    socket.send(json.dumps(frame))
    socket.close(code=close_code, reason=code)


def record_statuses(page) -> None:
    run(
        page,
        "window.states = [];"
        "document.addEventListener('realtime:status', ({detail}) =>"
        " states.push(detail.status + ' ' + detail.attempt));",
    )


def test_too_many_connections_shows_in_the_status_and_attempts_go_on_with_the_backoff(
    client_page, scripted
):
    page = client_page(reconnectDelay=20, reconnectDelayMax=100)
    refusals = 3

    def accept(socket: WebSocketRoute) -> None:
        nonlocal refusals
        if refusals:
            refusals -= 1
            refuse(socket, protocol.TOO_MANY_CONNECTIONS, protocol.CLOSE_TOO_MANY_CONNECTIONS)
        else:
            scripted.accept(socket)

    page.route_web_socket("ws://client.test/api/ws", accept)
    record_statuses(page)
    run(page, "realtime.subscribe(['tasks']); realtime.connect();")

    # (A refused socket opens, so "connected 0" alone does not say that one was accepted.)
    expect(page.locator("#frames li")).to_have_text(["error", "error", "error", "subscribed"])
    # Each refused socket opened (connected 0) and was closed at once; the attempts count up.
    assert page.evaluate("window.states") == [
        "connecting 0",
        "connected 0",
        "limited 1",
        "connected 0",
        "limited 2",
        "connected 0",
        "limited 3",
        "connected 0",
    ]
    assert scripted.received == [[{"type": "subscribe", "events": ["tasks"], "last_event_id": 7}]]


def test_a_slow_consumer_reconnects_at_once_and_resumes(client_page, scripted):
    page = client_page(reconnectDelay=600_000, reconnectDelayMax=600_000)  # 10 minutes
    run(page, "realtime.subscribe(['tasks']); realtime.connect();")
    expect(page.locator("#status")).to_have_text("connected 0")
    scripted.send(task_updated(8))
    expect(page.locator("#events li")).to_have_text(["task_updated 8"])

    refuse(scripted.connections[0], protocol.SLOW_CONSUMER, protocol.CLOSE_SLOW_CONSUMER)

    expect(page.locator("#frames li")).to_have_text(
        ["subscribed", "task_updated 8", "error", "subscribed"]
    )
    assert scripted.received[1] == [{"type": "subscribe", "events": ["tasks"], "last_event_id": 8}]


def test_coming_back_online_does_not_cut_short_the_wait_the_server_asked_for(client_page, scripted):
    page = client_page(reconnectDelay=20, reconnectDelayMax=100)
    run(page, "realtime.subscribe(['tasks']); realtime.connect();")
    expect(page.locator("#status")).to_have_text("connected 0")

    refuse(
        scripted.connections[0],
        protocol.SERVER_BUSY,
        protocol.CLOSE_SERVER_BUSY,
        retry_after=600,  # 10 minutes
    )
    expect(page.locator("#status")).to_have_text("busy 1")

    # wake() runs in the event's dispatch: a socket it opened would exist right after.
    assert run(page, "window.dispatchEvent(new Event('online')); return realtime.socket;") is None
    assert len(scripted.connections) == 1


@pytest.mark.parametrize(
    ("retry_after", "random", "delay"),
    [(5, 0, 5000), (5, 0.5, 6250), (5, 0.999999, 7500), (0.5, 0, 500), (0, 0.7, 0)],
)
def test_the_wait_after_retry_after_is_at_least_the_hint_and_spread_by_jitter(
    client_page, retry_after, random, delay
):
    page = client_page()

    assert run(page, f"return module.retryAfterDelay({retry_after}, {random});") == (
        pytest.approx(delay, abs=0.01)
    )
