"""The schedule as an Excel file, and the import's blank template (docs/excel.md, "Export").

The layout is ``schedule/sheet.py``'s, so the import reads back what the export writes: one
heading row, then per section (the first level of codes) its subtotal row followed by its
tasks, grouped one outline level below it. The subtotal's name cell says ``SECTION_TOTAL`` and
its code cell is empty, which is how the import knows to skip it.
"""

import datetime
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import IO

from django.http import FileResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from xlsxwriter.format import Format

from monthly.models import MonthlyTask
from progress.forecasts import ForecastStatus, task_forecasts
from scheduler_project.numbers import percent
from scheduler_project.workbooks import (
    STORED_DECIMALS,
    Sheet,
    column_name,
    export_filename,
    export_time,
    new_workbook,
    set_page_header,
    temporary_file,
    whole_volumes,
    workbook_response,
)

from .models import Section, Task, Unit, task_section
from .sheet import (
    EXPORTED_AT_PROPERTY,
    SCHEDULE_COLUMNS,
    SCHEDULE_SHEET_TITLE,
    SECTION_TOTAL,
    month_heading,
)

TEMPLATE_MONTHS = 3
"""The template's month columns: this month and the next two, to be renamed as needed."""


def _monthly_plans(tasks: Sequence[Task]) -> dict[int, dict[datetime.date, Decimal]]:
    plans: dict[int, dict[datetime.date, Decimal]] = defaultdict(dict)
    rows = (
        MonthlyTask.objects.filter(task_id__in=[task.pk for task in tasks])
        .order_by()
        .values_list("task_id", "month", "volume_plan")
    )
    for task_id, month, volume in rows:
        plans[task_id][month] = volume
    return plans


def _range(column: int, first: int, last: int) -> str:
    """``D3:D9`` for zero-based rows ``first`` to ``last`` of ``column``."""
    name = column_name(column)
    return f"{name}{first + 1}:{name}{last + 1}"


def _headings(sheet: Sheet, keys: Sequence[str], months: Sequence[datetime.date]) -> None:
    headings = {column.key: str(column.heading) for column in SCHEDULE_COLUMNS}
    heading = sheet.formats.get("heading")
    sheet.worksheet.set_row(0, None, heading)
    for index, key in enumerate(keys):
        sheet.heading(0, index, headings[key], heading)
    for offset, month in enumerate(months, start=len(keys)):
        sheet.heading(0, offset, month_heading(month), heading)


def schedule_workbook(
    file: IO[bytes],
    *,
    tasks: Sequence[Task],
    today: datetime.date,
    exported_at: str,
    with_monthly_plans: bool = True,
) -> None:
    """Write ``tasks`` (in schedule order) with their forecasts at ``today`` and, unless told
    otherwise, their monthly plans (one column per month that has one) to ``file``."""
    tasks = list(tasks)
    forecasts = task_forecasts(tasks=tasks, today=today)
    plans = _monthly_plans(tasks) if with_monthly_plans else {}
    months = sorted({month for by_month in plans.values() for month in by_month})
    keys = [column.key for column in SCHEDULE_COLUMNS]
    col = {key: index for index, key in enumerate(keys)}
    month_col = {month: len(keys) + index for index, month in enumerate(months)}
    sections: dict[str, list[Task]] = {}
    for task in tasks:
        sections.setdefault(task_section(task.code), []).append(task)
    names = Section.objects.filter(code__in=sections).names()
    decimals = Unit.objects.decimals()
    title = str(SCHEDULE_SHEET_TITLE)
    with new_workbook(file, title=title, constant_memory=True) as (workbook, formats):
        workbook.set_custom_property(EXPORTED_AT_PROPERTY, timezone.now().isoformat())
        worksheet = workbook.add_worksheet(title[:31])
        sheet = Sheet(worksheet, formats)
        set_page_header(worksheet, title=title, exported_at=exported_at)
        worksheet.set_landscape()
        worksheet.set_paper(9)  # A4
        worksheet.fit_to_pages(1, 0)
        worksheet.repeat_rows(0)
        worksheet.outline_settings(True, False, True, False)  # subtotals above their tasks
        worksheet.freeze_panes(1, 2)
        _headings(sheet, keys, months)
        row = 1
        row_decimals: dict[int, int] = {}
        for section, members in sections.items():
            first, last = row + 1, row + len(members)
            _section_row(sheet, row, section, members, first, last, col, month_col, plans, names)
            for task in members:
                row += 1
                worksheet.set_row(row, None, None, {"level": 1})
                row_decimals[row] = decimals.get(task.unit, STORED_DECIMALS)
                volume = formats.volume(decimals=row_decimals[row])
                _task_row(sheet, row, task, forecasts[task.pk], col, month_col, plans, volume)
            row += 1
        last_column = len(keys) + len(months) - 1
        worksheet.autofilter(0, 0, max(row - 1, 0), last_column)
        whole_volumes(
            worksheet,
            formats,
            [
                (1, col["volume_plan"], row - 1, col["volume_fact"]),
                (1, len(keys), row - 1, last_column),
            ],
            row_decimals=row_decimals,
        )
        sheet.fit_columns(fixed={col["version"]: 8}, formats={col["code"]: formats.get("text")})
        worksheet.set_column(col["version"], col["version"], 8, None, {"hidden": True})


def _section_row(
    sheet: Sheet,
    row: int,
    section: str,
    tasks: Sequence[Task],
    first: int,
    last: int,
    col: dict[str, int],
    month_col: dict[datetime.date, int],
    plans: dict[int, dict[datetime.date, Decimal]],
    names: dict[str, str],
) -> None:
    """A section's subtotals as formulas over its task rows, each with its value cached.
    Volumes only when the section's tasks share one unit (m³ and t do not add up); the cost
    always."""
    formats = sheet.formats
    total = formats.get("total")
    sheet.worksheet.set_row(row, None, total)
    sheet.write(row, col["code"], None, formats.get("total", "text"))
    title = f"{section} — {name}" if (name := names.get(section)) else section
    sheet.write(row, col["name"], SECTION_TOTAL % {"section": title}, total)
    units = {task.unit for task in tasks}
    one_unit = len(units) == 1
    sheet.write(row, col["unit"], units.pop() if one_unit else None, total)

    def subtotal(column: int, function: int, value: object, format_: object) -> None:
        formula = f"=SUBTOTAL({function},{_range(column, first, last)})"
        sheet.formula(row, column, formula, value, format_)

    if one_unit:
        plan = sum((task.volume_plan for task in tasks), Decimal(0))
        fact = sum((task.volume_fact for task in tasks), Decimal(0))
        subtotal(col["volume_plan"], 9, plan, formats.volume("total"))
        subtotal(col["volume_fact"], 9, fact, formats.volume("total"))
        done = percent(fact, plan) if plan else Decimal(0)
        plan_cell = f"{column_name(col['volume_plan'])}{row + 1}"
        fact_cell = f"{column_name(col['volume_fact'])}{row + 1}"
        sheet.formula(
            row,
            col["progress"],
            f"=IF({plan_cell}=0,0,ROUND({fact_cell}*100/{plan_cell},1))",
            done,
            formats.get("total", "num:0.0"),
        )
        for month, column in month_col.items():
            month_plans = [plans[task.pk][month] for task in tasks if month in plans[task.pk]]
            if month_plans:
                value = sum(month_plans, Decimal(0))
                subtotal(column, 9, value, formats.volume("total"))
    date = formats.get("total", "date")
    subtotal(col["start_date"], 5, min(task.start_date for task in tasks), date)
    subtotal(col["end_date"], 4, max(task.end_date for task in tasks), date)
    costs = [task.estimated_cost for task in tasks if task.estimated_cost is not None]
    if costs:
        cost = sum(costs, Decimal(0))
        subtotal(col["estimated_cost"], 9, cost, formats.get("total", "num:#,##0.00"))


def _task_row(
    sheet: Sheet,
    row: int,
    task: Task,
    forecast: object,
    col: dict[str, int],
    month_col: dict[datetime.date, int],
    plans: dict[int, dict[datetime.date, Decimal]],
    volume_format: Format,
) -> None:
    """A task's row; its volumes in ``volume_format``, with its unit's decimals."""
    formats = sheet.formats
    sheet.write(row, col["code"], task.code, formats.get("text"))
    sheet.write(row, col["name"], task.name)
    sheet.write(row, col["unit"], task.unit)
    sheet.write(row, col["volume_plan"], task.volume_plan, volume_format)
    sheet.write(row, col["volume_fact"], task.volume_fact, volume_format)
    sheet.write(row, col["progress"], task.progress_percent, formats.get("num:0.0"))
    sheet.write(row, col["start_date"], task.start_date, formats.get("date"))
    sheet.write(row, col["end_date"], task.end_date, formats.get("date"))
    if forecast.finish is not None:
        names = ("late", "date") if forecast.is_late else ("date",)
        sheet.write(row, col["forecast_finish"], forecast.finish, formats.get(*names))
    elif forecast.status == ForecastStatus.IN_PROGRESS:
        sheet.write(row, col["forecast_finish"], _("beyond 10 years"), formats.get("late"))
    if task.estimated_cost is not None:
        sheet.write(row, col["estimated_cost"], task.estimated_cost, formats.get("num:#,##0.00"))
    sheet.write(row, col["version"], task.version)
    for month, volume in plans.get(task.pk, {}).items():
        sheet.write(row, month_col[month], volume, volume_format)


def schedule_template_workbook(file: IO[bytes], *, first_month: datetime.date) -> None:
    """The import's blank template: the headings of the columns the import reads (``Version``
    left out: new rows have none) and ``TEMPLATE_MONTHS`` month columns from ``first_month``;
    no example row, which an import would take for a task. The columns carry their formats,
    so typed dates and numbers look as in the export."""
    keys = [
        column.key for column in SCHEDULE_COLUMNS if column.imported and column.key != "version"
    ]
    months = [first_month]
    while len(months) < TEMPLATE_MONTHS:
        months.append((months[-1] + datetime.timedelta(days=31)).replace(day=1))
    title = str(SCHEDULE_SHEET_TITLE)
    with new_workbook(file, title=title, constant_memory=False) as (workbook, formats):
        worksheet = workbook.add_worksheet(title[:31])
        sheet = Sheet(worksheet, formats)
        worksheet.freeze_panes(1, 0)
        _headings(sheet, keys, months)
        column_formats = {
            "code": formats.get("text"),
            "volume_plan": formats.volume(),
            "start_date": formats.get("date"),
            "end_date": formats.get("date"),
            "estimated_cost": formats.get("num:#,##0.00"),
        }
        widths = {"code": 10, "name": 40, "unit": 8}
        for index, key in enumerate(keys):
            width = max(widths.get(key, 14), sheet.widths.get(index, 0) * 1.1 + 1)
            worksheet.set_column(index, index, width, column_formats.get(key))
        for index in range(len(keys), len(keys) + len(months)):
            worksheet.set_column(index, index, 12, formats.volume())
        volume_plan, last_row = keys.index("volume_plan"), worksheet.xls_rowmax - 1
        whole_volumes(
            worksheet,
            formats,
            [
                (1, volume_plan, last_row, volume_plan),
                (1, len(keys), last_row, len(keys) + len(months) - 1),
            ],
        )


def schedule_response(*, tasks: Sequence[Task], with_monthly_plans: bool) -> FileResponse:
    """The download of ``schedule_workbook`` (the page's button and the API's ``xlsx``)."""
    today = timezone.localdate()
    file = temporary_file()
    schedule_workbook(
        file,
        tasks=tasks,
        today=today,
        exported_at=export_time(),
        with_monthly_plans=with_monthly_plans,
    )
    filename, ascii_filename = export_filename(
        pgettext("filename", "schedule"), "schedule", today.isoformat()
    )
    return workbook_response(file, filename=filename, ascii_filename=ascii_filename)


def schedule_template_response() -> FileResponse:
    """The download of the import's template, its month columns from this month on."""
    today = timezone.localdate()
    file = temporary_file()
    schedule_template_workbook(file, first_month=today.replace(day=1))
    filename, ascii_filename = export_filename(
        pgettext("filename", "schedule-template"), "schedule-template", today.isoformat()
    )
    return workbook_response(file, filename=filename, ascii_filename=ascii_filename)
