"""The МСГ of a month as an Excel file for the A3 printout (docs/excel.md, "Export").

The same grid as the page (``month_grid``): per task a plan row (with the month's figures) and
a fact row, one column per day; sections head their tasks with their subtotals, as on the page.
Weekends and holidays are shaded; a fact cell behind its plan is coloured by a conditional
format (a formula comparing it with the plan cell above it), so the colour follows an edit made
in the file. Only the days before the export's today get it: today is not over yet.
"""

import datetime
from collections import defaultdict
from decimal import Decimal
from typing import IO

from django.http import FileResponse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, npgettext, pgettext
from xlsxwriter import Workbook
from xlsxwriter.worksheet import Worksheet

from scheduler_project.workbooks import (
    STYLES,
    Sheet,
    cell_name,
    column_name,
    export_filename,
    export_time,
    new_workbook,
    set_page_header,
    temporary_file,
    workbook_response,
)

from .fields import format_month
from .selectors import GridDay, GridRow, GridTotals, MonthGrid

FIXED = ("code", "name", "unit", "kind")
"""The frozen columns: code, work, unit, and whether the row is the plan or the fact."""
FIGURES = ("plan", "fact", "percent", "deviation", "remaining", "needed", "to_finish", "forecast")
FIRST_DAY = len(FIXED) + len(FIGURES)
HEADING_ROWS = 2
"""The headings, then the days' weekdays."""
DAY_WIDTH = 6.5


def _day_style(day: GridDay) -> tuple[str, ...]:
    if day.is_today:
        return ("today",)
    if day.is_holiday:
        return ("holiday",)
    return () if day.is_working else ("off",)


def _totals_text(totals: GridTotals) -> str:
    """The page's subtotal text (monthly/grid_totals.html)."""
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


def msg_workbook(file: IO[bytes], *, grid: MonthGrid, exported_at: str) -> None:
    """Write ``grid`` to ``file``, laid out for printing on A3 landscape, one page wide."""
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
        styles = [_day_style(day) for day in grid.days]
        for section in grid.sections:
            _section_row(sheet, row, section.section, section.totals)
            row += 1
            for grid_row in section.rows:
                _task_rows(sheet, row, grid_row, grid.days, styles)
                fact_rows.append(row + 1)
                row += 2
        row = _month_totals(sheet, row, grid)
        behind_days = sum(1 for day in grid.days if day.date < grid.today)
        if fact_rows and behind_days:
            _behind_format(worksheet, workbook, fact_rows, behind_days)
        sheet.fit_columns(fixed={FIRST_DAY + index: DAY_WIDTH for index in range(len(grid.days))})


def _headings(sheet: Sheet, grid: MonthGrid) -> None:
    formats = sheet.formats
    heading = formats.get("heading")
    texts = [
        _("Code"),
        _("Work"),
        _("Unit"),
        "",
        _("Plan for the month"),
        _("Fact"),
        "%",
        _("Deviation"),
        _("Remaining"),
        _("Needed per day"),
        _("To finish, per day"),
        _("Forecast finish"),
    ]
    for row in range(HEADING_ROWS):
        sheet.worksheet.set_row(row, None, heading)
        for column, text in enumerate(texts):
            if row == 0 and text:
                sheet.heading(row, column, text, heading)
            else:
                sheet.write(row, column, None, heading)
        for index, day in enumerate(grid.days):
            style = formats.get("heading", "center", *_day_style(day))
            value = day.date.day if row == 0 else date_format(day.date, "D")
            sheet.worksheet.write(row, FIRST_DAY + index, value, style)


def _section_row(sheet: Sheet, row: int, section: str, totals: GridTotals) -> None:
    total = sheet.formats.get("total")
    sheet.worksheet.set_row(row, None, total)
    sheet.write(row, 0, _("Section %(name)s") % {"name": section}, total)
    sheet.write(row, 1, _totals_text(totals), total)
    column = len(FIXED) + FIGURES.index("percent")
    sheet.write(row, column, totals.percent, sheet.formats.get("total", "num:0.0"))


def _forecast_text(grid_row: GridRow) -> object:
    forecast = grid_row.forecast
    if forecast.finish is not None:
        return forecast.finish
    if forecast.status == "not_started":
        return _("not started")
    if forecast.status == "done":
        return _("done")
    return _("beyond 10 years")


def _task_rows(
    sheet: Sheet, row: int, grid_row: GridRow, days: list[GridDay], styles: list[tuple[str, ...]]
) -> None:
    """The task's plan row, with the month's figures, and its fact row."""
    formats, worksheet = sheet.formats, sheet.worksheet
    task = grid_row.task
    for offset in range(2):
        worksheet.set_row(row + offset, None, None, {"level": 1})
    sheet.write(row, 0, task.code, formats.get("text"))
    name = task.name
    if grid_row.overdue_since is not None:
        overdue = _("overdue since %(date)s") % {
            "date": date_format(grid_row.overdue_since, "SHORT_DATE_FORMAT")
        }
        name = f"{name} ({overdue})"
    sheet.write(row, 1, name)
    sheet.write(row, 2, task.unit)
    sheet.write(row, 3, _("plan"), formats.get("muted"))
    column = {name: len(FIXED) + index for index, name in enumerate(FIGURES)}
    behind = ("behind",) if grid_row.is_behind else ()
    late = ("late",) if grid_row.forecast.is_late else ()
    sheet.write(row, column["plan"], grid_row.plan, formats.volume())
    sheet.write(row, column["fact"], grid_row.fact, formats.volume())
    sheet.write(row, column["percent"], grid_row.percent, formats.get("num:0.0"))
    deviation = grid_row.deviation_to_date
    sheet.write(row, column["deviation"], deviation, formats.volume(*behind))
    sheet.write(row, column["remaining"], grid_row.remaining, formats.volume())
    for name, needed in [
        ("needed", grid_row.needed_per_day),
        ("to_finish", grid_row.needed_per_day_to_finish),
    ]:
        value = "—" if needed is None else needed
        sheet.write(row, column[name], value, formats.volume(*behind))
    forecast = _forecast_text(grid_row)
    names = (*late, "date") if isinstance(forecast, datetime.date) else late
    sheet.write(row, column["forecast"], forecast, formats.get(*names) if names else None)
    # The day cells go straight to the worksheet: their widths are fixed, and they are most of
    # the file (a thousand tasks make 62,000 of them). A constant_memory sheet writes row by
    # row: the plan row's cells all come before the fact row's.
    number, blank, volume = worksheet.write_number, worksheet.write_blank, formats.volume
    columns = range(FIRST_DAY, FIRST_DAY + len(days))
    for offset, name in enumerate(("plan", "fact")):
        if offset:
            sheet.write(row + 1, 3, _("fact"), formats.get("muted"))
        for column, cell, style in zip(columns, grid_row.cells, styles, strict=True):
            value = getattr(cell, name)
            if value is not None:
                number(row + offset, column, float(value), volume(*style))
            elif style:
                blank(row + offset, column, None, volume(*style))


def _month_totals(sheet: Sheet, row: int, grid: MonthGrid) -> int:
    """The page's footer: the month's totals, then the monthly plans summed per unit."""
    formats = sheet.formats
    total = formats.get("total")
    sheet.worksheet.set_row(row, None, total)
    sheet.write(row, 0, _("The month"), total)
    text = _totals_text(grid.totals)
    if grid.weighting == "estimated_cost":
        text += f" ({_('weighted by estimated cost')})"
    sheet.write(row, 1, text, total)
    percent_column = len(FIXED) + FIGURES.index("percent")
    sheet.write(row, percent_column, grid.totals.percent, formats.get("total", "num:0.0"))
    plans: dict[str, Decimal] = defaultdict(Decimal)
    for section in grid.sections:
        for grid_row in section.rows:
            if grid_row.monthly_task is not None:
                plans[grid_row.task.unit] += grid_row.monthly_task.volume_plan
    for unit, volume in sorted(plans.items()):
        row += 1
        sheet.write(row, 0, _("Planned for the month, %(unit)s") % {"unit": unit})
        sheet.write(row, len(FIXED), volume, formats.volume())
    return row + 1


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


def msg_response(*, grid: MonthGrid, section: str | None) -> FileResponse:
    """The download of ``msg_workbook`` (the page's button and the API's ``xlsx``)."""
    file = temporary_file()
    msg_workbook(file, grid=grid, exported_at=export_time())
    suffix = format_month(grid.month) + (f"-{section}" if section else "")
    filename, ascii_filename = export_filename(pgettext("filename", "msg"), "msg", suffix)
    return workbook_response(file, filename=filename, ascii_filename=ascii_filename)
