"""The working calendar, against Russia's official production calendar (2025–2026)."""

import datetime

import pytest
from django.core.exceptions import ImproperlyConfigured

from schedule.models import CalendarDay
from schedule.working_days import (
    check_holidays_country,
    country_days,
    is_working_day,
    working_calendar,
    working_days_between,
    working_days_in_month,
)

pytestmark = pytest.mark.django_db

MONDAY_TO_FRIDAY = (1, 2, 3, 4, 5)
MONDAY_TO_SATURDAY = (1, 2, 3, 4, 5, 6)


def d(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


@pytest.fixture(autouse=True)
def russian_five_day_week(settings):
    settings.WORK_WEEKDAYS = MONDAY_TO_FRIDAY
    settings.HOLIDAYS_COUNTRY = "RU"


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2026-01-01", False),  # New Year holidays, a Thursday
        ("2026-01-08", False),  # the last of them
        ("2026-01-09", False),  # a Friday off, moved from Saturday 3 January
        ("2026-01-12", True),  # the first working day of the year
        ("2026-01-10", False),  # a Saturday
        ("2026-01-11", False),  # a Sunday
        ("2026-02-23", False),  # Defender of the Fatherland Day, a Monday
        ("2026-03-09", False),  # 8 March fell on a Sunday: Monday off
        ("2026-11-04", False),  # Unity Day, a Wednesday
        ("2025-11-01", True),  # a Saturday worked in place of Monday 3 November
        ("2026-12-31", False),  # moved from Sunday 4 January
    ],
)
def test_weekends_and_russian_public_holidays_are_days_off(day, working):
    assert is_working_day(d(day)) is working


@pytest.mark.parametrize(
    ("month", "count"),
    [
        ("2026-01-01", 15),
        ("2026-02-14", 19),
        ("2026-03-01", 21),
        ("2026-05-31", 19),
        ("2025-11-01", 19),  # 20 weekdays, less 3 and 4 November, plus Saturday 1 November
    ],
)
def test_working_days_in_a_month_match_the_production_calendar(month, count):
    assert len(working_days_in_month(d(month))) == count


@pytest.mark.parametrize(
    ("day", "is_working", "expected"),
    [
        ("2026-01-17", True, True),  # a Saturday made a working day
        ("2026-01-12", False, False),  # a Monday made a day off
        ("2026-01-08", True, True),  # a public holiday worked
        ("2025-11-01", False, False),  # the country's working Saturday not worked
    ],
)
def test_a_database_exception_wins_over_weekdays_and_holidays(day, is_working, expected):
    CalendarDay.objects.create(date=d(day), is_working=is_working, note="Site decision")

    assert is_working_day(d(day)) is expected


@pytest.mark.parametrize(
    ("work_weekdays", "country", "day", "working"),
    [
        (MONDAY_TO_SATURDAY, "RU", "2026-01-17", True),  # a six-day week works Saturdays
        (MONDAY_TO_SATURDAY, "RU", "2026-01-03", False),  # but not a holiday Saturday
        (MONDAY_TO_SATURDAY, "RU", "2026-01-18", False),
        (MONDAY_TO_FRIDAY, "", "2026-01-08", True),  # no country: no public holidays
        (MONDAY_TO_FRIDAY, "", "2025-11-01", False),  # and no transferred working days
        ((2, 3, 4, 5, 6), "RU", "2026-01-12", False),  # a Tuesday-to-Saturday week
    ],
)
def test_work_weekdays_and_holidays_country_come_from_settings(
    settings, work_weekdays, country, day, working
):
    settings.WORK_WEEKDAYS = work_weekdays
    settings.HOLIDAYS_COUNTRY = country

    assert is_working_day(d(day)) is working


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("2026-01-01", "2026-01-14", ["2026-01-12", "2026-01-13", "2026-01-14"]),
        ("2026-01-16", "2026-01-19", ["2026-01-16", "2026-01-19"]),
        ("2026-01-13", "2026-01-13", ["2026-01-13"]),
        ("2026-01-03", "2026-01-04", []),
        ("2026-01-15", "2026-01-14", []),  # ends before it starts
        ("2025-12-30", "2026-01-12", ["2025-12-30", "2026-01-12"]),  # across the year
    ],
)
def test_working_days_between_two_dates_include_both_ends(first, last, expected):
    assert list(working_days_between(d(first), d(last))) == [d(day) for day in expected]


def test_a_calendar_answers_for_its_whole_range_after_one_query(django_assert_num_queries):
    CalendarDay.objects.create(date=d("2026-01-17"), is_working=True)

    with django_assert_num_queries(1):
        calendar = working_calendar(first=d("2026-01-01"), last=d("2026-03-31"))
        answers = (
            calendar.count(d("2026-01-01"), d("2026-03-31")),
            len(calendar.in_month(d("2026-01-01"))),
            calendar.is_working(d("2026-01-17")),
            calendar.count(d("2026-02-01"), d("2026-02-28")),
        )

    assert answers == (15 + 1 + 19 + 21, 16, True, 19)


@pytest.mark.parametrize(
    ("first", "last"), [("2025-12-31", "2026-01-12"), ("2026-01-12", "2026-02-01")]
)
def test_a_calendar_refuses_questions_outside_its_range(first, last):
    calendar = working_calendar(first=d("2026-01-01"), last=d("2026-01-31"))

    with pytest.raises(ValueError, match="outside the calendar"):
        calendar.count(d(first), d(last))


def test_an_unknown_country_fails_the_system_check_and_the_calendar(settings):
    settings.HOLIDAYS_COUNTRY = "XX"

    assert [error.id for error in check_holidays_country()] == ["schedule.E001"]
    with pytest.raises(ImproperlyConfigured, match="HOLIDAYS_COUNTRY"):
        working_days_in_month(d("2026-01-01"))


@pytest.mark.parametrize("country", ["RU", "DE", ""])
def test_a_known_or_empty_country_passes_the_system_check(settings, country):
    settings.HOLIDAYS_COUNTRY = country

    assert check_holidays_country() == []


def test_the_country_calendar_of_a_year_is_worked_out_once_per_process():
    country_days.cache_clear()

    for month in ["2026-01-01", "2026-02-01", "2026-12-01"]:
        working_days_in_month(d(month))

    assert (country_days.cache_info().misses, country_days.cache_info().hits) == (1, 2)
