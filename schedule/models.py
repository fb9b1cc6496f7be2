import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from scheduler_project.numbers import format_volume, percent
from scheduler_project.versioning import VersionedModel, VersionedQuerySet

VOLUME_DIGITS = 14
VOLUME_DECIMALS = 3
CODE_MAX_LENGTH = 32
UNIT_MAX_LENGTH = 16
COST_DIGITS = 16
COST_DECIMALS = 2
# casefold() makes a character at most three, and each one costs at most eight digits of key.
CODE_KEY_MAX_LENGTH = 3 * CODE_MAX_LENGTH * 8

_NUMBERS = re.compile(r"([0-9]+)")
_CHARACTER_OFFSET = 2_000_000  # every code point becomes 7 digits starting with 2 or 3


def task_section(code: str) -> str:
    """The first level of a code, which groups tasks into sections: ``2`` for ``2.1.3``."""
    return code.partition(".")[0]


def is_section_code(value: str) -> bool:
    """Whether ``value`` could be a code's first level (``task_section``): no dot, no longer than
    a code, no NUL (no code holds one, and PostgreSQL refuses it in a query)."""
    return "." not in value and "\x00" not in value and len(value) <= CODE_MAX_LENGTH


def task_code_key(code: str) -> str:
    """The key that orders codes as people read them: ``1.2`` < ``1.10`` < ``2.1`` < ``10.1``.

    The database sorts this key as text, so the order is the same in every query, the API,
    admin and the pages. A code is split into runs of ASCII digits and runs of anything else
    (case-folded, so ``A-3`` < ``a-10`` < ``B-2``). A number becomes ``1``, its digit count in
    two digits and its digits without leading zeros (``10`` → ``10210``); other text becomes
    ``2`` and each character's code point plus 2 000 000 (``.`` → ``22000046``). At each run a
    number sorts before text and a code before its own continuations, as in ``1`` < ``1.1`` <
    ``1a``. The key holds digits only: any collation (PostgreSQL's locale ones ignore
    punctuation) sorts it the same way as SQLite and JavaScript do.
    """
    tokens = []
    for index, run in enumerate(_NUMBERS.split(code.casefold())):
        if index % 2:
            digits = run.lstrip("0") or "0"
            tokens.append(f"1{len(digits):02d}{digits}")
        elif run:
            tokens.append("2" + "".join(str(ord(char) + _CHARACTER_OFFSET) for char in run))
    return "".join(tokens)


USUAL_UNITS = {
    "м³": 1,
    "м²": 1,
    "м": 1,
    "п.м": 1,
    "км": 3,
    "т": 2,
    "кг": 0,
    "л": 0,
    "шт": 0,
    "компл": 0,
}
"""The usual units of a Russian site with the decimals their volumes are shown with (0: whole
units): seeded by the migration that made units, and by the demo."""


class UnitQuerySet(models.QuerySet["Unit"]):
    def decimals(self) -> dict[str, int]:
        """Each unit's decimals by name: one query, for a page's or a file's figures."""
        return dict(self.values_list("name", "decimals"))


class Unit(models.Model):
    """A unit works are measured in (м³, т, шт…), kept in admin. Its ``decimals`` are how its
    volumes are shown everywhere (stored values keep ``VOLUME_DECIMALS``); 0 counts it in whole
    units: a month's plan is spread in whole units a day and the rate needed rounds up to one.
    A task's unit is one of these, by name (``Task.clean``)."""

    name = models.CharField(_("name"), max_length=UNIT_MAX_LENGTH, unique=True)
    decimals = models.PositiveSmallIntegerField(
        _("decimals"),
        default=1,
        validators=[MaxValueValidator(VOLUME_DECIMALS)],
        help_text=_("How many decimal places its volumes are shown with; 0: whole units."),
    )

    objects = UnitQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(decimals__lte=VOLUME_DECIMALS), name="unit_decimals_at_most_3"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_whole(self) -> bool:
        return self.decimals == 0


def unit_quantum(decimals: int) -> Decimal:
    """The smallest step of a unit's shown volumes: 1 for whole units, 0.1 for one decimal."""
    return Decimal(1).scaleb(-decimals)


_units_read: ContextVar[dict[str, int] | None] = ContextVar("units_read", default=None)


@contextmanager
def units_read_once() -> Iterator[None]:
    """Inside the block, the unit rules (``validate_known_unit``, ``validate_whole_plan``) read
    the units kept in admin once, not a query per value: an import checks thousands of rows."""
    if _units_read.get() is not None:
        yield
        return
    token = _units_read.set(Unit.objects.decimals())
    try:
        yield
    finally:
        _units_read.reset(token)


def _unit_is_kept(name: str) -> bool:
    units = _units_read.get()
    return name in units if units is not None else Unit.objects.filter(name=name).exists()


def _unit_is_whole(name: str) -> bool:
    units = _units_read.get()
    if units is not None:
        return units.get(name) == 0
    return Unit.objects.filter(name=name, decimals=0).exists()


def validate_whole_plan(*, unit: str, volume: Decimal | None, field: str) -> None:
    """A unit counted in whole units (``Unit.decimals`` 0) is planned in whole units."""
    if volume is None or volume == volume.to_integral_value():
        return
    if _unit_is_whole(unit):
        raise ValidationError(
            {
                field: _("%(unit)s are counted in whole units: %(volume)s is not a whole number.")
                % {"unit": unit, "volume": format_volume(volume)}
            }
        )


def validate_known_unit(name: str) -> None:
    """A task's unit is one kept in admin; the message lists them (as the import shows it).
    A name too long for any unit is left to the field's length rule, said once."""
    if len(name) <= UNIT_MAX_LENGTH and not _unit_is_kept(name):
        known = ", ".join(Unit.objects.values_list("name", flat=True))
        raise ValidationError(
            _("Unknown unit “%(unit)s”. The units kept in admin: %(known)s."),
            code="unknown_unit",
            params={"unit": name, "known": known},
        )


def unit_decimals_of(unit: str | models.Expression = "unit") -> models.Expression:
    """The decimals of the unit named by ``unit`` (a field path), as a subquery: all the stored
    decimals for a unit not kept in admin (a script's task)."""
    decimals = Unit.objects.filter(name=models.OuterRef(unit)).values("decimals")[:1]
    return models.functions.Coalesce(
        models.Subquery(decimals), models.Value(VOLUME_DECIMALS), output_field=models.IntegerField()
    )


class SectionQuerySet(models.QuerySet["Section"]):
    def names(self) -> dict[str, str]:
        """Each section's name by code: one query, for a page's or a file's section rows."""
        return dict(self.values_list("code", "name"))


class Section(models.Model):
    """A section of the schedule (раздел): the tasks whose code's first level is ``code``
    (``task_section``), named for the pages and files. Kept in admin; a section without a name
    is shown by its code alone."""

    code = models.CharField(
        _("code"),
        max_length=CODE_MAX_LENGTH,
        unique=True,
        validators=[
            RegexValidator(
                r"^[^.]+$",
                _("A section is the first level of a code, the part before the first dot."),
            )
        ],
    )
    name = models.CharField(_("name"), max_length=255)

    objects = SectionQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        verbose_name = _("section")
        verbose_name_plural = _("sections")

    def __str__(self) -> str:
        return section_title(self.code, {self.code: self.name})


def section_title(code: str, names: dict[str, str]) -> str:
    """«Раздел 4 — Монолитные работы»: how every page and file names a section."""
    name = names.get(code, "")
    if name:
        return gettext("Section %(code)s — %(name)s") % {"code": code, "name": name}
    return gettext("Section %(name)s") % {"name": code}


class TaskQuerySet(VersionedQuerySet["Task"]):
    """Bulk paths keep ``code_key`` in step with ``code``, since they bypass ``save``."""

    def with_unit_decimals(self) -> "TaskQuerySet":
        """Each task with ``unit_decimals``, how its volumes are shown (``Unit.decimals``)."""
        return self.annotate(unit_decimals=unit_decimals_of())

    def active_on(self, day) -> "TaskQuerySet":
        return self.filter(start_date__lte=day, end_date__gte=day)

    def overlapping(self, first_day, last_day) -> "TaskQuerySet":
        return self.filter(start_date__lte=last_day, end_date__gte=first_day)

    def in_section(self, section: str) -> "TaskQuerySet":
        """Tasks whose code's first level is ``section`` (``task_section``)."""
        return self.filter(models.Q(code=section) | models.Q(code__startswith=f"{section}."))

    def update(self, **kwargs: Any) -> int:
        if "code" in kwargs and "code_key" not in kwargs:
            code = kwargs["code"]
            if not isinstance(code, str):
                raise TypeError(
                    "update(code=...) takes a string: the sort key of an expression is unknown "
                    "to the database; save() the tasks or use bulk_update() instead."
                )
            kwargs["code_key"] = task_code_key(code)
        return super().update(**kwargs)

    def bulk_create(self, objs: Iterable["Task"], *args: Any, **kwargs: Any) -> list["Task"]:
        objs = list(objs)
        for obj in objs:
            obj.code_key = task_code_key(obj.code)
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(
        self, objs: Iterable["Task"], fields: Iterable[str], *args: Any, **kwargs: Any
    ) -> int:
        objs, fields = list(objs), list(fields)
        if "code" in fields:
            for obj in objs:
                obj.code_key = task_code_key(obj.code)
            fields.append("code_key")
        return super().bulk_update(objs, fields, *args, **kwargs)


class Task(VersionedModel):
    """A work item of the schedule; ``volume_fact`` is the sum of its daily works."""

    code = models.CharField(_("code"), max_length=CODE_MAX_LENGTH, unique=True)
    # Kept by save() and the bulk paths; the one order of tasks (Meta.ordering, selectors, admin).
    code_key = models.CharField(max_length=CODE_KEY_MAX_LENGTH, editable=False)
    name = models.CharField(_("name"), max_length=255)
    unit = models.CharField(_("unit"), max_length=UNIT_MAX_LENGTH, validators=[validate_known_unit])
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
    estimated_cost = models.DecimalField(
        _("estimated cost"),
        max_digits=COST_DIGITS,
        decimal_places=COST_DECIMALS,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text=_(
            "The work's cost in the estimate; when every task has one, progress is weighted by it."
        ),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["code_key", "id"]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        indexes = [models.Index(fields=["code_key", "id"], name="task_code_order")]
        constraints = [
            # A fixture row without its key fails here instead of sorting first unnoticed.
            models.CheckConstraint(
                condition=~models.Q(code_key=""),
                name="task_code_key_set",
            ),
            models.CheckConstraint(
                condition=models.Q(end_date__gte=models.F("start_date")),
                name="task_end_not_before_start",
                violation_error_message=_("The end date cannot be before the start date."),
            ),
            models.CheckConstraint(
                condition=models.Q(volume_plan__gte=0),
                name="task_volume_plan_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(estimated_cost__gte=0) | models.Q(estimated_cost__isnull=True),
                name="task_estimated_cost_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.code_key = task_code_key(self.code)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "code" in update_fields:
            kwargs["update_fields"] = {*update_fields, "code_key"}
        if not self._state.adding and update_fields is None:
            # ``volume_fact`` is written only by task_recalculate_volume_fact: a copy loaded before
            # a daily work changed (an admin form, a script) must not put the old sum back.
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name != "volume_fact"
            ]
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if isinstance(self.code, str):
            self.code_key = task_code_key(self.code)  # before full_clean checks its constraint
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValidationError({"end_date": _("The end date cannot be before the start date.")})
        if isinstance(self.unit, str) and isinstance(self.volume_plan, Decimal):
            validate_whole_plan(unit=self.unit, volume=self.volume_plan, field="volume_plan")

    @property
    def progress_percent(self) -> Decimal:
        """Share of the planned volume done, rounded to one decimal (0 when nothing is planned)."""
        if not self.volume_plan:
            return Decimal(0)
        return percent(self.volume_fact, self.volume_plan)


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


class ImportPlanQuerySet(models.QuerySet["ImportPlan"]):
    def live(self) -> "ImportPlanQuerySet":
        return self.filter(expires_at__gt=timezone.now())


class ImportPlan(models.Model):
    """A previewed import kept between its preview and its apply (docs/excel.md): the parsed
    sheet and what the preview saw (``schedule.import_plans.plan_to_data``), as compressed
    JSON. The page carries only its ``token``; a plan is found by its token and the user who
    previewed it, until ``expires_at``. Several processes share it through the database."""

    token = models.CharField(_("token"), max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    data = models.BinaryField(_("data"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), db_index=True)

    objects = ImportPlanQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("import plan")
        verbose_name_plural = _("import plans")

    def __str__(self) -> str:
        return f"{self.user_id} {self.created_at.isoformat()}"
