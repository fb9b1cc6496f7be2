"""The working calendar: which days the site works. Everything that counts working days uses it.

For each day the first rule that applies decides:

1. an exception kept in the database (``CalendarDay``, edited in the admin): a day off on a
   working weekday, or a working day on a weekend or holiday;
2. the country's transferred working days (``HOLIDAYS_COUNTRY``; in Russia a Saturday worked so
   that a holiday bridges to a weekend): working;
3. the country's public holidays and the days off moved onto weekdays for them: not working;
4. the weekday: working when it is one of ``WORK_WEEKDAYS`` (ISO numbers, 1 = Monday).

A ``WorkingCalendar`` answers for a whole date range after one query (the range's exceptions), so
a month's page for hundreds of tasks costs that one query. The country's days of a year come from
the ``holidays`` package, computed once per process per country and year: they change only with
the package, whereas the exceptions are read afresh each time.
"""

import datetime
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import holidays
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from scheduler_project.months import month_last_day

from .models import CalendarDay


@cache
def country_days(
    country: str, year: int
) -> tuple[frozenset[datetime.date], frozenset[datetime.date]]:
    """The country's public holidays (with the days off moved for them) and its transferred working
    days in ``year``; two empty sets when ``country`` is empty."""
    if not country:
        return frozenset(), frozenset()
    try:
        calendar = holidays.country_holidays(country, years=year)
    except NotImplementedError as error:
        raise ImproperlyConfigured(
            f"HOLIDAYS_COUNTRY: the holidays package knows no country {country!r}."
        ) from error
    return frozenset(calendar), frozenset(getattr(calendar, "weekend_workdays", ()))


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """The working days of ``first``…``last``; asking about a day outside it is a ``ValueError``
    (a silent "not working" would make plans quietly wrong)."""

    first: datetime.date
    last: datetime.date
    days: tuple[datetime.date, ...]
    """The working days, in order."""

    def _check(self, first: datetime.date, last: datetime.date) -> None:
        if first < self.first or last > self.last:
            raise ValueError(
                f"{first}…{last} is outside the calendar loaded for {self.first}…{self.last}."
            )

    def is_working(self, day: datetime.date) -> bool:
        self._check(day, day)
        index = bisect_left(self.days, day)
        return index < len(self.days) and self.days[index] == day

    def between(self, first: datetime.date, last: datetime.date) -> Sequence[datetime.date]:
        """The working days from ``first`` to ``last``, both included (none when last < first)."""
        if last < first:
            return ()
        self._check(first, last)
        return self.days[bisect_left(self.days, first) : bisect_right(self.days, last)]

    def count(self, first: datetime.date, last: datetime.date) -> int:
        """How many working days ``between(first, last)`` holds, without building the list."""
        if last < first:
            return 0
        self._check(first, last)
        return bisect_right(self.days, last) - bisect_left(self.days, first)

    def in_month(self, month: datetime.date) -> Sequence[datetime.date]:
        return self.between(month.replace(day=1), month_last_day(month))


def working_calendar(*, first: datetime.date, last: datetime.date) -> WorkingCalendar:
    """The calendar of ``first``…``last`` (both included), in one query."""
    if last < first:
        raise ValueError(f"The calendar cannot end ({last}) before it starts ({first}).")
    exceptions = dict(CalendarDay.objects.between(first, last).values_list("date", "is_working"))
    weekdays = frozenset(settings.WORK_WEEKDAYS)
    holidays_off: set[datetime.date] = set()
    holidays_on: set[datetime.date] = set()
    for year in range(first.year, last.year + 1):
        days_off, days_on = country_days(settings.HOLIDAYS_COUNTRY, year)
        holidays_off |= days_off
        holidays_on |= days_on
    days = []
    day, one = first, datetime.timedelta(days=1)
    while day <= last:
        working = exceptions.get(day)
        if working is None:
            working = day in holidays_on or (
                day not in holidays_off and day.isoweekday() in weekdays
            )
        if working:
            days.append(day)
        day += one
    return WorkingCalendar(first=first, last=last, days=tuple(days))


def working_days_between(first: datetime.date, last: datetime.date) -> Sequence[datetime.date]:
    """The working days from ``first`` to ``last``, both included (none when last < first)."""
    if last < first:
        return ()
    return working_calendar(first=first, last=last).days


def is_working_day(day: datetime.date) -> bool:
    return working_calendar(first=day, last=day).is_working(day)


def working_days_in_month(month: datetime.date) -> Sequence[datetime.date]:
    first = month.replace(day=1)
    return working_calendar(first=first, last=month_last_day(first)).days


def check_holidays_country(**_: Any) -> list[checks.CheckMessage]:
    """``manage.py check`` (and migrate, runserver) refuses a country the package does not know,
    instead of the first page that counts working days failing."""
    country = settings.HOLIDAYS_COUNTRY
    if country and country not in holidays.list_supported_countries():
        return [
            checks.Error(
                f"HOLIDAYS_COUNTRY {country!r} is not a country the holidays package knows.",
                hint="Use an ISO 3166 code such as RU, or leave it empty for no public holidays.",
                id="schedule.E001",
            )
        ]
    return []
