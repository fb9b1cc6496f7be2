from typing import Any

import django_filters
from django.http import FileResponse
from django.utils.timezone import localdate
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from progress.selectors import daily_work_warnings
from schedule.api import TaskField
from schedule.models import VOLUME_DECIMALS, VOLUME_DIGITS, Task
from scheduler_project.api import (
    ErrorDetailSerializer,
    TypedDecimalField,
    VersionedModelSerializer,
    VersionedModelViewSet,
    XlsxMixin,
    versioned_schema,
)

from .models import MIN_VOLUME, DailyWork
from .selectors import daily_work_list
from .services import daily_work_create, daily_work_delete, daily_work_update
from .workbooks import daily_response


class DailyWorkSerializer(VersionedModelSerializer):
    task = TaskField()
    task_code = serializers.CharField(source="task.code", read_only=True)
    task_unit = serializers.CharField(source="task.unit", read_only=True)
    created_by_username = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True
    )

    class Meta:
        model = DailyWork
        fields = [
            "id",
            "task",
            "task_code",
            "task_unit",
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


class DailyWorkCheckSerializer(serializers.Serializer):
    """A report as a page is about to send it, to be checked for plausibility: a new one, or a
    correction of the stored report ``id``."""

    id = serializers.IntegerField(required=False, min_value=1)
    task = TaskField()
    date = serializers.DateField()
    volume = TypedDecimalField(
        max_digits=VOLUME_DIGITS, decimal_places=VOLUME_DECIMALS, min_value=MIN_VOLUME
    )


class WarningsSerializer(serializers.Serializer):
    warnings = serializers.ListField(child=serializers.CharField())


class DailyWorkFilter(django_filters.FilterSet):
    class Meta:
        model = DailyWork
        fields = ["date", "task"]


@versioned_schema(
    DailyWorkSerializer,
    xlsx="The daily report's Excel file (docs/excel.md): every work the filters select.",
    warnings=True,
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

    def write_warnings(self, instance: DailyWork, *, replacing: Any = None) -> list[str]:
        return daily_work_warnings(
            task=Task.objects.get(pk=instance.task_id),
            day=instance.date,
            volume=instance.volume,
            today=localdate(),
            excluding=instance,
        )

    @extend_schema(
        request=DailyWorkCheckSerializer,
        responses={
            200: WarningsSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT, description="Invalid report: each field with its messages."
            ),
            401: OpenApiResponse(ErrorDetailSerializer, description="Not logged in."),
            403: OpenApiResponse(ErrorDetailSerializer, description="The role may not report."),
        },
        summary="Why a report about to be sent looks wrong (nothing is written)",
    )
    @action(detail=False, methods=["post"], filterset_class=None)
    def check(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The warnings a write of this report would answer, for the pages to ask the user to
        confirm before sending (docs/msg.md, "Plausibility")."""
        proposed = DailyWorkCheckSerializer(data=request.data, context={"request": request})
        proposed.is_valid(raise_exception=True)
        data = proposed.validated_data
        stored = None
        if "id" in data:
            stored = DailyWork.objects.filter(pk=data["id"]).first()
        warnings = daily_work_warnings(
            task=data["task"],
            day=data["date"],
            volume=data["volume"],
            today=localdate(),
            excluding=stored,
        )
        return Response({"warnings": warnings})

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response | FileResponse:
        if self.wants_xlsx():
            works = list(self.filter_queryset(self.get_queryset()))
            dates = {work.date for work in works}
            return daily_response(works=works, day=dates.pop() if len(dates) == 1 else None)
        return super().list(request, *args, **kwargs)
