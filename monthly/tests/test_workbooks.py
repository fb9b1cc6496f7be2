"""The МСГ's Excel file, opened with openpyxl: the page's grid, laid out for an A3 printout."""

import datetime
import io
from decimal import Decimal

import openpyxl
import pytest
from django.utils import translation

from daily.tests.factories import DailyWorkFactory
from monthly.selectors import month_grid
from monthly.tests.factories import MonthlyTaskFactory
from monthly.workbooks import FIRST_DAY, msg_workbook
from schedule.tests.factories import TaskFactory

MONTH = datetime.date(2026, 11, 1)
TODAY = datetime.date(2026, 11, 5)  # a Thursday; 4 November is a public holiday in Russia


def export(language: str = "en", today: datetime.date = TODAY) -> openpyxl.Workbook:
    file = io.BytesIO()
    with translation.override(language):
        grid = month_grid(month=MONTH, today=today)
        msg_workbook(file, grid=grid, exported_at="05.11.2026 09:00")
    file.seek(0)
    return openpyxl.load_workbook(file)


@pytest.fixture
def tasks(db):
    first = TaskFactory(
        code="1.1", name="Excavation", start_date=MONTH, end_date=MONTH.replace(day=30)
    )
    MonthlyTaskFactory(task=first, month=MONTH, volume_plan=Decimal("200"))
    DailyWorkFactory(task=first, date=datetime.date(2026, 11, 2), volume=Decimal("5"))
    DailyWorkFactory(task=first, date=datetime.date(2026, 11, 3), volume=Decimal("2"))
    TaskFactory(
        code="2.1", name="Concrete", unit="t", start_date=MONTH, end_date=MONTH.replace(day=30)
    )
    return first


def test_each_task_has_a_plan_row_with_the_months_figures_and_a_fact_row(tasks):
    sheet = export().active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:12] == (
        "Code", "Work", "Unit", None, "Plan for the month", "Fact", "%", "Deviation",
        "Remaining", "Needed per day", "To finish, per day", "Forecast finish",
    )  # fmt: skip
    assert rows[0][FIRST_DAY : FIRST_DAY + 3] == (1, 2, 3)
    assert rows[1][FIRST_DAY : FIRST_DAY + 2] == ("Sun", "Mon")
    assert rows[2][:2] == ("Section 1", "1 task · 1 behind · 1 late")
    plan, fact = rows[3], rows[4]
    # On the 5th: 7 done against the 2nd's and 3rd's plan, 20; 193 of the month's plan left
    # over its 18 working days from the 5th; 100 − 7 of the work by its end on the 30th too.
    assert plan[:12] == (
        "1.1",
        "Excavation",
        "m³",
        "plan",
        200,
        7,
        3.5,
        -13,
        193,
        10.723,
        5.167,
        datetime.datetime(2026, 12, 11),
    )
    # 200 over the 20 working days of November 2026 (the 4th is a holiday): 10 a day.
    assert plan[FIRST_DAY : FIRST_DAY + 5] == (None, 10, 10, None, 10)
    assert fact[3] == "fact"
    assert fact[FIRST_DAY : FIRST_DAY + 5] == (None, 5, 2, None, None)
    assert rows[5][:2] == ("Section 2", "1 task · 1 behind")  # nothing done of its plan to date
    totals = [row[:5] for row in rows[-2:]]
    assert totals[0][0] == "The month"
    assert totals[1] == ("Planned for the month, m³", None, None, None, 200)


def test_the_headings_are_in_russian_for_a_russian_user(tasks):
    rows = list(export("ru").active.iter_rows(values_only=True))
    assert rows[0][:3] == ("Код", "Работа", "Ед. изм.")
    assert rows[2][0] == "Раздел 1"
    assert rows[3][3] == "план"


def test_weekends_and_holidays_are_shaded(tasks):
    sheet = export().active
    first_day = FIRST_DAY + 1  # openpyxl counts columns from 1
    sunday, monday, holiday = (sheet.cell(4, first_day + offset) for offset in (0, 1, 3))
    assert sunday.fill.fgColor.rgb.endswith("EEEEEE")
    assert monday.fill.fgColor.rgb in {"00000000", None}
    assert holiday.fill.fgColor.rgb.endswith("FDE2E1")


def test_fact_cells_behind_plan_are_a_conditional_format_on_the_days_before_today(tasks):
    sheet = export().active
    rules = list(sheet.conditional_formatting)
    assert len(rules) == 1
    # Fact rows 5 and 8 (Excel's numbers), the days 1 to 4 (today, the 5th, is not over).
    assert str(rules[0].sqref) == "M5:P5 M8:P8"
    assert rules[0].rules[0].formula == ["AND(ISNUMBER(M4),N(M5)<M4)"]


def test_a_month_in_the_future_has_no_behind_format(tasks):
    sheet = export(today=datetime.date(2026, 10, 1)).active
    assert list(sheet.conditional_formatting) == []


def test_the_print_setup_is_a3_landscape_one_page_wide_with_repeated_headings(tasks):
    sheet = export().active
    assert sheet.page_setup.paperSize == 8
    assert sheet.page_setup.orientation == "landscape"
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    # XlsxWriter leaves out fitToWidth="1", Excel's default.
    assert sheet.page_setup.fitToWidth in {None, 1}
    assert sheet.page_setup.fitToHeight == 0
    assert sheet.print_title_rows == "$1:$2"
    assert sheet.freeze_panes == "E3"
    assert sheet.oddHeader.left.text == "Construction site"
    assert "Month-by-day schedule — November 2026" in sheet.oddHeader.center.text
    assert sheet.oddHeader.right.text == "05.11.2026 09:00"


def test_tasks_are_grouped_under_their_section(tasks):
    sheet = export().active
    assert [sheet.row_dimensions[row].outline_level for row in range(3, 9)] == [0, 1, 1, 0, 1, 1]


# The download (monthly:order_export).


def open_download(response) -> list[tuple]:
    content = b"".join(response.streaming_content)
    return list(openpyxl.load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))


@pytest.mark.parametrize("role", ["planners", "foremen", "viewers"])
def test_every_role_downloads_the_msg_of_a_month(client, make_user, tasks, role):
    client.force_login(make_user(role))
    response = client.get("/monthly/export/?month=2026-11")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="msg-2026-11.xlsx"'
    rows = open_download(response)
    assert [row[0] for row in rows[2:7]] == ["Section 1", "1.1", None, "Section 2", "2.1"]


def test_the_msg_file_of_a_section_holds_its_tasks_only(client, planner, tasks):
    client.force_login(planner)
    rows = open_download(client.get("/monthly/export/?month=2026-11&section=2"))
    assert [row[0] for row in rows[2:5]] == ["Section 2", "2.1", None]


@pytest.mark.parametrize("query", ["month=2026-13", "month=1800-01", "month=2026-11&section=1.1"])
def test_a_bad_month_or_section_is_a_400(client, planner, query):
    client.force_login(planner)
    assert client.get(f"/monthly/export/?{query}").status_code == 400


def test_the_msg_file_needs_the_view_permission_of_what_it_shows(client, make_user):
    client.force_login(make_user(None))
    assert client.get("/monthly/export/?month=2026-11").status_code == 403


def test_the_msg_page_offers_the_excel_file_of_its_month(client, viewer):
    client.force_login(viewer)
    page = client.get("/monthly/?month=2026-11").content.decode()
    assert 'href="/monthly/export/?month=2026-11"' in page


# The API: ?format=xlsx on /api/progress/month/.


def test_the_msg_endpoint_answers_xlsx_and_its_json_is_unchanged(api_client, tasks):
    response = api_client.get("/api/progress/month/?month=2026-11&section=1&format=xlsx")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="msg-2026-11-1.xlsx"'
    assert [row[0] for row in open_download(response)[2:5]] == ["Section 1", "1.1", None]
    data = api_client.get("/api/progress/month/?month=2026-11").json()
    assert [section["section"] for section in data["sections"]] == ["1", "2"]


def test_a_bad_month_with_format_xlsx_is_a_json_400(api_client, db):
    response = api_client.get("/api/progress/month/?month=2026-13&format=xlsx")
    assert response.status_code == 400
    assert "month" in response.json()


def test_a_work_carried_over_from_an_earlier_month_is_in_the_months_file(db):
    # Ended on 30 October with 75 of 100 done: November's file lists it, overdue and behind.
    carried = TaskFactory(
        code="7.2",
        name="Water main",
        unit="m",
        start_date=datetime.date(2026, 10, 1),
        end_date=datetime.date(2026, 10, 30),
    )
    DailyWorkFactory(task=carried, date=datetime.date(2026, 10, 29), volume=Decimal("75"))

    rows = list(export().active.iter_rows(values_only=True))

    (plan,) = [row for row in rows if row[0] == "7.2"]
    # 25 left at November's start, all due; 18 working days from the 5th to the 30th.
    assert plan[:12] == (
        "7.2",
        "Water main (overdue since 10/31/2026)",
        "m",
        "plan",
        25,
        0,
        0,
        -25,
        25,
        1.389,
        1.389,
        datetime.datetime(2026, 11, 5),  # at the 75 a report day it did: today
    )
