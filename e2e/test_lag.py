"""Change-to-screen lag, measured where users see it: an open page reports how long a change took
from its commit to being on the page, and ``/metrics`` counts it in
``realtime_change_to_screen_seconds``."""

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from prometheus_client.parser import text_string_to_metric_families

from e2e.conftest import STARTUP_TIMEOUT, Server
from realtime.models import Event
from schedule.roles import VIEWERS
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "e2e-scrape-secret"
# Every live event measured, and reported a fifth of a second after it is on the page.
LAG_SETTINGS = {
    "REALTIME_LAG_SAMPLE_RATE": "1",
    "REALTIME_CLIENT_LAG_REPORT_INTERVAL_MS": "200",
    "METRICS_TOKEN": TOKEN,
}
COUNT = "realtime_change_to_screen_seconds_count"


@pytest.fixture
def server(transactional_db, tmp_path) -> Iterator[Server]:
    """The ``open_page`` fixture's daphne, with ``LAG_SETTINGS``."""
    server = Server(log_path=tmp_path / "daphne.log", env=LAG_SETTINGS)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def lag_count(page: Page) -> float:
    response = page.request.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.ok, response.text()
    for family in text_string_to_metric_families(response.text()):
        for sample in family.samples:
            if sample.name == COUNT:
                return sample.value
    return 0.0


def wait_for_lag_count(page: Page, wanted: float) -> None:
    """Poll ``/metrics`` until it has counted ``wanted`` lags: the report reaches the server a
    moment after the change is on the page, and nothing announces its arrival."""
    deadline = time.monotonic() + STARTUP_TIMEOUT  # a guard against a hang, not a wait
    while (count := lag_count(page)) < wanted:
        assert time.monotonic() < deadline, f"{count} lags counted, {wanted} expected"
        page.wait_for_timeout(50)


def test_a_change_made_while_a_page_is_open_shows_up_in_the_change_to_screen_histogram(
    open_page, make_user
):
    page = open_page(make_user(VIEWERS, username="ivan"), "/")
    before = lag_count(page)
    events_before = Event.objects.count()

    TaskFactory(code="3.1", name="Roofing")  # another process: daphne reads it from the log

    expect(page.locator("tr[data-task-id]", has_text="Roofing")).to_be_visible()
    wait_for_lag_count(page, before + 1)
    assert lag_count(page) == before + Event.objects.count() - events_before == before + 1
