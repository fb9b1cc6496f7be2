"""A month written as ``YYYY-MM`` on the wire and in URLs, stored as its first day."""

import datetime

from django import forms
from django.utils.translation import gettext_lazy as _

MONTH_FORMAT = "%Y-%m"


def format_month(day: datetime.date) -> str:
    """``YYYY-MM``; not ``strftime``, which does not zero-pad years before 1000 everywhere."""
    return f"{day.year:04}-{day.month:02}"


def parse_month(value: str) -> datetime.date:
    """``YYYY-MM`` (or a full ``YYYY-MM-DD`` date) → the first day of that month."""
    value = value.strip()
    for fmt in (MONTH_FORMAT, "%Y-%m-%d"):
        try:
            return datetime.datetime.strptime(value, fmt).date().replace(day=1)
        except ValueError:
            continue
    raise ValueError(value)


class MonthFormField(forms.Field):
    default_error_messages = {"invalid": _("Enter a month as YYYY-MM, e.g. 2026-11.")}

    def to_python(self, value: object) -> datetime.date | None:
        if value in self.empty_values:
            return None
        if isinstance(value, datetime.date):
            return value.replace(day=1)
        try:
            return parse_month(str(value))
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
