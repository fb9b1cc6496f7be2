import datetime
from decimal import Decimal

import pytest

from daily.tests.factories import DailyWorkFactory
from progress.forecasts import (
    Forecast,
    ForecastStatus,
    Weighting,
    task_forecasts,
    task_weights,
)
from schedule.models import Task
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


# Forecasts (docs/msg.md), on Russia's 2026 calendar: January's working days are 12–16, 19–23
# and 26–30; February's 2–6, 9–13, 16–20, 24–27 (23 is a holiday); March's 2–6, 10–13, 16–20,
# 23–27, 30–31 (9 is off for 8 March).


def d(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


@pytest.fixture(autouse=True)
def russian_five_day_week(settings):
    settings.WORK_WEEKDAYS = (1, 2, 3, 4, 5)
    settings.HOLIDAYS_COUNTRY = "RU"
    settings.FORECAST_WINDOW_DAYS = 10


def task_with_reports(
    reports: dict[str, str], *, volume: str = "100", end: str = "2026-01-30", **fields
) -> Task:
    task = TaskFactory(
        volume_plan=Decimal(volume), start_date=d("2026-01-12"), end_date=d(end), **fields
    )
    for day, amount in reports.items():
        DailyWorkFactory(task=task, date=d(day), volume=Decimal(amount))
    task.refresh_from_db()
    return task


def forecast_of(task: Task, today: str) -> Forecast:
    return task_forecasts(tasks=[task], today=d(today))[task.pk]


def test_a_task_at_its_recent_rate_finishes_on_the_working_day_that_rate_reaches():
    # 20 done in three report days: 6.667 a day; 80 left takes ceil(80 × 3 / 20) = 12 working
    # days from today (14 January) included: 14–16, 19–23, 26–29 → Thursday 29, a day early.
    task = task_with_reports({"2026-01-12": "5", "2026-01-13": "5", "2026-01-14": "10"})

    forecast = forecast_of(task, "2026-01-14")

    assert forecast == Forecast(
        status=ForecastStatus.IN_PROGRESS,
        rate=Decimal("6.667"),
        window_days=3,
        remaining=Decimal("80.000"),
        finish=d("2026-01-29"),
        days_late=-1,
    )
    assert not forecast.is_late


def test_the_rate_averages_only_the_last_report_days_of_the_window(settings):
    # Window 2: 13 and 14 January, 2 a day; 86 left takes 43 working days from 14 January:
    # 13 in January, 19 in February, 11 in March (2–6, 10–13, 16–17) → 17 March, 30 days late
    # (19 in February and 11 in March after the end on 30 January).
    settings.FORECAST_WINDOW_DAYS = 2
    task = task_with_reports({"2026-01-12": "10", "2026-01-13": "2", "2026-01-14": "2"})

    forecast = forecast_of(task, "2026-01-14")

    assert (forecast.rate, forecast.window_days) == (Decimal("2.000"), 2)
    assert (forecast.finish, forecast.days_late, forecast.is_late) == (d("2026-03-17"), 30, True)


def test_reports_of_one_day_count_as_one_day_and_reports_after_today_are_left_out():
    # 12 January: 3 + 3 = 6 (one day); 13 January: 4. Rate 5; the report of 20 January is
    # in the fact (remaining 100 − 6 − 4 − 10 = 80: 16 days from the 14th → 4 February, three
    # working days after the end: 2, 3, 4 February).
    task = task_with_reports(
        {"2026-01-12": "3", "2026-01-13": "4", "2026-01-20": "10"},
    )
    DailyWorkFactory(task=task, date=d("2026-01-12"), volume=Decimal("3"))
    task.refresh_from_db()

    forecast = forecast_of(task, "2026-01-14")

    assert (forecast.rate, forecast.window_days, forecast.remaining) == (
        Decimal("5.000"),
        2,
        Decimal("80.000"),
    )
    assert (forecast.finish, forecast.days_late) == (d("2026-02-04"), 3)


def test_a_report_on_a_day_off_counts_as_a_report_day():
    # Saturday 17 January was worked: 10 over two report days is 5 a day.
    task = task_with_reports({"2026-01-16": "4", "2026-01-17": "6"})

    assert forecast_of(task, "2026-01-19").rate == Decimal("5.000")


@pytest.mark.parametrize(
    ("reports", "volume", "expected"),
    [
        (
            {},
            "100",
            Forecast(ForecastStatus.NOT_STARTED, None, 0, Decimal("100.000"), None, None),
        ),
        (  # done on Tuesday 27 January, three working days before the end (28, 29, 30)
            {"2026-01-26": "60", "2026-01-27": "50"},
            "100",
            Forecast(ForecastStatus.DONE, None, 2, Decimal(0), d("2026-01-27"), -3),
        ),
        (  # nothing to do is done, with no date
            {},
            "0",
            Forecast(ForecastStatus.DONE, None, 0, Decimal(0), None, None),
        ),
    ],
)
def test_tasks_not_started_or_done_have_no_rate(reports, volume, expected):
    task = task_with_reports(reports, volume=volume)

    assert forecast_of(task, "2026-01-28") == expected


def test_a_finish_beyond_the_horizon_has_no_date():
    task = task_with_reports({"2026-01-12": "0.001"}, volume="1000000")

    forecast = forecast_of(task, "2026-01-12")

    assert (forecast.status, forecast.finish, forecast.days_late) == (
        ForecastStatus.IN_PROGRESS,
        None,
        None,
    )


def test_a_task_past_its_end_is_late_by_the_working_days_since():
    # 50 of 100 by 30 January at 10 a day: 5 more days from Monday 2 February → 6 February.
    task = task_with_reports({f"2026-01-{day}": "10" for day in [26, 27, 28, 29, 30]})

    forecast = forecast_of(task, "2026-02-02")

    assert (forecast.finish, forecast.days_late) == (d("2026-02-06"), 5)


@pytest.mark.parametrize("count", [1, 30])
def test_forecasts_cost_two_queries_whatever_the_number_of_tasks(count, django_assert_num_queries):
    tasks = [task_with_reports({"2026-01-12": "5", "2026-01-13": "7"}) for _ in range(count)]

    with django_assert_num_queries(2):
        forecasts = task_forecasts(tasks=tasks, today=d("2026-01-14"))

    assert {forecast.rate for forecast in forecasts.values()} == {Decimal("6.000")}


def test_reports_the_caller_has_read_spare_the_forecasts_their_query(
    settings, django_assert_num_queries
):
    settings.FORECAST_WINDOW_DAYS = 2
    task = task_with_reports({"2026-01-12": "5", "2026-01-13": "7"})
    known = {task.pk: {d("2026-01-12"): Decimal(5), d("2026-01-13"): Decimal(7)}}

    with django_assert_num_queries(1):  # the calendar's
        forecasts = task_forecasts(
            tasks=[task], today=d("2026-01-14"), reports=known, reports_from=d("2026-01-12")
        )

    assert forecasts == task_forecasts(tasks=[task], today=d("2026-01-14"))


def test_a_window_the_callers_reports_do_not_fill_reaches_back_for_older_reports(settings):
    # The caller read from the 13th on: the 12th's report is read, the 14th's (after today)
    # left out of the window.
    settings.FORECAST_WINDOW_DAYS = 3
    task = task_with_reports({"2026-01-09": "1", "2026-01-12": "5", "2026-01-13": "7"})
    known = {task.pk: {d("2026-01-13"): Decimal(7), d("2026-01-15"): Decimal(100)}}

    forecast = task_forecasts(
        tasks=[task], today=d("2026-01-14"), reports=known, reports_from=d("2026-01-13")
    )[task.pk]

    assert (forecast.rate, forecast.window_days) == (Decimal("4.333"), 3)


@pytest.mark.parametrize(
    ("costs", "weighting", "weights"),
    [
        (["10", "30"], Weighting.ESTIMATED_COST, [Decimal(10), Decimal(30)]),
        (["10", None], Weighting.EQUAL, [Decimal(1), Decimal(1)]),
        (["0", "0"], Weighting.EQUAL, [Decimal(1), Decimal(1)]),
    ],
)
def test_tasks_are_weighted_by_cost_only_when_every_one_has_a_cost(costs, weighting, weights):
    tasks = [TaskFactory(estimated_cost=None if c is None else Decimal(c)) for c in costs]

    assert task_weights(tasks) == (
        weighting,
        dict(zip([t.pk for t in tasks], weights, strict=True)),
    )
