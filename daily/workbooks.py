"""The daily report as an Excel file (docs/excel.md, "Export"): the works of a day, as on the
page ``daily:day``, with their volumes summed per unit (m³ and t are never added)."""

import datetime
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import IO

from django.http import FileResponse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from schedule.models import Unit
from scheduler_project.pages import format_person
from scheduler_project.workbooks import (
    STORED_DECIMALS,
    Sheet,
    column_name,
    exact_sum_formula,
    export_filename,
    export_time,
    new_workbook,
    set_page_header,
    temporary_file,
    whole_volumes,
    workbook_response,
)

from .models import DailyWork

COLUMNS = ("date", "code", "name", "volume", "unit", "description", "entered_by")


def daily_workbook(
    file: IO[bytes], *, works: Sequence[DailyWork], day: datetime.date | None, exported_at: str
) -> None:
    """Write ``works`` (with their tasks and authors) to ``file``; ``day`` names the report's
    date in its title (None: the works of several days, from the API's filters). Each work
    row carries its date, so a file of several days reads the same way."""
    title = _("Daily order")
    if day is not None:
        title = f"{title} — {date_format(day, 'SHORT_DATE_FORMAT')}"
    headings = [
        _("Date"),
        _("Code"),
        _("Work"),
        _("Volume"),
        _("Unit"),
        _("Description"),
        _("Entered by"),
    ]
    col = {key: index for index, key in enumerate(COLUMNS)}
    with new_workbook(file, title=title, constant_memory=True) as (workbook, formats):
        worksheet = workbook.add_worksheet((day.isoformat() if day else _("Daily order"))[:31])
        sheet = Sheet(worksheet, formats)
        set_page_header(worksheet, title=title, exported_at=exported_at)
        worksheet.set_paper(9)  # A4
        worksheet.set_landscape()
        worksheet.fit_to_pages(1, 0)
        worksheet.repeat_rows(0)
        worksheet.freeze_panes(1, 0)
        heading = formats.get("heading")
        worksheet.set_row(0, None, heading)
        for index, text in enumerate(headings):
            sheet.heading(0, index, text, heading)
        totals: dict[str, Decimal] = defaultdict(Decimal)
        decimals = Unit.objects.decimals()  # each unit's volumes as the pages show them
        row_decimals: dict[int, int] = {}
        row = 0
        for work in works:
            row += 1
            task = work.task
            totals[task.unit] += work.volume
            sheet.write(row, col["date"], work.date, formats.get("date"))
            sheet.write(row, col["code"], task.code, formats.get("text"))
            sheet.write(row, col["name"], task.name)
            row_decimals[row] = decimals.get(task.unit, STORED_DECIMALS)
            volume_format = formats.volume(decimals=row_decimals[row])
            sheet.write(row, col["volume"], work.volume, volume_format)
            sheet.write(row, col["unit"], task.unit)
            sheet.write(row, col["description"], work.description, formats.get("wrap"))
            sheet.write(row, col["entered_by"], format_person(work.created_by))
        if row:
            worksheet.autofilter(0, 0, row, len(COLUMNS) - 1)
        last = row
        units = column_name(col["unit"])
        volumes = column_name(col["volume"])
        total = formats.get("total")
        for unit, volume in sorted(totals.items()):
            row += 1
            row_decimals[row] = decimals.get(unit, STORED_DECIMALS)
            worksheet.set_row(row, None, total)
            sheet.write(row, col["name"], _("Total, %(unit)s") % {"unit": unit}, total)
            sheet.formula(
                row,
                col["volume"],
                exact_sum_formula(
                    values=f"{volumes}2:{volumes}{last + 1}",
                    keys=f"{units}2:{units}{last + 1}",
                    key=unit,
                ),
                volume,
                formats.volume("total", decimals=decimals.get(unit)),
            )
            sheet.write(row, col["unit"], unit, total)
        whole_volumes(
            worksheet, formats, [(1, col["volume"], row, col["volume"])], row_decimals=row_decimals
        )
        sheet.fit_columns(formats={col["code"]: formats.get("text")})


def daily_response(*, works: Sequence[DailyWork], day: datetime.date | None) -> FileResponse:
    """The download of ``daily_workbook`` (the page's button and the API's ``xlsx``), named
    after ``day``, or after the works' first date when several days are listed."""
    file = temporary_file()
    daily_workbook(file, works=works, day=day, exported_at=export_time())
    named = day or (works[0].date if works else None)
    suffix = named.isoformat() if named is not None else "empty"
    filename, ascii_filename = export_filename(
        pgettext("filename", "daily-order"), "daily-order", suffix
    )
    return workbook_response(file, filename=filename, ascii_filename=ascii_filename)
