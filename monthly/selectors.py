"""Reads of the monthly plans; the МСГ's figures are the reporting layer's (progress/)."""

from django.db.models import QuerySet

from .models import MonthlyTask


def monthly_task_list() -> QuerySet[MonthlyTask]:
    return MonthlyTask.objects.select_related("task").order_by("month", "task", "id")
