from django.db.models import QuerySet

from .models import Task


def task_list() -> QuerySet[Task]:
    """Tasks in ``Task.Meta.ordering``: by ``code_key``, the one order of codes."""
    return Task.objects.all()
