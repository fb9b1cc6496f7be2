"""The daily report's Excel file, opened with openpyxl."""

import datetime
import io
import re
from decimal import Decimal

import openpyxl
import pytest
from django.utils import translation

from daily.selectors import daily_work_list
from daily.tests.factories import DailyWorkFactory
from daily.workbooks import daily_workbook
from schedule.models import Unit
from schedule.tests.factories import TaskFactory, UserFactory

DAY = datetime.date(2026, 11, 25)


def export(language: str = "en") -> io.BytesIO:
    file = io.BytesIO()
    with translation.override(language):
        works = list(daily_work_list().on_date(DAY))
        daily_workbook(file, works=works, day=DAY, exported_at="25.11.2026 18:00")
    file.seek(0)
    return file


@pytest.fixture
def works(db):
    author = UserFactory(username="ivanov", first_name="Ivan", last_name="Ivanov")
    soil = TaskFactory(code="1.1", name="Excavation")
    steel = TaskFactory(code="2.1", name="Rebar", unit="t")
    DailyWorkFactory(task=soil, date=DAY, volume=Decimal("12.5"), created_by=author)
    DailyWorkFactory(task=soil, date=DAY, volume=Decimal("7.5"), description="night shift")
    DailyWorkFactory(task=steel, date=DAY, volume=Decimal("1.25"))
    DailyWorkFactory(task=steel, date=DAY + datetime.timedelta(days=1))


def test_the_days_works_are_listed_with_totals_per_unit_as_cached_formulas(works):
    file = export()
    values = list(openpyxl.load_workbook(file, data_only=True).active.iter_rows(values_only=True))
    assert values[0] == ("Date", "Code", "Work", "Volume", "Unit", "Description", "Entered by")
    assert [row[1:7] for row in values[1:4]] == [
        ("1.1", "Excavation", 12.5, "m³", None, "Ivan Ivanov"),
        ("1.1", "Excavation", 7.5, "m³", "night shift", None),
        ("2.1", "Rebar", 1.25, "t", None, None),
    ]
    assert values[1][0] == datetime.datetime(2026, 11, 25)
    assert [row[2:5] for row in values[4:]] == [("Total, m³", 20, "m³"), ("Total, t", 1.25, "t")]
    file.seek(0)
    formulas = list(openpyxl.load_workbook(file).active.iter_rows(values_only=True))
    assert formulas[4][3] == '=SUMPRODUCT(--EXACT(E2:E4,"m³"),D2:D4)'


EXACT_SUM = re.compile(
    r'=SUMPRODUCT\(--EXACT\(([A-Z]+[0-9]+:[A-Z]+[0-9]+),"((?:[^"]|"")*)"\),'
    r"([A-Z]+[0-9]+:[A-Z]+[0-9]+)\)"
)


def evaluate(formula: str, sheet) -> float:
    """What Excel makes of a per-unit total: the sum of the volumes whose unit cell is the
    formula's text, character for character (EXACT). Any other formula fails the test: SUMIF
    would read the unit as a pattern."""
    match = EXACT_SUM.fullmatch(formula)
    assert match is not None, f"not a sum over exactly equal units: {formula}"
    keys, text, values = match.groups()
    units = [cell.value for (cell,) in sheet[keys]]
    volumes = [cell.value for (cell,) in sheet[values]]
    assert len(units) == len(volumes)
    return sum(v for unit, v in zip(units, volumes, strict=True) if unit == text.replace('""', '"'))


# Each a pattern or a comparison to SUMIF, or another unit but for case.
TRICKY_UNITS = ["m", "m*", "m?", "~m", "m~*", "=m", "<m", ">0", "<>m", "Шт", "шт", 'm"2']


def test_each_units_total_sums_that_unit_alone_whatever_its_characters(db):
    for index, unit in enumerate(TRICKY_UNITS):
        Unit.objects.get_or_create(name=unit, defaults={"decimals": 3})
        task = TaskFactory(code=f"1.{index + 1}", unit=unit)
        DailyWorkFactory(task=task, date=DAY, volume=Decimal(2**index))
    file = export()
    sheet = openpyxl.load_workbook(file).active
    cached = openpyxl.load_workbook(io.BytesIO(file.getvalue()), data_only=True).active
    last_work = 1 + len(TRICKY_UNITS)
    totals = {}
    for row in range(last_work + 1, sheet.max_row + 1):
        unit = sheet[f"E{row}"].value
        totals[unit] = (evaluate(sheet[f"D{row}"].value, sheet), cached[f"D{row}"].value)

    assert totals == {unit: (2**index, 2**index) for index, unit in enumerate(TRICKY_UNITS)}


def test_the_report_is_in_russian_for_a_russian_user(works):
    sheet = openpyxl.load_workbook(export("ru")).active
    assert [cell.value for cell in sheet[1]][:4] == ["Дата", "Код", "Работа", "Объём"]
    assert sheet["C5"].value == "Итого, m³"
    assert sheet["A2"].number_format == "dd.mm.yyyy"
    assert "Суточное задание — 25.11.2026" in sheet.oddHeader.center.text


def test_codes_are_text_and_volumes_have_one_format(works):
    sheet = openpyxl.load_workbook(export()).active
    assert {sheet[f"B{row}"].number_format for row in range(2, 5)} == {"@"}
    assert {sheet[f"D{row}"].number_format for row in range(2, 7)} == {"#,##0.###"}
    (whole,) = list(sheet.conditional_formatting)
    assert str(whole.sqref) == "D2:D6"


def test_the_sheet_has_a_frozen_header_and_a_filter(works):
    sheet = openpyxl.load_workbook(export()).active
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:G4"
    assert sheet.print_title_rows == "$1:$1"


# The download (daily:day_export).


def test_the_daily_report_downloads_for_the_date_asked(client, foreman, works):
    client.force_login(foreman)
    response = client.get("/daily/export/?date=2026-11-25")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="daily-order-2026-11-25.xlsx"'
    content = b"".join(response.streaming_content)
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert [sheet.cell(row, 2).value for row in range(2, 5)] == ["1.1", "1.1", "2.1"]


def test_a_bad_date_is_a_400(client, foreman):
    client.force_login(foreman)
    assert client.get("/daily/export/?date=25.11.2026").status_code == 400


def test_the_daily_report_needs_the_view_permission(client, make_user):
    client.force_login(make_user(None))
    assert client.get("/daily/export/?date=2026-11-25").status_code == 403


def test_the_daily_page_offers_the_excel_file_of_its_date(client, foreman):
    client.force_login(foreman)
    page = client.get("/daily/?date=2026-11-25").content.decode()
    assert 'href="/daily/export/?date=2026-11-25"' in page


# The API: ?format=xlsx on /api/daily-works/.


def test_the_daily_works_list_answers_xlsx_with_its_filters(api_client, works):
    response = api_client.get("/api/daily-works/?format=xlsx&date=2026-11-25&limit=1")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="daily-order-2026-11-25.xlsx"'
    content = b"".join(response.streaming_content)
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert [sheet.cell(row, 2).value for row in range(2, 5)] == ["1.1", "1.1", "2.1"]


def test_the_daily_works_xlsx_of_several_days_lists_each_works_date(api_client, works):
    content = b"".join(api_client.get("/api/daily-works/?format=xlsx").streaming_content)
    sheet = openpyxl.load_workbook(io.BytesIO(content), data_only=True).active
    dates = [sheet.cell(row, 1).value for row in range(2, 6)]
    assert dates[-1] == datetime.datetime(2026, 11, 26)


def test_a_work_s_volume_and_its_unit_s_total_have_the_unit_s_decimals(db):
    concrete = TaskFactory(code="1.1", unit="м³")
    blocks = TaskFactory(code="1.2", unit="шт")
    DailyWorkFactory(task=concrete, date=DAY, volume=Decimal("7.25"))
    DailyWorkFactory(task=blocks, date=DAY, volume=Decimal("12"))
    sheet = openpyxl.load_workbook(export(), data_only=True).active
    formats = [(row[4].value, row[3].number_format, row[3].value) for row in sheet.iter_rows(2)]
    assert formats == [
        ("м³", "#,##0.#", 7.25),
        ("шт", "#,##0", 12),
        ("м³", "#,##0.#", 7.25),
        ("шт", "#,##0", 12),
    ]
