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
and only then openpyxl. (Entity expansion in the XML is bounded by expat's own amplification
limit, Python ≥ 3.9.)

openpyxl reads a formula either as its text or as its cached value (``data_only``), never both:
the workbook is opened without ``data_only`` to see which cells hold formulas and, only when
some do, a second time with it for their cached values, so a formula without one (a file
written by a program that does not compute) is told apart from an empty cell.
"""

import dataclasses
import datetime
import io
import math
import re
import warnings
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from openpyxl import load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

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

HEADING_SEARCH_ROWS = 10
"""The heading row is the first of the sheet's first rows with a Code heading: a title above
the table is allowed."""

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
_WHOLE = re.compile(r"\d+")


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
    bomb, no heading row, missing/unknown/duplicate headings, merged cells in the table).
    """
    data = _read_limited(file)
    _check_container(data)
    sheet = _load_first_sheet(data, data_only=False)
    layout = _read_layout(sheet)
    cells = _table_cells(sheet, layout)
    if any(cell.data_type == "f" for row in cells.values() for cell in row.values()):
        values = _cached_values(_load_first_sheet(data, data_only=True), cells)
    else:
        values = {}
    read = _read_rows(layout, cells, values)
    return dataclasses.replace(read, exported_at=_exported_at(sheet.parent))


def _exported_at(workbook: Any) -> datetime.datetime | None:
    """The export's time the app wrote in the workbook's properties (kept when Excel saves)."""
    for prop in workbook.custom_doc_props.props:
        if prop.name == EXPORTED_AT_PROPERTY and isinstance(prop.value, str):
            try:
                moment = datetime.datetime.fromisoformat(prop.value)
            except ValueError:
                return None
            return moment if moment.tzinfo is not None else None
    return None


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


def _check_container(data: bytes) -> None:
    if data.startswith(OLE_MAGIC):
        raise WorkbookError(
            _("The file is encrypted or an old .xls: save it as .xlsx without a password.")
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise _not_xlsx() from None
    names = {member.filename for member in members}
    if not all(name in names for name in XLSX_MEMBERS):
        raise _not_xlsx()
    unpacked = sum(member.file_size for member in members)
    packed = sum(member.compress_size for member in members)
    limit = settings.SPREADSHEET_IMPORT_MAX_UNCOMPRESSED_BYTES
    if unpacked > limit:
        raise WorkbookError(
            _(
                "The file unpacks to more than %(limit)s: it is refused as a possible zip bomb. "
                "Split the schedule into smaller files."
            )
            % {"limit": filesizeformat(limit)}
        )
    if unpacked > ZIP_BOMB_RATIO_FROM_BYTES and unpacked > ZIP_BOMB_RATIO * max(packed, 1):
        raise WorkbookError(
            _(
                "The file is compressed %(ratio)d to 1, far more than a workbook is: it is "
                "refused as a possible zip bomb."
            )
            % {"ratio": unpacked // max(packed, 1)}
        )


def _load_first_sheet(data: bytes, *, data_only: bool) -> Worksheet:
    try:
        with warnings.catch_warnings():
            # openpyxl warns about every extension it skips (data validation, slicers...).
            warnings.simplefilter("ignore")
            workbook = load_workbook(io.BytesIO(data), data_only=data_only, rich_text=False)
    except Exception as error:  # any parser failure on an untrusted file is a damaged file
        raise WorkbookError(
            _("The file could not be read as an .xlsx workbook: it may be damaged.")
        ) from error
    if not workbook.worksheets:
        raise WorkbookError(_("The workbook has no worksheet."))
    return workbook.worksheets[0]


# The headings


@dataclass(slots=True)
class _Layout:
    heading_row: int
    keys: dict[int, str] = field(default_factory=dict)
    """Column index → ``SCHEDULE_COLUMNS`` key, for the columns present."""
    months: dict[int, datetime.date] = field(default_factory=dict)
    """Column index → month, in sheet order."""

    def column_of(self, key: str) -> int:
        return next(column for column, found in self.keys.items() if found == key)


def _quoted(text: object) -> str:
    return f"“{text}”"


def _heading_of(key: str) -> str:
    return next(str(column.heading) for column in SCHEDULE_COLUMNS if column.key == key)


def _cells_by_row(sheet: Worksheet) -> dict[int, dict[int, Cell]]:
    """The sheet's cells that exist, by row and column. ``sheet._cells`` rather than
    ``iter_rows``: a single formatted cell far down would make ``iter_rows`` create every
    cell up to it."""
    rows: dict[int, dict[int, Cell]] = defaultdict(dict)
    for (row, column), cell in sheet._cells.items():
        rows[row][column] = cell
    return rows


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _read_layout(sheet: Worksheet) -> _Layout:
    by_heading = heading_keys()
    rows = _cells_by_row(sheet)
    heading_row = next(
        (
            row
            for row in range(1, HEADING_SEARCH_ROWS + 1)
            if any(
                isinstance(cell.value, str)
                and by_heading.get(normalized_heading(cell.value)) == "code"
                for cell in rows.get(row, {}).values()
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
                "sheet": _quoted(sheet.title),
                "code": _quoted(_heading_of("code")),
            }
        )
    layout = _Layout(heading_row)
    unknown: list[str] = []
    seen: dict[object, str] = {}
    duplicates: list[str] = []
    for column, cell in sorted(rows[heading_row].items()):
        if _is_blank(cell.value):
            continue
        key = (
            by_heading.get(normalized_heading(cell.value)) if isinstance(cell.value, str) else None
        )
        month = parse_month_heading(cell.value) if key is None else None
        found: object = key or month
        if found is None:
            unknown.append(f"{cell.coordinate} {_quoted(str(cell.value).strip())}")
            continue
        if found in seen:
            duplicates.append(
                _("%(first)s and %(second)s are both %(heading)s")
                % {
                    "first": seen[found],
                    "second": cell.coordinate,
                    "heading": _quoted(str(cell.value).strip()),
                }
            )
            continue
        seen[found] = cell.coordinate
        if key is not None:
            layout.keys[column] = key
        else:
            layout.months[column] = month
    problems = []
    if unknown:
        problems.append(
            _("Unknown columns: %(cells)s (rename them as the template does, or delete them).")
            % {"cells": ", ".join(unknown)}
        )
    if duplicates:
        problems.append(_("Duplicate columns: %(cells)s.") % {"cells": "; ".join(duplicates)})
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
    merged = [str(cells) for cells in sheet.merged_cells.ranges if cells.max_row >= heading_row]
    if merged:
        raise WorkbookError(
            _("Merged cells in the table: %(ranges)s. Unmerge them.")
            % {"ranges": ", ".join(sorted(merged))}
        )
    return layout


def _table_cells(sheet: Worksheet, layout: _Layout) -> dict[int, dict[int, Cell]]:
    """The cells below the heading row in the columns read (other columns are ignored, as a
    column of notes would be), by row."""
    imported = {column.key for column in SCHEDULE_COLUMNS if column.imported}
    read = {column for column, key in layout.keys.items() if key in imported}
    read |= layout.months.keys()
    table: dict[int, dict[int, Cell]] = {}
    for row, cells in sorted(_cells_by_row(sheet).items()):
        if row <= layout.heading_row:
            continue
        kept = {column: cell for column, cell in cells.items() if column in read}
        if kept:
            table[row] = kept
    return table


def _cached_values(
    sheet: Worksheet, cells: dict[int, dict[int, Cell]]
) -> dict[tuple[int, int], Cell]:
    """The cell with the cached value of each formula cell among ``cells``, read from
    ``sheet`` (opened with ``data_only``)."""
    return {
        (row, column): sheet.cell(row, column)
        for row, by_column in cells.items()
        for column, cell in by_column.items()
        if cell.data_type == "f"
    }


# The rows


class _Refused(Exception):
    """A cell's value refused; its message is the user's."""


_NO_VALUE = object()


def _cell_value(cell: Cell, values: dict[tuple[int, int], Cell]) -> object:
    """The value to read: a formula's cached value (``_NO_VALUE`` when there is none)."""
    if cell.data_type == "f":
        cell = values[(cell.row, cell.column)]
        if cell.value is None:
            return _NO_VALUE
    if cell.data_type == "e":
        raise _Refused(_("the cell holds an error (%(error)s)") % {"error": cell.value})
    return cell.value


def _read_rows(
    layout: _Layout,
    cells: dict[int, dict[int, Cell]],
    values: dict[tuple[int, int], Cell],
) -> ScheduleSheet:
    code_column = get_column_letter(layout.column_of("code"))
    readers: dict[str, Any] = {
        "code": _code,
        "name": lambda value: _text(value, "name"),
        "unit": lambda value: _text(value, "unit"),
        "volume_plan": lambda value: _decimal(value, VOLUME_DIGITS, VOLUME_DECIMALS),
        "start_date": _date,
        "end_date": _date,
        "estimated_cost": lambda value: _decimal(value, COST_DIGITS, COST_DECIMALS),
        "version": _version,
    }
    read: list[tuple[int, dict[str, Any], dict[datetime.date, Decimal], list[CellError]]] = []
    section_names: dict[str, str] = {}
    for row, by_column in cells.items():
        raw: dict[str, object] = {}
        errors: list[CellError] = []
        for cell in by_column.values():
            try:
                value = _cell_value(cell, values)
            except _Refused as refused:
                errors.append(CellError(cell.coordinate, str(refused)))
                value = "#"
            raw[cell.coordinate] = value
        if all(_is_blank(value) for value in raw.values()):
            continue  # an empty row (or one with values only in columns not read)
        name_cell = by_column.get(layout.column_of("name"))
        code_cell = by_column.get(layout.column_of("code"))
        if (code_cell is None or _is_blank(raw[code_cell.coordinate])) and (
            name_cell is not None
            and (title := section_total_title(raw[name_cell.coordinate])) is not None
        ):
            code, section_name = title
            if section_name and "." not in code and len(code) <= CODE_MAX_LENGTH:
                section_names[code] = section_name[: Section._meta.get_field("name").max_length]
            continue
        fields: dict[str, Any] = {}
        plans: dict[datetime.date, Decimal] = {}
        refused_cells = {error.cell for error in errors}
        for column, key in layout.keys.items():
            if key not in readers:
                continue
            coordinate = f"{get_column_letter(column)}{row}"
            if coordinate in refused_cells:
                continue
            cell = by_column.get(column)
            value = raw[cell.coordinate] if cell is not None else None
            try:
                fields[key] = _read_cell(value, readers[key], required=_is_required(key))
            except _Refused as refused:
                errors.append(CellError(coordinate, str(refused)))
        for column, month in layout.months.items():
            cell = by_column.get(column)
            if cell is None or cell.coordinate in refused_cells:
                continue
            try:
                plan = _read_cell(
                    raw[cell.coordinate],
                    lambda value: _decimal(value, VOLUME_DIGITS, VOLUME_DECIMALS),
                    required=False,
                )
            except _Refused as refused:
                errors.append(CellError(cell.coordinate, str(refused)))
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
    _refuse_duplicate_codes(read, code_column)
    rows, invalid = [], []
    for row, fields, plans, errors in read:
        if errors:
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


def _is_required(key: str) -> bool:
    return next(column.required for column in SCHEDULE_COLUMNS if column.key == key)


def _read_cell(value: object, reader: Any, *, required: bool) -> Any:
    if value is _NO_VALUE:
        raise _Refused(_("formula without a computed value: open and save the file in Excel"))
    if isinstance(value, str):
        value = value.strip()
    if _is_blank(value):
        if required:
            raise _Refused(_("empty: a value is required"))
        return None
    return reader(value)


def _refuse_duplicate_codes(
    read: Iterable[tuple[int, dict[str, Any], Any, list[CellError]]], code_column: str
) -> None:
    rows_of: dict[str, list[int]] = defaultdict(list)
    read = list(read)
    for row, fields, _plans, _errors in read:
        if "code" in fields:
            rows_of[fields["code"]].append(row)
    for row, fields, _plans, errors in read:
        others = [other for other in rows_of.get(fields.get("code"), []) if other != row]
        if others:
            errors.append(
                CellError(
                    f"{code_column}{row}",
                    ngettext(
                        "the code %(code)s is also in row %(rows)s",
                        "the code %(code)s is also in rows %(rows)s",
                        len(others),
                    )
                    % {"code": fields["code"], "rows": ", ".join(map(str, others))},
                )
            )


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
    return number.quantize(Decimal(1).scaleb(-decimals))


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
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _WHOLE.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Refused(_("not a version: a whole number from 1 up, as the export writes it"))
    return value
