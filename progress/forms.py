"""The МСГ's day cell: a day's work of a task entered in its cell (the daily works' form)."""

from django import forms

from daily.forms import DailyWorkForm
from daily.models import DailyWork
from schedule.forms import VolumeField, VolumeInput


class CellWorkForm(DailyWorkForm):
    """A day's work entered in its МСГ cell: the cell gives the task and the date."""

    class Meta(DailyWorkForm.Meta):
        widgets = {
            **DailyWorkForm.Meta.widgets,
            "task": forms.HiddenInput,
            "date": forms.HiddenInput,
        }


class CellDialogForm(forms.ModelForm):
    """The МСГ's day dialog: the cell form's volume and description, which the page sends
    through the outbox to the API (it validates them, in the page's language). The cell gives
    the task and the date; a ``CellWorkForm`` would build every task's choice for nothing."""

    class Meta:
        model = DailyWork
        fields = ["volume", "description"]
        field_classes = {"volume": VolumeField}
        widgets = {
            "volume": VolumeInput,
            "description": DailyWorkForm.Meta.widgets["description"],
        }
