"""Workbooks written byte by byte, for the reader's tests and its benchmark (``bench/imports.py``):
the hostile files a planner's upload could be, each of a few kilobytes, and large valid ones.

Each is a minimal .xlsx (content types, the workbook and its relationships, one worksheet,
shared strings when given) with the sheet's XML as the test writes it, so that a file can say
what no spreadsheet program would write (a merged range over the whole sheet, a number of
5,000 digits).
"""

import datetime
import io
import zipfile
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import coordinate_to_tuple

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"
HEADINGS = ("Code", "Name", "Unit", "Planned volume", "Start", "End")

SPREADSHEETML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
    '+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{SPREADSHEETML}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{SPREADSHEETML}.worksheet+xml"/>'
    "</Types>"
)
SHARED_STRINGS_TYPE = (
    f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SPREADSHEETML}.sharedStrings+xml"/>'
)
ROOT_RELATIONSHIPS = (
    f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PACKAGE}">'
    f'<Relationship Id="rId1" Type="{RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
WORKBOOK_RELATIONSHIPS = (
    f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PACKAGE}">'
    f'<Relationship Id="rId1" Type="{RELATIONSHIPS}/worksheet" Target="worksheets/sheet1.xml"/>'
    "</Relationships>"
)
SHARED_STRINGS_RELATIONSHIP = (
    f'<Relationship Id="rId2" Type="{RELATIONSHIPS}/sharedStrings" Target="sharedStrings.xml"/>'
)
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def workbook(sheet_data: str, *, strings: list[str] | None = None, after_data: str = "") -> bytes:
    """An .xlsx whose only worksheet («Sheet») has ``sheet_data`` (``<row>`` elements) and,
    after it, ``after_data`` (merged ranges, hyperlinks…); ``strings``: the shared strings."""
    workbook_xml = (
        f'{DECLARATION}<workbook xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}">'
        '<sheets><sheet name="Sheet" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    sheet_xml = (
        f'{DECLARATION}<worksheet xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}">'
        f"<sheetData>{sheet_data}</sheetData>{after_data}</worksheet>"
    )
    file = io.BytesIO()
    with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as archive:
        content_types, relationships = CONTENT_TYPES, WORKBOOK_RELATIONSHIPS
        if strings is not None:
            content_types = content_types.replace("</Types>", f"{SHARED_STRINGS_TYPE}</Types>")
            relationships = relationships.replace(
                "</Relationships>", f"{SHARED_STRINGS_RELATIONSHIP}</Relationships>"
            )
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", ROOT_RELATIONSHIPS)
        archive.writestr("xl/workbook.xml", workbook_xml)
        archive.writestr("xl/_rels/workbook.xml.rels", relationships)
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml)
        if strings is not None:
            items = "".join(f"<si><t>{escape(text)}</t></si>" for text in strings)
            archive.writestr(
                "xl/sharedStrings.xml",
                f'{DECLARATION}<sst xmlns="{MAIN}">{items}</sst>',
            )
    return file.getvalue()


def text(reference: str, value: str) -> str:
    """An inline string cell."""
    return f'<c r="{reference}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'


def shared(reference: str, index: int) -> str:
    return f'<c r="{reference}" t="s"><v>{index}</v></c>'


def number(reference: str, value: object) -> str:
    return f'<c r="{reference}"><v>{value}</v></c>'


def row(number_: int, *cells: str) -> str:
    return f'<row r="{number_}">{"".join(cells)}</row>'


def cells(row_number: int, values: list[str], *, first_column: int = 1) -> list[str]:
    return [
        text(f"{get_column_letter(first_column + index)}{row_number}", value)
        for index, value in enumerate(values)
    ]


def headings_row(*extra: str) -> str:
    return row(1, *cells(1, [*HEADINGS, *extra]))


def task_row(row_number: int, code: str = "1.1", *extra: str) -> str:
    values = [code, "Excavation", "м³", "120", "02.03.2026", "31.03.2026"]
    return row(row_number, *cells(row_number, values), *extra)


def merged_over_the_whole_sheet() -> bytes:
    """1.6 KB: a merged range over every cell a sheet can have."""
    return workbook(
        headings_row() + task_row(2),
        after_data='<mergeCells count="1"><mergeCell ref="A1:XFD1048576"/></mergeCells>',
    )


def hyperlink_over_the_whole_sheet() -> bytes:
    """A hyperlink (to a place in the workbook) over every cell a sheet can have."""
    return workbook(
        headings_row() + task_row(2),
        after_data=(
            '<hyperlinks><hyperlink ref="A1:XFD1048576" location="Sheet!A1" display="x"/>'
            "</hyperlinks>"
        ),
    )


def long_string_headings(*, length: int = 1_000_000, count: int = 300) -> bytes:
    """11 KB: ``count`` heading cells after the table's own, all one shared string of
    ``length`` characters."""
    headings = cells(1, list(HEADINGS)) + [
        shared(f"{get_column_letter(len(HEADINGS) + 1 + index)}1", 0) for index in range(count)
    ]
    return workbook(row(1, *headings) + task_row(2), strings=["x" * length])


def one_code_in_every_row(rows: int = 6000) -> bytes:
    """About 2 KB: ``rows`` rows of one code, written as a program may: shared strings, and
    rows and cells without references (each follows the one before), so all rows are alike."""
    strings = [*HEADINGS, "1.1", "Excavation", "м³", "02.03.2026", "31.03.2026"]
    heading = "<row>" + "".join(f'<c t="s"><v>{index}</v></c>' for index in range(6)) + "</row>"
    task = (
        "<row>"
        + "".join(f'<c t="s"><v>{index}</v></c>' for index in (6, 7, 8))
        + "<c><v>120</v></c>"
        + "".join(f'<c t="s"><v>{index}</v></c>' for index in (9, 10))
        + "</row>"
    )
    return workbook(heading + task * rows, strings=strings)


def version_of_digits(digits: int = 5000, *, as_number: bool = False) -> bytes:
    """A Version cell of ``digits`` digits: a text, or (``as_number``) a number cell, which
    no spreadsheet program writes but a file can say."""
    value = "9" * digits
    cell = number("G2", value) if as_number else text("G2", value)
    return workbook(headings_row("Version") + task_row(2, "1.1", cell))


def value_at(reference: str) -> bytes:
    """A valid table, and one more value at ``reference`` (``A1048576``, ``XFD1``)."""
    row_number, _column = coordinate_to_tuple(reference)
    extra = text(reference, "x")
    if row_number == 1:
        return workbook(row(1, *cells(1, list(HEADINGS)), extra) + task_row(2))
    return workbook(headings_row() + task_row(2) + row(row_number, extra))


def valid_schedule(rows: int, *, months: int = 12) -> bytes:
    """A schedule of ``rows`` new tasks with ``months`` month columns, as XlsxWriter (the
    export's library) writes it: shared strings, date cells, one plan per task and month."""
    import xlsxwriter

    file = io.BytesIO()
    book = xlsxwriter.Workbook(file, {"in_memory": True})
    sheet = book.add_worksheet("Schedule")
    dates = book.add_format({"num_format": "dd.mm.yyyy"})
    first = datetime.date(2026, 1, 1)
    month_columns = [
        f"{first.year + (first.month - 1 + index) // 12}-{(first.month - 1 + index) % 12 + 1:02d}"
        for index in range(months)
    ]
    sheet.write_row(0, 0, [*HEADINGS, "Estimated cost", *month_columns])
    for index in range(rows):
        line = index + 1
        sheet.write_string(line, 0, f"{index % 20 + 1}.{index + 1}")
        sheet.write_string(line, 1, f"Work number {index + 1} of the site, as the estimate says")
        sheet.write_string(line, 2, "м³")
        sheet.write_number(line, 3, 100 + index % 900)
        sheet.write_datetime(line, 4, datetime.datetime(2026, 1, 12), dates)
        sheet.write_datetime(line, 5, datetime.datetime(2026, 12, 18), dates)
        sheet.write_number(line, 6, 10_000 + index)
        for month in range(months):
            sheet.write_number(line, 7 + month, 5 + (index + month) % 7)
    book.close()
    return file.getvalue()
