"""The schedule sheet's layout, shared by the export (``schedule/workbooks.py``) and the import
(``schedule/imports.py``): a file the app writes is one it reads back.

Headings are a file format that people exchange, so they have their own translation context
(``sheet``): a page's wording can change without breaking files. The import recognises each
heading in every language of ``settings.LANGUAGES``, whatever the user's language.
"""

import datetime
import re
from dataclasses import dataclass

from django.conf import settings
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

from monthly.fields import format_month

EXPORTED_AT_PROPERTY = "Exported at"
"""The workbook's custom document property with the export's time (ISO 8601): the import
merges a monthly plan changed in the app since then as a stale write."""


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    heading: Promise
    imported: bool
    """Read by the import; False for figures the app computes (ignored when present)."""
    required: bool
    """The import refuses a sheet without it."""


SCHEDULE_COLUMNS: tuple[Column, ...] = (
    Column("code", pgettext_lazy("sheet", "Code"), imported=True, required=True),
    Column("name", pgettext_lazy("sheet", "Name"), imported=True, required=True),
    Column("unit", pgettext_lazy("sheet", "Unit"), imported=True, required=True),
    Column("volume_plan", pgettext_lazy("sheet", "Planned volume"), imported=True, required=True),
    Column("volume_fact", pgettext_lazy("sheet", "Volume done"), imported=False, required=False),
    Column("progress", pgettext_lazy("sheet", "Progress, %"), imported=False, required=False),
    Column("start_date", pgettext_lazy("sheet", "Start"), imported=True, required=True),
    Column("end_date", pgettext_lazy("sheet", "End"), imported=True, required=True),
    Column(
        "forecast_finish", pgettext_lazy("sheet", "Forecast finish"), imported=False, required=False
    ),
    Column(
        "estimated_cost", pgettext_lazy("sheet", "Estimated cost"), imported=True, required=False
    ),
    Column("version", pgettext_lazy("sheet", "Version"), imported=True, required=False),
)
"""In the export's order. After them come the monthly plans, one column per month headed by the
month (``month_heading``)."""

SECTION_TOTAL = pgettext_lazy("sheet", "Section %(section)s total")
"""The name cell of a section's subtotal row (its code cell is empty); the import skips it."""

SECTION_TOTAL_MAX_LENGTH = 1000
"""A longer name cell is no subtotal's (its code and name are at most 32 and 255 characters)."""

SCHEDULE_SHEET_TITLE = pgettext_lazy("sheet", "Schedule")


def _normalized(text: str) -> str:
    return " ".join(text.split()).casefold().replace("ё", "е")


def heading_keys() -> dict[str, str]:
    """Each column's heading in every language, normalised (``normalized_heading``) → its key."""
    keys = {}
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            for column in SCHEDULE_COLUMNS:
                keys[_normalized(str(column.heading))] = column.key
    return keys


def normalized_heading(text: str) -> str:
    """A heading as the import compares it: case, runs of whitespace and ё/е ignored."""
    return _normalized(text)


def month_heading(month: datetime.date) -> str:
    """The heading of a month's plan column: ``YYYY-MM``, as months are written in URLs."""
    return format_month(month)


_MONTH_HEADINGS = (
    re.compile(r"(?P<year>\d{4})-(?P<month>\d{1,2})"),  # 2026-03
    re.compile(r"(?P<month>\d{1,2})\.(?P<year>\d{4})"),  # 03.2026
)


def parse_month_heading(value: object) -> datetime.date | None:
    """The month a heading names (the first of it), or None: ``2026-03``, ``03.2026``, or a
    date cell (any day of the month)."""
    if isinstance(value, datetime.datetime):
        return value.date().replace(day=1)
    if isinstance(value, datetime.date):
        return value.replace(day=1)
    if not isinstance(value, str):
        return None
    for pattern in _MONTH_HEADINGS:
        match = pattern.fullmatch(value.strip())
        if match is not None and 1 <= int(match["month"]) <= 12:
            return datetime.date(int(match["year"]), int(match["month"]), 1)
    return None


def section_total_title(name: object) -> tuple[str, str] | None:
    """The section code and name a subtotal's name cell says (``SECTION_TOTAL`` of
    «2 — Бетонные работы», in any language): ``("2", "Бетонные работы")``; the name is empty
    when the cell gives none; None for any other cell."""
    if not isinstance(name, str) or len(name) > SECTION_TOTAL_MAX_LENGTH:
        return None
    text = _normalized(name)
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            before, _marker, after = _normalized(str(SECTION_TOTAL)).partition("%(section)s")
        if text.startswith(before) and text.endswith(after) and len(text) > len(before + after):
            plain = " ".join(name.split())  # as normalised, in its own letters' case
            title = plain[len(before) : len(plain) - len(after)].strip()
            code, _dash, section_name = title.partition(" — ")
            return code.strip(), section_name.strip()
    return None


def is_section_total(name: object) -> bool:
    """Whether a name cell is a section subtotal's (``SECTION_TOTAL``) in any language."""
    return section_total_title(name) is not None
