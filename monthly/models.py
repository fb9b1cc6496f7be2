import datetime
from decimal import Decimal
from typing import Any

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from schedule.models import VOLUME_DECIMALS, VOLUME_DIGITS, Task, validate_whole_plan
from scheduler_project.months import first_of_month
from scheduler_project.versioning import VersionedModel, VersionedQuerySet

from .fields import format_month


class MonthlyTaskQuerySet(VersionedQuerySet["MonthlyTask"]):
    def for_month(self, month: datetime.date) -> "MonthlyTaskQuerySet":
        return self.filter(month=first_of_month(month))


class MonthlyTask(VersionedModel):
    """How much of a task is planned for a month; ``month`` is always the first of the month."""

    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="monthly_tasks", verbose_name=_("task")
    )
    month = models.DateField(_("month"), db_index=True)
    volume_plan = models.DecimalField(
        _("planned volume"),
        max_digits=VOLUME_DIGITS,
        decimal_places=VOLUME_DECIMALS,
        validators=[MinValueValidator(Decimal(0))],
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = MonthlyTaskQuerySet.as_manager()

    class Meta:
        ordering = ["month", "task", "id"]  # "task": in Task's order
        verbose_name = _("monthly order")
        verbose_name_plural = _("monthly orders")
        constraints = [
            models.UniqueConstraint(
                fields=["task", "month"],
                name="monthly_task_one_per_task_and_month",
                violation_error_message=_("This task already has a plan for this month."),
            ),
            models.CheckConstraint(
                condition=models.Q(volume_plan__gte=0),
                name="monthly_task_volume_plan_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(month__day=1),
                name="monthly_task_month_is_first_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{format_month(self.month)} {self.task.code}: {self.volume_plan}"

    def clean(self) -> None:
        if self.month:
            self.month = first_of_month(self.month)
        if self.task_id is not None and isinstance(self.volume_plan, Decimal):
            validate_whole_plan(unit=self.task.unit, volume=self.volume_plan, field="volume_plan")

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.month:
            self.month = first_of_month(self.month)
        super().save(*args, **kwargs)
