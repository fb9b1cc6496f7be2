"""The schedule's Excel file, opened with openpyxl as a reader of the file would."""

import datetime
import io
from decimal import Decimal

import openpyxl
import pytest
from django.utils import translation

from daily.tests.factories import DailyWorkFactory
from monthly.tests.factories import MonthlyTaskFactory
from schedule.selectors import task_list
from schedule.sheet import heading_keys, is_section_total, normalized_heading
from schedule.tests.factories import TaskFactory
from schedule.workbooks import schedule_template_workbook, schedule_workbook

TODAY = datetime.date(2026, 11, 26)


def export(language: str = "en", **kwargs) -> tuple[io.BytesIO, list[tuple]]:
    file = io.BytesIO()
    with translation.override(language):
        schedule_workbook(
            file, tasks=list(task_list()), today=TODAY, exported_at="26.11.2026 10:00", **kwargs
        )
    file.seek(0)
    values = list(openpyxl.load_workbook(file, data_only=True).active.iter_rows(values_only=True))
    file.seek(0)
    return file, values


@pytest.fixture
def schedule(db):
    first = TaskFactory(
        code="1.1",
        name="Excavation",
        volume_plan=Decimal("120.500"),
        estimated_cost=Decimal("1000.00"),
    )
    TaskFactory(code="1.2", name="Backfill", volume_plan=Decimal("80"))
    TaskFactory(code="2.1", name="Concrete", unit="m³", volume_plan=Decimal("10"))
    TaskFactory(code="2.2", name="Rebar", unit="t", volume_plan=Decimal("2.5"))
    MonthlyTaskFactory(task=first, month=datetime.date(2026, 11, 1), volume_plan=Decimal("60"))
    MonthlyTaskFactory(task=first, month=datetime.date(2026, 12, 1), volume_plan=Decimal("60.5"))
    DailyWorkFactory(task=first, date=datetime.date(2026, 11, 25), volume=Decimal("30.25"))
    return first


@pytest.mark.parametrize(
    ("language", "headings"),
    [
        (
            "en",
            ("Code", "Name", "Unit", "Planned volume", "Volume done", "Progress, %", "Start"),
        ),
        (
            "ru",
            ("Код", "Наименование", "Ед. изм.", "Объём по плану", "Выполнено", "Выполнение, %"),
        ),
    ],
)
def test_the_headings_are_in_the_users_language_and_the_import_knows_them(
    schedule, language, headings
):
    _file, values = export(language)
    assert values[0][: len(headings)] == headings
    keys = heading_keys()
    assert all(normalized_heading(heading) in keys for heading in values[0][:11])


def test_each_section_has_a_subtotal_row_above_its_tasks_and_months_have_columns(schedule):
    _file, values = export()
    assert values[0][-3:] == ("Version", "2026-11", "2026-12")
    assert [(row[0], row[1]) for row in values[1:]] == [
        (None, "Section 1 total"),
        ("1.1", "Excavation"),
        ("1.2", "Backfill"),
        (None, "Section 2 total"),
        ("2.1", "Concrete"),
        ("2.2", "Rebar"),
    ]
    assert is_section_total(values[1][1]) and is_section_total(values[4][1])
    task = values[2]
    assert task[2:6] == ("m³", 120.5, 30.25, 25.1)
    assert task[6:8] == (datetime.datetime(2026, 11, 1), datetime.datetime(2026, 12, 31))
    assert task[8] == datetime.datetime(2026, 11, 30)  # 90.25 left at 30.25 a day: 3 working days
    schedule.refresh_from_db()
    assert task[9:] == (1000, schedule.version, 60, 60.5)


def test_subtotals_are_formulas_with_their_values_cached_and_volumes_only_of_one_unit(schedule):
    file, values = export()
    formulas = list(openpyxl.load_workbook(file).active.iter_rows(values_only=True))
    assert formulas[1][3:8] == (
        "=SUBTOTAL(9,D3:D4)",
        "=SUBTOTAL(9,E3:E4)",
        "=IF(D2=0,0,ROUND(E2*100/D2,1))",
        "=SUBTOTAL(5,G3:G4)",
        "=SUBTOTAL(4,H3:H4)",
    )
    assert formulas[1][9] == "=SUBTOTAL(9,J3:J4)"
    assert values[1][2:6] == ("m³", 200.5, 30.25, 15.1)
    assert values[1][9] == 1000
    assert values[1][11:] == (60, 60.5)
    # Section 2 mixes m³ and t: no volume is added, the dates still are.
    assert values[4][2:6] == (None, None, None, None)
    assert formulas[4][6] == "=SUBTOTAL(5,G6:G7)"


def test_the_sheet_has_a_frozen_header_a_filter_outline_levels_and_a_hidden_version(schedule):
    file, _values = export()
    sheet = openpyxl.load_workbook(file).active
    assert sheet.freeze_panes == "C2"
    assert sheet.auto_filter.ref == "A1:M7"
    assert [sheet.row_dimensions[row].outline_level for row in range(2, 8)] == [0, 1, 1, 0, 1, 1]
    assert sheet.sheet_properties.outlinePr.summaryBelow is False
    assert sheet.column_dimensions["K"].hidden
    assert sheet.column_dimensions["B"].width > sheet.column_dimensions["A"].width
    assert sheet.print_title_rows == "$1:$1"
    assert "Schedule" in sheet.oddHeader.center.text
    assert sheet.oddHeader.right.text == "26.11.2026 10:00"


def test_a_volume_column_has_one_number_format_and_whole_volumes_no_separator(schedule):
    file, _values = export()
    sheet = openpyxl.load_workbook(file).active
    # 120.5, 80, 10, 2.5 and the subtotals: one format, whatever the decimals.
    for column in ["D", "E", "L", "M"]:
        cells = [sheet[f"{column}{row}"] for row in range(2, 8)]
        formats = {cell.number_format for cell in cells if cell.value is not None}
        assert formats == {"#,##0.###"}, column
    rules = {str(rule.sqref): rule.rules[0] for rule in sheet.conditional_formatting}
    assert list(rules) == ["D2:E7", "L2:M7"]
    assert rules["D2:E7"].formula == ["AND(ISNUMBER(D2),MOD(ROUND(D2,3),1)=0)"]
    assert rules["D2:E7"].dxf.numFmt.formatCode == "#,##0"


@pytest.mark.parametrize("code", ["1.10", "2.1", "3", "1.2.10", "01.1"])
def test_a_code_is_written_as_text_in_a_text_column(db, code):
    TaskFactory(code=code)
    file, values = export()
    sheet = openpyxl.load_workbook(file).active
    cell = sheet["A3"]
    assert (cell.value, cell.data_type, cell.number_format) == (code, "s", "@")
    assert values[2][0] == code
    # A code typed below the exported rows is text too: the column's own format.
    assert sheet.column_dimensions["A"].number_format == "@"


def test_without_monthly_plans_there_are_no_month_columns(schedule):
    _file, values = export(with_monthly_plans=False)
    assert values[0][-1] == "Version"


def test_an_empty_schedule_is_a_heading_row(db):
    _file, values = export()
    assert len(values) == 1


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_template_has_the_imported_headings_and_the_coming_months(language):
    file = io.BytesIO()
    with translation.override(language):
        schedule_template_workbook(file, first_month=datetime.date(2026, 12, 1))
        keys = heading_keys()
    file.seek(0)
    sheet = openpyxl.load_workbook(file).active
    headings = [cell.value for cell in sheet[1]]
    assert [keys.get(normalized_heading(heading)) for heading in headings[:7]] == [
        "code",
        "name",
        "unit",
        "volume_plan",
        "start_date",
        "end_date",
        "estimated_cost",
    ]
    assert headings[7:] == ["2026-12", "2027-01", "2027-02"]
    assert sheet.max_row == 1
    assert sheet.column_dimensions["A"].number_format == "@"  # a typed 1.10 stays "1.10"
    assert sheet.column_dimensions["D"].number_format == "#,##0.###"


# The download (schedule:task_export, schedule:import_template).

EXPORT_URL = "/tasks/export/"
TEMPLATE_URL = "/import/template.xlsx"


def open_download(response) -> list[tuple]:
    content = b"".join(response.streaming_content)
    return list(openpyxl.load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))


@pytest.mark.parametrize("role", ["planners", "foremen", "viewers"])
def test_every_role_downloads_the_schedule_with_its_month_plans(client, make_user, schedule, role):
    client.force_login(make_user(role))
    response = client.get(EXPORT_URL)
    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response["Cache-Control"] == "private, no-store"
    assert response["Content-Disposition"].startswith('attachment; filename="schedule-')
    rows = open_download(response)
    assert rows[0][-2:] == ("2026-11", "2026-12")
    assert len(rows) == 7


def test_a_russian_user_gets_russian_headings_and_a_russian_file_name(client, planner, schedule):
    client.force_login(planner)
    response = client.get(EXPORT_URL, headers={"accept-language": "ru"})
    assert (
        "filename*=UTF-8''%D0%B3%D1%80%D0%B0%D1%84%D0%B8%D0%BA-"
        in (response["Content-Disposition"])
    )
    assert open_download(response)[0][0] == "Код"


def test_a_user_without_view_permission_is_refused_the_schedule_file(client, make_user):
    client.force_login(make_user(None))
    assert client.get(EXPORT_URL).status_code == 403
    assert client.get(TEMPLATE_URL).status_code == 403


def test_an_anonymous_user_is_sent_to_log_in_for_the_schedule_file(client, db):
    response = client.get(EXPORT_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_only_who_may_import_downloads_the_import_template(client, make_user, db):
    client.force_login(make_user("viewers"))
    assert client.get(TEMPLATE_URL).status_code == 403
    client.force_login(make_user("planners"))
    response = client.get(TEMPLATE_URL)
    assert response.status_code == 200
    assert open_download(response)[0][:2] == ("Code", "Name")


def test_the_schedule_page_offers_the_excel_file(client, viewer, db):
    client.force_login(viewer)
    assert f'href="{EXPORT_URL}"' in client.get("/").content.decode()


# The API: ?format=xlsx on /api/tasks/.

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_the_task_list_answers_xlsx_with_every_task_the_filters_select(api_client, schedule):
    response = api_client.get("/api/tasks/?format=xlsx&code=1.&limit=1")
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    assert [row[0] for row in open_download(response)[1:]] == [None, "1.1", "1.2"]


def test_the_task_list_answers_xlsx_to_an_accept_header(api_client, schedule):
    response = api_client.get("/api/tasks/", HTTP_ACCEPT=XLSX)
    assert response["Content-Type"] == XLSX
    assert len(open_download(response)) == 7


def test_the_task_lists_json_answer_is_unchanged(api_client, schedule):
    response = api_client.get("/api/tasks/?limit=1")
    assert response["Content-Type"] == "application/json"
    assert response.json()["count"] == 4
    assert len(response.json()["results"]) == 1


@pytest.mark.parametrize(("role", "status"), [(None, 403), ("anonymous", 401)])
def test_a_refused_xlsx_request_is_answered_in_json(api_client_for, make_user, role, status):
    user = None if role == "anonymous" else make_user(role)
    response = api_client_for(user).get("/api/tasks/?format=xlsx")
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()


def test_a_single_task_has_no_xlsx_answer(api_client, schedule):
    assert api_client.get(f"/api/tasks/{schedule.pk}/?format=xlsx").status_code == 404


def test_the_schema_documents_the_xlsx_answer_and_the_format_parameter():
    from drf_spectacular.generators import SchemaGenerator

    document = SchemaGenerator().get_schema(request=None, public=True)
    for path in ["/api/tasks/", "/api/daily-works/", "/api/progress/month/"]:
        operation = document["paths"][path]["get"]
        content = operation["responses"]["200"]["content"]
        assert content[XLSX]["schema"] == {"type": "string", "format": "binary"}
        assert "application/json" in content
        formats = [p for p in operation["parameters"] if p["name"] == "format"]
        assert formats[0]["schema"]["enum"] == ["json", "xlsx"]
    detail = document["paths"]["/api/tasks/{id}/"]["get"]["responses"]["200"]["content"]
    assert list(detail) == ["application/json"]


def test_a_sections_subtotal_row_names_it_and_the_import_still_skips_it(schedule):
    from schedule.models import Section

    Section.objects.create(code="2", name="Бетонные работы")

    _file, values = export("ru")

    assert values[4][1] == "Итого по разделу 2 — Бетонные работы"
    assert values[1][1] == "Итого по разделу 1"
    assert is_section_total(values[4][1])


def test_a_task_s_volumes_have_its_unit_s_decimals(db):
    """As on the page: м³ with one decimal, шт whole, t with 3; the stored value in full."""
    for code, unit in [("1.1", "м³"), ("1.2", "шт"), ("1.3", "t")]:
        task = TaskFactory(code=code, unit=unit, volume_plan=Decimal("12.25"))
        MonthlyTaskFactory(task=task, month=datetime.date(2026, 11, 1), volume_plan=Decimal("6.5"))
    file, _values = export()
    sheet = openpyxl.load_workbook(file).active
    formats = {
        sheet[f"A{row}"].value: {sheet[f"{column}{row}"].number_format for column in "DEL"}
        for row in range(3, 6)
    }
    assert formats == {"1.1": {"#,##0.#"}, "1.2": {"#,##0"}, "1.3": {"#,##0.###"}}
    assert sheet["D3"].value == 12.25
