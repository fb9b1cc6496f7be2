import datetime
from decimal import Decimal

from django.db.models import QuerySet, Sum

from schedule.models import unit_decimals_of

from .models import DailyWork


def daily_work_list() -> QuerySet[DailyWork]:
    """Works with their task and author, each with the decimals its volume is shown with
    (``task_unit_decimals``, its task's unit's)."""
    return (
        DailyWork.objects.select_related("task", "created_by")
        .annotate(task_unit_decimals=unit_decimals_of("task__unit"))
        .order_by("date", "task", "id")
    )


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
