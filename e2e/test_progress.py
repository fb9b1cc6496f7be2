"""The progress page, live: a foreman's report moves the planner's S-curve and tables without a
reload; the Russian interface on the demo site's data, with screenshots for a laptop and a phone.

The server's clock cannot be set from here, so the data is laid around today.
"""

import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Page, expect
from rest_framework.authtoken.models import Token

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
from schedule.models import Task
from schedule.roles import FOREMEN, PLANNERS, VIEWERS
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)

DAY = datetime.timedelta(days=1)

# Functions, not bare expressions: the site's CSP forbids eval.
CHART_SERIES = """() => {
  const chart = Chart.getChart(document.querySelector("[data-progress-chart]"));
  return {
    labels: chart.data.labels,
    planned: chart.data.datasets[0].data,
    actual: chart.data.datasets[1].data,
    today: chart.options.plugins.todayLine.index,
  };
}"""


def chart_series(page: Page) -> dict:
    return page.evaluate(CHART_SERIES)


def summary(page: Page, name: str):
    return page.locator(f'[data-curve-value="{name}"]')


def test_a_foremans_report_moves_the_planners_curve_and_tables_without_a_reload(
    open_page, make_user
):
    today = timezone.localdate()
    task = TaskFactory(
        code="2.1",
        name="Concrete works",
        unit="m³",
        volume_plan=Decimal("100"),
        start_date=today - 20 * DAY,
        end_date=today + 20 * DAY,
    )
    slow = TaskFactory(
        code="2.2",
        name="Reinforcement",
        unit="t",
        volume_plan=Decimal("10"),
        start_date=today - 20 * DAY,
        end_date=today + 20 * DAY,
    )
    foreman = make_user(FOREMEN, username="petr")
    planner = open_page(make_user(PLANNERS, username="olga"), "/progress/")
    mark_document(planner)
    before = chart_series(planner)
    index = before["labels"].index(today.isoformat())
    assert before["today"] == index
    assert before["actual"][index] == 0
    assert before["actual"][index + 1] is None  # nothing is drawn after today
    expect(summary(planner, "actual")).to_have_text("0.0 %")
    row = planner.locator(f"#lag-{task.pk}")
    expect(row.locator(".progress-fact")).to_have_text("0")
    expect(planner.locator(".progress-late-table")).to_have_count(0)

    daily = open_page(foreman, "/daily/")
    daily.get_by_label("Task").select_option(label="2.1 Concrete works")
    daily.get_by_label("Volume").fill("40")
    daily.get_by_role("button", name="Add", exact=True).click()

    # Two tasks of equal weight: 40 % of one is 20 % of the site.
    expect(summary(planner, "actual")).to_have_text("20.0 %")
    after = chart_series(planner)
    assert after["actual"][index] == 20
    assert after["actual"][: index - 1] == before["actual"][: index - 1]
    assert after["planned"] == before["planned"]
    expect(row.locator(".progress-fact")).to_have_text("40")
    expect(row).to_have_class(re.compile(r"\bis-live-changed\b"))
    expect(notices(planner)).to_have_text([f"petr: 40 m³ of 2.1 on {today:%m/%d}"])

    # Through the API: a report of the other task, whose slow pace makes it late.
    token = Token.objects.create(user=foreman)
    response = daily.request.post(
        "/api/daily-works/",
        headers={"Authorization": f"Token {token.key}"},
        data={"task": slow.pk, "date": today.isoformat(), "volume": "0.1"},
    )
    assert response.status == 201, response.text()

    expect(summary(planner, "actual")).to_have_text("20.5 %")
    assert chart_series(planner)["actual"][index] == 20.5
    expect(planner.locator(f"#late-{slow.pk}")).to_be_visible()
    expect(planner.locator(f"#late-{slow.pk} .progress-days-late")).not_to_have_text("")
    screenshot(planner, "progress")
    assert_not_reloaded(planner)


def test_the_russian_progress_page_on_the_demo_site(open_page):
    demo_seed()
    users = {user.username: user for user in get_user_model().objects.all()}
    page = open_page(users["planner"], "/progress/", locale="ru-RU")
    mark_document(page)

    expect(page.locator("h1")).to_have_text("Ход выполнения работ")
    expect(page.locator(".main-nav [aria-current=page]")).to_have_text("Ход работ")
    expect(page.locator("[data-weighting]:not([hidden])")).to_have_text(
        re.compile(r"^Каждая работа")
    )
    expect(page.locator(".progress-lag-table tbody tr").first).to_be_visible()
    series = chart_series(page)
    assert series["today"] >= 0
    assert series["planned"][-1] == 100
    path = screenshot(page, "ru-progress")

    task = Task.objects.get(code="4.2")
    DailyWorkFactory(task=task, date=timezone.localdate(), volume=Decimal("150"))  # as the ORM
    # Written in this process without a channel layer: the server's log watcher finds it.
    expect(page.locator(f"#lag-{task.pk}")).to_have_class(re.compile(r"\bis-live-changed\b"))
    assert_not_reloaded(page)

    page.set_viewport_size({"width": 390, "height": 844})
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=path.with_name("ru-progress-phone.png"))  # the viewport: chart first
    page.locator(".progress-lag-table").scroll_into_view_if_needed()
    page.screenshot(path=path.with_name("ru-progress-phone-table.png"))


def test_the_chart_draws_under_the_content_security_policy(open_page, make_user):
    today = timezone.localdate()
    TaskFactory(code="1.1", start_date=today - 5 * DAY, end_date=today + 5 * DAY)
    page = open_page(make_user(PLANNERS), "/progress/")
    # Recorded from the start of the next load: whatever the browser refuses.
    page.context.add_init_script(
        """window.cspViolations = [];
        document.addEventListener("securitypolicyviolation", (event) => {
          window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
        });"""
    )
    page.reload()

    expect(summary(page, "planned")).not_to_have_text("—")
    assert len(chart_series(page)["labels"]) == 11
    assert page.evaluate("() => window.cspViolations") == []


def test_the_progress_page_of_a_user_who_lost_the_permission_says_it_is_not_kept_current(
    open_page, make_user
):
    TaskFactory(code="1.1", name="Excavation")
    ivan = make_user(VIEWERS, username="ivan")
    page = open_page(ivan, "/progress/")
    wait_until_subscribed(page)

    ivan.groups.clear()
    page.evaluate("() => window.e2eRealtime.drop(window.e2eRealtime.socket)")

    expect(page.locator("[data-live-problem]")).to_have_text(FORBIDDEN)
