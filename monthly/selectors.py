import calendar
import datetime
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from django.db.models import Prefetch, Q, QuerySet

from schedule.models import VOLUME_DECIMALS, Task
from schedule.working_days import WorkingCalendar, month_last_day, working_calendar

from .models import MonthlyTask, first_of_month

VOLUME_QUANTUM = Decimal(1).scaleb(-VOLUME_DECIMALS)


def monthly_task_list() -> QuerySet[MonthlyTask]:
    return MonthlyTask.objects.select_related("task").order_by("month", "task", "id")


class MonthlyOrderRow(NamedTuple):
    task: Task
    monthly_task: MonthlyTask | None


def monthly_order(*, month: datetime.date) -> list[MonthlyOrderRow]:
    """The month's order: each task that runs in the month or has a plan for it, with that plan.

    The rows come in Task's order (``Task.Meta.ordering``). Two queries whatever the number of
    tasks; a plan whose task no longer overlaps the month (its dates moved) is still listed, so
    it can be seen and removed.
    """
    first = first_of_month(month)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    plans = {plan.task_id: plan for plan in MonthlyTask.objects.for_month(first)}
    tasks = Task.objects.overlapping(first, last) | Task.objects.filter(pk__in=plans)
    rows = []
    for task in tasks:
        plan = plans.get(task.pk)
        if plan is not None:
            plan.task = task
        rows.append(MonthlyOrderRow(task=task, monthly_task=plan))
    return rows


@dataclass(frozen=True, slots=True)
class TaskMonthPlan:
    """A task's plan for one month, per working day (docs/msg.md gives the rule)."""

    task: Task
    monthly_task: MonthlyTask | None
    """The month's plan, if the task has one; else the month takes a share of the unallocated."""
    days: dict[datetime.date, Decimal]
    """Each working day of the task in the month, in order, with its planned volume."""
    unspread: Decimal
    """Volume this month should carry but no working day of the task can: the month's plan when
    the task has no working day in the month; in a month without a plan, the task's unallocated
    volume when none of its months without a plan has a working day. Zero otherwise."""

    @property
    def total(self) -> Decimal:
        return sum(self.days.values(), Decimal(0)).quantize(VOLUME_QUANTUM)


class MonthPlan(NamedTuple):
    calendar: WorkingCalendar
    """Covers at least the month (and every listed task's dates)."""
    rows: list[TaskMonthPlan]


def _spread(
    total: Decimal, days: Sequence[datetime.date], *, before: int = 0, of: int | None = None
) -> dict[datetime.date, Decimal]:
    """``total`` spread evenly over ``of`` working days (default: ``days``), of which ``days`` are
    the ones after the first ``before``.

    Cumulative rounding to the volume's decimals: the plan up to the k-th day is ``total × k / of``
    rounded half up, and a day's volume is the step from the day before. The days then add up
    exactly to ``total``, differ by at most one unit of the last decimal, and the plan to date is
    the exact figure rounded, wherever the days are summed from.
    """
    of = len(days) if of is None else of
    units = int(total.quantize(VOLUME_QUANTUM).scaleb(VOLUME_DECIMALS))

    def cumulative(k: int) -> int:
        return (2 * units * k + of) // (2 * of)

    return {
        day: Decimal(cumulative(before + i + 1) - cumulative(before + i)).scaleb(-VOLUME_DECIMALS)
        for i, day in enumerate(days)
    }


def _months(first: datetime.date, last: datetime.date) -> Iterator[datetime.date]:
    month = first_of_month(first)
    while month <= last:
        yield month
        month = month_last_day(month) + datetime.timedelta(days=1)


def _task_month_plan(
    task: Task, *, month: datetime.date, calendar: WorkingCalendar
) -> TaskMonthPlan:
    plans = {plan.month: plan for plan in task.monthly_tasks.all()}
    monthly_task = plans.get(month)
    days = calendar.between(max(task.start_date, month), min(task.end_date, month_last_day(month)))
    if monthly_task is not None:
        return TaskMonthPlan(
            task=task,
            monthly_task=monthly_task,
            days=_spread(monthly_task.volume_plan, days),
            unspread=Decimal(0) if days else monthly_task.volume_plan,
        )
    # Plans for months outside the task's dates count as allocated too: that volume went to a
    # month, even though it is not spread (the month reports it as unspread).
    unallocated = max(
        Decimal(0), task.volume_plan - sum((plan.volume_plan for plan in plans.values()), 0)
    )
    before = of = 0
    for other in _months(task.start_date, task.end_date):
        if other in plans:
            continue
        count = calendar.count(
            max(task.start_date, other), min(task.end_date, month_last_day(other))
        )
        of += count
        if other < month:
            before += count
    return TaskMonthPlan(
        task=task,
        monthly_task=None,
        days=_spread(unallocated, days, before=before, of=of) if of else {},
        unspread=Decimal(0) if of else unallocated,
    )


def daily_plan(*, month: datetime.date, tasks: QuerySet[Task] | None = None) -> MonthPlan:
    """The plan per working day of ``month`` for each task that runs in it or has a plan for it
    (of ``tasks``, default all), ordered by code.

    Three queries whatever the number of tasks: the tasks, all their monthly plans (a month
    without a plan needs the others to know what is left), and the calendar exceptions of the
    dates they span.
    """
    first = first_of_month(month)
    last = month_last_day(first)
    tasks = Task.objects.all() if tasks is None else tasks
    selected = list(
        tasks.filter(
            Q(start_date__lte=last, end_date__gte=first)
            | Q(pk__in=MonthlyTask.objects.for_month(first).values("task"))
        )
        .prefetch_related(Prefetch("monthly_tasks", queryset=MonthlyTask.objects.order_by()))
        .order_by("code_key", "id")
    )
    calendar = working_calendar(
        first=min([first, *(task.start_date for task in selected)]),
        last=max([last, *(task.end_date for task in selected)]),
    )
    return MonthPlan(
        calendar=calendar,
        rows=[_task_month_plan(task, month=first, calendar=calendar) for task in selected],
    )
