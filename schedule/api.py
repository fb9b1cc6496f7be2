import django_filters
from rest_framework import serializers

from scheduler_project.api import VersionedModelSerializer, VersionedModelViewSet, versioned_schema

from .models import CalendarDay, Task
from .selectors import task_list
from .services import task_create, task_delete, task_update


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


@versioned_schema(TaskSerializer)
class TaskViewSet(VersionedModelViewSet):
    """Tasks of the works schedule; ``volume_fact`` is the sum of the task's daily works."""

    queryset = task_list()
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    create_service = task_create
    update_service = task_update
    delete_service = task_delete
    service_object_name = "task"
