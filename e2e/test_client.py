"""static/realtime/websocket.js in the browser, against a scripted server.

Playwright stands in for the server (``page.route_web_socket``) and serves a bare page with the
module from ``static/``, so each behaviour of the client (resume, reconnect, heartbeat, 4401)
can be driven frame by frame. The real server is in the other tests.
"""

import datetime
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page, Route, WebSocketRoute, expect

from realtime import protocol

ORIGIN = "http://client.test"
STATIC = Path(settings.BASE_DIR) / "static"
MODULE = "/static/realtime/websocket.js"

# The page records what the client hands it: frames (through on("*") and the DOM events),
# and the connection states.
HARNESS = """<!doctype html>
<html><head><meta charset="utf-8"><title>client</title></head>
<body data-last-event-id="7">
<script type="application/json" id="realtime-config">{config}</script>
<ol id="frames"></ol>
<ol id="events"></ol>
<p id="status"></p>
<script type="module">
  import {{ realtime }} from "{module}";
  const add = (list, text) => {{
    const item = document.createElement("li");
    item.textContent = text;
    document.getElementById(list).append(item);
  }};
  realtime.on("*", (frame) => add("frames", frame.type + (frame.id ? " " + frame.id : "")));
  for (const type of ["task_updated", "resync_required"]) {{
    document.addEventListener("realtime:" + type, (event) =>
      add("events", type + " " + (event.detail.id ?? "")));
  }}
  document.addEventListener("realtime:status", ({{ detail }}) => {{
    document.getElementById("status").textContent = detail.status + " " + detail.attempt;
  }});
</script>
</body></html>
"""


@dataclass
class ScriptedServer:
    """Answers like ``/api/ws`` as far as each test needs; keeps what each connection got."""

    head: int = 7
    answer_pings: bool = True
    # A clock ping's pong tells a server time this far ahead of the client's clock (ms).
    clock_ahead_ms: float = 0
    before_subscribed: list[dict[str, Any]] = field(default_factory=list)
    connections: list[WebSocketRoute] = field(default_factory=list)
    received: list[list[dict[str, Any]]] = field(default_factory=list)

    def accept(self, socket: WebSocketRoute) -> None:
        messages: list[dict[str, Any]] = []
        self.connections.append(socket)
        self.received.append(messages)
        socket.on_message(lambda text: self.answer(socket, messages, json.loads(text)))

    def answer(self, socket: WebSocketRoute, messages: list, message: dict[str, Any]) -> None:
        messages.append(message)
        if message["type"] == "subscribe":
            for frame in self.before_subscribed:
                socket.send(json.dumps(frame))
            subscribed = {"type": "subscribed", "events": message["events"]}
            socket.send(json.dumps(subscribed | {"last_event_id": self.head}))
        elif message["type"] == "ping" and self.answer_pings:
            pong = {**message, "type": "pong"}
            if message.get("clock"):
                pong["server_time"] = message["sent"] + self.clock_ahead_ms
            socket.send(json.dumps(pong))

    def send(self, frame: dict[str, Any], connection: int = -1) -> None:
        self.connections[connection].send(json.dumps(frame))


def task_updated(event_id: int, ts: str = "2026-11-25T10:00:00Z") -> dict[str, Any]:
    return {
        "type": "task_updated",
        "event": "tasks",
        "id": event_id,
        "data": {"id": 3, "code": "1.1", "version": event_id},
        "actor": {"id": 1, "username": "maria"},
        "ts": ts,
    }


@pytest.fixture
def scripted() -> ScriptedServer:
    return ScriptedServer()


@pytest.fixture
def client_page(browser: Browser, scripted: ScriptedServer) -> Iterator[Callable[..., Page]]:
    """``client_page(**config)``: the harness page with that client configuration."""
    contexts = []

    def open_(**config: Any) -> Page:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        html = HARNESS.format(config=json.dumps(config), module=MODULE)

        def serve(route: Route) -> None:
            path = route.request.url.removeprefix(ORIGIN).split("?")[0]
            if path.startswith("/static/"):
                route.fulfill(path=STATIC / path.removeprefix("/static/"))
            elif path == "/harness":
                route.fulfill(body=html, content_type="text/html")
            else:
                route.fulfill(body=f"<h1>{path}</h1>", content_type="text/html")

        page.route(f"{ORIGIN}/**", serve)
        page.route_web_socket(f"ws://client.test{config.get('url', '/api/ws')}", scripted.accept)
        page.goto(f"{ORIGIN}/harness")
        return page

    yield open_
    for context in contexts:
        context.close()


def run(page: Page, code: str) -> Any:
    """Run ``code`` with ``realtime`` (the page's client) and ``module`` in scope."""
    return page.evaluate(
        f"async () => {{ const module = await import('{MODULE}'); const realtime = module.realtime;"
        f" {code} }}"
    )


def test_it_subscribes_from_the_page_event_id_and_hands_frames_to_the_page(client_page, scripted):
    page = client_page()

    run(page, "realtime.subscribe(['tasks']); realtime.connect(); realtime.connect();")
    expect(page.locator("#status")).to_have_text("connected 0")
    scripted.send(task_updated(8))
    scripted.send(task_updated(8))  # a replay of an event already applied
    scripted.send(task_updated(9))

    expect(page.locator("#frames li")).to_have_text(
        ["subscribed", "task_updated 8", "task_updated 9"]
    )
    expect(page.locator("#events li")).to_have_text(["task_updated 8", "task_updated 9"])
    assert len(scripted.connections) == 1  # connect() twice: one socket
    assert scripted.received == [[{"type": "subscribe", "events": ["tasks"], "last_event_id": 7}]]
    assert run(page, "return realtime.lastEventId;") == 9
    assert "WebSocket connected" in [message.text for message in page.console_messages()]


def test_later_subscriptions_resume_from_the_last_event_and_unsubscribe_is_sent(
    client_page, scripted
):
    page = client_page()
    run(page, "realtime.subscribe(['tasks']); realtime.connect();")
    expect(page.locator("#status")).to_have_text("connected 0")
    scripted.send(task_updated(12))
    expect(page.locator("#events li")).to_have_text(["task_updated 12"])

    run(page, "realtime.subscribe(['tasks', 'daily_works']); realtime.unsubscribe(['tasks']);")

    expect(page.locator("#frames li")).to_have_count(3)  # the second subscribed
    assert scripted.received[0][1:] == [
        {"type": "subscribe", "events": ["daily_works"], "last_event_id": 12},
        {"type": "unsubscribe", "events": ["tasks"]},
    ]


def test_off_removes_a_handler(client_page, scripted):
    page = client_page()
    run(
        page,
        "window.seen = []; window.handler = (frame) => seen.push(frame.id);"
        "realtime.on('task_updated', handler); realtime.subscribe(['tasks']); realtime.connect();",
    )
    expect(page.locator("#status")).to_have_text("connected 0")
    scripted.send(task_updated(8))
    expect(page.locator("#events li")).to_have_count(1)

    run(page, "realtime.off('task_updated', window.handler);")
    scripted.send(task_updated(9))

    expect(page.locator("#events li")).to_have_count(2)
    assert page.evaluate("window.seen") == [8]


def test_after_a_drop_it_reconnects_and_resubscribes_from_the_last_event(client_page, scripted):
    page = client_page(reconnectDelay=20, reconnectDelayMax=100)
    run(page, "realtime.subscribe(['tasks', 'monthly_tasks']); realtime.connect();")
    expect(page.locator("#status")).to_have_text("connected 0")
    scripted.send(task_updated(8))
    expect(page.locator("#events li")).to_have_count(1)

    scripted.connections[0].close(code=1011, reason="server restart")

    expect(page.locator("#frames li")).to_have_text(["subscribed", "task_updated 8", "subscribed"])
    expect(page.locator("#status")).to_have_text("connected 0")
    assert scripted.received[1] == [
        {"type": "subscribe", "events": ["tasks", "monthly_tasks"], "last_event_id": 8}
    ]
    console = [message.text for message in page.console_messages()]
    assert console.count("WebSocket connected") == 2
    assert "WebSocket disconnected" in console


def test_each_failed_attempt_is_counted_in_the_status(client_page, scripted):
    page = client_page(reconnectDelay=20, reconnectDelayMax=100)
    refusals = 3

    def accept(socket: WebSocketRoute) -> None:
        nonlocal refusals
        if refusals:
            refusals -= 1
            socket.connect_to_server()  # nothing answers at client.test: the attempt fails
        else:
            scripted.accept(socket)

    page.route_web_socket("ws://client.test/api/ws", accept)
    run(
        page,
        "window.states = [];"
        "document.addEventListener('realtime:status', ({detail}) =>"
        " states.push(detail.status + ' ' + detail.attempt));"
        "realtime.subscribe(['tasks']); realtime.connect();",
    )

    expect(page.locator("#status")).to_have_text("connected 0")
    states = page.evaluate("window.states")
    changes = [state for index, state in enumerate(states) if states[index - 1 : index] != [state]]
    assert changes == [
        "connecting 0",
        "reconnecting 1",
        "reconnecting 2",
        "reconnecting 3",
        "connected 0",
    ]


@pytest.mark.parametrize(
    ("attempt", "lowest", "highest"),
    [(1, 500, 1000), (2, 1000, 2000), (3, 2000, 4000), (5, 4000, 8000), (9, 4000, 8000)],
)
def test_the_backoff_doubles_up_to_its_cap_with_jitter(client_page, attempt, lowest, highest):
    page = client_page()
    options = "{reconnectDelay: 1000, reconnectDelayMax: 8000}"

    delays = run(
        page,
        f"return [0, 0.5, 0.999999].map((r) => module.backoffDelay({attempt}, {options}, r));",
    )

    assert delays[0] == lowest
    assert lowest < delays[1] < highest
    assert delays[2] == pytest.approx(highest, abs=0.01)


def test_a_connection_silent_after_a_ping_is_replaced(client_page, scripted):
    scripted.answer_pings = False
    page = client_page(heartbeatInterval=50, heartbeatTimeout=100, reconnectDelay=20)
    run(page, "realtime.subscribe(['tasks']); realtime.connect();")

    expect(page.locator("#frames li")).to_have_text(["subscribed", "subscribed"])
    assert {"type": "ping"} in scripted.received[0]
    assert "WebSocket disconnected" in [message.text for message in page.console_messages()]


def test_pongs_keep_the_connection(client_page, scripted):
    page = client_page(heartbeatInterval=50, heartbeatTimeout=5000, reconnectDelay=20)
    run(page, "realtime.subscribe(['tasks']); realtime.connect();")

    # Several heartbeats come and go on the one connection.
    expect(page.locator("#frames li").nth(5)).to_be_attached()
    assert len(scripted.connections) == 1
    assert set(page.locator("#frames li").all_text_contents()[1:6]) == {"pong"}


def test_close_code_4401_goes_to_the_login_page(client_page, scripted):
    page = client_page(loginUrl="/accounts/login/", reconnectDelay=20)
    run(page, "realtime.subscribe(['tasks']); realtime.connect();")
    expect(page.locator("#status")).to_have_text("connected 0")

    scripted.connections[0].close(code=4401, reason="not logged in")

    expect(page).to_have_url(f"{ORIGIN}/accounts/login/?next=%2Fharness")
    assert len(scripted.connections) == 1


def test_resync_required_reaches_the_page(client_page, scripted):
    scripted.before_subscribed = [{"type": "resync_required", "events": ["tasks"]}]
    page = client_page()

    run(page, "realtime.subscribe(['tasks']); realtime.connect();")

    expect(page.locator("#events li")).to_have_text(["resync_required"])
    expect(page.locator("#frames li")).to_have_text(["resync_required", "subscribed"])


@pytest.mark.parametrize(
    "wake",
    [
        "window.dispatchEvent(new Event('online'))",
        "document.dispatchEvent(new Event('visibilitychange'))",
    ],
    ids=["online", "visible"],
)
def test_back_online_or_visible_it_reconnects_at_once(client_page, scripted, wake):
    page = client_page(reconnectDelay=600_000, reconnectDelayMax=600_000)  # 10 minutes
    run(page, "realtime.subscribe(['tasks']); realtime.connect();")
    expect(page.locator("#status")).to_have_text("connected 0")
    scripted.connections[0].close(code=1001, reason="going away")
    expect(page.locator("#status")).to_have_text("reconnecting 1")

    page.evaluate(wake)

    expect(page.locator("#status")).to_have_text("connected 0")
    assert len(scripted.connections) == 2


def test_the_browser_going_offline_shows_in_the_status(client_page, scripted):
    page = client_page()
    run(page, "realtime.subscribe(['tasks']); realtime.connect();")
    expect(page.locator("#status")).to_have_text("connected 0")

    page.context.set_offline(True)
    expect(page.locator("#status")).to_have_text("offline 0")
    page.context.set_offline(False)

    expect(page.locator("#status")).to_have_text("connected 0")


# Change-to-screen lag.


def server_ts(seconds_ago: float, clock_ahead_ms: float) -> str:
    """An event's ``ts`` on a server clock ``clock_ahead_ms`` ahead of this machine's."""
    at = time.time() + clock_ahead_ms / 1000 - seconds_ago
    return datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat().replace("+00:00", "Z")


def lag_reports(page: Page, scripted: ScriptedServer, count: int) -> list[dict[str, Any]]:
    """The first ``count`` lag messages of the first connection, once they have come (the
    client sends them on a timer; polled, with a deadline against a hang)."""
    deadline = time.monotonic() + 15
    while len(reports := [m for m in scripted.received[0] if m["type"] == "lag"]) < count:
        assert time.monotonic() < deadline, reports
        page.wait_for_timeout(20)
    return reports


def test_a_live_events_lag_is_reported_on_the_servers_clock_and_a_replays_is_not(
    client_page, scripted
):
    scripted.clock_ahead_ms = 3_600_000  # the server's clock is an hour ahead
    scripted.before_subscribed = [task_updated(8, server_ts(100, scripted.clock_ahead_ms))]
    page = client_page(lagSampleRate=1, lagReportInterval=50)
    run(page, "realtime.subscribe(['tasks']); realtime.connect();")
    expect(page.locator("#frames li")).to_have_text(["task_updated 8", "subscribed"])

    sent = time.monotonic()
    scripted.send(task_updated(9, server_ts(300, scripted.clock_ahead_ms)))

    [report] = lag_reports(page, scripted, 1)
    # 300 s after the commit on the server's clock, plus the time it took to reach the page
    # (uncorrected it would be 0, clamped); the replayed event's 100 s are its absence, not a
    # lag. The offset's error is at most half a ping's round trip on this machine: under 1 s.
    assert list(report) == ["type", "samples"]
    [lag] = report["samples"]
    assert lag["id"] == 9  # the live event's, not the replayed one's
    assert 299 < lag["seconds"] < 301 + (time.monotonic() - sent)
    assert {"type": "ping", "clock": True, "sent": scripted.received[0][1]["sent"]} in (
        scripted.received[0]
    )


def test_a_lag_runs_until_the_pages_handler_has_applied_the_frame(client_page, scripted):
    page = client_page(lagSampleRate=1, lagReportInterval=50)
    run(
        page,
        "window.release = null;"
        "document.addEventListener('realtime:task_updated', (event) =>"
        " event.waitUntil(new Promise((resolve) => { window.release = resolve; })));"
        "realtime.subscribe(['tasks']); realtime.connect();",
    )
    expect(page.locator("#status")).to_have_text("connected 0")
    scripted.send(task_updated(9, server_ts(0, 0)))
    page.wait_for_function("() => window.release !== null")
    page.wait_for_timeout(1000)  # the page is still applying the frame: the lag grows

    page.evaluate("window.release()")

    [report] = lag_reports(page, scripted, 1)
    assert report["samples"][0]["seconds"] >= 1.0


def test_the_clock_offset_is_the_one_of_the_shortest_recent_round_trip(client_page):
    page = client_page()

    offsets = run(
        page,
        "const clock = new module.ClockOffset(); const seen = [clock.offset];"
        "clock.add(1000, 1100, 5050); seen.push(clock.offset);"  # rtt 100: 5050 - 1050
        "clock.add(2000, 2010, 6000); seen.push(clock.offset);"  # rtt 10: 6000 - 2005
        "clock.add(3000, 2990, 0); seen.push(clock.offset);"  # received before sent: ignored
        "for (let i = 0; i < 8; i++) clock.add(4000, 4050, 8000);"  # rtt 50 pushes both out
        "seen.push(clock.offset); clock.reset(); seen.push(clock.offset); return seen;",
    )

    assert offsets == [None, 4000, 3995, 3995, 3975, None]


def test_lags_are_clamped_at_zero_bounded_and_kept_as_a_sample_of_at_most_100(client_page):
    page = client_page()

    lags, kept = run(
        page,
        "const lags = new module.LagSamples(1, () => 0.5);"
        "lags.add(1, 10000, 6500); lags.add(2, 10000, 5000); lags.add(3, 0, 700000);"
        "const first = lags.take(4000);"
        "for (let i = 0; i < 250; i++) lags.add(10 + i, 0, i);"
        "return [first, lags.size];",
    )

    # 6500 + 4000 - 10000 ms; a negative lag (clock error) is 0; over 600 s is no lag.
    assert lags == [{"id": 1, "seconds": 0.5}, {"id": 2, "seconds": 0}]
    assert kept == 100


def test_the_page_samples_the_events_the_server_samples(client_page):
    page = client_page()

    sampled = run(
        page,
        "return [0, 0.1, 1].map((rate) =>"
        " [1, 2, 17, 1000, 2 ** 31, 2 ** 40 + 5].map((id) => module.lagSampled(id, rate)));",
    )

    assert sampled == [
        [protocol.lag_sampled(event_id, rate) for event_id in [1, 2, 17, 1000, 2**31, 2**40 + 5]]
        for rate in [0, 0.1, 1]
    ]
