"""Reading an uploaded schedule workbook (``schedule.imports.read_schedule``): every file is
built here, with openpyxl, XlsxWriter or a raw zip; an encrypted file is represented by the OLE
compound file's magic bytes followed by junk, which is all the reader looks at."""

import datetime
import io
import re
import resource
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
from django.utils import translation
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from openpyxl import Workbook

from schedule.imports import (
    OLE_MAGIC,
    CellError,
    InvalidRow,
    ScheduleSheet,
    SheetRow,
    WorkbookError,
    read_schedule,
)
from schedule.tests import xlsx_files

HEADINGS = ["Code", "Name", "Unit", "Planned volume", "Start", "End"]
ROW = ["1.1", "Excavation", "m³", 120, datetime.date(2026, 3, 2), datetime.date(2026, 3, 31)]
MAR = datetime.date(2026, 3, 1)
APR = datetime.date(2026, 4, 1)


@pytest.fixture(autouse=True)
def _english():
    """Messages in English unless a test says otherwise: a request made by an earlier test
    through the test client leaves its language active in the thread."""
    with translation.override("en"):
        yield


def sheet_row(row: int = 2, **fields: Any) -> SheetRow:
    values = {
        "code": "1.1",
        "name": "Excavation",
        "unit": "m³",
        "volume_plan": Decimal("120.000"),
        "start_date": datetime.date(2026, 3, 2),
        "end_date": datetime.date(2026, 3, 31),
        "estimated_cost": None,
        "version": None,
        "monthly_plans": {},
    }
    return SheetRow(row=row, **{**values, **fields})


def xlsx(*rows: list[Any], merge: str | None = None) -> io.BytesIO:
    """A workbook whose first sheet holds ``rows`` from A1 (openpyxl)."""
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    file = io.BytesIO()
    workbook.save(file)
    file.seek(0)
    return file


def read(*rows: list[Any]) -> ScheduleSheet:
    return read_schedule(xlsx(HEADINGS, *rows))


def zip_file(members: dict[str, bytes]) -> io.BytesIO:
    file = io.BytesIO()
    with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    file.seek(0)
    return file


def refusal(file: io.BytesIO) -> str:
    with pytest.raises(WorkbookError) as refused:
        read_schedule(file)
    return str(refused.value)


# A whole file refused


def test_a_file_over_the_size_limit_is_refused_before_it_is_read():
    file = io.BytesIO(b"PK" + b"\0" * (10 * 2**20))

    assert refusal(file) == (
        "The file is larger than 10.0\xa0MB: split the schedule into smaller files."
    )


def test_the_size_limit_is_a_setting(settings):
    settings.SPREADSHEET_IMPORT_MAX_BYTES = 1000

    assert refusal(xlsx(HEADINGS, ROW)) == (
        "The file is larger than 1000\xa0bytes: split the schedule into smaller files."
    )


NOT_XLSX = (
    "This is not an .xlsx file: save the workbook in Excel's .xlsx format (a .csv or another "
    "file renamed to .xlsx is not one)."
)


@pytest.mark.parametrize(
    ("file", "message"),
    [
        pytest.param(
            io.BytesIO(b"Code;Name;Unit\n1.1;Excavation;m3\n"), NOT_XLSX, id="a renamed .csv"
        ),
        pytest.param(io.BytesIO(b""), NOT_XLSX, id="an empty file"),
        pytest.param(
            io.BytesIO(OLE_MAGIC + b"\x00junk" * 100),
            "The file is encrypted or an old .xls: save it as .xlsx without a password.",
            id="encrypted or .xls",
        ),
        pytest.param(
            zip_file({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}),
            NOT_XLSX,
            id="a .docx",
        ),
        pytest.param(
            zip_file({"[Content_Types].xml": b"<Types", "xl/workbook.xml": b"not xml"}),
            "The file could not be read as an .xlsx workbook: it may be damaged.",
            id="a damaged .xlsx",
        ),
        pytest.param(
            io.BytesIO(xlsx(HEADINGS, ROW).getvalue()[:-200]), NOT_XLSX, id="a truncated .xlsx"
        ),
    ],
)
def test_a_file_that_is_not_an_xlsx_is_refused_whole(file, message):
    assert refusal(file) == message


def test_a_zip_that_unpacks_past_the_limit_is_refused_before_it_is_unpacked(settings):
    settings.SPREADSHEET_IMPORT_MAX_UNCOMPRESSED_BYTES = 2**20
    bomb = zip_file(
        {
            "[Content_Types].xml": b"<Types/>",
            "xl/workbook.xml": b"<workbook/>",
            "xl/worksheets/sheet1.xml": b"<" * (2**20),
        }
    )

    assert refusal(bomb) == (
        "The file unpacks to more than 1.0\xa0MB: it is refused as a possible zip bomb. "
        "Split the schedule into smaller files."
    )


def test_a_zip_compressed_far_better_than_a_workbook_is_refused_as_a_bomb():
    bomb = zip_file(
        {
            "[Content_Types].xml": b"<Types/>",
            "xl/workbook.xml": b"<workbook/>",
            "xl/worksheets/sheet1.xml": b"\0" * (20 * 2**20),
        }
    )

    message = refusal(bomb)

    assert re.fullmatch(
        r"The file is compressed \d{3,} to 1, far more than a workbook is: it is refused as a "
        r"possible zip bomb\.",
        message,
    ), message


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        pytest.param(
            [],
            "No heading row: none of the first 10 rows of the sheet “Sheet” has a “Code” "
            "heading. The template shows the headings.",
            id="an empty sheet",
        ),
        pytest.param(
            [[]] * 10 + [HEADINGS, ROW],
            "No heading row: none of the first 10 rows of the sheet “Sheet” has a “Code” "
            "heading. The template shows the headings.",
            id="headings below row 10",
        ),
        pytest.param(
            [["Code", "Name", "Unit", "Volume", "Start", "End", "Notes"], ROW],
            "Unknown columns: D1 “Volume”, G1 “Notes” (rename them as the template does, or "
            "delete them). Missing columns in row 1: “Planned volume”.",
            id="unknown and missing",
        ),
        pytest.param(
            [["Code", "Name", "Unit", "Planned volume", "Start", "End", "Начало"], ROW],
            "Duplicate columns: E1 and G1 are both “Начало”.",
            id="the same heading in two languages",
        ),
        pytest.param(
            [[*HEADINGS, "2026-03", "03.2026"], ROW],
            "Duplicate columns: G1 and H1 are both “03.2026”.",
            id="one month twice",
        ),
        pytest.param(
            [["Code", "Name", "Start", "End"], ROW],
            "Missing columns in row 1: “Unit”, “Planned volume”.",
            id="missing required columns",
        ),
    ],
)
def test_a_sheet_without_the_headings_it_needs_is_refused_whole(rows, message):
    assert refusal(xlsx(*rows)) == message


def test_merged_cells_in_the_table_are_refused_naming_the_range():
    assert refusal(xlsx(HEADINGS, ROW, ROW, merge="B2:B3")) == (
        "Merged cells in the table: B2:B3. Unmerge them."
    )


def test_merged_cells_in_a_title_above_the_headings_are_allowed():
    file = xlsx(["Schedule of works"], HEADINGS, ROW, merge="A1:F1")

    assert read_schedule(file).rows == [sheet_row(row=3)]


def test_messages_are_in_the_users_language():
    with translation.override("ru"):
        message = refusal(io.BytesIO(OLE_MAGIC))

    assert message == (
        "Файл зашифрован или в старом формате .xls: сохраните его как .xlsx без пароля."
    )


# The headings


def test_a_valid_sheet_is_read_into_typed_rows():
    sheet = read_schedule(
        xlsx(
            [*HEADINGS, "Estimated cost", "Version", "2026-03", "04.2026"],
            [*ROW, 1500.5, 4, 60, None],
        )
    )

    assert sheet == ScheduleSheet(
        rows=[
            sheet_row(
                estimated_cost=Decimal("1500.50"),
                version=4,
                monthly_plans={MAR: Decimal("60.000")},
            )
        ],
        invalid=[],
        columns=frozenset(
            {"code", "name", "unit", "volume_plan", "start_date", "end_date"}
            | {"estimated_cost", "version"}
        ),
        months=[MAR, APR],
    )


def test_russian_headings_below_a_title_in_any_case_and_spacing_are_read():
    headings = [" КОД", "Наименование", "ед.  изм.", "Объем по плану", "Начало", "Окончание "]

    sheet = read_schedule(xlsx(["График работ"], [], headings, ROW))

    assert sheet.rows == [sheet_row(row=4)]


def test_a_month_heading_may_be_a_date_cell():
    sheet = read_schedule(xlsx([*HEADINGS, datetime.date(2026, 4, 1)], [*ROW, 30]))

    assert (sheet.months, sheet.rows[0].monthly_plans) == ([APR], {APR: Decimal(30)})


def test_the_figures_the_app_computes_are_ignored_when_present():
    sheet = read_schedule(
        xlsx(
            [*HEADINGS, "Volume done", "Progress, %", "Forecast finish"],
            [*ROW, "lots", "=1/0", "soon"],
        )
    )

    assert (sheet.rows, sheet.invalid) == ([sheet_row()], [])


def test_values_in_a_column_without_a_heading_are_ignored():
    assert read_schedule(xlsx(HEADINGS, [*ROW, None, "a note"])).rows == [sheet_row()]


# The rows


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (
            "A",
            1.1,
            "a number, not text: Excel turns a code such as 1.10 into 1.1; format the "
            "column as text and type the code again",
        ),
        (
            "A",
            datetime.date(2026, 1, 1),
            "a date, not text: Excel turned the code into a "
            "date; format the column as text and type the code again",
        ),
        ("A", "1" * 33, "longer than 32 characters"),
        ("B", None, "empty: a value is required"),
        ("B", " \u00a0 ", "empty: a value is required"),
        ("B", "x" * 256, "longer than 255 characters"),
        ("C", "x" * 17, "longer than 16 characters"),
        ("C", True, "not text"),
        ("D", "twelve", "not a number"),
        ("D", "1,234.5", "not a number"),
        ("D", "1e3", "not a number"),
        ("D", True, "not a number"),
        ("D", -1, "negative"),
        ("D", "-0,5", "negative"),
        ("D", 1.2345, "more than 3 decimal places"),
        ("D", "0,0001", "more than 3 decimal places"),
        ("D", 10**11, "too large: at most 11 digits before the decimal point"),
        ("D", "=1/0", None),  # a formula without a cached value: see below
        ("E", "2026-02-30", "not a date: write it as DD.MM.YYYY or YYYY-MM-DD"),
        ("E", "2.3.26", "not a date: write it as DD.MM.YYYY or YYYY-MM-DD"),
        ("E", 46083, "not a date: write it as DD.MM.YYYY or YYYY-MM-DD"),
        ("E", None, "empty: a value is required"),
        ("F", datetime.date(2026, 3, 1), "the end is before the start (E2)"),
    ],
)
def test_a_bad_cell_puts_its_row_in_error_with_the_cells_reference(column, value, message):
    row = dict(zip("ABCDEF", ROW, strict=True))
    row[column] = value
    if message is None:
        message = "formula without a computed value: open and save the file in Excel"

    sheet = read(list(row.values()))

    assert sheet.invalid == [
        InvalidRow(
            row=2,
            code=None if column == "A" else "1.1",
            errors=[CellError(f"{column}2", message)],
        )
    ]
    assert sheet.rows == []


@pytest.mark.parametrize(
    ("heading", "value", "message"),
    [
        ("Estimated cost", 10.005, "more than 2 decimal places"),
        ("Estimated cost", -3, "negative"),
        ("Estimated cost", 10**14, "too large: at most 14 digits before the decimal point"),
        ("Version", 0, "not a version: a whole number from 1 up, as the export writes it"),
        ("Version", 2.5, "not a version: a whole number from 1 up, as the export writes it"),
        ("Version", "v2", "not a version: a whole number from 1 up, as the export writes it"),
        ("2026-03", "some", "not a number"),
        ("2026-03", -5, "negative"),
    ],
)
def test_a_bad_optional_cell_puts_its_row_in_error(heading, value, message):
    sheet = read_schedule(xlsx([*HEADINGS, heading], [*ROW, value]))

    assert sheet.invalid == [InvalidRow(row=2, code="1.1", errors=[CellError("G2", message)])]


def test_every_bad_cell_of_a_row_is_named_in_column_order():
    sheet = read(["1.1", None, "m", "x", "1.1.2026", "2026-13-01"])

    assert [str(error) for error in sheet.invalid[0].errors] == [
        "B2: empty: a value is required",
        "D2: not a number",
        "F2: not a date: write it as DD.MM.YYYY or YYYY-MM-DD",
    ]


@pytest.mark.parametrize(
    ("column", "value", "field", "expected"),
    [
        ("A", "  2.1 ", "code", "2.1"),
        ("A", 3, "code", "3"),
        ("A", 3.0, "code", "3"),
        ("B", "\u00a0Excavation\t", "name", "Excavation"),
        ("B", 2026, "name", "2026"),
        ("D", "1 234,5", "volume_plan", Decimal("1234.500")),
        ("D", "1\u00a0234\u00a0567.25", "volume_plan", Decimal("1234567.250")),
        ("D", "1\u202f234", "volume_plan", Decimal("1234.000")),
        ("D", ",5", "volume_plan", Decimal("0.500")),
        ("D", 0.1 + 0.2, "volume_plan", Decimal("0.300")),
        ("D", 1.1 * 3, "volume_plan", Decimal("3.300")),
        ("D", 12345678901.123, "volume_plan", Decimal("12345678901.123")),
        ("D", 0, "volume_plan", Decimal("0.000")),
        ("E", "02.03.2026", "start_date", datetime.date(2026, 3, 2)),
        ("E", "2.3.2026", "start_date", datetime.date(2026, 3, 2)),
        ("E", " 2026-03-02 ", "start_date", datetime.date(2026, 3, 2)),
        ("E", datetime.datetime(2026, 3, 2, 13, 30), "start_date", datetime.date(2026, 3, 2)),
    ],
)
def test_values_are_read_from_cells_as_people_write_them(column, value, field, expected):
    row = dict(zip("ABCDEF", ROW, strict=True))
    row[column] = value

    sheet = read(list(row.values()))

    assert sheet.invalid == []
    assert getattr(sheet.rows[0], field) == expected


def test_empty_rows_blank_cells_and_section_totals_are_skipped():
    sheet = read(
        [],
        [None, "Section 1 total", None, 120],
        [" ", "\u00a0", None],
        ROW,
        [None, "Итого по разделу 1", None, "=SUM(D5:D5)"],
        [None] * 6,
        ["", "  "],
    )

    assert (sheet.rows, sheet.invalid) == ([sheet_row(row=5)], [])


def test_a_row_without_a_code_that_is_not_a_section_total_is_in_error():
    sheet = read(ROW, ["Prepared by: Ivanov"], [None, "Total", None, 120])

    assert sheet.invalid == [
        InvalidRow(
            row=3,
            code="Prepared by: Ivanov",
            errors=[
                CellError("B3", "empty: a value is required"),
                CellError("C3", "empty: a value is required"),
                CellError("D3", "empty: a value is required"),
                CellError("E3", "empty: a value is required"),
                CellError("F3", "empty: a value is required"),
            ],
        ),
        InvalidRow(
            row=4,
            code=None,
            errors=[
                CellError("A4", "empty: a value is required"),
                CellError("C4", "empty: a value is required"),
                CellError("E4", "empty: a value is required"),
                CellError("F4", "empty: a value is required"),
            ],
        ),
    ]


def test_a_code_in_several_rows_is_one_error_on_its_first_row_naming_the_others():
    other = ["1.2", *ROW[1:]]
    sheet = read(ROW, other, ROW, [" 1.1", *ROW[1:3], "x", *ROW[4:]])

    assert [(row.row, [str(error) for error in row.errors]) for row in sheet.invalid] == [
        (2, ["A2: the code 1.1 is also in rows 4, 5"]),
        (4, []),
        (5, ["D5: not a number"]),
    ]
    assert sheet.rows == [sheet_row(row=3, code="1.2")]


# Formulas: openpyxl writes none of their values; XlsxWriter writes the value it is given.


def xlsxwriter_file(rows: list[list[Any]]) -> io.BytesIO:
    file = io.BytesIO()
    workbook = xlsxwriter.Workbook(file, {"in_memory": True})
    sheet = workbook.add_worksheet()
    dates = workbook.add_format({"num_format": "dd.mm.yyyy"})
    for row_number, row in enumerate(rows):
        for column, value in enumerate(row):
            if isinstance(value, tuple):
                formula, cached = value
                sheet.write_formula(row_number, column, formula, None, cached)
            elif isinstance(value, datetime.date):
                sheet.write_datetime(row_number, column, value, dates)
            elif value is not None:
                sheet.write(row_number, column, value)
    workbook.close()
    file.seek(0)
    return file


def test_a_formulas_cached_value_is_read():
    file = xlsxwriter_file(
        [
            [*HEADINGS, "2026-03"],
            [*ROW[:3], ("=60*2", 120), *ROW[4:], ("=D2/2", 60)],
            [None, "Section 1 total", None, ("=SUM(D2:D2)", 120)],
        ]
    )

    assert read_schedule(file).rows == [sheet_row(monthly_plans={MAR: Decimal(60)})]


def test_a_formula_whose_cached_value_is_an_error_is_refused_naming_it():
    file = xlsxwriter_file([HEADINGS, [*ROW[:3], ("=1/0", "#DIV/0!"), *ROW[4:]]])

    assert [str(error) for error in read_schedule(file).invalid[0].errors] == [
        "D2: the cell holds an error (#DIV/0!)"
    ]


# Properties of the cell parsing, through real files.

VOLUMES = st.decimals(min_value=0, max_value=Decimal("99999999999.999"), places=3, allow_nan=False)


def grouped(number: Decimal, *, separator: str, point: str) -> str:
    whole, _dot, fraction = f"{number:f}".partition(".")
    groups = f"{int(whole):,}".replace(",", separator)
    return groups + (point + fraction if fraction else "")


@hypothesis_settings(deadline=None, max_examples=60)
@given(volume=VOLUMES, written=st.sampled_from(["number", "ru", "en", "plain"]))
@example(volume=Decimal("0.3"), written="number")
@example(volume=Decimal("99999999999.999"), written="number")
@example(volume=Decimal("1234.5"), written="ru")
def test_a_volume_with_up_to_3_decimals_reads_back_equal_however_it_is_written(volume, written):
    cell = {
        "number": float(volume),
        "ru": grouped(volume, separator="\u00a0", point=","),
        "en": grouped(volume, separator=" ", point="."),
        "plain": f"{volume:f}".replace(".", ","),
    }[written]

    sheet = read([*ROW[:3], cell, *ROW[4:]])

    assert sheet.rows[0].volume_plan == volume


@hypothesis_settings(deadline=None, max_examples=60)
@given(
    day=st.dates(min_value=datetime.date(1900, 3, 1), max_value=datetime.date(9999, 12, 31)),
    written=st.sampled_from(["cell", "dotted", "iso"]),
)
def test_a_date_reads_back_equal_however_it_is_written(day, written):
    cell = {
        "cell": day,
        "dotted": day.strftime("%d.%m.") + f"{day.year:04d}",
        "iso": day.isoformat(),
    }[written]

    sheet = read([*ROW[:4], cell, datetime.date(9999, 12, 31)])

    assert sheet.rows[0].start_date == day


def test_cell_errors_are_in_the_users_language():
    with translation.override("ru"):
        sheet = read(ROW, ROW, ["2.1", *ROW[1:3], "1,2345", "31.02.2026", ROW[5]])

    assert [str(error) for row in sheet.invalid for error in row.errors] == [
        "A2: код 1.1 есть и в строке 3",
        "D4: больше 3 знаков после запятой",
        "E4: не дата: запишите её как ДД.ММ.ГГГГ или ГГГГ-ММ-ДД",
    ]


# Hostile files (schedule/tests/xlsx_files.py): refused or read in bounded memory, and never
# echoed whole. Each test runs with a cap on the process's memory: a reader that made an object
# per declared cell would fail it (MemoryError) instead of taking the machine's memory.

MEMORY_HEADROOM = 400 * 2**20


def _address_space() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


@pytest.fixture
def bounded_memory():
    """Allocations past ``MEMORY_HEADROOM`` beyond what the process holds fail."""
    if not Path("/proc/self/statm").exists():
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _address_space() + MEMORY_HEADROOM
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def read_bytes(data: bytes) -> ScheduleSheet:
    return read_schedule(io.BytesIO(data))


def refusal_of(data: bytes) -> str:
    return refusal(io.BytesIO(data))


def test_a_merged_range_over_the_whole_sheet_is_refused_without_making_its_cells(
    bounded_memory,
):
    data = xlsx_files.merged_over_the_whole_sheet()
    assert len(data) < 2048

    assert refusal_of(data) == "Merged cells in the table: A1:XFD1048576. Unmerge them."


def test_a_hyperlink_over_the_whole_sheet_is_ignored_without_making_its_cells(bounded_memory):
    sheet = read_bytes(xlsx_files.hyperlink_over_the_whole_sheet())

    assert (sheet.rows, sheet.invalid) == ([sheet_row(unit="м³")], [])


def test_many_merged_ranges_are_listed_up_to_a_hundred_then_counted():
    merges = "".join(f'<mergeCell ref="H{row}:I{row}"/>' for row in range(2, 252))
    data = xlsx_files.workbook(
        xlsx_files.headings_row() + xlsx_files.task_row(2),
        after_data=f"<mergeCells>{merges}</mergeCells>",
    )

    message = refusal_of(data)

    assert message.startswith("Merged cells in the table: H2:I2, H3:I3, H4:I4, H5:I5")
    assert message.endswith(" and 150 more. Unmerge them.")
    assert message.count(":I") == 100


def test_long_unknown_headings_are_quoted_short_and_listed_up_to_a_hundred(
    settings, bounded_memory
):
    settings.SPREADSHEET_IMPORT_MAX_COLUMNS = 1000
    data = xlsx_files.long_string_headings(length=1_000_000, count=300)

    message = refusal_of(data)

    assert message.startswith(f"Unknown columns: G1 “{'x' * 79}…”, H1 “{'x' * 79}…”, ")
    assert message.endswith("…” and 200 more (rename them as the template does, or delete them).")
    assert message.count("“") == 100
    assert len(message) < 100 * 100


def test_a_heading_that_is_a_long_text_is_not_taken_for_a_known_one():
    data = xlsx_files.workbook(
        xlsx_files.row(1, *xlsx_files.cells(1, [*xlsx_files.HEADINGS, "Code" + " " * 200]))
    )

    assert refusal_of(data) == (
        "Unknown columns: G1 “Code” (rename them as the template does, or delete them)."
    )


def test_six_thousand_rows_of_one_code_are_one_error_naming_ten_rows(bounded_memory):
    sheet = read_bytes(xlsx_files.one_code_in_every_row(6000))

    first, *others = sheet.invalid
    assert [str(error) for error in first.errors] == [
        "A2: the code 1.1 is also in rows 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 and 5,989 more"
    ]
    assert len(others) == 5999
    assert all(row.errors == [] and row.code == "1.1" for row in others)
    assert sheet.rows == []


@pytest.mark.parametrize("as_number", [False, True], ids=["text", "number cell"])
def test_a_version_of_thousands_of_digits_is_a_cell_error(as_number):
    sheet = read_bytes(xlsx_files.version_of_digits(5000, as_number=as_number))

    assert sheet.invalid == [
        InvalidRow(
            row=2,
            code="1.1",
            errors=[
                CellError("G2", "not a version: a whole number from 1 up, as the export writes it")
            ],
        )
    ]


@pytest.mark.parametrize("value", [2**31, "12345678901"])
def test_a_version_past_what_a_task_can_have_is_refused(value):
    sheet = read_schedule(xlsx([*HEADINGS, "Version"], [*ROW, value]))

    assert [str(error) for error in sheet.invalid[0].errors] == [
        "G2: not a version: a whole number from 1 up, as the export writes it"
    ]


def test_a_number_of_thousands_of_digits_is_too_large():
    data = xlsx_files.workbook(
        xlsx_files.headings_row()
        + xlsx_files.row(
            2,
            *xlsx_files.cells(2, ["1.1", "Excavation", "м³"]),
            xlsx_files.number("D2", "9" * 5000),
            *xlsx_files.cells(2, ["02.03.2026", "31.03.2026"], first_column=5),
        )
    )

    assert [str(error) for error in read_bytes(data).invalid[0].errors] == [
        "D2: too large: at most 11 digits before the decimal point"
    ]


def test_a_long_text_in_a_short_field_is_refused_by_its_length_without_being_kept_whole():
    data = xlsx_files.workbook(
        xlsx_files.headings_row() + xlsx_files.row(2, xlsx_files.shared("A2", 0)),
        strings=["1" * 1_000_000],
    )

    [invalid] = read_bytes(data).invalid
    assert invalid.errors[0] == CellError("A2", "longer than 32 characters")
    assert len(invalid.code or "") <= 1025


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (
            "A1048576",
            "The sheet has more than 30,000 rows (A1048576 holds a value): split the schedule "
            "into smaller files, or delete what is below the table.",
        ),
        (
            "XFD1",
            "The sheet has more than 100 columns (XFD1 holds a value): delete the columns the "
            "import does not read.",
        ),
    ],
)
def test_a_value_past_the_row_or_column_limit_refuses_the_file(reference, message):
    assert refusal_of(xlsx_files.value_at(reference)) == message


def test_the_row_and_column_limits_are_settings(settings):
    settings.SPREADSHEET_IMPORT_MAX_ROWS = 3
    settings.SPREADSHEET_IMPORT_MAX_COLUMNS = 6

    assert refusal(xlsx(HEADINGS, ROW, ROW, ROW)).startswith(
        "The sheet has more than 3 rows (A4 holds a value)"
    )
    assert refusal(xlsx([*HEADINGS, "Version"], ROW)).startswith(
        "The sheet has more than 6 columns (G1 holds a value)"
    )
    assert len(read(ROW, ["1.2", *ROW[1:]]).rows) == 2


def test_empty_formatted_cells_past_the_limits_are_no_values():
    data = xlsx_files.workbook(
        xlsx_files.headings_row()
        + xlsx_files.task_row(2)
        + '<row r="1048576"><c r="XFD1048576" s="0"/></row>'
    )

    assert len(read_bytes(data).rows) == 1


def test_the_limits_and_the_rest_are_said_in_russian():
    with translation.override("ru"):
        rows = refusal_of(xlsx_files.value_at("A1048576"))
        duplicates = read_bytes(xlsx_files.one_code_in_every_row(20)).invalid[0].errors

    assert rows == (
        "На листе больше 30\xa0000 строк (в A1048576 есть значение): разделите график на файлы "
        "поменьше или удалите то, что ниже таблицы."
    )
    assert [str(error) for error in duplicates] == [
        "A2: код 1.1 есть и в строках 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 и ещё 9"
    ]
