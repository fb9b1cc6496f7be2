from typing import Any

import django_filters
from django.http import FileResponse
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from schedule.api import TaskField
from scheduler_project.api import (
    VersionedModelSerializer,
    VersionedModelViewSet,
    XlsxMixin,
    versioned_schema,
)

from .models import DailyWork
from .selectors import daily_work_list
from .services import daily_work_create, daily_work_delete, daily_work_update
from .workbooks import daily_response


class DailyWorkSerializer(VersionedModelSerializer):
    task = TaskField()
    task_code = serializers.CharField(source="task.code", read_only=True)
    created_by_username = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True
    )

    class Meta:
        model = DailyWork
        fields = [
            "id",
            "task",
            "task_code",
            "date",
            "volume",
            "description",
            "created_by",
            "created_by_username",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["created_by", "created_at", "updated_at"]


class DailyWorkFilter(django_filters.FilterSet):
    class Meta:
        model = DailyWork
        fields = ["date", "task"]


@versioned_schema(
    DailyWorkSerializer,
    xlsx="The daily report's Excel file (docs/excel.md): every work the filters select.",
)
class DailyWorkViewSet(XlsxMixin, VersionedModelViewSet):
    """Volumes of tasks done on a day; each write updates its task's ``volume_fact``."""

    queryset = daily_work_list()
    serializer_class = DailyWorkSerializer
    filterset_class = DailyWorkFilter
    create_service = daily_work_create
    update_service = daily_work_update
    delete_service = daily_work_delete
    service_object_name = "daily_work"

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response | FileResponse:
        if self.wants_xlsx():
            works = list(self.filter_queryset(self.get_queryset()))
            dates = {work.date for work in works}
            return daily_response(works=works, day=dates.pop() if len(dates) == 1 else None)
        return super().list(request, *args, **kwargs)
