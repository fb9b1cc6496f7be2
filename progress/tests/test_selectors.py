"""The plan per day (docs/msg.md), against figures computed by hand on Russia's 2026 calendar:
January has 15 working days (12–16, 19–23, 26–30), February 19, March 21; and the order of rows."""

import datetime
from decimal import Decimal

import pytest

from daily.models import DailyWork
from daily.tests.factories import DailyWorkFactory
from monthly.selectors import monthly_task_list
from monthly.tests.factories import MonthlyTaskFactory
from progress.forecasts import Weighting, task_forecasts
from progress.selectors import (
    GridRow,
    GridTotals,
    daily_plan,
    daily_work_warnings,
    month_grid,
    monthly_order,
    monthly_plan_warnings,
    progress_curve,
)
from schedule.models import CalendarDay, Task
from schedule.tests.factories import TaskFactory

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
    (row,) = [row for row in daily_plan(month=month, today=month).rows if row.task == task]
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


def test_only_tasks_running_in_the_month_planned_reported_or_carried_over_are_listed_in_order():
    task_with_plans(volume="1", start="2026-02-01", end="2026-02-28", plans={JAN: "1"}, code="10.2")
    TaskFactory(code="2.1", start_date=d("2026-01-31"), end_date=d("2026-03-31"))
    TaskFactory(code="0.9", start_date=d("2026-02-01"), end_date=d("2026-02-28"))
    finished = TaskFactory(code="0.8", start_date=d("2025-12-01"), end_date=d("2025-12-31"))
    DailyWorkFactory(task=finished, date=d("2025-12-30"), volume="100")
    unfinished = TaskFactory(code="0.7", start_date=d("2025-12-01"), end_date=d("2025-12-31"))
    DailyWorkFactory(task=unfinished, date=d("2025-12-30"), volume="99.999")
    corrected = TaskFactory(code="3.1", start_date=d("2025-11-01"), end_date=d("2025-11-30"))
    DailyWorkFactory(task=corrected, date=d("2025-11-30"), volume="100")
    DailyWorkFactory(task=corrected, date=d("2026-01-20"), volume="1")
    TaskFactory(code="4.1", start_date=d("2025-11-01"), end_date=d("2025-11-30"), volume_plan=0)

    rows = daily_plan(month=d("2026-01-15"), today=JAN).rows

    # 0.7 is carried over (a thousandth short); 3.1 has a report in January, though finished.
    assert [row.task.code for row in rows] == ["0.7", "2.1", "3.1", "10.2"]


def test_the_tasks_argument_narrows_the_rows():
    wanted = TaskFactory(code="2.1", start_date=JAN, end_date=MAR)
    TaskFactory(code="3.1", start_date=JAN, end_date=MAR)

    rows = daily_plan(month=JAN, today=JAN, tasks=Task.objects.filter(code__startswith="2.")).rows

    assert [row.task for row in rows] == [wanted]


def test_the_month_calendar_comes_with_the_plan():
    calendar = daily_plan(month=JAN, today=JAN).calendar

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
        rows = daily_plan(month=JAN, today=JAN).rows
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

    assert [row.task.code for row in monthly_order(month=NOV_1, today=NOV_1)] == NATURAL_ORDER


def test_monthly_task_list_puts_task_codes_in_natural_order_within_a_month():
    for code in CODES:
        MonthlyTaskFactory(task=TaskFactory(code=code), month=NOV_1)

    assert [plan.task.code for plan in monthly_task_list()] == NATURAL_ORDER


# The МСГ (docs/msg.md, "The МСГ"): a task of 150 m³ over 12–30 January with a plan of 30 for
# January, 2 a working day.


def msg_task(code: str = "1.1", *, plan: str = "30", cost: str | None = None, **reports) -> Task:
    task = task_with_plans(
        volume="150",
        start="2026-01-12",
        end="2026-01-30",
        plans={JAN: plan},
        code=code,
        estimated_cost=None if cost is None else Decimal(cost),
    )
    for day, volume in reports.items():
        DailyWorkFactory(task=task, date=d(f"2026-01-{day.removeprefix('on')}"), volume=volume)
    task.refresh_from_db()
    return task


def grid_row(task: Task, *, today: str, month: datetime.date = JAN) -> GridRow:
    grid = month_grid(month=month, today=d(today))
    (row,) = [row for section in grid.sections for row in section.rows if row.task == task]
    return row


def test_a_grid_row_has_the_month_figures_and_the_rate_needed_for_the_rest_of_the_month():
    # 5 of 30 done by the 15th: 16.7 %; 25 left over the 12 working days from the 15th
    # (15, 16, 19–23, 26–30) is 2.0833… a day, rounded up to 2.084. The plan before the 15th
    # is 6, so the row is behind.
    task = msg_task(on12="2", on13="1", on14="2")

    row = grid_row(task, today="2026-01-15")

    assert [row.plan, row.fact, row.percent, row.remaining] == volumes("30", "5", "16.7", "25")
    assert (row.days_left, row.needed_per_day) == (12, Decimal("2.084"))
    assert (row.plan_to_date, row.is_behind, row.section) == (Decimal(6), True, "1")
    assert row.forecast == task_forecasts(tasks=[task], today=d("2026-01-15"))[task.pk]


def test_grid_cells_hold_the_day_plan_and_fact_and_mark_past_days_behind_their_plan():
    task = msg_task(on12="2", on13="0.5", on15="1")  # the 15th is today
    DailyWorkFactory(task=task, date=d("2026-01-13"), volume=Decimal("0.5"))  # 1 that day
    DailyWorkFactory(task=task, date=d("2026-01-17"), volume=Decimal("3"))  # a Saturday

    cells = {cell.date.day: cell for cell in grid_row(task, today="2026-01-15").cells}

    assert len(cells) == 31
    assert [(c.plan, c.fact, c.is_behind) for c in (cells[12], cells[13], cells[14])] == [
        (Decimal(2), Decimal(2), False),
        (Decimal(2), Decimal(1), True),
        (Decimal(2), None, True),
    ]
    assert (cells[15].plan, cells[15].fact, cells[15].is_behind) == (Decimal(2), 1, False)
    assert (cells[16].is_behind, cells[17].plan, cells[17].fact) == (False, None, 3)
    assert (cells[1].plan, cells[1].fact) == (None, None)


@pytest.mark.parametrize(
    ("today", "month", "done", "days_left", "needed", "percent"),
    [
        ("2026-01-15", JAN, "40", 12, "0", "133.3"),  # over-fulfilled: nothing needed
        ("2026-01-30", JAN, "6", 1, "24.000", "20.0"),  # the last working day is today
        ("2026-01-31", JAN, "6", 0, None, "20.0"),  # no working day left: cannot be met
        ("2026-02-10", JAN, "6", 0, None, "20.0"),  # a past month
        ("2026-02-10", JAN, "30", 0, "0", "100.0"),  # a past month, met
        ("2025-12-20", JAN, "0", 15, "2.000", "0.0"),  # a future month: its plan per day
    ],
)
def test_the_rate_needed_counts_the_task_working_days_left_from_today(
    today, month, done, days_left, needed, percent
):
    task = msg_task()
    if Decimal(done):
        DailyWorkFactory(task=task, date=d("2026-01-12"), volume=Decimal(done))

    row = grid_row(task, today=today, month=month)

    assert (row.days_left, row.needed_per_day, row.percent) == (
        days_left,
        None if needed is None else Decimal(needed),
        Decimal(percent),
    )


def test_a_month_planning_nothing_has_no_percent():
    task = msg_task(plan="0")

    row = grid_row(task, today="2026-01-15")

    assert (row.plan, row.percent, row.needed_per_day) == (Decimal(0), None, Decimal(0))


def test_the_day_columns_flag_working_days_holidays_and_today():
    days = {day.date.day: day for day in month_grid(month=JAN, today=d("2026-01-15")).days}

    assert len(days) == 31
    flags = {n: (day.is_working, day.is_holiday, day.is_today) for n, day in days.items()}
    assert flags[1] == flags[3] == flags[7] == flags[9] == (False, True, False)  # 9: moved
    assert flags[10] == flags[11] == (False, False, False)  # an ordinary weekend
    assert (flags[12], flags[15]) == ((True, False, False), (True, False, True))


@pytest.mark.parametrize(
    ("costs", "weighting", "section_1", "section_2", "month"),
    [
        ((None, None, None), Weighting.EQUAL, "75.0", "0.0", "50.0"),
        # (1 × 50 + 1 × 100 + 2 × 0) / 4
        (("1", "1", "2"), Weighting.ESTIMATED_COST, "75.0", "0.0", "37.5"),
    ],
)
def test_rows_are_grouped_by_section_with_subtotals_and_month_totals(
    costs, weighting, section_1, section_2, month
):
    # Of 30 each in January: 1.1 did 15 (50 %), 1.2 did 45 (150 %, counted as 100), 2.1 nothing.
    msg_task("1.1", cost=costs[0], on12="15")
    msg_task("1.2", cost=costs[1], on12="45")
    msg_task("2.1", cost=costs[2])

    grid = month_grid(month=JAN, today=d("2026-02-10"))

    assert grid.weighting == weighting
    assert [(s.section, [r.task.code for r in s.rows]) for s in grid.sections] == [
        ("1", ["1.1", "1.2"]),
        ("2", ["2.1"]),
    ]
    assert [s.totals for s in grid.sections] == [
        GridTotals(tasks=2, behind=1, late=2, percent=Decimal(section_1)),
        GridTotals(tasks=1, behind=1, late=1, percent=Decimal(section_2)),
    ]
    # All three end on 30 January with work left: late on 10 February, whatever their month.
    assert grid.totals == GridTotals(tasks=3, behind=2, late=3, percent=Decimal(month))


def test_a_section_narrows_the_grid_to_the_codes_whose_first_level_it_is():
    for code in ["1", "1.1", "10.1", "1a", "2.1"]:
        msg_task(code)

    grid = month_grid(month=JAN, today=d("2026-01-15"), section="1")

    assert [row.task.code for s in grid.sections for row in s.rows] == ["1", "1.1"]
    assert grid.totals.tasks == 2


@pytest.mark.parametrize("task_count", [1, 30])
def test_the_grid_costs_eight_queries_whatever_the_number_of_tasks(
    django_assert_num_queries, task_count
):
    for number in range(task_count):
        msg_task(f"{number % 3 + 1}.{number}", on12="1", on13="2")

    with django_assert_num_queries(8):
        grid = month_grid(month=JAN, today=d("2026-01-15"))

    assert grid.totals.tasks == task_count


@pytest.mark.parametrize("task_count", [1, 30])
def test_the_grid_reads_no_older_reports_when_the_month_holds_every_forecast_window(
    django_assert_num_queries, settings, task_count
):
    settings.FORECAST_WINDOW_DAYS = 2
    for number in range(task_count):
        msg_task(f"{number % 3 + 1}.{number}", on12="1", on13="2")

    with django_assert_num_queries(7):
        grid = month_grid(month=JAN, today=d("2026-01-15"))

    assert {row.forecast.rate for s in grid.sections for row in s.rows} == {Decimal("1.500")}


@pytest.mark.parametrize("today", ["2026-01-13", "2026-01-15", "2026-01-30", "2026-02-20"])
@pytest.mark.parametrize("window", [1, 2, 3, 10])
def test_the_grid_forecasts_are_the_tasks_own(settings, today, window):
    # Reports in December and January, two on one day: the forecast windows that the month's
    # reports fill, and those that reach back into December or stop short of today.
    settings.FORECAST_WINDOW_DAYS = window
    task = msg_task(on12="1", on13="2", on14="4")
    task.start_date = d("2025-12-01")
    task.save()
    for day, volume in [("2025-12-29", "3"), ("2025-12-30", "5"), ("2026-01-13", "1")]:
        DailyWorkFactory(task=task, date=d(day), volume=volume)
    task.refresh_from_db()

    row = grid_row(task, today=today)

    assert row.forecast == task_forecasts(tasks=[task], today=d(today))[task.pk]


# The S-curve (docs/msg.md, "The S-curve"): tasks of Monday 12 to Friday 16 January without
# monthly plans, so each spreads its volume evenly over its five working days: 20 % a day.


def curve_task(code: str, volume: str, *, cost: str | None = None, **reports) -> Task:
    task = task_with_plans(
        volume=volume,
        start="2026-01-12",
        end="2026-01-16",
        code=code,
        estimated_cost=None if cost is None else Decimal(cost),
    )
    for day, amount in reports.items():
        DailyWorkFactory(task=task, date=d(f"2026-01-{day.removeprefix('on')}"), volume=amount)
    return task


def percents(*values: str | None) -> list[Decimal | None]:
    return [None if value is None else Decimal(value) for value in values]


@pytest.mark.parametrize(
    ("costs", "weighting", "site_actual"),
    [
        ((None, None), Weighting.EQUAL, percents("20.0", "40.0", None, None, None)),
        (("3", "1"), Weighting.ESTIMATED_COST, percents("20.0", "50.0", None, None, None)),
    ],
)
def test_the_curve_weighs_planned_and_actual_progress_per_section_and_for_the_site(
    costs, weighting, site_actual
):
    # 1.1: 6 of 10 by the 13th (20 %, then 60 %); 2.1: 4 of 20 on the 12th (20 %).
    curve_task("1.1", "10", cost=costs[0], on12="2", on13="4")
    curve_task("2.1", "20", cost=costs[1], on12="4")

    curve = progress_curve(today=d("2026-01-13"))

    assert curve.weighting == weighting
    assert curve.days == [d(f"2026-01-{day}") for day in range(12, 17)]
    assert curve.site.planned == percents("20.0", "40.0", "60.0", "80.0", "100.0")
    assert curve.site.actual == site_actual
    assert curve.sections["1"].actual == percents("20.0", "60.0", None, None, None)
    assert curve.sections["2"].actual == percents("20.0", "20.0", None, None, None)
    assert (curve.site.tasks, curve.sections["2"].tasks) == (2, 1)


def test_a_task_done_beyond_its_volume_counts_as_done_and_no_more():
    curve_task("1.1", "10", on12="4", on13="12")
    curve_task("1.2", "10")

    curve = progress_curve(today=d("2026-01-16"))

    assert curve.site.actual == percents("20.0", "50.0", "50.0", "50.0", "50.0")


def test_the_planned_curve_follows_the_plan_per_day_rounded_half_up():
    # 10 over three working days: 3.333, 3.334, 3.333 → 33.33 %, 66.67 %, 100 %; the weekend
    # of the 17th and 18th adds nothing, and a report before the start widens the span.
    task = task_with_plans(volume="10", start="2026-01-15", end="2026-01-19", code="3.1")
    DailyWorkFactory(task=task, date=d("2026-01-14"), volume=Decimal("1"))

    curve = progress_curve(today=d("2026-01-14"), section="3")

    assert curve.days[0] == d("2026-01-14")
    assert curve.site.planned == percents("0.0", "33.3", "66.7", "66.7", "66.7", "100.0")
    assert curve.site.actual == percents("10.0", None, None, None, None, None)


def test_a_curve_of_no_tasks_is_empty():
    curve = progress_curve(today=d("2026-01-14"), section="9")

    assert (curve.days, curve.site.planned, curve.sections) == ([], [], {})


@pytest.mark.parametrize("task_count", [1, 30])
def test_the_curve_costs_four_queries_whatever_the_number_of_tasks(
    django_assert_num_queries, task_count
):
    for number in range(task_count):
        curve_task(f"{number % 3 + 1}.{number}", "10", on12="1")

    with django_assert_num_queries(4):
        curve = progress_curve(today=d("2026-01-15"))

    assert curve.site.tasks == task_count


# The figures of a row (docs/msg.md), computed by hand on Russia's 2026 calendar.


def test_a_row_of_the_current_month_has_every_figure_computed_from_its_reports():
    # 150 m³ from 1 December 2025 to 30 January 2026: 120 planned in December, 30 in January
    # (2 a day over January's 15 working days 12–30); 100 done in December, 5 + 5 + 10 on the
    # 12th–14th of January. On the 15th:
    task = task_with_plans(
        volume="150",
        start="2025-12-01",
        end="2026-01-30",
        plans={d("2025-12-01"): "120", JAN: "30"},
    )
    DailyWorkFactory(task=task, date=d("2025-12-15"), volume="100")
    for day, volume in [("12", "5"), ("13", "5"), ("14", "10")]:
        DailyWorkFactory(task=task, date=d(f"2026-01-{day}"), volume=volume)
    task.refresh_from_db()

    row = grid_row(task, today="2026-01-15")

    assert (row.fact_before_month, row.remaining_at_month_start) == (Decimal(100), Decimal(50))
    assert (row.plan, row.fact, row.percent, row.remaining) == (
        Decimal(30),
        Decimal(20),
        Decimal("66.7"),
        Decimal(10),
    )
    # Plan to date: the 12th–14th, 3 × 2 = 6; 20 − 6 = +14, i.e. 7 days' plan ahead.
    assert (row.plan_to_date, row.deviation_to_date, row.deviation_days) == (
        Decimal(6),
        Decimal(14),
        Decimal("7.0"),
    )
    assert not row.is_behind
    # 10 left of the month's plan over the 12 working days 15–16, 19–23, 26–30: 0.8333… up.
    assert (row.days_left, row.needed_per_day) == (12, Decimal("0.834"))
    # 150 − 120 left of the work, by its end on the 30th, over the same 12 days: 2.5 a day.
    assert (row.remaining_total, row.needed_per_day_to_finish) == (Decimal(30), Decimal("2.5"))
    assert (row.overdue_since, row.is_carried_over, row.forecast.is_late) == (None, False, False)


def carried_task() -> Task:
    """Like 7.2 of the demo: 100 m³ in December 2025, 75 done by its end, 5 more on 14 January."""
    task = task_with_plans(volume="100", start="2025-12-01", end="2025-12-31")
    DailyWorkFactory(task=task, date=d("2025-12-30"), volume="75")
    DailyWorkFactory(task=task, date=d("2026-01-14"), volume="5")
    task.refresh_from_db()
    return task


def test_an_unfinished_work_is_carried_into_the_current_month_and_is_behind():
    task = carried_task()

    row = grid_row(task, today="2026-01-15")

    assert (row.is_carried_over, row.overdue_since) == (True, d("2026-01-01"))
    # All that was left on 1 January is due: 100 − 75 = 25; 5 done.
    assert (row.fact_before_month, row.remaining_at_month_start) == (Decimal(75), Decimal(25))
    assert (row.plan, row.plan_to_date, row.fact) == (Decimal(25), Decimal(25), Decimal(5))
    assert (row.deviation_to_date, row.deviation_days, row.is_behind) == (
        Decimal(-20),
        None,
        True,
    )
    assert [cell.date.day for cell in row.cells if cell.fact] == [14]
    assert all(cell.plan is None for cell in row.cells)
    # 20 left, past its end: by January's last working day, 12 working days from the 15th.
    assert (row.days_left, row.needed_per_day) == (12, Decimal("1.667"))
    assert (row.remaining_total, row.needed_per_day_to_finish) == (Decimal(20), Decimal("1.667"))
    assert row.forecast.is_late


def test_a_later_month_carries_an_unfinished_work_judged_today():
    task = carried_task()

    row = grid_row(task, today="2026-01-15", month=FEB)

    # Nothing reported in February yet: 80 done before it, 20 left, all of it due.
    assert (row.is_carried_over, row.fact_before_month, row.plan, row.fact) == (
        True,
        Decimal(80),
        Decimal(20),
        Decimal(0),
    )
    assert (row.deviation_to_date, row.is_behind) == (Decimal(-20), True)
    # February's 19 working days: 20 / 19 = 1.0526… up; to finish by February's last working
    # day from the 15th of January: 12 + 19 = 31 days, 0.6451… up.
    assert (row.days_left, row.needed_per_day) == (19, Decimal("1.053"))
    assert row.needed_per_day_to_finish == Decimal("0.646")


def test_a_past_month_judges_unfinished_at_its_end_and_a_finished_work_leaves_later_months():
    task = carried_task()
    DailyWorkFactory(task=task, date=d("2026-02-02"), volume="20")
    task.refresh_from_db()
    today = d("2026-02-10")

    january = grid_row(task, today="2026-02-10")
    february = grid_row(task, today="2026-02-10", month=FEB)

    # January ended with 80 of 100 done: carried then, behind by the 20 it left.
    assert (january.is_carried_over, january.deviation_to_date) == (True, Decimal(-20))
    # In February it is finished: listed for its report, no longer carried nor behind nor late.
    assert (february.is_carried_over, february.overdue_since, february.is_behind) == (
        False,
        None,
        False,
    )
    assert (february.fact, february.remaining_total, february.forecast.is_late) == (
        Decimal(20),
        Decimal(0),
        False,
    )
    assert task not in [row.task for row in daily_plan(month=MAR, today=today).rows]


def test_a_past_month_asks_nothing_more_per_day_even_of_a_work_still_unfinished():
    task = carried_task()  # 80 of 100 done by the end of January
    january = grid_row(task, today="2026-02-10")

    assert january.remaining_total == Decimal(20)  # what is left today
    # Both rates are "—": neither the month's plan nor the work can be caught up in January.
    assert (january.needed_per_day, january.needed_per_day_to_finish) == (None, None)


def test_a_work_past_its_end_in_the_current_month_is_overdue_and_needs_the_rest_by_month_end():
    # 30 planned 12–16 January (6 a day), 12 done; on Tuesday the 20th it is overdue since the
    # 17th, and its 18 left must be done by the 30th: 9 working days (20–23, 26–30), 2 a day.
    task = task_with_plans(volume="30", start="2026-01-12", end="2026-01-16", plans={JAN: "30"})
    DailyWorkFactory(task=task, date=d("2026-01-12"), volume="12")
    task.refresh_from_db()

    row = grid_row(task, today="2026-01-20")

    assert (row.overdue_since, row.is_carried_over) == (d("2026-01-17"), False)
    assert (row.plan_to_date, row.deviation_to_date, row.deviation_days) == (
        Decimal(30),
        Decimal(-18),
        Decimal("-3.0"),
    )
    assert (row.days_left, row.needed_per_day) == (0, None)
    assert row.needed_per_day_to_finish == Decimal(2)
    assert row.forecast.is_late


# Whole units (Unit.decimals 0): planned in whole units, needed per day rounded up to one.


@pytest.fixture
def pieces(db):
    from schedule.models import Unit

    Unit.objects.update_or_create(name="шт", defaults={"decimals": 0})


def test_a_whole_unit_is_planned_in_whole_units_a_day_adding_up_to_the_months_plan(pieces):
    # 10 pieces over January's 15 working days: to date k × 10 / 15 rounded half up.
    task = task_with_plans(volume="10", start="2026-01-12", end="2026-01-30", unit="шт")

    row = grid_row(task, today="2026-01-12")

    planned = [cell.plan for cell in row.cells if cell.plan is not None]
    assert planned == volumes(
        "1", "0", "1", "1", "0", "1", "1", "0", "1", "1", "0", "1", "1", "0", "1"
    )
    assert sum(planned) == row.plan == Decimal(10)
    # 10 left over 15 days is 0.67 a day: one a day, rounded up to a whole piece.
    assert (row.needed_per_day, row.needed_per_day_to_finish) == (Decimal(1), Decimal(1))


def test_a_whole_units_fractional_plan_is_spread_in_the_stored_decimals(pieces):
    task = task_with_plans(
        volume="10.5", start="2026-01-12", end="2026-01-16", plans={JAN: "2.5"}, unit="шт"
    )

    row = grid_row(task, today="2026-01-12")

    assert [cell.plan for cell in row.cells if cell.plan is not None] == volumes(
        "0.500", "0.500", "0.500", "0.500", "0.500"
    )


def test_the_rates_needed_round_up_to_the_units_decimals():
    # м³ are shown to 0.1: 10 over 15 days is 0.666… a day, 0.7 so that doing it is enough;
    # the plan per day keeps the stored decimals (0.667, 0.666…), which add up to the plan.
    task = task_with_plans(volume="10", start="2026-01-12", end="2026-01-30", unit="м³")

    row = grid_row(task, today="2026-01-12")

    assert (row.needed_per_day, row.needed_per_day_to_finish) == (Decimal("0.7"), Decimal("0.7"))
    assert row.cells[11].plan == Decimal("0.667")


# Plausibility: what a page asks to confirm and the API answers as warnings.


def report_on(task: Task, **volumes: str) -> None:
    for day, volume in volumes.items():
        DailyWorkFactory(task=task, date=d(f"2026-01-{day.removeprefix('on')}"), volume=volume)
    task.refresh_from_db()


def test_a_report_above_what_the_other_reports_leave_of_the_work_is_questioned():
    task = msg_task("1.1", plan="30")  # 150 m³, 2 a day planned in January
    report_on(task, on12="145")

    assert daily_work_warnings(
        task=task, day=d("2026-01-13"), volume=Decimal(6), today=d("2026-01-13")
    ) == ["6 m³ is more than the 5 m³ left of 1.1."]
    # A correction of the 145 itself is measured against the others: 150 are left.
    stored = DailyWork.objects.get()
    assert (
        daily_work_warnings(
            task=task, day=d("2026-01-12"), volume=Decimal(146), today=d("2026-01-13"),
            excluding=stored,
        )
        == ["146 m³ is more than 3 times the plan for 01/12/2026 (2 m³)."]
    )  # fmt: skip


@pytest.mark.parametrize(("volume", "questioned"), [("6", False), ("6.001", True)])
def test_a_report_above_three_times_the_days_plan_is_questioned(volume, questioned):
    task = msg_task("1.1", plan="30")  # 2 a day

    warnings = daily_work_warnings(
        task=task, day=d("2026-01-14"), volume=Decimal(volume), today=d("2026-01-14")
    )

    expected = [f"{volume} m³ is more than 3 times the plan for 01/14/2026 (2 m³)."]
    assert warnings == (expected if questioned else [])


def test_on_a_day_without_a_plan_a_report_is_measured_against_its_recent_average():
    # Saturday 17 January plans nothing; the last report days did 2 and 4: 3 on average.
    task = msg_task("1.1", plan="30")
    report_on(task, on12="2", on13="4")

    def warnings(volume: str) -> list[str]:
        return daily_work_warnings(
            task=task, day=d("2026-01-17"), volume=Decimal(volume), today=d("2026-01-17")
        )

    assert warnings("9") == []
    assert warnings("9.5") == [
        "9.5 m³ is more than 3 times the average of its last report days (3 m³)."
    ]


def test_a_work_with_neither_a_plan_nor_reports_questions_only_what_is_left():
    task = msg_task("1.1", plan="30")

    assert (
        daily_work_warnings(
            task=task, day=d("2026-01-17"), volume=Decimal(100), today=d("2026-01-17")
        )
        == []
    )


def test_a_month_plan_above_what_is_left_of_the_work_is_questioned():
    # Like the demo's 4.1: 540 m³, 351.4 done; 5,000 typed instead of 500.
    task = task_with_plans(volume="540", start="2026-01-12", end="2026-02-27", code="4.1")
    report_on(task, on12="351.4")

    def warnings(volume: str) -> list[str]:
        return monthly_plan_warnings(
            task=task, month=FEB, volume=Decimal(volume), today=d("2026-01-20")
        )

    assert warnings("188.6") == []
    assert warnings("5000") == [
        "5,000 m³ planned for February 2026 is more than the 188.6 m³ left of 4.1."
    ]


def test_todays_report_counts_against_todays_plan_and_leaves_the_rest_to_later_days():
    # 2 a day planned in January; on the 14th, 2 + 2 done and 1 reported today.
    task = msg_task("1.1", plan="30", on12="2", on13="2", on14="1")

    row = grid_row(task, today="2026-01-14")

    # The 14th is counted once its report is in: 6 planned to date, 5 done, 1 behind (not +1).
    assert (row.plan_to_date, row.deviation_to_date, row.is_behind) == (
        Decimal(6),
        Decimal(-1),
        True,
    )
    # 25 left of the month's plan over the 12 working days from the 15th.
    assert (row.days_left, row.needed_per_day) == (12, Decimal("2.084"))


def test_a_finished_work_is_not_behind_this_months_plan():
    # 30 planned in January, but 150 of 150 done already in December: nothing is left to do.
    task = msg_task("1.1", plan="30")
    DailyWorkFactory(task=task, date=d("2025-12-15"), volume="150")
    task.refresh_from_db()

    row = grid_row(task, today="2026-01-20")

    assert (row.deviation_to_date, row.is_finished, row.is_behind) == (Decimal(-12), True, False)


def test_a_report_for_a_day_not_yet_come_is_questioned():
    task = msg_task("1.1", plan="30")

    assert daily_work_warnings(
        task=task, day=d("2026-01-15"), volume=Decimal(1), today=d("2026-01-14")
    ) == ["01/15/2026 has not come yet: is this report for today?"]
