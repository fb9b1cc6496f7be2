"""The exports' shared helpers: formats as the pages show values, the header, the response."""

import io
from decimal import Decimal

import openpyxl
import pytest
from django.utils import translation

from scheduler_project.workbooks import (
    XLSX_CONTENT_TYPE,
    Formats,
    content_disposition,
    excel_date_format,
    new_workbook,
    set_page_header,
    site_name,
    volume_decimals,
    workbook_response,
)


@pytest.mark.parametrize(
    ("django_format", "excel"),
    [("d.m.Y", "dd.mm.yyyy"), ("m/d/Y", "mm/dd/yyyy"), ("j.n.y", "d.m.yy")],
)
def test_a_django_date_format_becomes_the_same_excel_format(django_format, excel):
    assert excel_date_format(django_format) == excel


@pytest.mark.parametrize(
    ("value", "decimals"),
    [
        (Decimal("12.000"), 0),
        (Decimal("12.500"), 1),
        (Decimal("0.250"), 2),
        (Decimal("1.125"), 3),
        (Decimal("1000"), 0),
        (Decimal("0"), 0),
    ],
)
def test_a_volume_shows_its_decimals_without_trailing_zeros(value, decimals):
    assert volume_decimals(value) == decimals


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
