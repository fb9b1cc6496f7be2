from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from scheduler_project.numbers import (
    NotANumber,
    input_number,
    not_a_number_message,
    parse_number,
)
from scheduler_project.pages import VersionedModelForm

from .models import Task


class DateInput(forms.DateInput):
    """The browser's date picker; it sends and expects ISO dates whatever the language."""

    input_type = "date"

    def __init__(self, attrs: dict[str, str] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class VolumeInput(forms.TextInput):
    """A volume as the page's language writes it (``1905,5`` in Russian). A text input: an
    ``<input type=number>`` parses in the browser's locale (an en-US browser reads «190,5» as
    1905); ``VolumeField`` parses what is typed on the server."""

    def __init__(self, attrs: dict[str, str] | None = None) -> None:
        super().__init__(
            attrs={"inputmode": "decimal", "autocomplete": "off", "spellcheck": "false"}
            | (attrs or {})
        )

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
            return input_number(Decimal(str(value)))
        return super().format_value(value)  # what was typed, shown again as it was


class VolumeField(forms.DecimalField):
    """A volume typed as the page's language writes numbers (scheduler_project/numbers.py):
    «190,5» and «1 905,5» on Russian pages, «1,905.5» on English ones; anything else is refused
    naming it. Never read as another number than the one typed."""

    widget = VolumeInput

    def to_python(self, value: Any) -> Decimal | None:
        if isinstance(value, str) and value.strip() not in self.empty_values:
            try:
                value = parse_number(value)
            except NotANumber:
                raise ValidationError(not_a_number_message(value), code="invalid") from None
        return super().to_python(value)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        return forms.Field.widget_attrs(self, widget)  # no number input's step, min or max


class TaskForm(VersionedModelForm):
    """``volume_fact`` is not here: it is the sum of the task's daily works."""

    class Meta:
        model = Task
        fields = ["code", "name", "unit", "volume_plan", "start_date", "end_date"]
        field_classes = {"volume_plan": VolumeField}
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
