"""A live table's fetches of its rows when the server does not answer them: an answer that will
not change (403, 404) is asked for once and the page says what is wrong; a failing or unreachable
server is asked again with the backoff (later and later, up to a cap), and the rows come right
once it answers.

The failing server is the network as Playwright's ``page.route`` answers it; the page, its
socket and the change it hears of are real.
"""

import re

import pytest
from playwright.sync_api import Page, Route, expect

from e2e.conftest import CLIENT_SETTINGS, FORBIDDEN, notices, wait_until_subscribed
from schedule.roles import PLANNERS, VIEWERS
from schedule.services import task_update
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)

BACKOFF_BASE_MS = int(CLIENT_SETTINGS["REALTIME_CLIENT_RECONNECT_DELAY_MS"])
BACKOFF_CAP_MS = int(CLIENT_SETTINGS["REALTIME_CLIENT_RECONNECT_DELAY_MAX_MS"])

# Recorded in the page: the row fetches it makes, the table's `live:retry` and `live:stopped`
# events, and (on <html>, for expect) how many task changes it heard of.
RECORDER = """
window.e2eFetches = [];
window.e2eRetries = [];
window.e2eStops = [];
const originalFetch = window.fetch;
window.fetch = (resource, init) => {
  if (String(resource).includes("fragment=rows")) e2eFetches.push(String(resource));
  return originalFetch(resource, init);
};
document.addEventListener("live:retry", ({ detail }) => e2eRetries.push(detail));
document.addEventListener("live:stopped", ({ detail }) => e2eStops.push(detail.status));
let heard = 0;
document.addEventListener("realtime:task_updated", () => {
  heard += 1;
  document.documentElement.dataset.e2eHeard = String(heard);
});
"""

FORBIDDEN_RU = (
    "У вас больше нет доступа к этой странице, и она не обновляется. "
    "Перезагрузите её или войдите снова."
)


def is_fragment(url: str) -> bool:
    return "fragment=rows" in url


def record(page: Page) -> None:
    page.evaluate(f"() => {{ {RECORDER} }}")


@pytest.mark.parametrize(
    ("status", "locale", "message"),
    [
        (403, "en-US", FORBIDDEN),
        (404, "en-US", "This page can no longer be kept up to date (HTTP 404). Reload it."),
        (403, "ru-RU", FORBIDDEN_RU),
    ],
)
def test_an_answer_that_will_not_change_is_asked_for_once_and_the_page_says_why(
    open_page, make_user, status, locale, message
):
    task = TaskFactory(code="1.1", name="Excavation")
    maria = make_user(PLANNERS, username="maria")
    watcher = open_page(make_user(VIEWERS, username="ivan"), "/", locale=locale)
    answered: list[str] = []

    def refuse(route: Route) -> None:
        answered.append(route.request.url)
        route.fulfill(status=status, body="")

    watcher.route(is_fragment, refuse)
    record(watcher)
    watcher.clock.install()

    task = task_update(
        task=task, data={"name": "Excavation by hand"}, version=task.version, actor=maria
    )

    problem = watcher.locator("[data-live-problem]")
    expect(problem).to_have_text(message)
    expect(problem).to_have_class(re.compile(r"\balert--error\b"))
    # Any retry waiting would be due by now; a later change asks for nothing either.
    watcher.clock.fast_forward("01:00:00")
    task_update(
        task=task, data={"name": "Excavation by machine"}, version=task.version, actor=maria
    )
    expect(watcher.locator("html")).to_have_attribute("data-e2e-heard", "2")

    assert len(answered) == 1
    assert len(watcher.evaluate("window.e2eFetches")) == 1
    assert watcher.evaluate("window.e2eRetries") == []
    assert watcher.evaluate("window.e2eStops") == [status]
    expect(watcher.locator(f"#task-{task.pk} .task-name")).to_have_text("Excavation")
    expect(problem).to_have_text(message)


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        ("server error", "The server failed to send the latest changes (HTTP 500); trying again"),
        ("no network", "The server cannot be reached for the latest changes; trying again"),
    ],
)
def test_a_failing_server_is_asked_again_later_and_later_until_the_row_comes_right(
    open_page, make_user, failure, message
):
    task = TaskFactory(code="1.1", name="Excavation")
    maria = make_user(PLANNERS, username="maria")
    watcher = open_page(make_user(VIEWERS, username="ivan"), "/")
    failing = True
    answered: list[bool] = []  # for each request: whether it failed

    def answer(route: Route) -> None:
        answered.append(failing)
        if not failing:
            route.continue_()
        elif failure == "server error":
            route.fulfill(status=500, body="")
        else:
            route.abort("connectionrefused")

    watcher.route(is_fragment, answer)
    record(watcher)

    task_update(task=task, data={"name": "Excavation by hand"}, version=task.version, actor=maria)

    problem = watcher.locator("[data-live-problem]")
    expect(problem).to_contain_text(message)
    expect(problem).to_have_text(re.compile(r"\(attempt ([3-9]|\d\d+)\)"))
    failing = False

    expect(watcher.locator(f"#task-{task.pk} .task-name")).to_have_text("Excavation by hand")
    expect(problem).to_have_count(0)
    expect(notices(watcher)).to_have_text(["maria: changed task 1.1 “Excavation by hand”"])
    retries = watcher.evaluate("window.e2eRetries")
    # One request per try, each try after the one before failed: no more requests than tries.
    assert answered == [True] * len(retries) + [False]
    assert len(watcher.evaluate("window.e2eFetches")) == len(retries) + 1
    assert [retry["attempt"] for retry in retries] == list(range(1, len(retries) + 1))
    assert {retry["status"] for retry in retries} == {500 if failure == "server error" else 0}
    # The waits double up to the cap, each spread by jitter to 50–100 %.
    for retry in retries:
        longest = min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (retry["attempt"] - 1))
        assert longest / 2 <= retry["delay"] <= longest
    assert watcher.evaluate("window.e2eStops") == []


def test_a_page_whose_stream_the_user_loses_stops_and_says_why(open_page, make_user):
    task = TaskFactory(code="1.1", name="Excavation")
    maria = make_user(PLANNERS, username="maria")
    ivan = make_user(VIEWERS, username="ivan")
    watcher = open_page(ivan, "/")
    record(watcher)
    wait_until_subscribed(watcher)
    watcher.evaluate(
        """() => {
             const lost = new Set();
             document.addEventListener("realtime:error", ({ detail }) => {
               (detail.events ?? []).forEach((stream) => lost.add(stream));
               document.documentElement.dataset.e2eForbidden = [...lost].sort().join(",");
             });
           }"""
    )

    ivan.groups.clear()
    task_update(task=task, data={"name": "Excavation by hand"}, version=task.version, actor=maria)

    # The schedule follows the streams that move a forecast too (docs/realtime.md).
    expect(watcher.locator("html")).to_have_attribute(
        "data-e2e-forbidden", "calendar_days,daily_works,tasks"
    )
    problem = watcher.locator("[data-live-problem]")
    expect(problem).to_have_text(FORBIDDEN)
    expect(watcher.locator(f"#task-{task.pk} .task-name")).to_have_text("Excavation")
    assert watcher.evaluate("window.e2eFetches") == []
    assert watcher.evaluate("window.e2eStops") == [403]
    # The client forgets the stream: a reconnect does not ask for it (and fail) again.
    streams = watcher.evaluate(
        """async () => [...(await import("/static/realtime/websocket.js")).realtime.streams]"""
    )
    assert streams == []


def test_a_page_reconnecting_after_its_user_lost_the_permission_stops_and_says_why(
    open_page, make_user
):
    """A phone whose socket dropped comes back after the permission went: its subscribe is
    refused, and the page says so instead of showing "connected" over data it cannot keep."""
    task = TaskFactory(code="1.1", name="Excavation")
    ivan = make_user(VIEWERS, username="ivan")
    watcher = open_page(ivan, "/")
    wait_until_subscribed(watcher)

    ivan.groups.clear()
    watcher.evaluate("() => window.e2eRealtime.drop(window.e2eRealtime.socket)")

    expect(watcher.locator("[data-live-problem]")).to_have_text(FORBIDDEN)
    expect(watcher.locator(f"#task-{task.pk} .task-name")).to_have_text("Excavation")
