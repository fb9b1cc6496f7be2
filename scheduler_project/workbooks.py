"""What the Excel exports share (docs/excel.md, "Export"): cell formats that show numbers and dates
as the pages do, the printed page's header and footer, and the response that streams the file.

A workbook is written to a temporary file, never to memory: the МСГ of a thousand tasks is
several megabytes, and ``FileResponse`` sends the file in chunks. Sheets that are written row by
row use XlsxWriter's ``constant_memory`` mode, which keeps one row in memory at a time; a cell
can then only be written while its row is the current one, so each sheet is laid out top to
bottom.
"""

import datetime
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import IO, Any
from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse
from django.utils import timezone
from django.utils.formats import date_format, get_format
from django.utils.translation import gettext as _
from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

VOLUME_FORMAT = "#,##0.###"
"""Every volume cell's one format: thousands grouped, up to the 3 stored decimals, no trailing
zeros (``12 500,5``, as ``format_volume``). Excel has no single format that also leaves out the
decimal separator of a whole number (it shows ``200.``; LibreOffice does not): ``whole_volumes``
adds a conditional format for that, so the cell's own format stays the same in the whole
column and follows any value typed into it."""
WHOLE_VOLUME_FORMAT = "#,##0"
STORED_DECIMALS = 3
"""The decimals a volume is stored with (``schedule.models.VOLUME_DECIMALS``)."""
TEXT_FORMAT = "@"
"""A text cell: what is typed into it stays text (a code ``1.10`` is not the number 1.1)."""
COST_FORMAT = "#,##0.00"
PERCENT_FORMAT = "0.0"
"""Percents are written as numbers (``12.5``), their heading says ``%``: the pages' one decimal."""

STYLES: dict[str, dict[str, Any]] = {
    "heading": {"bold": True, "bg_color": "#E7ECF3", "bottom": 1, "text_wrap": True},
    "grid": {"left": 1, "right": 1, "top": 1, "bottom": 1},
    "open_top": {"top": 0},
    "open_bottom": {"bottom": 0},
    "total": {"bold": True, "bg_color": "#F3F5F8", "top": 1},
    "muted": {"font_color": "#666666"},
    "off": {"bg_color": "#EEEEEE"},
    "holiday": {"bg_color": "#FDE2E1"},
    "today": {"bg_color": "#FFF4C2"},
    "behind": {"bg_color": "#F8C9C6", "font_color": "#9C0006"},
    "late": {"font_color": "#B42318"},
    "wrap": {"text_wrap": True},
    "center": {"align": "center"},
    "text": {"num_format": TEXT_FORMAT},
}
"""Named format fragments, combined by ``Formats.get``; colours close to the pages' CSS.
``grid`` is a printed form's thin border on every side (each side its own key, so that a later
``open_top``/``open_bottom`` overrides it: ``border`` would be applied after them)."""

CellRange = tuple[int, int, int, int]
"""Zero-based first row, first column, last row, last column."""

MAX_COLUMN_WIDTH = 60
EXCEL_EPOCH = datetime.date(1899, 12, 30)
"""Day 0 of Excel's serial dates (the 1900 system, after its false 29 February 1900)."""


def volume_number_format(decimals: int | None = None) -> str:
    """``VOLUME_FORMAT`` with at most ``decimals`` decimals (a whole unit: none)."""
    if decimals is None:
        return VOLUME_FORMAT
    return WHOLE_VOLUME_FORMAT if decimals <= 0 else f"{WHOLE_VOLUME_FORMAT}.{'#' * decimals}"


def excel_date_format(django_format: str) -> str:
    """An Excel number format for a Django date format (``d.m.Y`` → ``dd.mm.yyyy``)."""
    codes = {"d": "dd", "j": "d", "m": "mm", "n": "m", "Y": "yyyy", "y": "yy"}
    return "".join(codes.get(char, char) for char in django_format)


def number_length(value: Decimal | float) -> int:
    """The characters a number takes as ``VOLUME_FORMAT`` (with ``whole_volumes``) shows it:
    ``-1,234.5`` is 8."""
    return len(f"{value:,.3f}".rstrip("0").rstrip("."))


class Formats:
    """A workbook's cell formats, made once per combination: a ``constant_memory`` sheet writes
    each cell with its format, and a workbook holds a limited number of formats."""

    def __init__(self, workbook: Workbook) -> None:
        self.workbook = workbook
        self.made: dict[tuple[str, ...], Format] = {}
        self.date_format = excel_date_format(get_format("SHORT_DATE_FORMAT"))

    def get(self, *names: str) -> Format:
        """The format of the named ``STYLES`` and number formats (``num:…``), merged in order."""
        format_ = self.made.get(names)
        if format_ is None:
            properties: dict[str, Any] = {"valign": "top"}
            for name in names:
                if name.startswith("num:"):
                    properties["num_format"] = name[4:]
                elif name == "date":
                    properties["num_format"] = self.date_format
                else:
                    properties.update(STYLES[name])
            format_ = self.made[names] = self.workbook.add_format(properties)
        return format_

    def volume(self, *names: str, decimals: int | None = None) -> Format:
        """The format of a volume cell with the named styles: ``VOLUME_FORMAT`` whatever the
        value, so a column has one number format; with ``decimals`` (its unit's,
        ``Unit.decimals``) at most that many, as the pages show it."""
        return self.get(*names, f"num:{volume_number_format(decimals)}")


class Sheet:
    """A worksheet that writes Python values as typed cells and keeps each column's widest
    text, so that ``fit_columns`` sets widths that fit."""

    def __init__(self, worksheet: Worksheet, formats: Formats) -> None:
        self.worksheet = worksheet
        self.formats = formats
        self.widths: dict[int, float] = {}

    def write(self, row: int, column: int, value: Any, format_: Format | None = None) -> None:
        worksheet = self.worksheet
        if value is None or value == "":
            if format_ is not None:
                worksheet.write_blank(row, column, None, format_)
            return
        if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
            worksheet.write_number(row, column, float(value), format_)
            width = number_length(value)
        elif isinstance(value, datetime.date):
            worksheet.write_datetime(row, column, value, format_)
            width = 10
        else:
            text = str(value)
            worksheet.write_string(row, column, text, format_)
            width = max(len(line) for line in text.splitlines() or [""])
        self.fit(column, width)

    def formula(
        self, row: int, column: int, formula: str, value: Any, format_: Format | None = None
    ) -> None:
        """A formula with its computed value as the cached result: readers that do not
        calculate (openpyxl's ``data_only``, previews) see the value, not 0."""
        if isinstance(value, datetime.date):
            cached: Any = (value - EXCEL_EPOCH).days
            self.fit(column, 10)
        elif isinstance(value, Decimal | int | float):
            cached = float(value)
            self.fit(column, number_length(value))
        else:
            cached = value
            self.fit(column, len(value or ""))
        self.worksheet.write_formula(row, column, formula, format_, cached)

    def fit(self, column: int, width: float) -> None:
        if width > self.widths.get(column, 0):
            self.widths[column] = width

    def fit_columns(
        self,
        *,
        minimum: float = 4,
        fixed: dict[int, float] | None = None,
        formats: dict[int, Format] | None = None,
    ) -> None:
        """Each column as wide as its widest text (a heading that wraps counts its longest
        word), within ``MAX_COLUMN_WIDTH``; ``fixed`` widths win. ``formats`` are columns'
        own formats, which Excel gives a cell typed below the written rows."""
        fixed, formats = fixed or {}, formats or {}
        widths = {
            column: min(max(minimum, width * 1.1 + 1), MAX_COLUMN_WIDTH)
            for column, width in self.widths.items()
        }
        for column in formats:
            widths.setdefault(column, minimum)
        for column, width in (widths | fixed).items():
            self.worksheet.set_column(column, column, width, formats.get(column))

    def heading(self, row: int, column: int, text: str, format_: Format) -> None:
        """A heading cell: it wraps, so only its longest word sets the width."""
        self.worksheet.write_string(row, column, text, format_)
        self.fit(column, max((len(word) for word in text.split()), default=0))


def whole_volumes(
    worksheet: Worksheet,
    formats: Formats,
    blocks: list[CellRange],
    *,
    row_decimals: Mapping[int, int] | None = None,
) -> None:
    """Show whole volumes without a decimal separator (``200``, not ``200.``), by a
    conditional format per block of volume cells: ``VOLUME_FORMAT`` cannot (Excel has no
    number format that does). A formula, so the look follows a value edited in the file;
    rounded first to the decimals shown (a row's unit's, ``row_decimals`` by row; else the 3
    stored), so a sum's binary noise (2.9999999999999996) and a 21.957 shown with one decimal
    are whole too; text (``—``) and blank cells are left alone. Whole units need none: their
    format has no separator."""
    whole = formats.workbook.add_format({"num_format": WHOLE_VOLUME_FORMAT})
    decimals_of = row_decimals or {}
    for first_row, first_column, last_row, last_column in blocks:
        if first_row > last_row or first_column > last_column:
            continue
        spans: dict[int, list[list[int]]] = {}  # decimals: [first row, last row] of each span
        for row in range(first_row, last_row + 1):
            group = spans.setdefault(decimals_of.get(row, STORED_DECIMALS), [])
            if group and group[-1][1] == row - 1:
                group[-1][1] = row
            else:
                group.append([row, row])
        for decimals, group in spans.items():
            if decimals == 0:
                continue
            (top, bottom), anchor = group[0], cell_name(group[0][0], first_column)
            ranges = " ".join(
                f"{cell_name(a, first_column)}:{cell_name(b, last_column)}" for a, b in group
            )
            worksheet.conditional_format(
                top,
                first_column,
                bottom,
                last_column,
                {
                    "type": "formula",
                    "criteria": f"=AND(ISNUMBER({anchor}),MOD(ROUND({anchor},{decimals}),1)=0)",
                    "format": whole,
                    "multi_range": ranges,
                },
            )


def site_name() -> str:
    """``SITE_NAME`` from the environment (a proper name, never translated), or the translated
    "Construction site" when it is not set."""
    return settings.SITE_NAME or _("Construction site")


def export_time() -> str:
    """Now in the site's ``TIME_ZONE``, as the pages show a date and time."""
    return date_format(timezone.localtime(), "SHORT_DATETIME_FORMAT")


def _header_text(text: str) -> str:
    """``&`` starts a header code: a literal one is doubled."""
    return text.replace("&", "&&")


def set_page_header(worksheet: Worksheet, *, title: str, exported_at: str) -> None:
    """The printed page's header (site name, title, export time) and footer (page of pages)."""
    worksheet.set_header(
        f"&L{_header_text(site_name())}&C&B{_header_text(title)}&R{_header_text(exported_at)}"
    )
    worksheet.set_footer("&C&P / &N")


def column_name(column: int) -> str:
    return xl_col_to_name(column)


def cell_name(row: int, column: int) -> str:
    """``A1`` for the zero-based ``(0, 0)``."""
    return f"{xl_col_to_name(column)}{row + 1}"


def excel_text(text: str) -> str:
    """``text`` as a string literal in a formula."""
    return '"' + text.replace('"', '""') + '"'


def exact_sum_formula(*, values: str, keys: str, key: str) -> str:
    """The sum of the cells of range ``values`` whose cell in range ``keys`` (as tall) is the
    text ``key``, character for character. SUMPRODUCT with EXACT, not SUMIF: SUMIF's criteria
    ignore case and read ``*``, ``?``, ``~`` and a leading ``<``, ``>`` or ``=`` as patterns, so
    a unit could take in another's volumes."""
    return f"=SUMPRODUCT(--EXACT({keys},{excel_text(key)}),{values})"


@contextmanager
def new_workbook(
    file: IO[bytes], *, title: str, constant_memory: bool
) -> Iterator[tuple[Workbook, Formats]]:
    """A workbook written to ``file`` (a temporary file, or ``BytesIO`` in tests), closed at the
    end of the block."""
    workbook = Workbook(
        file,
        {
            "constant_memory": constant_memory,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    workbook.set_properties(
        {"title": title, "company": site_name(), "created": timezone.now().replace(tzinfo=None)}
    )
    yield workbook, Formats(workbook)
    workbook.close()


def content_disposition(filename: str, ascii_filename: str) -> str:
    """``attachment`` with an ASCII ``filename`` for old clients and the real one as RFC 5987
    ``filename*`` when it is not ASCII (a Russian name)."""
    ascii_filename = re.sub(r"[^A-Za-z0-9._-]", "_", ascii_filename)
    header = f'attachment; filename="{ascii_filename}"'
    if filename != ascii_filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header


def temporary_file() -> IO[bytes]:
    """Where a workbook is written before it is sent: deleted when closed, or at exit."""
    return tempfile.TemporaryFile(suffix=".xlsx")


def workbook_response(file: IO[bytes], *, filename: str, ascii_filename: str) -> FileResponse:
    """The written workbook streamed as an attachment that no cache keeps (it shows one user's
    data at one time); the response closes the file when it is sent."""
    file.seek(0)
    response = FileResponse(file, content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition(filename, ascii_filename)
    response["Cache-Control"] = "private, no-store"
    return response


def export_filename(stem: str, ascii_stem: str, suffix: str) -> tuple[str, str]:
    """The file's name in the user's language and its ASCII fallback: ``stem-suffix.xlsx``."""
    return f"{stem}-{suffix}.xlsx", f"{ascii_stem}-{suffix}.xlsx"
