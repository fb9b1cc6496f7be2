"""Reads of the schedule. A task's forecast is the reporting layer's (progress/forecasts.py)."""

from django.db.models import QuerySet

from .models import Task


def task_list() -> QuerySet[Task]:
    """Tasks in ``Task.Meta.ordering``: by ``code_key``, the one order of codes; each with the
    decimals its volumes are shown with (``unit_decimals``)."""
    return Task.objects.with_unit_decimals()
