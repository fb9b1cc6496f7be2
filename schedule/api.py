from typing import Any

import django_filters
from django.http import FileResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from scheduler_project.api import (
    VersionedModelSerializer,
    VersionedModelViewSet,
    XlsxMixin,
    versioned_schema,
)

from .models import CalendarDay, Task
from .selectors import task_list
from .services import task_create, task_delete, task_update
from .workbooks import schedule_response


class TaskField(serializers.PrimaryKeyRelatedField):
    """A task by its id, for the plans and reports that refer to one; an id that names no task
    (deleted meanwhile, say) is refused in words a foreman's outbox can show."""

    default_error_messages = {
        "does_not_exist": _("There is no task {pk_value}: it may have been deleted."),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(queryset=Task.objects.all(), **kwargs)


class TaskSerializer(VersionedModelSerializer):
    progress_percent = serializers.DecimalField(max_digits=None, decimal_places=1, read_only=True)

    class Meta:
        model = Task
        fields = [
            "id",
            "code",
            "name",
            "unit",
            "volume_plan",
            "volume_fact",
            "progress_percent",
            "start_date",
            "end_date",
            "estimated_cost",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["volume_fact", "created_at", "updated_at"]


class CalendarDaySerializer(VersionedModelSerializer):
    """An exception to the working calendar (the data of ``calendar_day_*`` events)."""

    class Meta:
        model = CalendarDay
        fields = ["id", "date", "is_working", "note", "created_at", "updated_at", "version"]
        read_only_fields = ["created_at", "updated_at"]


class TaskFilter(django_filters.FilterSet):
    code = django_filters.CharFilter(lookup_expr="startswith")
    active_on = django_filters.DateFilter(method="filter_active_on", label="Active on date")

    class Meta:
        model = Task
        fields = ["code", "active_on"]

    def filter_active_on(self, queryset, name, value):
        return queryset.active_on(value)


@versioned_schema(
    TaskSerializer,
    xlsx="The schedule's Excel file (docs/excel.md): every task the filters select.",
)
class TaskViewSet(XlsxMixin, VersionedModelViewSet):
    """Tasks of the works schedule; ``volume_fact`` is the sum of the task's daily works."""

    queryset = task_list()
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    create_service = task_create
    update_service = task_update
    delete_service = task_delete
    service_object_name = "task"

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response | FileResponse:
        if self.wants_xlsx():
            return schedule_response(
                tasks=list(self.filter_queryset(self.get_queryset())),
                with_monthly_plans=request.user.has_perm("monthly.view_monthlytask"),
            )
        return super().list(request, *args, **kwargs)
