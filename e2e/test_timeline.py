"""The schedule's timeline, live: planned bars, progress, the forecast beyond the end, today."""

import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Page, Route, expect

from daily.tests.factories import DailyWorkFactory
from demo.data import demo_seed
from e2e.conftest import (
    FORBIDDEN,
    assert_not_reloaded,
    mark_document,
    notices,
    screenshot,
    wait_until_subscribed,
)
from schedule.roles import FOREMEN, PLANNERS, VIEWERS
from schedule.services import task_update
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)


def svg_number(locator, name: str) -> float:
    return float(locator.get_attribute(name))


def bar_end(row) -> float:
    bar = row.locator("rect.timeline-bar")
    return svg_number(bar, "x") + svg_number(bar, "width")


def overrun(row):
    return row.locator("rect.timeline-bar__overrun")


def test_the_timeline_shows_a_late_forecast_beyond_the_end_and_follows_a_report(
    open_page, make_user
):
    today = timezone.localdate()
    late = TaskFactory(
        code="4.1",
        name="Basement walls",
        volume_plan=Decimal(100),
        start_date=today - datetime.timedelta(days=14),
        end_date=today + datetime.timedelta(days=21),
    )
    DailyWorkFactory(task=late, date=today - datetime.timedelta(days=3), volume=Decimal(1))
    TaskFactory(
        code="5.1",
        name="Masonry",
        start_date=today - datetime.timedelta(days=30),
        end_date=today + datetime.timedelta(days=60),
    )
    planner: Page = open_page(make_user(PLANNERS, username="olga"), "/?view=timeline")
    mark_document(planner)
    row = planner.locator(f"#timeline-task-{late.pk}")

    expect(planner.get_by_role("link", name="Timeline")).to_have_attribute("aria-current", "page")
    expect(row).to_have_class(re.compile(r"\bis-late\b"))
    expect(row.locator(".late-marker")).to_have_text("▲ Late")
    expect(overrun(row)).to_have_count(1)
    assert svg_number(overrun(row), "x") == pytest.approx(bar_end(row), abs=0.1)
    assert svg_number(overrun(row), "width") > 0
    expect(overrun(row).locator("title")).to_have_text(re.compile(r"^Forecast finish: "))
    expect(row.locator("line.timeline-today")).to_have_count(1)
    expect(row.locator("rect.timeline-bar__done")).to_have_attribute("width", re.compile(r"."))
    done_before = svg_number(row.locator("rect.timeline-bar__done"), "width")
    # A folded section stays folded through live updates.
    planner.locator("details[data-section='5'] > summary").click()
    expect(planner.locator("details[data-section='5']")).not_to_have_attribute("open", "")
    screenshot(planner, "timeline-late")

    foreman = open_page(make_user(FOREMEN, username="petr"), "/daily/")
    foreman.get_by_label("Task").select_option(label="4.1 Basement walls")
    foreman.get_by_label("Volume").fill("98")  # 99 done at 49.5 a day: on time
    foreman.get_by_role("button", name="Add", exact=True).click()

    expect(overrun(row)).to_have_count(0)
    expect(row).not_to_have_class(re.compile(r"\bis-late\b"))
    assert svg_number(row.locator("rect.timeline-bar__done"), "width") > done_before
    expect(notices(planner)).to_have_text([f"petr: 98 m³ of 4.1 on {today:%m/%d}"])
    expect(planner.locator("details[data-section='5']")).not_to_have_attribute("open", "")
    expect(planner.locator("details[data-section='4']")).to_have_attribute("open", "")
    assert_not_reloaded(planner)


def test_the_timeline_and_the_forecast_column_of_the_demo_site(open_page):
    """Screenshots of both views with the demo data: a laptop and a phone."""
    demo_seed()
    viewer = get_user_model().objects.get(username="viewer")

    schedule = open_page(viewer, "/")
    expect(schedule.locator("tr.is-late").first).to_be_visible()
    screenshot(schedule, "schedule-forecast")
    timeline = open_page(viewer, "/?view=timeline")
    expect(timeline.locator(".timeline-task.is-late .timeline-bar__overrun").first).to_be_attached()
    screenshot(timeline, "timeline")
    timeline.set_viewport_size({"width": 390, "height": 844})
    timeline.reload()  # on a narrow screen the timeline opens with today in view
    expect(timeline.locator(".timeline")).not_to_have_js_property("scrollLeft", 0)
    screenshot(timeline, "timeline-phone")
    schedule.set_viewport_size({"width": 390, "height": 844})
    schedule.locator("tr.is-late").first.scroll_into_view_if_needed()
    path = screenshot(schedule, "schedule-forecast")
    schedule.screenshot(path=path.with_name("schedule-forecast-phone.png"))  # the viewport
    russian = open_page(viewer, "/?view=timeline", locale="ru-RU")
    expect(russian.get_by_role("link", name="Диаграмма")).to_have_attribute("aria-current", "page")
    screenshot(russian, "ru-timeline")


def test_a_failing_server_is_asked_again_later_until_the_timeline_comes_right(open_page, make_user):
    """The live views' one fetch policy: a 500 is asked again with backoff, said above the
    timeline; the bar comes right once the server answers."""
    task = TaskFactory(code="1.1", name="Excavation")
    maria = make_user(PLANNERS, username="maria")
    watcher = open_page(make_user(VIEWERS, username="ivan"), "/?view=timeline")
    failing = True
    answered: list[bool] = []

    def answer(route: Route) -> None:
        answered.append(failing)
        if failing:
            route.fulfill(status=500, body="")
        else:
            route.continue_()

    watcher.route(lambda url: "fragment=timeline" in url, answer)
    task_update(task=task, data={"name": "Excavation by hand"}, version=task.version, actor=maria)

    problem = watcher.locator("[data-live-problem]")
    expect(problem).to_have_text(re.compile(r"HTTP 500.*\(attempt ([2-9]|\d\d+)\)"))
    failing = False

    expect(watcher.locator(f"#timeline-task-{task.pk}")).to_contain_text("Excavation by hand")
    expect(problem).to_have_count(0)
    assert answered[-1] is False and all(answered[:-1])


def test_the_timeline_of_a_user_who_lost_the_permission_stops_and_says_why(open_page, make_user):
    task = TaskFactory(code="1.1", name="Excavation")
    maria = make_user(PLANNERS, username="maria")
    ivan = make_user(VIEWERS, username="ivan")
    watcher = open_page(ivan, "/?view=timeline")
    wait_until_subscribed(watcher)
    fetched: list[str] = []
    watcher.on("request", lambda request: fetched.append(request.url))

    ivan.groups.clear()
    watcher.evaluate("() => window.e2eRealtime.drop(window.e2eRealtime.socket)")

    expect(watcher.locator("[data-live-problem]")).to_have_text(FORBIDDEN)
    task_update(task=task, data={"name": "Excavation by hand"}, version=task.version, actor=maria)
    expect(watcher.locator(f"#timeline-task-{task.pk}")).to_contain_text("Excavation")
    assert not [url for url in fetched if "fragment=timeline" in url]
