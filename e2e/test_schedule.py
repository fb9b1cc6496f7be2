"""The schedule page, live: what one user does on the pages reaches another user's open page."""

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from daily.tests.factories import DailyWorkFactory
from e2e.conftest import assert_not_reloaded, mark_document, notices, run_orm, screenshot
from schedule.roles import FOREMEN, PLANNERS, VIEWERS
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)


def fill_task_form(page: Page, **values: str) -> None:
    labels = {
        "code": "Code",
        "name": "Name",
        "unit": "Unit",
        "volume_plan": "Planned volume",
        "start_date": "Start date",
        "end_date": "End date",
    }
    for name, value in values.items():
        page.get_by_label(labels[name], exact=True).fill(value)


def test_a_task_created_on_the_page_appears_for_another_user_without_a_reload(open_page, make_user):
    maria = make_user(PLANNERS, username="maria")
    ivan = make_user(VIEWERS, username="ivan")
    watcher = open_page(ivan, "/")
    expect(watcher.get_by_text("There are no tasks in the schedule yet.")).to_be_visible()
    mark_document(watcher)
    author = open_page(maria, "/")

    author.get_by_role("link", name="New task").first.click()
    fill_task_form(
        author,
        code="2.1",
        name="Concrete works",
        unit="m³",
        volume_plan="1250.5",
        start_date="2026-11-02",
        end_date="2026-12-18",
    )
    author.get_by_role("button", name="Create task").click()
    expect(author.get_by_text("Task 2.1 Concrete works created.")).to_be_visible()

    row = watcher.locator("tr[data-task-id]", has_text="Concrete works")
    expect(row).to_be_visible()
    expect(row.locator("td")).to_have_text(
        [
            "2.1",
            "Concrete works",
            "m³",
            "1,250.5",
            "0",
            re.compile(r"0\.0\s%"),
            "11/02/2026",
            "12/18/2026",
            "not started",
        ]
    )
    # A viewer may open the row's history (its code), not edit or delete it.
    expect(row.get_by_role("link")).to_have_text(["2.1"])
    expect(watcher.get_by_text("There are no tasks in the schedule yet.")).to_be_hidden()
    expect(watcher.locator("[data-live-part=task-count]")).to_have_text("1 task")
    expect(notices(watcher)).to_have_text(["maria: new task 2.1 “Concrete works”"])
    assert_not_reloaded(watcher)
    screenshot(watcher, "schedule-live-create")


def test_an_edit_and_a_delete_on_the_page_reach_another_user(open_page, make_user):
    task = TaskFactory(code="1.1", name="Excavation", volume_plan=Decimal(100))
    TaskFactory(code="1.2", name="Backfill")
    maria = make_user(PLANNERS, username="maria")
    olga = make_user(PLANNERS, username="olga")
    watcher = open_page(olga, "/")
    mark_document(watcher)
    author = open_page(maria, f"/tasks/{task.pk}/edit/")
    row = watcher.locator(f"#task-{task.pk}")

    fill_task_form(author, name="Excavation of the pit", volume_plan="150")
    author.get_by_role("button", name="Save").click()

    expect(row.locator(".task-name")).to_have_text("Excavation of the pit")
    expect(row.locator(".task-volume-plan")).to_have_text("150")
    expect(row).to_have_class(re.compile(r"\bis-live-changed\b"))  # highlighted for a moment
    expect(row.get_by_role("link", name="Edit")).to_be_visible()  # a planner may
    expect(notices(watcher)).to_have_text(["maria: changed task 1.1 “Excavation of the pit”"])

    author.goto(f"/tasks/{task.pk}/delete/")
    author.get_by_role("button", name="Delete").click()

    expect(row).to_have_count(0)
    expect(watcher.locator("tr[data-task-id]")).to_have_count(1)
    expect(watcher.locator("[data-live-part=task-count]")).to_have_text("1 task")
    expect(notices(watcher).last).to_have_text("maria: deleted task 1.1 “Excavation of the pit”")
    assert_not_reloaded(watcher)


def test_volume_done_and_progress_follow_the_daily_works(open_page, make_user):
    task = TaskFactory(code="3.1", name="Formwork", unit="m²", volume_plan=Decimal(200))
    DailyWorkFactory(task=task, date=datetime.date(2026, 11, 24), volume=Decimal(20))
    planner = make_user(PLANNERS, username="olga")
    foreman = make_user(FOREMEN, username="petr")
    schedule = open_page(planner, "/")
    row = schedule.locator(f"#task-{task.pk}")
    expect(row.locator(".task-volume-fact")).to_have_text("20")
    daily = open_page(foreman, "/daily/?date=2026-11-25")

    daily.get_by_label("Task").select_option(label="3.1 Formwork")
    daily.get_by_label("Volume").fill("31")
    daily.get_by_role("button", name="Add", exact=True).click()

    expect(row.locator(".task-volume-fact")).to_have_text("51")
    expect(row.locator(".task-progress-percent")).to_have_text(re.compile(r"25\.5\s%"))
    expect(row.locator("progress")).to_have_attribute("value", "25.5")
    # The report, not its task's recalculated volume done.
    expect(notices(schedule)).to_have_text(["petr: 31 m² of 3.1 on 11/25"])
    screenshot(schedule, "schedule")


def late_task(**fields: object):
    """A task around today that its one report so far makes late: 1 a day, 99 left, due in
    three weeks."""
    today = timezone.localdate()
    task = TaskFactory(
        volume_plan=Decimal(100),
        start_date=today - datetime.timedelta(days=14),
        end_date=today + datetime.timedelta(days=21),
        **fields,
    )
    work = DailyWorkFactory(task=task, date=today - datetime.timedelta(days=3), volume=Decimal(1))
    return task, work


def test_a_report_by_another_user_moves_the_forecast_with_one_fetch(open_page, make_user):
    task, _work = late_task(code="4.1", name="Basement walls", unit="m³")
    schedule = open_page(make_user(PLANNERS, username="olga"), "/")
    mark_document(schedule)
    fetches = []
    schedule.on("request", lambda request: "fragment=rows" in request.url and fetches.append(1))
    row = schedule.locator(f"#task-{task.pk}")
    expect(row).to_have_class(re.compile(r"\bis-late\b"))
    expect(row.locator(".late-marker")).to_have_text("▲ Late")
    expect(row.locator(".late-marker")).to_have_attribute("title", re.compile("after its end date"))
    expect(row.locator(".forecast__delta")).to_have_text(re.compile(r"working days late$"))
    screenshot(schedule, "schedule-forecast-late")

    daily = open_page(make_user(FOREMEN, username="petr"), "/daily/")
    daily.get_by_label("Task").select_option(label="4.1 Basement walls")
    daily.get_by_label("Volume").fill("98")  # 99 done at 49.5 a day: 1 left
    daily.get_by_role("button", name="Add", exact=True).click()

    expect(row.locator(".task-volume-fact")).to_have_text("99")
    expect(row).not_to_have_class(re.compile(r"\bis-late\b"))
    expect(row.locator(".late-marker")).to_have_count(0)
    expect(row.locator(".forecast__delta")).to_have_text(re.compile(r"early$|^on time$"))
    today = timezone.localdate()
    expect(notices(schedule)).to_have_text([f"petr: 98 m³ of 4.1 on {today:%m/%d}"])
    # The report's event and the task_updated that follows it, committed together: one fetch.
    assert fetches == [1]
    assert_not_reloaded(schedule)


def test_a_report_moved_to_another_day_moves_the_forecast_though_the_volume_stays(
    open_page, make_user
):
    task, _first = late_task(code="4.1", name="Basement walls")
    today = timezone.localdate()
    # 40 done at 20 a day: 60 left takes three working days.
    second = DailyWorkFactory(task=task, date=today - datetime.timedelta(days=2), volume=39)
    schedule = open_page(make_user(VIEWERS, username="ivan"), "/")
    mark_document(schedule)
    row = schedule.locator(f"#task-{task.pk}")
    expect(row.locator(".forecast__delta")).to_have_text(re.compile(r"early$|^on time$"))

    # Another process moves the big report past today: it no longer counts in the rate, 1 a day
    # is left (the volume done stays 40, so no task_updated follows).
    tomorrow = (today + datetime.timedelta(days=1)).isoformat()
    run_orm(
        "import datetime; from daily.models import DailyWork; "
        f"work = DailyWork.objects.get(pk={second.pk}); "
        f"work.date = datetime.date.fromisoformat('{tomorrow}'); work.save()"
    )

    expect(row).to_have_class(re.compile(r"\bis-late\b"))
    expect(row.locator(".forecast__delta")).to_have_text(re.compile(r"working days? late$"))
    expect(row.locator(".task-volume-fact")).to_have_text("40")
    assert_not_reloaded(schedule)
