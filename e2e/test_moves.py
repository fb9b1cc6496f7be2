"""Objects moved to another place (a plan to another task or month, a daily work to another
date or task) leave the open pages that showed them and appear on those that show their new
place: both the old and the new place are refreshed."""

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from daily.services import daily_work_update
from daily.tests.factories import DailyWorkFactory
from e2e.conftest import assert_not_reloaded, mark_document, notices
from monthly.services import monthly_task_update
from monthly.tests.factories import MonthlyTaskFactory
from progress.selectors import month_grid
from schedule.roles import FOREMEN, PLANNERS, VIEWERS
from schedule.tests.factories import TaskFactory
from scheduler_project.numbers import format_volume

pytestmark = pytest.mark.django_db(transaction=True)

NOVEMBER = datetime.date(2026, 11, 1)
DECEMBER = datetime.date(2026, 12, 1)


def month_plan_total(month: datetime.date) -> str:
    """The month's plans summed, as the page's footer shows its one unit's."""
    (totals,) = month_grid(month=month, today=timezone.localdate()).units
    return format_volume(totals.plan, totals.decimals)


def running_through_the_winter(code: str, name: str, unit: str = "m³"):
    return TaskFactory(
        code=code,
        name=name,
        unit=unit,
        start_date=datetime.date(2026, 11, 1),
        end_date=datetime.date(2027, 2, 28),
    )


def test_a_plan_moved_to_another_task_leaves_the_old_tasks_row(open_page, make_user):
    excavation = running_through_the_winter("1.1", "Excavation")
    backfill = running_through_the_winter("1.2", "Backfill")
    plan = MonthlyTaskFactory(task=excavation, month=NOVEMBER, volume_plan=40)
    maria = make_user(PLANNERS, username="maria")
    watcher = open_page(make_user(VIEWERS, username="ivan"), "/monthly/?month=2026-11")
    mark_document(watcher)
    old_row = watcher.locator(f"#task-{excavation.pk}")
    new_row = watcher.locator(f"#task-{backfill.pk}")
    expect(old_row.locator(".monthly-volume-plan")).to_have_text("40")

    monthly_task_update(
        monthly_task=plan, data={"task": backfill}, version=plan.version, actor=maria
    )

    expect(new_row.locator(".monthly-volume-plan")).to_have_text("40")
    expect(old_row.locator(".monthly-volume-plan")).to_have_text("—")
    expect(old_row).to_have_class(re.compile(r"\bis-unplanned\b"))
    expect(watcher.locator(f'tr[data-monthly-task-id="{plan.pk}"]')).to_have_count(1)
    expect(notices(watcher)).to_have_text(["maria: plan of 1.2 for November 2026 now 40 m³"])
    assert_not_reloaded(watcher)


def test_a_plan_moved_to_another_month_leaves_the_old_months_page(open_page, make_user):
    excavation = running_through_the_winter("1.1", "Excavation")
    plan = MonthlyTaskFactory(task=excavation, month=NOVEMBER, volume_plan=40)
    maria = make_user(PLANNERS, username="maria")
    ivan = make_user(VIEWERS, username="ivan")
    november = open_page(ivan, "/monthly/?month=2026-11")
    december = open_page(ivan, "/monthly/?month=2026-12")
    for page in (november, december):
        mark_document(page)
    expect(november.locator(".monthly-total-value")).to_have_text("40")

    monthly_task_update(
        monthly_task=plan, data={"month": DECEMBER}, version=plan.version, actor=maria
    )

    expect(december.locator(f"#task-{excavation.pk} .monthly-volume-plan")).to_have_text("40")
    expect(december.locator(".monthly-total-value")).to_have_text("40")
    row = november.locator(f"#task-{excavation.pk}")
    expect(row.locator(".monthly-volume-plan")).to_have_text("—")  # the task still runs then
    expect(row).to_have_class(re.compile(r"\bis-unplanned\b"))
    # November takes its share of the 60 no month plans now.
    expect(november.locator(".monthly-total-value")).to_have_text(month_plan_total(NOVEMBER))
    expect(notices(november)).to_have_text(["maria: plan of 1.1 for December 2026 now 40 m³"])
    for page in (november, december):
        assert_not_reloaded(page)


def test_a_work_moved_to_another_date_leaves_the_old_days_page(open_page, make_user):
    concrete = TaskFactory(code="2.1", name="Concrete works", unit="m³")
    work = DailyWorkFactory(task=concrete, date=datetime.date(2026, 11, 25), volume=12)
    petr = make_user(FOREMEN, username="petr")
    olga = make_user(PLANNERS, username="olga")
    old_day = open_page(olga, "/daily/?date=2026-11-25")
    new_day = open_page(olga, "/daily/?date=2026-11-26")
    for page in (old_day, new_day):
        mark_document(page)
    expect(old_day.locator(f"#work-{work.pk} .daily-work-volume")).to_have_text("12")

    daily_work_update(
        daily_work=work,
        data={"date": datetime.date(2026, 11, 26)},
        version=work.version,
        actor=petr,
    )

    expect(new_day.locator(f"#work-{work.pk} .daily-work-volume")).to_have_text("12")
    expect(new_day.locator(".daily-total-value")).to_have_text(["12"])
    expect(old_day.locator(f"#work-{work.pk}")).to_have_count(0)
    expect(old_day.locator(".daily-total")).to_have_count(0)
    expect(old_day.get_by_text("No works are entered for this day.")).to_be_visible()
    for page in (old_day, new_day):
        assert_not_reloaded(page)


def test_a_work_moved_to_another_task_shows_that_task(open_page, make_user):
    concrete = TaskFactory(code="2.1", name="Concrete works", unit="m³")
    rebar = TaskFactory(code="2.2", name="Reinforcement", unit="t")
    work = DailyWorkFactory(task=concrete, date=datetime.date(2026, 11, 25), volume=12)
    DailyWorkFactory(task=rebar, date=datetime.date(2026, 11, 25), volume=3)
    petr = make_user(FOREMEN, username="petr")
    watcher = open_page(make_user(PLANNERS, username="olga"), "/daily/?date=2026-11-25")
    mark_document(watcher)
    totals = watcher.locator(".daily-total")
    expect(totals.locator(".daily-total-unit")).to_have_text(["m³", "t"])

    daily_work_update(daily_work=work, data={"task": rebar}, version=work.version, actor=petr)

    expect(watcher.locator(f"#work-{work.pk} .task-name")).to_have_text("Reinforcement")
    expect(watcher.locator("tr[data-task-id] .task-code")).to_have_text(["2.2", "2.2"])
    expect(totals.locator(".daily-total-unit")).to_have_text(["t"])
    expect(totals.locator(".daily-total-value")).to_have_text(["15"])
    expect(notices(watcher)).to_have_text(["petr: now 12 t of 2.2 on 11/25"])
    assert_not_reloaded(watcher)
