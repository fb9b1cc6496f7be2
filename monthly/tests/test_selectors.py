"""The plan per day (docs/msg.md), against figures computed by hand on Russia's 2026 calendar:
January has 15 working days (12–16, 19–23, 26–30), February 19, March 21; and the order of rows."""

import datetime
from decimal import Decimal

import pytest

from monthly.selectors import daily_plan, monthly_order, monthly_task_list
from schedule.models import CalendarDay, Task
from schedule.tests.factories import TaskFactory

from .factories import MonthlyTaskFactory

pytestmark = pytest.mark.django_db

JAN = datetime.date(2026, 1, 1)
FEB = datetime.date(2026, 2, 1)
MAR = datetime.date(2026, 3, 1)
APR = datetime.date(2026, 4, 1)


def d(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def volumes(*texts: str) -> list[Decimal]:
    return [Decimal(text) for text in texts]


@pytest.fixture(autouse=True)
def russian_five_day_week(settings):
    settings.WORK_WEEKDAYS = (1, 2, 3, 4, 5)
    settings.HOLIDAYS_COUNTRY = "RU"


def task_with_plans(
    *, volume: str, start: str, end: str, plans: dict[datetime.date, str] | None = None, **fields
) -> Task:
    task = TaskFactory(volume_plan=Decimal(volume), start_date=d(start), end_date=d(end), **fields)
    for month, plan in (plans or {}).items():
        MonthlyTaskFactory(task=task, month=month, volume_plan=Decimal(plan))
    return task


def row_for(task: Task, month: datetime.date):
    (row,) = [row for row in daily_plan(month=month).rows if row.task == task]
    return row


def test_a_monthly_plan_is_spread_over_the_working_days_skipping_the_new_year_holidays():
    task = task_with_plans(volume="100", start="2026-01-01", end="2026-02-28", plans={JAN: "30"})

    row = row_for(task, JAN)

    assert list(row.days) == [
        d(f"2026-01-{day:02}")
        for day in [12, 13, 14, 15, 16, 19, 20, 21, 22, 23, 26, 27, 28, 29, 30]
    ]
    assert set(row.days.values()) == {Decimal("2.000")}
    assert (row.total, row.unspread, row.monthly_task.volume_plan) == (
        Decimal("30.000"),
        Decimal(0),
        Decimal("30.000"),
    )


def test_a_task_starting_mid_month_spreads_its_plan_over_its_own_working_days_only():
    # Wednesday 21 to Friday 30 January: 21, 22, 23, 26, 27, 28, 29, 30.
    task = task_with_plans(volume="10", start="2026-01-21", end="2026-01-30", plans={JAN: "10"})

    row = row_for(task, JAN)

    assert list(row.days) == [d(f"2026-01-{day}") for day in [21, 22, 23, 26, 27, 28, 29, 30]]
    assert list(row.days.values()) == [Decimal("1.250")] * 8


def test_a_working_saturday_from_the_database_takes_its_share():
    CalendarDay.objects.create(date=d("2026-01-17"), is_working=True, note="Transferred")
    task = task_with_plans(volume="12", start="2026-01-12", end="2026-01-18", plans={JAN: "12"})

    row = row_for(task, JAN)

    assert list(row.days) == [d(f"2026-01-{day}") for day in [12, 13, 14, 15, 16, 17]]
    assert list(row.days.values()) == [Decimal("2.000")] * 6


@pytest.mark.parametrize(
    ("plan", "end", "expected"),
    [
        ("10", "2026-01-14", volumes("3.333", "3.334", "3.333")),
        ("1", "2026-01-14", volumes("0.333", "0.334", "0.333")),
        ("0.002", "2026-01-14", volumes("0.001", "0.000", "0.001")),
        ("2", "2026-01-13", volumes("1.000", "1.000")),
        ("0", "2026-01-14", volumes("0.000", "0.000", "0.000")),
        ("100", "2026-01-19", volumes("16.667", "16.666", "16.667", "16.667", "16.666", "16.667")),
    ],
)
def test_days_are_rounded_to_the_volume_decimals_and_add_up_to_the_plan(plan, end, expected):
    task = task_with_plans(volume="100", start="2026-01-12", end=end, plans={JAN: plan})

    row = row_for(task, JAN)

    assert list(row.days.values()) == expected
    assert sum(row.days.values()) == Decimal(plan)


def test_months_without_a_plan_share_the_unallocated_volume_by_their_working_days():
    # The worked example of docs/msg.md. 100 - 40 planned for February = 60 over January's 15 and
    # March's 21 working days: 60 / 36 a day, so January carries 25 and March 35; to date the
    # plan is 60 * k / 36, rounded.
    task = task_with_plans(volume="100", start="2026-01-01", end="2026-03-31", plans={FEB: "40"})

    january, february, march = (row_for(task, month) for month in [JAN, FEB, MAR])

    assert [january.total, february.total, march.total] == volumes("25.000", "40.000", "35.000")
    assert list(january.days.values())[:3] == volumes("1.667", "1.666", "1.667")
    assert list(february.days.values())[:3] == volumes("2.105", "2.106", "2.105")
    assert list(march.days.values())[:2] == volumes(
        "1.667", "1.666"
    )  # 26.667 - 25, 28.333 - 26.667
    assert january.monthly_task is None
    assert february.monthly_task is not None


def test_a_month_without_a_plan_takes_all_the_volume_when_no_month_has_one():
    # February: 70 over 19 working days is 3.684… a day: four days of 3.685, fifteen of 3.684.
    task = task_with_plans(volume="100", start="2026-01-01", end="2026-02-28", plans={JAN: "30"})

    row = row_for(task, FEB)

    assert row.total == Decimal("70.000")
    assert sorted(row.days.values()) == volumes(*["3.684"] * 15, *["3.685"] * 4)
    assert list(row.days.values())[:3] == volumes("3.684", "3.684", "3.685")


def test_a_plan_for_a_month_outside_the_task_dates_is_reported_and_still_counts_as_allocated():
    task = task_with_plans(volume="50", start="2026-01-12", end="2026-01-30", plans={FEB: "20"})

    february, january = row_for(task, FEB), row_for(task, JAN)

    assert (february.days, february.unspread) == ({}, Decimal("20.000"))
    assert february.monthly_task.volume_plan == Decimal("20.000")
    assert set(january.days.values()) == {Decimal("2.000")}  # (50 - 20) / 15
    assert january.unspread == Decimal(0)


def test_the_worked_example_with_a_plan_for_april_after_the_task_ends():
    # 100 - 40 - 20 = 40 over 36 days: January 40 * 15 / 36 = 16.667, March the other 23.333.
    task = task_with_plans(
        volume="100", start="2026-01-01", end="2026-03-31", plans={FEB: "40", APR: "20"}
    )

    january, march, april = (row_for(task, month) for month in [JAN, MAR, APR])

    assert [january.total, march.total] == volumes("16.667", "23.333")
    assert (april.days, april.unspread) == ({}, Decimal("20.000"))


def test_plans_above_the_task_volume_leave_nothing_for_months_without_a_plan():
    task = task_with_plans(volume="10", start="2026-01-01", end="2026-02-28", plans={JAN: "15"})

    row = row_for(task, FEB)

    assert len(row.days) == 19
    assert set(row.days.values()) == {Decimal("0.000")}
    assert (row.total, row.unspread) == (Decimal("0.000"), Decimal(0))


@pytest.mark.parametrize(
    ("plans", "unspread"),
    [({}, "5.000"), ({JAN: "5"}, "5.000"), ({JAN: "2"}, "2.000")],
)
def test_a_task_with_no_working_day_reports_its_volume_as_unspread(plans, unspread):
    task = task_with_plans(volume="5", start="2026-01-01", end="2026-01-11", plans=plans)

    row = row_for(task, JAN)

    assert (row.days, row.unspread) == ({}, Decimal(unspread))


def test_only_tasks_running_in_the_month_or_planned_for_it_are_listed_in_code_order():
    task_with_plans(volume="1", start="2026-02-01", end="2026-02-28", plans={JAN: "1"}, code="10.2")
    TaskFactory(code="2.1", start_date=d("2026-01-31"), end_date=d("2026-03-31"))
    TaskFactory(code="0.9", start_date=d("2026-02-01"), end_date=d("2026-02-28"))
    TaskFactory(code="0.8", start_date=d("2025-12-01"), end_date=d("2025-12-31"))

    rows = daily_plan(month=d("2026-01-15")).rows

    assert [row.task.code for row in rows] == ["2.1", "10.2"]


def test_the_tasks_argument_narrows_the_rows():
    wanted = TaskFactory(code="2.1", start_date=JAN, end_date=MAR)
    TaskFactory(code="3.1", start_date=JAN, end_date=MAR)

    rows = daily_plan(month=JAN, tasks=Task.objects.filter(code__startswith="2.")).rows

    assert [row.task for row in rows] == [wanted]


def test_the_month_calendar_comes_with_the_plan():
    calendar = daily_plan(month=JAN).calendar

    assert len(calendar.in_month(JAN)) == 15


@pytest.mark.parametrize("task_count", [1, 50])
def test_the_plan_costs_three_queries_whatever_the_number_of_tasks(
    django_assert_num_queries, task_count
):
    CalendarDay.objects.create(date=d("2026-01-17"), is_working=True)
    for number in range(task_count):
        task_with_plans(
            volume="100",
            start="2025-12-15",
            end="2026-04-10",
            plans={JAN: "20", FEB: "30"} if number % 2 else {},
        )

    with django_assert_num_queries(3):
        rows = daily_plan(month=JAN).rows
        totals = [row.total for row in rows]

    assert len(totals) == task_count


NOV_1 = datetime.date(2026, 11, 1)
CODES = ["10.1", "2.1", "1.10", "1.2"]
NATURAL_ORDER = ["1.2", "1.10", "2.1", "10.1"]


def test_the_monthly_order_lists_tasks_in_natural_order_of_codes():
    for index, code in enumerate(CODES):
        task = TaskFactory(code=code)
        if index % 2:
            MonthlyTaskFactory(task=task, month=NOV_1)

    assert [row.task.code for row in monthly_order(month=NOV_1)] == NATURAL_ORDER


def test_monthly_task_list_puts_task_codes_in_natural_order_within_a_month():
    for code in CODES:
        MonthlyTaskFactory(task=TaskFactory(code=code), month=NOV_1)

    assert [plan.task.code for plan in monthly_task_list()] == NATURAL_ORDER
