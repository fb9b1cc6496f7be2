import datetime
from html import escape
from typing import Any

from django import forms
from django.forms.renderers import DjangoTemplates
from django.http import HttpRequest
from django.utils.formats import date_format
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from schedule.forms import VolumeField, VolumeInput
from schedule.models import Task
from scheduler_project.numbers import input_number
from scheduler_project.pages import VersionedModelForm

from .fields import MonthFormField
from .models import MonthlyTask


class MonthForm(forms.Form):
    """The ``?month=YYYY-MM`` of the monthly order page."""

    month = MonthFormField(
        label=_("Month"),
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"}),
    )


def row_auto_id(task_id: object) -> str:
    """Each row of the order has its own form; ids stay unique per task."""
    return f"plan-{task_id}-%s" if str(task_id).isdigit() else "plan-%s"


class _InputsRenderer(DjangoTemplates):
    """Django's form renderer, writing plain ``<input>`` widgets in Python: the МСГ has a plan
    form in each of its hundreds of rows, and each input took three nested templates
    (``number.html`` → ``input.html`` → ``attrs.html``), whose markup this repeats."""

    INPUTS = frozenset(
        f"django/forms/widgets/{name}.html" for name in ("input", "hidden", "number", "text")
    )

    def render(
        self, template_name: str, context: dict[str, Any], request: HttpRequest | None = None
    ) -> str:
        if template_name not in self.INPUTS:
            return super().render(template_name, context, request)
        widget = context["widget"]
        value = widget["value"]
        attributes = "".join(
            f" {escape(name)}" if setting is True else f' {escape(name)}="{escape(str(setting))}"'
            for name, setting in widget["attrs"].items()
            if setting is not False
        )
        shown = "" if value is None else f' value="{escape(str(value))}"'
        return mark_safe(
            f'<input type="{escape(widget["type"])}" name="{escape(widget["name"])}"'
            f"{shown}{attributes}>"
        )


class _PlanForm(VersionedModelForm):
    default_renderer = _InputsRenderer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        task = self.instance.task if self.instance.task_id else self.initial.get("task")
        month = self.instance.month or self.initial.get("month")
        if task is not None and month is not None and hasattr(task, "code"):
            self.fields["volume_plan"].widget.attrs["aria-label"] = _(
                "Plan of %(task)s for %(month)s"
            ) % {"task": task.code, "month": date_format(month, "YEAR_MONTH_FORMAT")}


class MonthlyTaskCreateForm(_PlanForm):
    """A plan for a task and month that have none yet; the row carries both as hidden fields."""

    month = MonthFormField(widget=forms.HiddenInput)

    class Meta:
        model = MonthlyTask
        fields = ["task", "month", "volume_plan"]
        field_classes = {"volume_plan": VolumeField}
        widgets = {"task": forms.HiddenInput, "volume_plan": VolumeInput}


class MonthlyTaskUpdateForm(_PlanForm):
    class Meta:
        model = MonthlyTask
        fields = ["volume_plan"]
        field_classes = {"volume_plan": VolumeField}
        widgets = {"volume_plan": VolumeInput}


class PlanInputs:
    """The inputs of a row's unbound plan form, as ``MonthlyTaskUpdateForm`` (a task with a
    plan) or ``MonthlyTaskCreateForm`` (without) renders them, written directly: the МСГ has a
    plan form in each of its hundreds of rows, and making the forms took a third of the page's
    time. monthly/tests/test_forms.py holds both to the forms' markup."""

    def __init__(self, month: datetime.date) -> None:
        self.month = month.isoformat()
        self.label = str(_("Plan of %(task)s for %(month)s"))
        self.month_label = date_format(month, "YEAR_MONTH_FORMAT")
        widget = MonthlyTaskUpdateForm.base_fields["volume_plan"].widget
        self.volume_attributes = "".join(
            f' {escape(name)}="{escape(str(value))}"' for name, value in widget.attrs.items()
        )

    def __call__(
        self, task: Task, plan: MonthlyTask | None, *, placeholder: str = ""
    ) -> tuple[str, str]:
        """The hidden inputs, and the plan's input (``placeholder``: what an empty one
        shows)."""
        prefix = row_auto_id(task.pk).removesuffix("%s")
        label = escape(self.label % {"task": task.code, "month": self.month_label})
        if plan is None:
            hidden = (
                f'<input type="hidden" name="task" value="{task.pk}" id="{prefix}task">'
                f'<input type="hidden" name="month" value="{self.month}" id="{prefix}month">'
            )
            value = f' placeholder="{escape(placeholder)}"' if placeholder else ""
        else:
            hidden = (
                f'<input type="hidden" name="version" value="{plan.version}" id="{prefix}version">'
            )
            value = f' value="{escape(input_number(plan.volume_plan))}"'
        return hidden, (
            f'<input type="text" name="volume_plan"{value}{self.volume_attributes}'
            f' aria-label="{label}" required id="{prefix}volume_plan">'
        )
