import datetime
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from schedule.forms import DateInput, VolumeField, VolumeInput
from schedule.models import Task
from scheduler_project.pages import VersionedModelForm

from .models import DailyWork


class DayForm(forms.Form):
    """The ``?date=YYYY-MM-DD`` of the daily order page."""

    date = forms.DateField(label=_("Date"), widget=DateInput, input_formats=["%Y-%m-%d"])


def _is_running(task: Task, day: datetime.date) -> bool:
    """Within its dates on ``day``, or past its end date and unfinished (overdue: carried over
    on the МСГ, docs/msg.md), so the foreman finds it first."""
    if day < task.start_date:
        return False
    return day <= task.end_date or task.volume_fact < task.volume_plan


class DailyWorkForm(VersionedModelForm):
    """``created_by`` is not here: the service sets it to the user who enters the work.

    The task list puts the tasks that run on ``day`` (by the schedule) first, since those are
    the ones a foreman usually reports; the others stay choosable (work ahead or behind time).
    """

    class Meta:
        model = DailyWork
        fields = ["task", "date", "volume", "description"]
        field_classes = {"volume": VolumeField}
        widgets = {
            "date": DateInput,
            "volume": VolumeInput,
            "description": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args: Any, day: datetime.date | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["task"]
        field.queryset = Task.objects.all()
        if day is None:
            day = self.instance.date if self.instance.pk else self.initial.get("date")
        tasks = list(field.queryset)  # in Task's order
        choices = [(task.pk, str(task)) for task in tasks]
        if isinstance(day, datetime.date):
            running = [(task.pk, str(task)) for task in tasks if _is_running(task, day)]
            others = [(task.pk, str(task)) for task in tasks if not _is_running(task, day)]
            if running and others:
                choices = [(_("Running on this day"), running), (_("Other tasks"), others)]
        field.choices = [("", _("Choose a task")), *choices]
