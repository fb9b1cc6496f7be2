from django import forms
from django.utils.translation import gettext_lazy as _

from scheduler_project.pages import VersionedModelForm

from .models import Task


class DateInput(forms.DateInput):
    """The browser's date picker; it sends and expects ISO dates whatever the language."""

    input_type = "date"

    def __init__(self, attrs: dict[str, str] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class VolumeInput(forms.NumberInput):
    def __init__(self, attrs: dict[str, str] | None = None) -> None:
        super().__init__(
            attrs={"step": "0.001", "min": "0", "inputmode": "decimal", **(attrs or {})}
        )


class TaskForm(VersionedModelForm):
    """``volume_fact`` is not here: it is the sum of the task's daily works."""

    class Meta:
        model = Task
        fields = ["code", "name", "unit", "volume_plan", "start_date", "end_date"]
        widgets = {
            "unit": forms.TextInput(attrs={"list": "unit-options", "autocomplete": "off"}),
            "volume_plan": VolumeInput,
            "start_date": DateInput,
            "end_date": DateInput,
        }


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Schedule file (.xlsx)"),
        widget=forms.ClearableFileInput(
            attrs={
                "accept": ".xlsx,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        ),
    )
