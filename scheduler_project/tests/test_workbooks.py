"""The exports' shared helpers: formats as the pages show values, the header, the response."""

import io

import openpyxl
import pytest
from django.utils import translation

from scheduler_project.workbooks import (
    XLSX_CONTENT_TYPE,
    Formats,
    Sheet,
    content_disposition,
    excel_date_format,
    new_workbook,
    set_page_header,
    site_name,
    whole_volumes,
    workbook_response,
)


@pytest.mark.parametrize(
    ("django_format", "excel"),
    [("d.m.Y", "dd.mm.yyyy"), ("m/d/Y", "mm/dd/yyyy"), ("j.n.y", "d.m.yy")],
)
def test_a_django_date_format_becomes_the_same_excel_format(django_format, excel):
    assert excel_date_format(django_format) == excel


def write_volumes(values: list[float]) -> openpyxl.Workbook:
    file = io.BytesIO()
    with new_workbook(file, title="t", constant_memory=True) as (workbook, formats):
        worksheet = workbook.add_worksheet()
        for row, value in enumerate(values):
            worksheet.write_number(row, 0, value, formats.volume())
        whole_volumes(worksheet, formats, [(0, 0, len(values) - 1, 0)])
    return openpyxl.load_workbook(io.BytesIO(file.getvalue()))


def test_every_volume_has_one_format_that_drops_trailing_zeros():
    sheet = write_volumes([12500, 12500.5, 0.25, 1.125]).active
    assert {sheet.cell(row, 1).number_format for row in range(1, 5)} == {"#,##0.###"}


def test_whole_volumes_lose_the_decimal_separator_by_a_conditional_format():
    # "#,##0.###" shows 200 as "200." in Excel: a format of its own for whole numbers, rounded
    # to the stored decimals first so that a sum's binary noise is whole too.
    sheet = write_volumes([200, 2.5]).active
    (rules,) = list(sheet.conditional_formatting)
    assert str(rules.sqref) == "A1:A2"
    assert rules.rules[0].formula == ["AND(ISNUMBER(A1),MOD(ROUND(A1,3),1)=0)"]
    assert rules.rules[0].dxf.numFmt.formatCode == "#,##0"


def test_a_formula_without_a_figure_caches_an_empty_text():
    file = io.BytesIO()
    with new_workbook(file, title="t", constant_memory=True) as (workbook, formats):
        sheet = Sheet(workbook.add_worksheet(), formats)
        sheet.formula(0, 0, '=IF(B1=0,"",C1/B1)', "")
        sheet.formula(0, 1, "=C1", 0)
    cells = openpyxl.load_workbook(io.BytesIO(file.getvalue()), data_only=True).active[1]
    assert [cell.value for cell in cells] == [None, 0]


@pytest.mark.parametrize(("language", "date_format"), [("en", "mm/dd/yyyy"), ("ru", "dd.mm.yyyy")])
def test_dates_are_formatted_as_the_pages_show_them(language, date_format):
    with (
        translation.override(language),
        new_workbook(io.BytesIO(), title="t", constant_memory=False) as (workbook, formats),
    ):
        workbook.add_worksheet()
        assert formats.get("date").num_format == date_format


def test_formats_are_made_once_per_combination():
    with new_workbook(io.BytesIO(), title="t", constant_memory=False) as (workbook, formats):
        workbook.add_worksheet()
        assert formats.get("total", "date") is formats.get("total", "date")
        assert isinstance(formats, Formats)


@pytest.mark.parametrize(
    ("filename", "ascii_filename", "header"),
    [
        ("schedule.xlsx", "schedule.xlsx", 'attachment; filename="schedule.xlsx"'),
        (
            "график.xlsx",
            "schedule.xlsx",
            "attachment; filename=\"schedule.xlsx\"; filename*=UTF-8''"
            "%D0%B3%D1%80%D0%B0%D1%84%D0%B8%D0%BA.xlsx",
        ),
    ],
)
def test_the_file_name_is_ascii_with_the_real_one_as_rfc_5987(filename, ascii_filename, header):
    assert content_disposition(filename, ascii_filename) == header


def test_the_site_name_comes_from_the_setting_or_is_the_translated_default(settings):
    settings.SITE_NAME = ""
    with translation.override("ru"):
        assert site_name() == "Стройплощадка"
    settings.SITE_NAME = "ЖК «Север» & Co"
    assert site_name() == "ЖК «Север» & Co"


def test_the_header_names_the_site_the_title_and_the_export_time(settings):
    settings.SITE_NAME = "North & Co"
    file = io.BytesIO()
    with new_workbook(file, title="Schedule", constant_memory=True) as (workbook, _formats):
        worksheet = workbook.add_worksheet()
        set_page_header(worksheet, title="Schedule", exported_at="11/25/2026 3 p.m.")
        worksheet.write(0, 0, "x")
    sheet = openpyxl.load_workbook(io.BytesIO(file.getvalue())).active
    assert sheet.oddHeader.left.text == "North && Co"
    assert "Schedule" in sheet.oddHeader.center.text
    assert sheet.oddHeader.right.text == "11/25/2026 3 p.m."


def test_the_response_streams_the_file_uncached():
    file = io.BytesIO(b"PK-data")
    response = workbook_response(file, filename="a.xlsx", ascii_filename="a.xlsx")
    assert response.streaming
    assert b"".join(response.streaming_content) == b"PK-data"
    assert response["Content-Type"] == XLSX_CONTENT_TYPE
    assert response["Cache-Control"] == "private, no-store"
    assert response["Content-Disposition"] == 'attachment; filename="a.xlsx"'
