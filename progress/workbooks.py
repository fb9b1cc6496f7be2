"""The МСГ of a month as an Excel file for the A3 printout (docs/excel.md, "Export").

The same grid as the page (``month_grid``): per task a plan row (with the month's figures) and
a fact row, one column per day; sections head their tasks with their subtotals, as on the page;
below, the month's row, a plan and a fact row per unit, and the signatures, with a border on
every cell of the grid as on a printed МСГ.

What a planner may correct in the file is a day's fact, so whatever follows from the days alone
is a formula with the page's figure cached: a row's fact, % and remaining, and the units'
totals. Weekends and holidays are shaded; a fact cell behind its plan is coloured by a
conditional format (a formula comparing it with the plan cell above it), so the colour follows
an edit made in the file too. Only the days before the export's today get it: today is not over
yet.
"""

import datetime
from typing import IO

from django.contrib.auth.base_user import AbstractBaseUser
from django.http import FileResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, npgettext, pgettext
from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from monthly.fields import format_month
from schedule.models import VOLUME_DECIMALS
from scheduler_project.pages import format_person
from scheduler_project.workbooks import (
    STYLES,
    Sheet,
    cell_name,
    column_name,
    excel_text,
    export_filename,
    export_time,
    new_workbook,
    number_length,
    set_page_header,
    temporary_file,
    whole_volumes,
    workbook_response,
)

from .selectors import GridDay, GridRow, GridSection, GridTotals, MonthGrid, UnitTotals

FIXED = ("code", "name", "unit", "kind")
"""The frozen columns: code, work, unit, and whether the row is the plan or the fact."""
FIGURES = ("plan", "fact", "percent", "deviation", "remaining", "needed", "to_finish", "forecast")
COLUMN = {name: index for index, name in enumerate((*FIXED, *FIGURES))}
FIRST_DAY = len(FIXED) + len(FIGURES)
HEADING_ROWS = 2
"""The headings, then the days' weekdays."""
HEADING_HEIGHT = 45
"""The first heading row's height in points: three lines, which the longest heading wraps to
("To finish, / per day", «До / окончания, в / день»). Set, as a viewer does not always fit a
row to its wrapped text, and a heading cut short would hide what a column is."""
DAY_WIDTH = 6.5
"""The narrowest day column; a wider figure widens them all (``day_width``)."""


def day_width(grid: MonthGrid) -> float:
    """One width for every day column, wide enough for the longest figure in any of them, the
    units' bold totals included: a figure too wide for its cell prints as ``###``."""
    longest = max(
        (
            number_length(value)
            for section in grid.sections
            for grid_row in section.rows
            for cell in grid_row.cells
            for value in (cell.plan, cell.fact)
            if value is not None
        ),
        default=0,
    )
    for totals in grid.units:
        for day in totals.days:
            for value in day:
                if value is not None:
                    longest = max(longest, number_length(value))
    return max(DAY_WIDTH, longest * 1.2 + 1)


def _day_style(day: GridDay) -> tuple[str, ...]:
    if day.is_today:
        return ("today",)
    if day.is_holiday:
        return ("holiday",)
    return () if day.is_working else ("off",)


def _totals_text(totals: GridTotals) -> str:
    """The page's subtotal text (progress/grid_totals.html)."""
    text = ngettext("%(counter)s task", "%(counter)s tasks", totals.tasks) % {
        "counter": totals.tasks
    }
    if totals.behind:
        behind = ngettext("%(counter)s behind", "%(counter)s behind", totals.behind)
        text += " · " + behind % {"counter": totals.behind}
    if totals.late:
        late = npgettext("tasks", "%(counter)s late", "%(counter)s late", totals.late)
        text += " · " + late % {"counter": totals.late}
    return text


def _day_range(row: int, days: int) -> str:
    """The day cells of ``row``: ``M5:AQ5``."""
    return f"{cell_name(row, FIRST_DAY)}:{cell_name(row, FIRST_DAY + days - 1)}"


def fact_formula(*, fact_row: int, days: int) -> str:
    """A row's month fact: the sum of its fact row's day cells."""
    return f"=SUM({_day_range(fact_row, days)})"


def percent_formula(*, row: int) -> str:
    """Fact against plan, one decimal as the page (half up: the figures are never negative);
    empty when the month plans nothing."""
    plan, fact = cell_name(row, COLUMN["plan"]), cell_name(row, COLUMN["fact"])
    return f'=IF({plan}=0,"",ROUND({fact}*100/{plan},1))'


def remaining_formula(*, row: int) -> str:
    """The month's plan not done yet, never below zero."""
    plan, fact = cell_name(row, COLUMN["plan"]), cell_name(row, COLUMN["fact"])
    return f"=MAX(0,{plan}-{fact})"


def unit_sum_formula(*, column: int, unit: str, kind: str, first: int, last: int) -> str:
    """The sum of ``column`` over the task rows ``first`` to ``last`` of ``unit`` whose kind
    cell says ``kind`` (the translated "plan" or "fact"); EXACT, as in ``exact_sum_formula``."""

    def cells(column: int, absolute: bool) -> str:
        name = column_name(column)
        if absolute:
            return f"${name}${first + 1}:${name}${last + 1}"
        return f"{name}${first + 1}:{name}${last + 1}"

    units, kinds = cells(COLUMN["unit"], True), cells(COLUMN["kind"], True)
    return (
        f"=SUMPRODUCT(EXACT({units},{excel_text(unit)})*({kinds}={excel_text(kind)}),"
        f"{cells(column, False)})"
    )


def msg_workbook(
    file: IO[bytes],
    *,
    grid: MonthGrid,
    exported_at: str,
    prepared_by: str,
    prepared_on: datetime.date,
) -> None:
    """Write ``grid`` to ``file``, laid out for printing on A3 landscape, one page wide, signed
    below as prepared by ``prepared_by`` on ``prepared_on``."""
    title = f"{_('Month-by-day schedule')} — {date_format(grid.month, 'F Y')}"
    with new_workbook(file, title=title, constant_memory=True) as (workbook, formats):
        worksheet = workbook.add_worksheet(grid.month.strftime("%Y-%m"))
        sheet = Sheet(worksheet, formats)
        set_page_header(worksheet, title=title, exported_at=exported_at)
        worksheet.set_paper(8)  # A3
        worksheet.set_landscape()
        worksheet.fit_to_pages(1, 0)
        worksheet.repeat_rows(0, HEADING_ROWS - 1)
        worksheet.freeze_panes(HEADING_ROWS, len(FIXED))
        worksheet.outline_settings(True, False, True, False)
        _headings(sheet, grid)
        row = HEADING_ROWS
        fact_rows: list[int] = []
        row_decimals: dict[int, int] = {}  # each row's volumes' decimals, for whole_volumes
        styles = [_day_style(day) for day in grid.days]

        def day_formats(decimals: int, *names: str) -> list[Format]:
            """Each day column's format for a row of volumes with ``decimals``."""
            return [formats.volume(*names, "grid", *style, decimals=decimals) for style in styles]

        for section in grid.sections:
            _section_row(sheet, row, section, len(grid.days))
            row += 1
            for grid_row in section.rows:
                decimals = _decimals(grid_row)
                _task_rows(sheet, row, grid_row, day_formats(decimals))
                row_decimals[row] = row_decimals[row + 1] = decimals
                fact_rows.append(row + 1)
                row += 2
        last_task_row = row - 1
        row = _month_row(sheet, row, grid)
        if fact_rows:
            for index, totals in enumerate(grid.units):
                row_decimals[row + 2 * index] = row_decimals[row + 2 * index + 1] = totals.decimals
            row = _unit_rows(
                sheet,
                row,
                grid.units,
                {totals.unit: day_formats(totals.decimals, "total") for totals in grid.units},
                last_task_row=last_task_row,
            )
        last_day = FIRST_DAY + len(grid.days) - 1
        whole_volumes(
            worksheet,
            formats,
            [
                (HEADING_ROWS, COLUMN["plan"], row - 1, COLUMN["fact"]),
                (HEADING_ROWS, COLUMN["deviation"], row - 1, COLUMN["to_finish"]),
                (HEADING_ROWS, FIRST_DAY, row - 1, last_day),
            ],
            row_decimals=row_decimals,
        )
        _signatures(sheet, row + 1, prepared_by=prepared_by, prepared_on=prepared_on)
        behind_days = sum(1 for day in grid.days if day.date < grid.today)
        if fact_rows and behind_days:
            _behind_format(worksheet, workbook, fact_rows, behind_days)
        width = day_width(grid)
        sheet.fit_columns(fixed={FIRST_DAY + index: width for index in range(len(grid.days))})


def _headings(sheet: Sheet, grid: MonthGrid) -> None:
    """Two heading rows; a heading of the fixed and figure columns spans both, drawn as one
    cell (no border between them: a merged range cannot be written row by row)."""
    formats = sheet.formats
    texts = [
        _("Code"),
        _("Work"),
        _("Unit"),
        _("Plan / fact"),  # which of a work's two rows this is
        _("Plan for the month"),
        _("Fact"),
        "%",
        _("Deviation"),
        _("Remaining"),
        _("Needed per day"),
        _("To finish, per day"),
        _("Forecast finish"),
    ]
    sheet.worksheet.set_row(0, HEADING_HEIGHT)
    for row, open_side in enumerate(("open_bottom", "open_top")):
        heading = formats.get("heading", "grid", open_side)
        for column, text in enumerate(texts):
            if row == 0 and text:
                sheet.heading(row, column, text, heading)
            else:
                sheet.write(row, column, None, heading)
        for index, day in enumerate(grid.days):
            style = formats.get("heading", "grid", "center", *_day_style(day))
            value = day.date.day if row == 0 else date_format(day.date, "D")
            sheet.worksheet.write(row, FIRST_DAY + index, value, style)


def _blank_row(sheet: Sheet, row: int, days: int, format_: Format) -> None:
    """Every cell of the grid's width in ``row``, bordered: a printed form has no gaps."""
    for column in range(FIRST_DAY + days):
        sheet.worksheet.write_blank(row, column, None, format_)


def _section_row(sheet: Sheet, row: int, section: GridSection, days: int) -> None:
    """«Раздел 4» in the code column; its name, if it has one, and its subtotals beside it."""
    formats = sheet.formats
    total = formats.get("total", "grid")
    _blank_row(sheet, row, days, total)
    sheet.write(row, 0, _("Section %(name)s") % {"name": section.section}, total)
    text = _totals_text(section.totals)
    sheet.write(row, 1, f"{section.name} · {text}" if section.name else text, total)
    totals = section.totals
    percent = formats.get("total", "grid", "num:0.0")
    sheet.write(row, COLUMN["percent"], totals.percent, percent)


def _forecast_text(grid_row: GridRow) -> object:
    forecast = grid_row.forecast
    if forecast.finish is not None:
        return forecast.finish
    if forecast.status == "not_started":
        return _("not started")
    if forecast.status == "done":
        return _("done")
    return _("beyond 10 years")


def _decimals(grid_row: GridRow) -> int:
    """The decimals a row's volumes are shown with: its unit's (``Unit.decimals``)."""
    return getattr(grid_row.task, "unit_decimals", VOLUME_DECIMALS)


def _task_rows(sheet: Sheet, row: int, grid_row: GridRow, day_formats: list[Format]) -> None:
    """The task's plan row, with the month's figures, and its fact row. The fact, % and
    remaining are formulas over the day cells (with the computed figures cached), so they
    follow a day corrected in the file; the others are the page's values."""
    formats, worksheet = sheet.formats, sheet.worksheet
    task = grid_row.task
    for offset in range(2):
        worksheet.set_row(row + offset, None, None, {"level": 1})
    cell = formats.get("grid")
    sheet.write(row, COLUMN["code"], task.code, formats.get("grid", "text"))
    name = task.name
    if grid_row.overdue_since is not None:
        overdue = _("overdue since %(date)s") % {
            "date": date_format(grid_row.overdue_since, "SHORT_DATE_FORMAT")
        }
        name = f"{name} ({overdue})"
    sheet.write(row, COLUMN["name"], name, cell)
    sheet.write(row, COLUMN["unit"], task.unit, cell)
    sheet.write(row, COLUMN["kind"], _("plan"), formats.get("grid", "muted"))
    behind = ("behind",) if grid_row.is_behind else ()
    late = ("late",) if grid_row.forecast.is_late else ()
    decimals = _decimals(grid_row)
    volume = formats.volume("grid", decimals=decimals)
    days = len(grid_row.cells)
    sheet.write(row, COLUMN["plan"], grid_row.plan, volume)
    sheet.formula(
        row, COLUMN["fact"], fact_formula(fact_row=row + 1, days=days), grid_row.fact, volume
    )
    percent = "" if grid_row.percent is None else grid_row.percent
    sheet.formula(
        row, COLUMN["percent"], percent_formula(row=row), percent, formats.get("grid", "num:0.0")
    )
    deviation = grid_row.deviation_to_date
    behind_volume = formats.volume("grid", *behind, decimals=decimals)
    sheet.write(row, COLUMN["deviation"], deviation, behind_volume)
    sheet.formula(row, COLUMN["remaining"], remaining_formula(row=row), grid_row.remaining, volume)
    for column, needed in [
        (COLUMN["needed"], grid_row.needed_per_day),
        (COLUMN["to_finish"], grid_row.needed_per_day_to_finish),
    ]:
        value = "—" if needed is None else needed
        sheet.write(row, column, value, behind_volume)
    forecast = _forecast_text(grid_row)
    names = (*late, "date") if isinstance(forecast, datetime.date) else late
    sheet.write(row, COLUMN["forecast"], forecast, formats.get("grid", *names))
    # The day cells go straight to the worksheet: their widths are fixed, and they are most of
    # the file (a thousand tasks make 62,000 of them). A constant_memory sheet writes row by
    # row: the plan row's cells all come before the fact row's.
    number, blank = worksheet.write_number, worksheet.write_blank
    columns = range(FIRST_DAY, FIRST_DAY + days)
    for offset, kind in enumerate(("plan", "fact")):
        if offset:
            for column in range(FIRST_DAY):
                blank(row + 1, column, None, cell)
            sheet.write(row + 1, COLUMN["unit"], task.unit, cell)
            sheet.write(row + 1, COLUMN["kind"], _("fact"), formats.get("grid", "muted"))
        for column, day, format_ in zip(columns, grid_row.cells, day_formats, strict=True):
            value = getattr(day, kind)
            if value is None:
                blank(row + offset, column, None, format_)
            else:
                number(row + offset, column, float(value), format_)


def _month_row(sheet: Sheet, row: int, grid: MonthGrid) -> int:
    """The page's footer row: the month's tasks, behind and late, and its weighted %."""
    formats = sheet.formats
    total = formats.get("total", "grid")
    _blank_row(sheet, row, len(grid.days), total)
    sheet.write(row, 0, _("The month"), total)
    text = _totals_text(grid.totals)
    if grid.weighting == "estimated_cost":
        text += f" ({_('weighted by estimated cost')})"
    sheet.write(row, 1, text, total)
    percent = formats.get("total", "grid", "num:0.0")
    sheet.write(row, COLUMN["percent"], grid.totals.percent, percent)
    return row + 1


def _unit_rows(
    sheet: Sheet,
    row: int,
    units: list[UnitTotals],
    day_formats: dict[str, list[Format]],
    *,
    last_task_row: int,
) -> int:
    """Per unit a plan row (the month's plan and each day's) and a fact row (the month's fact
    and each day's), as formulas over the task rows with their values cached; ``day_formats``
    per unit, its decimals'."""
    formats, worksheet = sheet.formats, sheet.worksheet
    total = formats.get("total", "grid")
    days = len(units[0].days) if units else 0
    labels = {"plan": _("Total %(unit)s: plan"), "fact": _("Total %(unit)s: fact")}
    kinds = {"plan": _("plan"), "fact": _("fact")}
    for totals in units:
        unit = totals.unit
        volume = formats.volume("total", "grid", decimals=totals.decimals)
        for index, kind in enumerate(("plan", "fact")):
            _blank_row(sheet, row, days, total)
            sheet.write(row, COLUMN["name"], labels[kind] % {"unit": unit}, total)
            if kind == "plan":
                formula = unit_sum_formula(
                    column=COLUMN["plan"],
                    unit=unit,
                    kind=kinds["plan"],
                    first=HEADING_ROWS,
                    last=last_task_row,
                )
                sheet.formula(row, COLUMN["plan"], formula, totals.plan, volume)
            else:
                formula = fact_formula(fact_row=row, days=days)
                sheet.formula(row, COLUMN["fact"], formula, totals.fact, volume)
            unit_days = zip(totals.days, day_formats[unit], strict=True)
            for day, (values, format_) in enumerate(unit_days):
                formula = unit_sum_formula(
                    column=FIRST_DAY + day,
                    unit=unit,
                    kind=kinds[kind],
                    first=HEADING_ROWS,
                    last=last_task_row,
                )
                cached = float(values[index] or 0)  # no row's plan (fact) that day: the sum is 0
                worksheet.write_formula(row, FIRST_DAY + day, formula, format_, cached)
            row += 1
    return row


def _signatures(sheet: Sheet, row: int, *, prepared_by: str, prepared_on: datetime.date) -> None:
    """A printed МСГ's signatures: who made the file and when, and blanks for who checks it.
    One text per line in the work column, running over the empty cells to its right (never
    fitted: the column keeps the width of the works' names)."""
    date = date_format(prepared_on, "SHORT_DATE_FORMAT")
    prepared = _("Prepared by: %(name)s ____________ %(date)s")
    lines = [
        prepared % {"name": prepared_by, "date": date},
        _("Checked by: ____________________ ____________ ____ ____________ 20__"),
    ]
    for offset, line in enumerate(lines):
        sheet.worksheet.write_string(row + 2 * offset, COLUMN["name"], line)


def _behind_format(
    worksheet: Worksheet, workbook: Workbook, fact_rows: list[int], days: int
) -> None:
    """One conditional format over the fact rows' cells of the days before today: the fact
    is below the plan of the row above (an empty fact counts as 0, a day without a plan is
    never behind), as ``GridCell.is_behind`` says."""
    first, last = column_name(FIRST_DAY), column_name(FIRST_DAY + days - 1)
    ranges = " ".join(f"{first}{row + 1}:{last}{row + 1}" for row in fact_rows)
    anchor, plan = cell_name(fact_rows[0], FIRST_DAY), cell_name(fact_rows[0] - 1, FIRST_DAY)
    worksheet.conditional_format(
        fact_rows[0],
        FIRST_DAY,
        fact_rows[0],
        FIRST_DAY + days - 1,
        {
            "type": "formula",
            "criteria": f"=AND(ISNUMBER({plan}),N({anchor})<{plan})",
            "format": workbook.add_format(STYLES["behind"]),
            "multi_range": ranges,
        },
    )


def msg_response(*, grid: MonthGrid, section: str | None, user: AbstractBaseUser) -> FileResponse:
    """The download of ``msg_workbook`` (the page's button and the API's ``xlsx``), signed as
    prepared by ``user`` on the site's today."""
    file = temporary_file()
    msg_workbook(
        file,
        grid=grid,
        exported_at=export_time(),
        prepared_by=format_person(user),
        prepared_on=timezone.localdate(),
    )
    suffix = format_month(grid.month) + (f"-{section}" if section else "")
    filename, ascii_filename = export_filename(pgettext("filename", "msg"), "msg", suffix)
    return workbook_response(file, filename=filename, ascii_filename=ascii_filename)
