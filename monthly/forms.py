from typing import Any

from django import forms
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from daily.forms import DailyWorkForm
from schedule.forms import VolumeInput
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


class _PlanForm(VersionedModelForm):
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
        widgets = {"task": forms.HiddenInput, "volume_plan": VolumeInput}


class MonthlyTaskUpdateForm(_PlanForm):
    class Meta:
        model = MonthlyTask
        fields = ["volume_plan"]
        widgets = {"volume_plan": VolumeInput}


class CellWorkForm(DailyWorkForm):
    """A day's work entered in its МСГ cell: the cell gives the task and the date."""

    class Meta(DailyWorkForm.Meta):
        widgets = {
            **DailyWorkForm.Meta.widgets,
            "task": forms.HiddenInput,
            "date": forms.HiddenInput,
        }
