"""The reporting layer's API (docs/msg.md): the МСГ (``/api/progress/month/``) and the S-curve
(``/api/progress/curve/``), read-only views of the selectors."""

import datetime
from decimal import Decimal
from typing import Any

from django.http import FileResponse
from django.utils.timezone import localdate
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from daily.models import DailyWork
from monthly.api import MonthSerializerField
from schedule.models import CODE_MAX_LENGTH, VOLUME_DECIMALS, Task, is_section_code
from scheduler_project.api import (
    XLSX_FORMAT_PARAMETER,
    ErrorDetailSerializer,
    XlsxMixin,
    xlsx_responses,
)
from scheduler_project.months import FIRST_YEAR, LAST_YEAR
from scheduler_project.permissions import ViewModelsPermission

from .forecasts import ForecastStatus, Weighting
from .selectors import GridCell, ProgressCurve, month_grid, progress_curve
from .workbooks import msg_response

# The МСГ and the S-curve (docs/msg.md): read-only views of selectors; the figures are computed
# there, these serializers only shape them.


class DayColumnSerializer(serializers.Serializer):
    date = serializers.DateField()
    is_working = serializers.BooleanField()
    is_holiday = serializers.BooleanField(
        help_text="A public holiday, a day off moved for one, or a day off by exception."
    )
    is_today = serializers.BooleanField()


class GridCellSerializer(serializers.Serializer):
    date = serializers.DateField()
    plan = serializers.DecimalField(
        max_digits=None,
        decimal_places=VOLUME_DECIMALS,
        allow_null=True,
        help_text="Null on a day that is not a working day of the task.",
    )
    fact = serializers.DecimalField(
        max_digits=None,
        decimal_places=VOLUME_DECIMALS,
        allow_null=True,
        help_text="The day's reports summed; null without any.",
    )
    is_behind = serializers.BooleanField(help_text="A day before today with fact below plan.")


def _volume(value: Decimal | None) -> str | None:
    """A volume as ``DecimalField(decimal_places=3)`` writes it."""
    return None if value is None else f"{value:.{VOLUME_DECIMALS}f}"


@extend_schema_field(GridCellSerializer(many=True))
class GridCellsField(serializers.Field):
    """The cells written directly: a month of 300 tasks has 9,300 of them, and a serializer per
    cell would take several times as long as computing the grid."""

    def to_representation(self, cells: list[GridCell]) -> list[dict[str, Any]]:
        return [
            {
                "date": cell.date.isoformat(),
                "plan": _volume(cell.plan),
                "fact": _volume(cell.fact),
                "is_behind": cell.is_behind,
            }
            for cell in cells
        ]


def _decimal(places: int, **kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=None, decimal_places=places, **kwargs)


class ForecastSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ForecastStatus.choices)
    rate = _decimal(
        VOLUME_DECIMALS, allow_null=True, help_text="Average fact per report day of the window."
    )
    window_days = serializers.IntegerField(help_text="The report days the rate averages.")
    remaining = _decimal(VOLUME_DECIMALS)
    finish = serializers.DateField(allow_null=True)
    days_late = serializers.IntegerField(
        allow_null=True, help_text="Working days after the end date (negative: before it)."
    )
    is_late = serializers.BooleanField(
        help_text="Not done, and past its end date, or forecast to finish after it, or never "
        "at the current rate."
    )


class GridRowSerializer(serializers.Serializer):
    task = serializers.IntegerField(source="task.pk")
    code = serializers.CharField(source="task.code")
    name = serializers.CharField(source="task.name")
    unit = serializers.CharField(source="task.unit")
    section = serializers.CharField()
    monthly_task = serializers.IntegerField(source="monthly_task.pk", allow_null=True)
    monthly_task_version = serializers.IntegerField(source="monthly_task.version", allow_null=True)
    plan = _decimal(
        VOLUME_DECIMALS,
        help_text="The month's plan: the monthly plan, or the month's share of what no month "
        "plans; a carried-over work without a monthly plan: what was left of it at the month's "
        "start.",
    )
    unspread = _decimal(VOLUME_DECIMALS)
    fact = _decimal(VOLUME_DECIMALS, help_text="The month's reports summed.")
    percent = _decimal(1, allow_null=True)
    remaining = _decimal(VOLUME_DECIMALS, help_text="The month's plan not done yet.")
    fact_before_month = _decimal(VOLUME_DECIMALS, help_text="Reports before the month.")
    remaining_at_month_start = _decimal(
        VOLUME_DECIMALS, help_text="The work's volume less its reports before the month."
    )
    plan_to_date = _decimal(
        VOLUME_DECIMALS,
        help_text="The plan of the month's days before today (a past month: all of it; a "
        "future one: 0); a carried-over work: all of the month's plan.",
    )
    deviation_to_date = _decimal(
        VOLUME_DECIMALS, help_text="fact − plan_to_date: negative when behind."
    )
    deviation_days = _decimal(
        1,
        allow_null=True,
        help_text="deviation_to_date in working days at the month plan's daily rate; null when "
        "the month spreads no plan over a day.",
    )
    is_behind = serializers.BooleanField(help_text="deviation_to_date < 0.")
    days_left = serializers.IntegerField()
    needed_per_day = _decimal(
        VOLUME_DECIMALS,
        allow_null=True,
        help_text="To meet the month's plan: remaining / days_left, rounded up.",
    )
    remaining_total = _decimal(
        VOLUME_DECIMALS, help_text="The work's volume less all its fact up to today."
    )
    needed_per_day_to_finish = _decimal(
        VOLUME_DECIMALS,
        allow_null=True,
        help_text="To finish the work by its end date: remaining_total / working days from "
        "today to the end date (both included; past its end, to the month's last working "
        "day), rounded up; null when no working day is left.",
    )
    overdue_since = serializers.DateField(
        allow_null=True, help_text="The day after the end date, passed with work left."
    )
    is_finished = serializers.BooleanField(
        help_text="Its fact reached its volume: it is not behind, whatever its deviation."
    )
    is_carried_over = serializers.BooleanField(
        help_text="Unfinished and ending before the month: shown until it is done."
    )
    forecast = ForecastSerializer()
    cells = GridCellsField()


class GridTotalsSerializer(serializers.Serializer):
    tasks = serializers.IntegerField()
    behind = serializers.IntegerField(help_text="Rows behind: deviation_to_date < 0.")
    late = serializers.IntegerField(help_text="Rows whose work is late (forecast.is_late).")
    percent = _decimal(1, allow_null=True)


class GridSectionSerializer(serializers.Serializer):
    section = serializers.CharField()
    name = serializers.CharField(help_text="The section's name; empty when it has none.")
    totals = GridTotalsSerializer()
    rows = GridRowSerializer(many=True)


class MonthGridSerializer(serializers.Serializer):
    month = MonthSerializerField()
    today = serializers.DateField()
    weighting = serializers.ChoiceField(choices=Weighting.choices)
    days = DayColumnSerializer(many=True)
    sections = GridSectionSerializer(many=True)
    totals = GridTotalsSerializer()


class CurveSeriesSerializer(serializers.Serializer):
    tasks = serializers.IntegerField()
    planned = serializers.ListField(child=_decimal(1))
    actual = serializers.ListField(child=_decimal(1, allow_null=True))


class SectionCurveSerializer(CurveSeriesSerializer):
    section = serializers.CharField()


class ProgressCurveSerializer(serializers.Serializer):
    today = serializers.DateField()
    weighting = serializers.ChoiceField(choices=Weighting.choices)
    days = serializers.ListField(child=serializers.DateField())
    site = CurveSeriesSerializer()
    sections = serializers.SerializerMethodField()

    @extend_schema_field(SectionCurveSerializer(many=True))
    def get_sections(self, curve: ProgressCurve) -> list[dict[str, Any]]:
        return [
            {"section": name, **CurveSeriesSerializer(series).data}
            for name, series in curve.sections.items()
        ]


class SectionQuerySerializer(serializers.Serializer):
    section = serializers.CharField(
        required=False, allow_blank=True, max_length=CODE_MAX_LENGTH, default=""
    )

    def validate_section(self, value: str) -> str:
        if not is_section_code(value):
            raise serializers.ValidationError(
                _("A section is the first level of a code, the part before the first dot.")
            )
        return value


class MonthGridQuerySerializer(SectionQuerySerializer):
    month = MonthSerializerField()

    def validate_month(self, value: datetime.date) -> datetime.date:
        if not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise serializers.ValidationError(
                _("Enter a month from %(first)s to %(last)s.")
                % {"first": f"{FIRST_YEAR}-01", "last": f"{LAST_YEAR}-12"}
            )
        return value


SECTION_PARAMETER = OpenApiParameter(
    "section",
    OpenApiTypes.STR,
    description="Only the tasks whose code's first level (before the first dot) is this.",
    pattern=r"^[^.]*$",
)
ERROR_RESPONSES = {
    400: OpenApiResponse(
        OpenApiTypes.OBJECT, description="Invalid query: each parameter with its messages."
    ),
    401: OpenApiResponse(ErrorDetailSerializer, description="Not logged in."),
    403: OpenApiResponse(
        ErrorDetailSerializer, description="No view permission on tasks and daily works."
    ),
}


class ProgressView(APIView):
    """Shows tasks, their plans and their reports: view permission on tasks and daily works."""

    permission_classes = [ViewModelsPermission]
    view_models = [Task, DailyWork]

    def query(self, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
        query = serializer_class(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return {**query.validated_data, "section": query.validated_data["section"] or None}


class MonthGridView(XlsxMixin, ProgressView):
    @extend_schema(
        operation_id="progress_month",
        summary="The МСГ: a month's plan and fact per task and day",
        parameters=[
            OpenApiParameter(
                "month",
                OpenApiTypes.STR,
                required=True,
                description="The month, YYYY-MM.",
                pattern=r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$",
            ),
            SECTION_PARAMETER,
            XLSX_FORMAT_PARAMETER,
        ],
        responses=xlsx_responses(
            {200: MonthGridSerializer, **ERROR_RESPONSES},
            description="The МСГ's Excel file (docs/excel.md), for an A3 printout.",
        ),
    )
    def get(self, request: Request) -> Response | FileResponse:
        query = self.query(MonthGridQuerySerializer)
        grid = month_grid(month=query["month"], today=localdate(), section=query["section"])
        if self.wants_xlsx():
            return msg_response(grid=grid, section=query["section"], user=request.user)
        return Response(MonthGridSerializer(grid).data)


class ProgressCurveView(ProgressView):
    @extend_schema(
        operation_id="progress_curve",
        summary="The S-curve: planned against actual cumulative progress by day",
        parameters=[SECTION_PARAMETER],
        responses={200: ProgressCurveSerializer, **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        query = self.query(SectionQuerySerializer)
        curve = progress_curve(today=localdate(), section=query["section"])
        return Response(ProgressCurveSerializer(curve).data)
