from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models import Sum
from django.utils.translation import gettext_lazy as _

from realtime.context import recording_causes
from schedule.models import VOLUME_DECIMALS, VOLUME_DIGITS, Task
from schedule.services import task_recalculate_volume_fact
from scheduler_project.versioning import VersionedModel, VersionedQuerySet

MIN_VOLUME = Decimal("0.001")
# The largest value Task.volume_fact can hold.
MAX_TASK_TOTAL = Decimal(10) ** (VOLUME_DIGITS - VOLUME_DECIMALS) - MIN_VOLUME


class DailyWorkQuerySet(VersionedQuerySet["DailyWork"]):
    """Bulk paths keep ``Task.volume_fact`` right too, since they bypass ``save``/``delete``.

    Every write here and in ``DailyWork`` records the tasks' recalculation as the consequence
    of the works' changes (``recording_causes``: the history and the notices tell the report,
    not a change of its task)."""

    def on_date(self, day) -> "DailyWorkQuerySet":
        return self.filter(date=day)

    def delete(self) -> tuple[int, dict[str, int]]:
        with transaction.atomic(), recording_causes():
            task_ids = set(self.values_list("task_id", flat=True))
            result = super().delete()
            task_recalculate_volume_fact(task_ids=task_ids)
        return result

    def update(self, **kwargs: Any) -> int:
        new_task = kwargs.get("task", kwargs.get("task_id"))
        with transaction.atomic(), recording_causes():
            if hasattr(new_task, "resolve_expression"):
                # The new tasks come from an expression (bulk_update sends a Case): read them back.
                pks = list(self.values_list("pk", flat=True))
                task_ids = set(self.values_list("task_id", flat=True))
                count = super().update(**kwargs)
                moved = self.model._default_manager.filter(pk__in=pks)
                task_ids.update(moved.values_list("task_id", flat=True))
            else:
                task_ids = set(self.values_list("task_id", flat=True))
                count = super().update(**kwargs)
                if new_task is not None:
                    task_ids.add(getattr(new_task, "pk", new_task))
            task_recalculate_volume_fact(task_ids=task_ids)
        return count

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list["DailyWork"]:
        with transaction.atomic(), recording_causes():
            created = super().bulk_create(objs, *args, **kwargs)
            task_recalculate_volume_fact(task_ids={obj.task_id for obj in created})
        return created

    def bulk_update(self, objs: Any, fields: Any, *args: Any, **kwargs: Any) -> int:
        objs = list(objs)
        with transaction.atomic(), recording_causes():
            task_ids = set(
                self.model._default_manager.filter(pk__in=[o.pk for o in objs]).values_list(
                    "task_id", flat=True
                )
            )
            count = super().bulk_update(objs, fields, *args, **kwargs)
            task_recalculate_volume_fact(task_ids=task_ids | {o.task_id for o in objs})
        return count


class DailyWork(VersionedModel):
    """Volume of a task done on a day. Saving or deleting one recalculates the task's fact."""

    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="daily_works", verbose_name=_("task")
    )
    date = models.DateField(_("date"), db_index=True)
    volume = models.DecimalField(
        _("volume"),
        max_digits=VOLUME_DIGITS,
        decimal_places=VOLUME_DECIMALS,
        validators=[MinValueValidator(MIN_VOLUME)],
    )
    description = models.TextField(_("description"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = DailyWorkQuerySet.as_manager()

    class Meta:
        ordering = ["date", "task", "id"]  # "task": in Task's order
        verbose_name = _("daily work")
        verbose_name_plural = _("daily works")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(volume__gt=0),
                name="daily_work_volume_positive",
                violation_error_message=_("The volume must be greater than zero."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.task.code}: {self.volume}"

    def clean(self) -> None:
        if self.task_id is None or not isinstance(self.volume, Decimal):
            return
        others = DailyWork.objects.filter(task_id=self.task_id).exclude(pk=self.pk)
        total = others.aggregate(total=Sum("volume"))["total"] or Decimal(0)
        if total + self.volume > MAX_TASK_TOTAL:
            raise ValidationError(
                {
                    "volume": _("The task's total volume done cannot exceed %(max)s.")
                    % {"max": MAX_TASK_TOTAL}
                }
            )

    def save(self, *args: Any, **kwargs: Any) -> None:
        with transaction.atomic(), recording_causes():
            previous_task_id = None
            if not self._state.adding:
                previous_task_id = (
                    type(self)._base_manager.filter(pk=self.pk).values_list("task_id", flat=True)
                ).first()
            super().save(*args, **kwargs)
            task_recalculate_volume_fact(task_ids={self.task_id, previous_task_id})

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        with transaction.atomic(), recording_causes():
            result = super().delete(*args, **kwargs)
            task_recalculate_volume_fact(task_ids={self.task_id})
        return result
