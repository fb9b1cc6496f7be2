import datetime
from typing import Any

import django_filters
from django.utils.timezone import localdate
from drf_spectacular.utils import (
    extend_schema_field,
)
from rest_framework import serializers

from progress.selectors import monthly_plan_warnings
from schedule.api import TaskField
from schedule.models import Task
from scheduler_project.api import (
    VersionedModelSerializer,
    VersionedModelViewSet,
    versioned_schema,
)

from .fields import MonthFormField, format_month, parse_month
from .models import MonthlyTask
from .selectors import monthly_task_list
from .services import monthly_task_create, monthly_task_delete, monthly_task_update


@extend_schema_field(
    {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$", "example": "2026-11"}
)
class MonthSerializerField(serializers.Field):
    default_error_messages = {"invalid": "Enter a month as YYYY-MM, e.g. 2026-11."}

    def to_internal_value(self, data: Any) -> datetime.date:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            return parse_month(data)
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value: datetime.date) -> str:
        return format_month(value)


class MonthlyTaskSerializer(VersionedModelSerializer):
    month = MonthSerializerField()
    task = TaskField()
    task_code = serializers.CharField(source="task.code", read_only=True)
    task_unit = serializers.CharField(source="task.unit", read_only=True)

    class Meta:
        model = MonthlyTask
        fields = [
            "id",
            "task",
            "task_code",
            "task_unit",
            "month",
            "volume_plan",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["created_at", "updated_at"]


class MonthFilter(django_filters.Filter):
    field_class = MonthFormField


class MonthlyTaskFilter(django_filters.FilterSet):
    month = MonthFilter(field_name="month", label="Month (YYYY-MM)")

    class Meta:
        model = MonthlyTask
        fields = ["month", "task"]


@versioned_schema(MonthlyTaskSerializer, warnings=True)
class MonthlyTaskViewSet(VersionedModelViewSet):
    """Monthly orders: how much of a task is planned for a month (``YYYY-MM``)."""

    queryset = monthly_task_list()
    serializer_class = MonthlyTaskSerializer
    filterset_class = MonthlyTaskFilter
    create_service = monthly_task_create
    update_service = monthly_task_update
    delete_service = monthly_task_delete
    service_object_name = "monthly_task"

    def write_warnings(self, instance: MonthlyTask, *, replacing: Any = None) -> list[str]:
        task = Task.objects.get(pk=instance.task_id)
        return monthly_plan_warnings(
            task=task, month=instance.month, volume=instance.volume_plan, today=localdate()
        )
