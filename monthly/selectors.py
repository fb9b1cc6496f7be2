import calendar
import datetime
from typing import NamedTuple

from django.db.models import QuerySet

from schedule.models import Task

from .models import MonthlyTask, first_of_month


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
