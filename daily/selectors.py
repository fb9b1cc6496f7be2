import datetime
from decimal import Decimal

from django.db.models import QuerySet, Sum

from .models import DailyWork


def daily_work_list() -> QuerySet[DailyWork]:
    return DailyWork.objects.select_related("task", "created_by").order_by("date", "task", "id")


def daily_work_totals_by_unit(*, day: datetime.date) -> list[tuple[str, Decimal]]:
    """The day's volumes summed per unit (adding m³ to tonnes would mean nothing)."""
    rows = (
        DailyWork.objects.on_date(day)
        .order_by("task__unit")
        .values("task__unit")
        .annotate(total=Sum("volume"))
        .values_list("task__unit", "total")
    )
    return list(rows)
