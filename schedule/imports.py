"""Reading an uploaded schedule workbook (.xlsx) into typed rows and cell-referenced errors.

The reader checks types and what it can name by cell (a number, a date, a required value, a
length, a duplicate code); the model's own rules stay the model's (the import's apply runs
``full_clean``). The layout is ``schedule/sheet.py``'s, in English or Russian.

The file is untrusted and arrives before anything else looks at it, so it is checked from the
outside in: its size (``SPREADSHEET_IMPORT_MAX_BYTES``), its first bytes (an OLE compound file
is an encrypted workbook or an old .xls; anything but a zip is not an .xlsx), the zip's
directory (the members an .xlsx has; the sum of the uncompressed sizes against
``SPREADSHEET_IMPORT_MAX_UNCOMPRESSED_BYTES`` and their ratio to the compressed ones, before
anything is unpacked: ``zipfile`` never inflates a member past the size its directory states),
and only then its XML, streaming (``schedule/xlsx.py``): memory holds the cells of the columns
read, never a cell the file only declares (a merged or hyperlinked range), and a value past
``SPREADSHEET_IMPORT_MAX_ROWS`` rows or ``SPREADSHEET_IMPORT_MAX_COLUMNS`` columns refuses the
file as soon as it is met. (Entity expansion in the XML is bounded by expat's own amplification
limit, Python ≥ 3.9.)

Whatever a file holds, a message about it is bounded: it quotes at most ``QUOTED_MAX``
characters of a value and lists at most ``PROBLEMS_LISTED`` things, then how many more; a
code in several rows is one problem, named on its first row.
"""

import dataclasses
import datetime
import io
import math
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from openpyxl.utils import get_column_letter

from schedule.models import (
    CODE_MAX_LENGTH,
    COST_DECIMALS,
    COST_DIGITS,
    VOLUME_DECIMALS,
    VOLUME_DIGITS,
    Section,
    Task,
)
from schedule.sheet import (
    EXPORTED_AT_PROPERTY,
    SCHEDULE_COLUMNS,
    heading_keys,
    normalized_heading,
    parse_month_heading,
    section_total_title,
)
from schedule.xlsx import NO_VALUE, ErrorValue, MergedRange, RawCell, Workbook, XlsxError
from scheduler_project.numbers import quoted

HEADING_SEARCH_ROWS = 10
"""The heading row is the first of the sheet's first rows with a Code heading: a title above
the table is allowed."""

HEADING_MAX_LENGTH = 100
"""A longer heading cell is no heading the import knows (nor a month): it is not compared."""

PROBLEMS_LISTED = 100
"""A message lists at most this many columns, ranges or rows; then how many more."""

DUPLICATE_ROWS_LISTED = 10
"""The rows a duplicated code's message names, then how many more."""

MAX_VERSION = 2**31 - 1
"""The largest version a task can have (``PositiveIntegerField``)."""

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""An OLE compound file: an old .xls, or any Office file encrypted with a password."""

XLSX_MEMBERS = ("[Content_Types].xml", "xl/workbook.xml")

ZIP_BOMB_RATIO = 200
"""Uncompressed to compressed. A real sheet's XML compresses 5-30 to 1 (a sheet of one style
repeated, up to about 100); a bomb's runs in the thousands."""
ZIP_BOMB_RATIO_FROM_BYTES = 2**20
"""The ratio is looked at only past this much uncompressed: a tiny member may compress well."""

_SPACES = re.compile(r"[\s\u00a0\u2007\u202f]+")
_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)")
_DOTTED_DATE = re.compile(r"(?P<day>\d{1,2})\.(?P<month>\d{1,2})\.(?P<year>\d{4})")
_ISO_DATE = re.compile(r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})")
_WHOLE = re.compile(r"\d{1,10}")


class WorkbookError(Exception):
    """The whole file is refused; str(error) is the message for the user (translated)."""


@dataclass(frozen=True, slots=True)
class CellError:
    cell: str
    """"C14"; a heading problem names its heading cell; a row-level one the row's code cell."""
    message: str
    """Translated, e.g. "not a number"."""

    def __str__(self) -> str:
        return f"{self.cell}: {self.message}"


@dataclass(frozen=True, slots=True)
class SheetRow:
    row: int
    """The sheet's row number (1-based)."""
    code: str
    name: str
    unit: str
    volume_plan: Decimal
    """Quantized to 3 decimals."""
    start_date: datetime.date
    end_date: datetime.date
    estimated_cost: Decimal | None
    """None: an empty cell, or no such column (``ScheduleSheet.columns``)."""
    version: int | None
    """From the Version column; None when empty or absent."""
    monthly_plans: dict[datetime.date, Decimal]
    """The first of a month → its plan; empty cells left out."""


@dataclass(frozen=True, slots=True)
class InvalidRow:
    row: int
    code: str | None
    """The row's code if it could be read."""
    errors: list[CellError]
    """Empty for a row in error only because its code is in an earlier row: that row's error
    names it (a code in several rows is one problem)."""


@dataclass(frozen=True, slots=True)
class ScheduleSheet:
    rows: list[SheetRow]
    """Valid rows, in sheet order."""
    invalid: list[InvalidRow]
    """Rows in error, in sheet order."""
    columns: frozenset[str]
    """Keys of ``SCHEDULE_COLUMNS`` present in the sheet."""
    months: list[datetime.date]
    """The month columns present, in sheet order."""
    exported_at: datetime.datetime | None = None
    """When the app exported the file (its ``EXPORTED_AT_PROPERTY``); None for another file."""
    section_names: dict[str, str] = dataclasses.field(default_factory=dict)
    """The sections' names the subtotal rows give («Итого по разделу 2 — Бетонные работы»)."""


def read_schedule(file: IO[bytes]) -> ScheduleSheet:
    """The rows of the workbook's first sheet.

    Raises ``WorkbookError`` for a file refused whole (not an .xlsx, encrypted, too big, a zip
    bomb, too many rows or columns, no heading row, missing/unknown/duplicate headings,
    merged cells in the table).
    """
    data = _read_limited(file)
    archive = _open_container(data)
    with archive:
        try:
            book = Workbook(archive)
            table = _read_table(book)
            read = _read_rows(table.layout, table.values(book))
            exported_at = _exported_at(book)
        except XlsxError as error:
            raise _damaged() from error
    return dataclasses.replace(read, exported_at=exported_at)


def _exported_at(book: Workbook) -> datetime.datetime | None:
    """The export's time the app wrote in the workbook's properties (kept when Excel saves)."""
    value = book.custom_property(EXPORTED_AT_PROPERTY)
    if value is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


# Messages


def _quoted(text: object) -> str:
    """A value for a message: in quotes, at most ``QUOTED_MAX`` characters of it."""
    return f"“{quoted(text)}”"


def listed(items: Sequence[str], *, limit: int = PROBLEMS_LISTED, separator: str = ", ") -> str:
    """``items`` joined, at most ``limit`` of them, then how many more."""
    shown = separator.join(items[:limit])
    if len(items) <= limit:
        return shown
    return f"{shown} {more(len(items) - limit)}"


def more(count: int) -> str:
    """«and 5,900 more», for a list cut short."""
    return ngettext("and %(count)s more", "and %(count)s more", count) % {
        "count": number_format(count, force_grouping=True)
    }


# The file


def _read_limited(file: IO[bytes]) -> bytes:
    limit = settings.SPREADSHEET_IMPORT_MAX_BYTES
    data = file.read(limit + 1)
    if len(data) > limit:
        raise WorkbookError(
            _("The file is larger than %(limit)s: split the schedule into smaller files.")
            % {"limit": filesizeformat(limit)}
        )
    return data


def _not_xlsx() -> WorkbookError:
    return WorkbookError(
        _(
            "This is not an .xlsx file: save the workbook in Excel's .xlsx format (a .csv or "
            "another file renamed to .xlsx is not one)."
        )
    )


def _damaged() -> WorkbookError:
    return WorkbookError(_("The file could not be read as an .xlsx workbook: it may be damaged."))


def _open_container(data: bytes) -> zipfile.ZipFile:
    if data.startswith(OLE_MAGIC):
        raise WorkbookError(
            _("The file is encrypted or an old .xls: save it as .xlsx without a password.")
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise _not_xlsx() from None
    members = archive.infolist()
    names = {member.filename for member in members}
    if not all(name in names for name in XLSX_MEMBERS):
        archive.close()
        raise _not_xlsx()
    unpacked = sum(member.file_size for member in members)
    packed = sum(member.compress_size for member in members)
    limit = settings.SPREADSHEET_IMPORT_MAX_UNCOMPRESSED_BYTES
    if unpacked > limit:
        archive.close()
        raise WorkbookError(
            _(
                "The file unpacks to more than %(limit)s: it is refused as a possible zip bomb. "
                "Split the schedule into smaller files."
            )
            % {"limit": filesizeformat(limit)}
        )
    if unpacked > ZIP_BOMB_RATIO_FROM_BYTES and unpacked > ZIP_BOMB_RATIO * max(packed, 1):
        archive.close()
        raise WorkbookError(
            _(
                "The file is compressed %(ratio)d to 1, far more than a workbook is: it is "
                "refused as a possible zip bomb."
            )
            % {"ratio": unpacked // max(packed, 1)}
        )
    return archive


# The sheet, streaming


@dataclass(slots=True)
class _Layout:
    heading_row: int
    keys: dict[int, str] = field(default_factory=dict)
    """Column index → ``SCHEDULE_COLUMNS`` key, for the columns present."""
    months: dict[int, datetime.date] = field(default_factory=dict)
    """Column index → month, in sheet order."""

    def column_of(self, key: str) -> int:
        return next(column for column, found in self.keys.items() if found == key)

    @property
    def read(self) -> set[int]:
        """The columns read: the imported ones and the months (any other column is ignored,
        as a column of notes would be)."""
        imported = {column.key for column in SCHEDULE_COLUMNS if column.imported}
        return {column for column, key in self.keys.items() if key in imported} | set(self.months)


@dataclass(slots=True)
class _Table:
    layout: _Layout
    cells: dict[int, dict[int, RawCell]]
    """The cells below the heading row in the columns read, by row (in sheet order)."""

    def values(self, book: Workbook) -> Iterator[tuple[int, dict[int, object]]]:
        """Each row's values by column (``Workbook.value``), the raw cells freed as read."""
        strings = book.shared_strings(
            cell.shared_string
            for row in self.cells.values()
            for cell in row.values()
            if cell.shared_string is not None
        )
        for row in sorted(self.cells):
            cells = self.cells.pop(row)
            yield row, {column: book.value(cell, strings) for column, cell in cells.items()}


class _MergedRanges:
    """The merged ranges of a sheet, for those at or below the heading row (unknown while
    they are read): a count per last row (1 to ``HEADING_SEARCH_ROWS``, then beyond), and
    the first ``PROBLEMS_LISTED`` ranges of each."""

    def __init__(self) -> None:
        self.counts: defaultdict[int, int] = defaultdict(int)
        self.kept: defaultdict[int, list[MergedRange]] = defaultdict(list)

    def add(self, merged: MergedRange) -> None:
        bucket = min(merged.max_row, HEADING_SEARCH_ROWS + 1)
        self.counts[bucket] += 1
        if len(self.kept[bucket]) < PROBLEMS_LISTED:
            self.kept[bucket].append(merged)

    def refuse_in_table(self, heading_row: int) -> None:
        buckets = [bucket for bucket in self.counts if bucket >= heading_row]
        count = sum(self.counts[bucket] for bucket in buckets)
        if not count:
            return
        ranges = sorted(
            (merged for bucket in buckets for merged in self.kept[bucket]),
            key=lambda merged: (merged.min_row, merged.min_column, merged.ref),
        )
        shown = [merged.ref for merged in ranges[:PROBLEMS_LISTED]]
        text = ", ".join(shown)
        if count > len(shown):
            text = f"{text} {more(count - len(shown))}"
        raise WorkbookError(
            _("Merged cells in the table: %(ranges)s. Unmerge them.") % {"ranges": text}
        )


def _read_table(book: Workbook) -> _Table:
    """Stream the first worksheet: the layout from its first rows (refused as soon as they
    are read, if wrong), then the table's cells in the columns read; a value past the row or
    column limits refuses the file where it is met."""
    max_rows = settings.SPREADSHEET_IMPORT_MAX_ROWS
    max_columns = settings.SPREADSHEET_IMPORT_MAX_COLUMNS
    first_rows: dict[int, dict[int, RawCell]] = defaultdict(dict)
    cells: dict[int, dict[int, RawCell]] = {}
    merged = _MergedRanges()
    layout: _Layout | None = None
    read: set[int] = set()
    for item in book.items():
        if isinstance(item, MergedRange):
            merged.add(item)
            continue
        if item.row > max_rows:
            raise WorkbookError(
                _(
                    "The sheet has more than %(limit)s rows (%(cell)s holds a value): split the "
                    "schedule into smaller files, or delete what is below the table."
                )
                % {"limit": number_format(max_rows, force_grouping=True), "cell": _at(item)}
            )
        if item.column > max_columns:
            raise WorkbookError(
                _(
                    "The sheet has more than %(limit)s columns (%(cell)s holds a value): delete "
                    "the columns the import does not read."
                )
                % {"limit": number_format(max_columns, force_grouping=True), "cell": _at(item)}
            )
        if layout is None:
            if item.row <= HEADING_SEARCH_ROWS:
                first_rows[item.row][item.column] = item
                continue
            layout, read = _layout_of(book, first_rows, cells)
        if item.row > layout.heading_row and item.column in read:
            cells.setdefault(item.row, {})[item.column] = item
    if layout is None:
        layout, read = _layout_of(book, first_rows, cells)
    merged.refuse_in_table(layout.heading_row)
    return _Table(layout=layout, cells=cells)


def _at(cell: RawCell) -> str:
    return f"{get_column_letter(cell.column)}{cell.row}"


def _layout_of(
    book: Workbook,
    first_rows: dict[int, dict[int, RawCell]],
    cells: dict[int, dict[int, RawCell]],
) -> tuple[_Layout, set[int]]:
    """The layout the first rows give; their cells below the heading row in the columns read
    are put in ``cells``."""
    strings = book.shared_strings(
        cell.shared_string
        for row in first_rows.values()
        for cell in row.values()
        if cell.shared_string is not None
    )
    values = {
        row: {column: book.value(cell, strings) for column, cell in by_column.items()}
        for row, by_column in first_rows.items()
    }
    layout = _read_layout(values, title=book.sheet_title)
    read = layout.read
    for row in sorted(first_rows):
        if row > layout.heading_row:
            kept = {column: cell for column, cell in first_rows[row].items() if column in read}
            if kept:
                cells[row] = kept
    return layout, read


# The headings


def _heading_of(key: str) -> str:
    return next(str(column.heading) for column in SCHEDULE_COLUMNS if column.key == key)


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _heading_text(value: object) -> str | None:
    """A heading cell's text as compared; None for a cell too long to be a heading."""
    if isinstance(value, str) and len(value) <= HEADING_MAX_LENGTH:
        return normalized_heading(value)
    return None


def _read_layout(rows: dict[int, dict[int, object]], *, title: str) -> _Layout:
    by_heading = heading_keys()
    heading_row = next(
        (
            row
            for row in range(1, HEADING_SEARCH_ROWS + 1)
            if any(
                by_heading.get(_heading_text(value)) == "code"
                for value in rows.get(row, {}).values()
            )
        ),
        None,
    )
    if heading_row is None:
        raise WorkbookError(
            _(
                "No heading row: none of the first %(rows)d rows of the sheet %(sheet)s has a "
                "%(code)s heading. The template shows the headings."
            )
            % {
                "rows": HEADING_SEARCH_ROWS,
                "sheet": _quoted(title),
                "code": _quoted(_heading_of("code")),
            }
        )
    layout = _Layout(heading_row)
    unknown: list[str] = []
    seen: dict[object, str] = {}
    duplicates: list[str] = []
    for column, value in sorted(rows[heading_row].items()):
        if _is_blank(value) or value is NO_VALUE:
            continue
        coordinate = f"{get_column_letter(column)}{heading_row}"
        key = by_heading.get(_heading_text(value))
        month = None
        if key is None and not (isinstance(value, str) and len(value) > HEADING_MAX_LENGTH):
            month = parse_month_heading(value)
        found: object = key or month
        shown = value.text if isinstance(value, ErrorValue) else value
        if found is None:
            unknown.append(f"{coordinate} {_quoted(str(shown).strip())}")
            continue
        if found in seen:
            duplicates.append(
                _("%(first)s and %(second)s are both %(heading)s")
                % {
                    "first": seen[found],
                    "second": coordinate,
                    "heading": _quoted(str(shown).strip()),
                }
            )
            continue
        seen[found] = coordinate
        if key is not None:
            layout.keys[column] = key
        else:
            layout.months[column] = month
    problems = []
    if unknown:
        problems.append(
            _("Unknown columns: %(cells)s (rename them as the template does, or delete them).")
            % {"cells": listed(unknown)}
        )
    if duplicates:
        problems.append(
            _("Duplicate columns: %(cells)s.") % {"cells": listed(duplicates, separator="; ")}
        )
    missing = [
        _quoted(column.heading)
        for column in SCHEDULE_COLUMNS
        if column.required and column.key not in layout.keys.values()
    ]
    if missing:
        problems.append(
            _("Missing columns in row %(row)d: %(headings)s.")
            % {"row": heading_row, "headings": ", ".join(missing)}
        )
    if problems:
        raise WorkbookError(" ".join(problems))
    return layout


# The rows


class _Refused(Exception):
    """A cell's value refused; its message is the user's."""


_NO_VALUE = NO_VALUE


def _cell_value(value: object) -> object:
    """The value to read (``_NO_VALUE`` for a formula without a computed one)."""
    if isinstance(value, ErrorValue):
        raise _Refused(_("the cell holds an error (%(error)s)") % {"error": quoted(value.text)})
    return value


_Read = tuple[int, dict[str, Any], dict[datetime.date, Decimal], list[CellError]]


def _read_rows(layout: _Layout, cells: Iterator[tuple[int, dict[int, object]]]) -> ScheduleSheet:
    code_column = get_column_letter(layout.column_of("code"))
    readers: dict[str, Callable[[Any], Any]] = {
        "code": _code,
        "name": lambda value: _text(value, "name"),
        "unit": lambda value: _text(value, "unit"),
        "volume_plan": lambda value: _decimal(value, VOLUME_DIGITS, VOLUME_DECIMALS),
        "start_date": _date,
        "end_date": _date,
        "estimated_cost": lambda value: _decimal(value, COST_DIGITS, COST_DECIMALS),
        "version": _version,
    }
    name_column, code_column_index = layout.column_of("name"), layout.column_of("code")
    read: list[_Read] = []
    section_names: dict[str, str] = {}
    for row, by_column in cells:
        raw: dict[int, object] = {}
        errors: list[CellError] = []
        refused_columns: set[int] = set()
        for column, value in by_column.items():
            try:
                raw[column] = _cell_value(value)
            except _Refused as refused:
                errors.append(CellError(f"{get_column_letter(column)}{row}", str(refused)))
                refused_columns.add(column)
                raw[column] = "#"
        if all(_is_blank(value) for value in raw.values()):
            continue  # an empty row (or one with values only in columns not read)
        if _is_blank(raw.get(code_column_index)) and (
            (title := section_total_title(raw.get(name_column))) is not None
        ):
            code, section_name = title
            if section_name and "." not in code and len(code) <= CODE_MAX_LENGTH:
                section_names[code] = section_name[: Section._meta.get_field("name").max_length]
            continue
        fields: dict[str, Any] = {}
        plans: dict[datetime.date, Decimal] = {}
        for column, key in layout.keys.items():
            if key not in readers or column in refused_columns:
                continue
            try:
                fields[key] = _read_cell(raw.get(column), readers[key], required=_is_required(key))
            except _Refused as refused:
                errors.append(CellError(f"{get_column_letter(column)}{row}", str(refused)))
        for column, month in layout.months.items():
            if column not in raw or column in refused_columns:
                continue
            try:
                plan = _read_cell(
                    raw[column],
                    lambda value: _decimal(value, VOLUME_DIGITS, VOLUME_DECIMALS),
                    required=False,
                )
            except _Refused as refused:
                errors.append(CellError(f"{get_column_letter(column)}{row}", str(refused)))
            else:
                if plan is not None:
                    plans[month] = plan
        start, end = fields.get("start_date"), fields.get("end_date")
        if start is not None and end is not None and end < start:
            errors.append(
                CellError(
                    f"{get_column_letter(layout.column_of('end_date'))}{row}",
                    _("the end is before the start (%(start)s)")
                    % {"start": f"{get_column_letter(layout.column_of('start_date'))}{row}"},
                )
            )
        read.append((row, fields, plans, errors))
    repeated = _refuse_duplicate_codes(read, code_column)
    rows, invalid = [], []
    for row, fields, plans, errors in read:
        if errors or row in repeated:
            errors.sort(key=lambda error: _cell_order(error.cell))
            invalid.append(InvalidRow(row=row, code=fields.get("code"), errors=errors))
        else:
            rows.append(
                SheetRow(
                    row=row,
                    code=fields["code"],
                    name=fields["name"],
                    unit=fields["unit"],
                    volume_plan=fields["volume_plan"],
                    start_date=fields["start_date"],
                    end_date=fields["end_date"],
                    estimated_cost=fields.get("estimated_cost"),
                    version=fields.get("version"),
                    monthly_plans=plans,
                )
            )
    return ScheduleSheet(
        rows=rows,
        invalid=invalid,
        columns=frozenset(layout.keys.values()),
        months=list(layout.months.values()),
        section_names=section_names,
    )


def _cell_order(coordinate: str) -> tuple[int, str]:
    letters = coordinate.rstrip("0123456789")
    return (len(letters), letters)


_REQUIRED = {column.key: column.required for column in SCHEDULE_COLUMNS}


def _is_required(key: str) -> bool:
    return _REQUIRED[key]


def _read_cell(value: object, reader: Callable[[Any], Any], *, required: bool) -> Any:
    if value is _NO_VALUE:
        raise _Refused(_("formula without a computed value: open and save the file in Excel"))
    if isinstance(value, str):
        value = value.strip()
    if _is_blank(value):
        if required:
            raise _Refused(_("empty: a value is required"))
        return None
    return reader(value)


def _refuse_duplicate_codes(read: list[_Read], code_column: str) -> set[int]:
    """A code in several rows is one error, on its first row, naming the others (at most
    ``DUPLICATE_ROWS_LISTED``, then how many more); the rows that repeat it are returned,
    in error without a message of their own."""
    rows_of: dict[str, list[int]] = defaultdict(list)
    for row, fields, _plans, _errors in read:
        if "code" in fields:
            rows_of[fields["code"]].append(row)
    repeated: set[int] = set()
    for row, fields, _plans, errors in read:
        rows = rows_of.get(fields.get("code"), [])
        if len(rows) < 2:
            continue
        if row != rows[0]:
            repeated.add(row)
            continue
        others = rows[1:]
        errors.append(
            CellError(
                f"{code_column}{row}",
                ngettext(
                    "the code %(code)s is also in row %(rows)s",
                    "the code %(code)s is also in rows %(rows)s",
                    len(others),
                )
                % {
                    "code": fields["code"],
                    "rows": listed([str(other) for other in others], limit=DUPLICATE_ROWS_LISTED),
                },
            )
        )
    return repeated


# The cells' values


def _max_length(key: str) -> int:
    return Task._meta.get_field(key).max_length


def _text(value: object, key: str) -> str:
    if isinstance(value, bool | datetime.date | datetime.time):
        raise _Refused(_("not text"))
    if isinstance(value, float):
        value = _float_decimal(value)
    text = str(value).strip()
    limit = _max_length(key)
    if len(text) > limit:
        raise _Refused(
            ngettext(
                "longer than %(limit)d character",
                "longer than %(limit)d characters",
                limit,
            )
            % {"limit": limit}
        )
    return text


def _code(value: object) -> str:
    """A code is text. Excel turns a typed ``1.10`` into the number 1.1 (and ``1.1.1`` into a
    date in some locales): a whole number is read as its digits, any other number is refused,
    since the code that was typed cannot be known."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, float | Decimal):
        raise _Refused(
            _(
                "a number, not text: Excel turns a code such as 1.10 into 1.1; format the "
                "column as text and type the code again"
            )
        )
    if isinstance(value, datetime.date | datetime.time):
        raise _Refused(
            _(
                "a date, not text: Excel turned the code into a date; format the column as "
                "text and type the code again"
            )
        )
    return _text(value, "code")


def _float_decimal(value: float, decimals: int = VOLUME_DECIMALS) -> Decimal:
    """Excel's numbers are binary floats: 0.1 + 0.2 is 0.30000000000000004. The shortest
    representation is tried first, then 15 significant digits (what Excel shows at most), then
    12 (noise from a longer computation): the first with at most ``decimals`` places is the
    number; when none has, the shortest one (refused by the caller)."""
    candidates = (repr(value), format(value, ".15g"), format(value, ".12g"))
    numbers = [Decimal(candidate).normalize() for candidate in candidates]
    return next((number for number in numbers if _places(number) <= decimals), numbers[0])


def _places(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _decimal(value: object, digits: int, decimals: int) -> Decimal:
    """A number cell, or text with a decimal comma or point and spaces (or no-break spaces) as
    thousands separators: ``1 234,5``. Never negative; at most ``decimals`` places."""
    if type(value) is int and 0 <= value < 10 ** (digits - decimals):
        return Decimal(value).quantize(_QUANTUM[decimals])  # a whole number cell: most are
    if isinstance(value, bool):
        raise _Refused(_("not a number"))
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _Refused(_("not a number"))
        number = _float_decimal(value, decimals)
    elif isinstance(value, str):
        text = _SPACES.sub("", value)
        if not _NUMBER.fullmatch(text):
            raise _Refused(_("not a number"))
        try:
            number = Decimal(text.replace(",", "."))
        except InvalidOperation:
            raise _Refused(_("not a number")) from None
    else:
        raise _Refused(_("not a number"))
    if number < 0:
        raise _Refused(_("negative"))
    number = number.normalize()
    if _places(number) > decimals:
        raise _Refused(
            ngettext(
                "more than %(decimals)d decimal place",
                "more than %(decimals)d decimal places",
                decimals,
            )
            % {"decimals": decimals}
        )
    if number >= Decimal(10) ** (digits - decimals):
        raise _Refused(
            _("too large: at most %(digits)d digits before the decimal point")
            % {"digits": digits - decimals}
        )
    return number.quantize(_QUANTUM[decimals])


_QUANTUM = {
    decimals: Decimal(1).scaleb(-decimals)
    for decimals in range(max(VOLUME_DECIMALS, COST_DECIMALS) + 1)
}


def _date(value: object) -> datetime.date:
    """A date cell, or text as ``DD.MM.YYYY`` or ``YYYY-MM-DD``."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        for pattern in (_DOTTED_DATE, _ISO_DATE):
            match = pattern.fullmatch(value)
            if match is not None:
                try:
                    return datetime.date(int(match["year"]), int(match["month"]), int(match["day"]))
                except ValueError:
                    break
    raise _Refused(_("not a date: write it as DD.MM.YYYY or YYYY-MM-DD"))


def _version(value: object) -> int:
    """A whole number from 1 to ``MAX_VERSION``; a text of digits is read only when it has at
    most 10 (Python refuses to convert 4,300 and more)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _WHOLE.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VERSION:
        raise _Refused(_("not a version: a whole number from 1 up, as the export writes it"))
    return value
