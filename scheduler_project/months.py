"""Month arithmetic, written once: a month is the date of its first day."""

import datetime
from collections.abc import Iterator

FIRST_YEAR, LAST_YEAR = 1900, 2199
"""The years whose months plans, the МСГ and the daily page's plan hints take (the working
calendar needs real years)."""


def first_of_month(day: datetime.date) -> datetime.date:
    """The month of ``day``: its first day."""
    return day.replace(day=1)


def month_last_day(month: datetime.date) -> datetime.date:
    """The last day of ``month``'s month."""
    following = month.replace(day=28) + datetime.timedelta(days=4)
    return following - datetime.timedelta(days=following.day)


def next_month(day: datetime.date) -> datetime.date:
    """The first day of the month after ``day``'s."""
    return month_last_day(day) + datetime.timedelta(days=1)


def shift_month(month: datetime.date, months: int) -> datetime.date:
    """The first day of the month ``months`` away from ``month``'s (negative: before), kept
    within the years a date has (1 to 9999)."""
    index = month.year * 12 + month.month - 1 + months
    return datetime.date(max(1, min(9999, index // 12)), index % 12 + 1, 1)


def months_between(first: datetime.date, last: datetime.date) -> Iterator[datetime.date]:
    """Each month from ``first``'s to ``last``'s, both included."""
    month = first_of_month(first)
    while month <= last:
        yield month
        month = next_month(month)
