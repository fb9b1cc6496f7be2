from django.db.models import QuerySet

from .models import Task


def task_list() -> QuerySet[Task]:
    return Task.objects.order_by("code", "id")
