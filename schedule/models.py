from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from scheduler_project.versioning import VersionedModel, VersionedQuerySet

VOLUME_DIGITS = 14
VOLUME_DECIMALS = 3


class TaskQuerySet(VersionedQuerySet["Task"]):
    def active_on(self, day) -> "TaskQuerySet":
        return self.filter(start_date__lte=day, end_date__gte=day)

    def overlapping(self, first_day, last_day) -> "TaskQuerySet":
        return self.filter(start_date__lte=last_day, end_date__gte=first_day)


class Task(VersionedModel):
    """A work item of the schedule; ``volume_fact`` is the sum of its daily works."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=255)
    unit = models.CharField(_("unit"), max_length=16)
    volume_plan = models.DecimalField(
        _("planned volume"),
        max_digits=VOLUME_DIGITS,
        decimal_places=VOLUME_DECIMALS,
        validators=[MinValueValidator(Decimal(0))],
    )
    volume_fact = models.DecimalField(
        _("volume done"),
        max_digits=VOLUME_DIGITS,
        decimal_places=VOLUME_DECIMALS,
        default=Decimal(0),
        editable=False,
    )
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["code", "id"]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_date__gte=models.F("start_date")),
                name="task_end_not_before_start",
                violation_error_message=_("The end date cannot be before the start date."),
            ),
            models.CheckConstraint(
                condition=models.Q(volume_plan__gte=0),
                name="task_volume_plan_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding and kwargs.get("update_fields") is None:
            # ``volume_fact`` is written only by task_recalculate_volume_fact: a copy loaded before
            # a daily work changed (an admin form, a script) must not put the old sum back.
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name != "volume_fact"
            ]
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValidationError({"end_date": _("The end date cannot be before the start date.")})

    @property
    def progress_percent(self) -> Decimal:
        """Share of the planned volume done, rounded to one decimal (0 when nothing is planned)."""
        if not self.volume_plan:
            return Decimal(0)
        return (Decimal(self.volume_fact) * 100 / Decimal(self.volume_plan)).quantize(
            Decimal("0.1")
        )


class CalendarDayQuerySet(VersionedQuerySet["CalendarDay"]):
    def between(self, first_day, last_day) -> "CalendarDayQuerySet":
        return self.filter(date__gte=first_day, date__lte=last_day)


class CalendarDay(VersionedModel):
    """An exception to the working calendar: a day off on a working weekday, or a working day on
    a weekend or public holiday (a transferred Saturday). It wins over the weekdays and holidays
    (schedule/working_days.py)."""

    date = models.DateField(_("date"), unique=True)
    is_working = models.BooleanField(
        _("working day"),
        help_text=_("Ticked: the site works that day; unticked: a day off."),
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = CalendarDayQuerySet.as_manager()

    class Meta:
        ordering = ["date"]
        verbose_name = _("calendar exception")
        verbose_name_plural = _("calendar exceptions")

    def __str__(self) -> str:
        return f"{self.date.isoformat()} {_('working day') if self.is_working else _('day off')}"
