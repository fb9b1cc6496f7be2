"""Each task's forecast: when it will finish at the rate of its recent reports (docs/msg.md,
"Forecasts"), and how much each task weighs in a figure of several."""

import datetime
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Window
from django.db.models.functions import DenseRank
from django.utils.translation import gettext_lazy as _

from daily.models import DailyWork
from schedule.models import VOLUME_DECIMALS, Task
from schedule.working_days import WorkingCalendar, working_calendar

VOLUME_QUANTUM = Decimal(1).scaleb(-VOLUME_DECIMALS)
# A forecast further away than this is "beyond the horizon" (no date): the calendar of a year
# costs about 0.1 s the first time, and a finish decades away means "at this rate, never".
FORECAST_HORIZON = datetime.timedelta(days=10 * 366)


class Weighting(models.TextChoices):
    ESTIMATED_COST = "estimated_cost", _("by estimated cost")
    EQUAL = "equal", _("equal per task")


def task_weights(tasks: Iterable[Task]) -> tuple[Weighting, dict[int, Decimal]]:
    """How much each task counts in a progress figure of several tasks: its estimated cost when
    every task has one (and they do not all cost nothing), else 1 each. The units of volumes
    differ (m³, t), so volumes are never added across tasks."""
    tasks = list(tasks)
    costs = [task.estimated_cost for task in tasks]
    if tasks and None not in costs and sum(costs) > 0:
        return Weighting.ESTIMATED_COST, {task.pk: task.estimated_cost for task in tasks}
    return Weighting.EQUAL, {task.pk: Decimal(1) for task in tasks}


class ForecastStatus(models.TextChoices):
    NOT_STARTED = "not_started", _("not started")
    IN_PROGRESS = "in_progress", _("in progress")
    DONE = "done", _("done")


@dataclass(frozen=True, slots=True)
class Forecast:
    """When a task will finish at the rate of its recent reports."""

    status: ForecastStatus
    rate: Decimal | None
    """The average fact per report day over the window, three decimals (half up); None when
    not started."""
    window_days: int
    """How many report days the rate averages (0 to ``FORECAST_WINDOW_DAYS``)."""
    remaining: Decimal
    """The planned volume not done yet (never below zero)."""
    finish: datetime.date | None
    """In progress: the working day on which the remaining volume is done at ``rate``, counted
    from ``today`` included; None beyond ``FORECAST_HORIZON``. Done: the date of the last report
    (None without reports). Not started: None."""
    days_late: int | None
    """Working days from the end date to ``finish``: positive when late, negative when early,
    0 on time; None without a finish."""
    is_late: bool = False
    """``is_late``: the one rule of "late" (docs/msg.md), which every page, export and the API
    show."""


def is_late(
    *,
    status: ForecastStatus,
    finish: datetime.date | None,
    end_date: datetime.date,
    today: datetime.date,
) -> bool:
    """Late: not done, and the end date has passed (today is still in time), or the forecast
    finish is after the end date, or there is none in sight at the current rate (beyond the
    horizon). A task done after its end date is not late: nothing is left to catch up."""
    if status == ForecastStatus.DONE:
        return False
    if end_date < today:
        return True
    return status == ForecastStatus.IN_PROGRESS and (finish is None or finish > end_date)


ReportTotals = Mapping[int, Mapping[datetime.date, Decimal]]
"""Per task id, its reports' total per date."""


def _report_days(
    task_ids: list[int],
    *,
    today: datetime.date,
    window: int,
    known: ReportTotals | None = None,
    known_from: datetime.date | None = None,
) -> dict[int, list[tuple[datetime.date, Decimal]]]:
    """Each task's last ``window`` dates with reports on or before ``today``, newest first, with
    the day's total. ``known`` (complete from ``known_from`` to ``today``) answers for the tasks
    it holds enough dates of; the others take one query (a window function ranks each task's
    dates; the reports of one date share a rank), none when there are no others."""
    days: dict[int, list[tuple[datetime.date, Decimal]]] = {}
    before = today + datetime.timedelta(days=1)
    short = task_ids
    if known is not None and known_from is not None:
        before, short = min(before, known_from), []
        for task_id in task_ids:
            recent = sorted(
                (item for item in known.get(task_id, {}).items() if item[0] <= today),
                reverse=True,
            )[:window]
            days[task_id] = recent
            if len(recent) < window:
                short.append(task_id)
    if not short:
        return days
    rows = (
        DailyWork.objects.filter(task_id__in=short, date__lt=before)
        .annotate(rank=Window(DenseRank(), partition_by=[F("task_id")], order_by=F("date").desc()))
        .filter(rank__lte=window)
        .order_by()
        .values_list("task_id", "date", "volume")
    )
    totals: dict[int, dict[datetime.date, Decimal]] = defaultdict(dict)
    for task_id, day, volume in rows:
        totals[task_id][day] = totals[task_id].get(day, Decimal(0)) + volume
    for task_id, by_day in totals.items():
        older = sorted(by_day.items(), reverse=True)
        days[task_id] = (days.get(task_id, []) + older)[:window]
    return days


def _days_late(
    calendar: WorkingCalendar, *, end: datetime.date, finish: datetime.date | None
) -> int | None:
    if finish is None:
        return None
    if finish > end:
        return calendar.count(end + datetime.timedelta(days=1), finish)
    return -calendar.count(finish + datetime.timedelta(days=1), end)


def _forecast_calendar(
    *, today: datetime.date, first: datetime.date, last: datetime.date, working_days: int
) -> WorkingCalendar:
    """A calendar from ``first`` to at least ``last`` that holds ``working_days`` working days
    from ``today`` on, or reaches the horizon: one query, a second only when the exceptions
    take away more days than the margin allows for."""
    horizon = today + FORECAST_HORIZON
    per_week = max(len(settings.WORK_WEEKDAYS), 1)
    span = min(FORECAST_HORIZON.days, math.ceil(working_days * 7 / per_week * 1.25) + 31)
    end = max(last, today + datetime.timedelta(days=span))
    while True:
        calendar = working_calendar(first=first, last=end)
        if end >= horizon or calendar.count(today, end) >= working_days:
            return calendar
        end = min(horizon, end + (end - first) * 2)


def task_forecasts(
    *,
    tasks: Iterable[Task],
    today: datetime.date,
    reports: ReportTotals | None = None,
    reports_from: datetime.date | None = None,
) -> dict[int, Forecast]:
    """Each task's forecast by id (docs/msg.md, "Forecasts"). Two queries whatever the number
    of tasks: the report days of their windows, and the calendar exceptions of the dates the
    forecasts span. ``volume_fact`` is taken from the tasks as given.

    A caller that has read the tasks' reports from ``reports_from`` up to ``today`` passes their
    totals per day as ``reports``: the tasks with a whole window there are not read again (the
    МСГ's month), and without any other the first query is left out.
    """
    tasks = list(tasks)
    window = settings.FORECAST_WINDOW_DAYS
    reports_by_task = _report_days(
        [task.pk for task in tasks],
        today=today,
        window=window,
        known=reports,
        known_from=reports_from,
    )
    states: dict[int, tuple[ForecastStatus, Decimal | None, int, Decimal, int | None]] = {}
    for task in tasks:
        remaining = max(Decimal(0), task.volume_plan - task.volume_fact)
        days = reports_by_task.get(task.pk, [])
        total = sum((volume for _day, volume in days), Decimal(0))
        if task.volume_fact >= task.volume_plan:
            states[task.pk] = (ForecastStatus.DONE, None, len(days), remaining, None)
        elif not days:
            states[task.pk] = (ForecastStatus.NOT_STARTED, None, 0, remaining, None)
        else:
            needed = int((remaining * len(days) / total).to_integral_value(ROUND_CEILING))
            states[task.pk] = (ForecastStatus.IN_PROGRESS, total, len(days), remaining, needed)
    dates = [today] + [
        day
        for task in tasks
        if states[task.pk][0] != ForecastStatus.NOT_STARTED
        for day in [task.end_date, *(d for d, _v in reports_by_task.get(task.pk, [])[:1])]
    ]
    most = max((state[4] or 0 for state in states.values()), default=0)
    calendar = _forecast_calendar(today=today, first=min(dates), last=max(dates), working_days=most)
    ahead = calendar.between(today, calendar.last)
    forecasts = {}
    for task in tasks:
        status, total, count, remaining, needed = states[task.pk]
        days = reports_by_task.get(task.pk, [])
        rate = finish = None
        if status == ForecastStatus.DONE:
            finish = days[0][0] if days else None
        elif status == ForecastStatus.IN_PROGRESS:
            rate = (total / count).quantize(VOLUME_QUANTUM, ROUND_HALF_UP)
            finish = ahead[needed - 1] if needed <= len(ahead) else None
        forecasts[task.pk] = Forecast(
            status=status,
            rate=rate,
            window_days=count,
            remaining=remaining,
            finish=finish,
            days_late=_days_late(calendar, end=task.end_date, finish=finish),
            is_late=is_late(status=status, finish=finish, end_date=task.end_date, today=today),
        )
    return forecasts
