"""The МСГ's Excel file, opened with openpyxl: the page's grid, laid out for an A3 printout."""

import datetime
import io
from decimal import Decimal

import openpyxl
import pytest
from django.utils import timezone, translation

from daily.tests.factories import DailyWorkFactory
from monthly.tests.factories import MonthlyTaskFactory
from progress.selectors import month_grid
from progress.workbooks import FIRST_DAY, msg_workbook
from schedule.tests.factories import TaskFactory
from scheduler_project.pages import format_person

MONTH = datetime.date(2026, 11, 1)
TODAY = datetime.date(2026, 11, 5)  # a Thursday; 4 November is a public holiday in Russia


def export(
    language: str = "en", today: datetime.date = TODAY, *, data_only: bool = True
) -> openpyxl.Workbook:
    """The file as a viewer that does not calculate reads it (the formulas' cached values), or
    with ``data_only=False`` the formulas themselves."""
    file = io.BytesIO()
    with translation.override(language):
        grid = month_grid(month=MONTH, today=today)
        msg_workbook(
            file,
            grid=grid,
            exported_at="05.11.2026 09:00",
            prepared_by="Anna Petrova",
            prepared_on=today,
        )
    file.seek(0)
    return openpyxl.load_workbook(file, data_only=data_only)


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
        "Code", "Work", "Unit", "Plan / fact", "Plan for the month", "Fact", "%", "Deviation",
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
    assert rows[8][0] == "The month"


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


def behind_rules(sheet) -> list:
    """The conditional formats other than ``whole_volumes``'."""
    return [rule for rule in sheet.conditional_formatting if "MOD(" not in rule.rules[0].formula[0]]


def test_fact_cells_behind_plan_are_a_conditional_format_on_the_days_before_today(tasks):
    sheet = export().active
    rules = behind_rules(sheet)
    assert len(rules) == 1
    # Fact rows 5 and 8 (Excel's numbers), the days 1 to 4 (today, the 5th, is not over).
    assert str(rules[0].sqref) == "M5:P5 M8:P8"
    assert rules[0].rules[0].formula == ["AND(ISNUMBER(M4),N(M5)<M4)"]


def test_a_month_in_the_future_has_no_behind_format(tasks):
    sheet = export(today=datetime.date(2026, 10, 1)).active
    assert behind_rules(sheet) == []


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


def test_the_months_fact_percent_and_remaining_are_formulas_over_the_day_cells(tasks):
    formulas = export(data_only=False).active
    # Row 4 is Excavation's plan row, row 5 its fact row; November's days are M to AP.
    assert [formulas[f"{column}4"].value for column in "FGI"] == [
        "=SUM(M5:AP5)",
        '=IF(E4=0,"",ROUND(F4*100/E4,1))',
        "=MAX(0,E4-F4)",
    ]
    # The other figures are the page's values.
    assert [formulas[f"{column}4"].value for column in "EHJK"] == [200, -13, 10.723, 5.167]


def test_the_formulas_cache_the_pages_figures_for_a_viewer_that_does_not_calculate(tasks):
    values = export().active
    # Reports of 5 and 2 on the 2nd and 3rd: 7 of 200 done, 3.5 %, 193 left.
    assert [values[f"{column}4"].value for column in "EFGI"] == [200, 7, 3.5, 193]
    assert [values[f"{column}5"].value for column in "NO"] == [5, 2]
    # Concrete: nothing reported, 0 % of its 100.
    assert [values[f"{column}7"].value for column in "EFGI"] == [100, 0, 0, 100]


def test_a_row_planning_nothing_this_month_has_an_empty_percent(db):
    MonthlyTaskFactory(task=TaskFactory(code="3.2"), month=MONTH, volume_plan=Decimal("0"))
    formulas, values = export(data_only=False).active, export().active
    (row,) = [cell.row for cell in formulas["A"] if cell.value == "3.2"]
    assert formulas[f"G{row}"].value == f'=IF(E{row}=0,"",ROUND(F{row}*100/E{row},1))'
    assert values[f"E{row}"].value == 0
    assert values[f"G{row}"].value is None


def thin(side) -> bool:
    return side.style == "thin"


def test_every_cell_of_the_grid_has_a_border(tasks):
    sheet = export().active
    first_day = FIRST_DAY + 1  # openpyxl counts columns from 1
    last_day = first_day + 29
    cells = {
        "a day's heading": sheet.cell(1, first_day),
        "a section's row": sheet.cell(3, 9),
        "a day with a plan": sheet.cell(4, first_day + 1),
        "an empty day": sheet.cell(5, first_day),
        "an empty holiday": sheet.cell(5, first_day + 3),
        "the month's last day": sheet.cell(5, last_day),
        "a fact row's figure": sheet.cell(5, 5),
        "the month's row": sheet.cell(9, last_day),
        "a unit's total": sheet.cell(10, 5),
        "a unit's day total": sheet.cell(11, first_day + 1),
    }
    for name, cell in cells.items():
        border = cell.border
        assert all(map(thin, [border.left, border.right, border.top, border.bottom])), name
    # A figure's heading spans the two heading rows: no border between them.
    top, bottom = sheet.cell(1, 5).border, sheet.cell(2, 5).border
    assert all(map(thin, [top.left, top.right, top.top, bottom.left, bottom.right, bottom.bottom]))
    assert (top.bottom.style, bottom.top.style) == (None, None)
    # Nothing beyond the grid: its width ends at the last day.
    assert sheet.cell(4, last_day + 1).border.left.style is None


def test_the_footer_sums_plan_and_fact_per_unit_and_day_with_formulas(tasks):
    formulas, values = export(data_only=False).active, export().active
    rows = {formulas[f"B{row}"].value: row for row in range(9, 14)}
    assert list(rows) == [
        "2 tasks · 2 behind · 1 late",  # the month's row, "The month" in its code cell
        "Total m³: plan",
        "Total m³: fact",
        "Total t: plan",
        "Total t: fact",
    ]
    plan, fact = rows["Total m³: plan"], rows["Total m³: fact"]
    unit_is = 'EXACT($C$3:$C$8,"m³")'
    assert formulas[f"E{plan}"].value == f'=SUMPRODUCT({unit_is}*($D$3:$D$8="plan"),E$3:E$8)'
    assert formulas[f"N{plan}"].value == f'=SUMPRODUCT({unit_is}*($D$3:$D$8="plan"),N$3:N$8)'
    assert formulas[f"F{fact}"].value == f"=SUM(M{fact}:AP{fact})"
    assert formulas[f"N{fact}"].value == f'=SUMPRODUCT({unit_is}*($D$3:$D$8="fact"),N$3:N$8)'
    # The days 1 to 5: a Sunday, 10 a working day, the holiday on the 4th.
    assert [values[f"{column}{plan}"].value for column in "EMNOPQ"] == [200, 0, 10, 10, 0, 10]
    assert [values[f"{column}{fact}"].value for column in "FMNOPQ"] == [7, 0, 5, 2, 0, 0]
    tons = rows["Total t: plan"]
    assert [values[f"{column}{tons}"].value for column in "EN"] == [100, 5]


def test_units_that_differ_only_in_case_are_not_added_together(db):
    for code, unit in [("1.1", "шт"), ("1.2", "Шт"), ("1.3", "шт")]:
        task = TaskFactory(code=code, unit=unit, start_date=MONTH, end_date=MONTH.replace(day=30))
        MonthlyTaskFactory(task=task, month=MONTH, volume_plan=Decimal("20"))
    units = month_grid(month=MONTH, today=TODAY).units
    assert {totals.unit: totals.plan for totals in units} == {"Шт": 20, "шт": 40}
    formulas = export(data_only=False).active
    labels = [formulas[f"B{row}"].value for row in range(1, formulas.max_row + 1)]
    assert labels.count("Total шт: plan") == labels.count("Total Шт: plan") == 1
    row = labels.index("Total Шт: plan") + 1
    assert 'EXACT($C$3:$C$9,"Шт")' in formulas[f"E{row}"].value


@pytest.mark.parametrize(
    ("language", "prepared", "checked"),
    [
        (
            "en",
            "Prepared by: Anna Petrova ____________ 11/05/2026",
            "Checked by: ____________________ ____________ ____ ____________ 20__",
        ),
        (
            "ru",
            "Составил: Anna Petrova ____________ 05.11.2026",
            "Проверил: ____________________ ____________ «___» ________ 20__ г.",
        ),
    ],
)
def test_the_grid_is_signed_below_by_who_prepared_it_with_a_blank_for_who_checks_it(
    tasks, language, prepared, checked
):
    sheet = export(language).active
    lines = [row[1] for row in sheet.iter_rows(min_row=14, values_only=True)]
    assert lines == [None, prepared, None, checked]
    assert sheet["B15"].border.left.style is None


def test_every_volume_column_has_one_number_format(tasks):
    sheet = export().active
    volume_columns = ["E", "F", "H", "I", "J", "K", *(f"{letter}" for letter in "MNOPQ")]
    for column in volume_columns:
        cells = [sheet[f"{column}{row}"] for row in range(3, 14)]
        numbers = {cell.number_format for cell in cells if isinstance(cell.value, int | float)}
        assert numbers == {"#,##0.###"}, column
    whole = [rule for rule in sheet.conditional_formatting if "MOD(" in rule.rules[0].formula[0]]
    assert [str(rule.sqref) for rule in whole] == ["E3:F13", "H3:K13", "M3:AP13"]
    assert sheet["G4"].number_format == "0.0"


def test_every_day_column_is_as_wide_as_the_longest_figure_in_any_of_them(tasks):
    # XlsxWriter stores a width with its cell padding: 6.5 characters are 7.29.
    narrow = export().active.column_dimensions["M"].width
    assert 6.5 < narrow < 7.5
    DailyWorkFactory(task=tasks, date=datetime.date(2026, 11, 6), volume=Decimal("1234.125"))
    DailyWorkFactory(task=tasks, date=datetime.date(2026, 11, 6), volume=Decimal("1"))
    sheet = export().active
    # The unit's fact on the 6th, 1,235.125 (bold), would print as ### in a narrow column.
    days = sheet.column_dimensions["M"]  # one entry for the 30 days' columns, M to AP
    assert (days.min, days.max) == (13, 42)
    assert 9 * 1.2 + 1 < days.width < 9 * 1.2 + 2  # 9 characters, bold


def test_the_headings_row_is_tall_enough_for_a_heading_of_three_lines(tasks):
    sheet = export("ru").active
    assert sheet.row_dimensions[1].height == 45
    assert sheet["K1"].value == "До окончания, в день"
    assert sheet["K1"].alignment.wrap_text


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


@pytest.mark.parametrize(
    ("fields", "name"),
    [({"first_name": "Anna", "last_name": "Petrova"}, "Anna Petrova"), ({}, "planner7")],
)
def test_the_downloaded_file_is_signed_by_its_user_on_the_sites_today(
    client, make_user, tasks, fields, name
):
    client.force_login(make_user("planners", username="planner7", **fields))
    rows = open_download(client.get("/monthly/export/?month=2026-11"))
    today = timezone.localdate().strftime("%m/%d/%Y")
    assert f"Prepared by: {name} ____________ {today}" in [row[1] for row in rows]


def test_the_msg_file_of_a_section_holds_its_tasks_only(client, planner, tasks):
    client.force_login(planner)
    rows = open_download(client.get("/monthly/export/?month=2026-11&section=2"))
    assert [row[0] for row in rows[2:5]] == ["Section 2", "2.1", None]


@pytest.mark.parametrize(
    "query",
    [
        "month=2026-13",
        "month=1800-01",
        "month=2026-11&section=1.1",
        "month=2026-11&section=1%00",  # no code holds a NUL: PostgreSQL refused the query
        f"month=2026-11&section={'9' * 33}",
    ],
)
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


def test_the_msg_endpoint_answers_xlsx_and_its_json_is_unchanged(api_client, user, tasks):
    response = api_client.get("/api/progress/month/?month=2026-11&section=1&format=xlsx")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="msg-2026-11-1.xlsx"'
    rows = open_download(response)
    assert [row[0] for row in rows[2:5]] == ["Section 1", "1.1", None]
    assert rows[-3][1].startswith(f"Prepared by: {format_person(user)} ____________ ")
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


def test_a_sections_name_stands_beside_it(tasks):
    from schedule.models import Section

    Section.objects.create(code="1", name="Earthworks")

    rows = list(export().active.iter_rows(values_only=True))

    assert rows[2][:2] == ("Section 1", "Earthworks · 1 task · 1 behind · 1 late")


def test_a_row_s_volumes_have_its_unit_s_decimals_in_every_column(db):
    """м³ are shown with one decimal and шт whole, as on the page; each row's cells and its
    unit's total rows take the unit's format, whatever column they are in."""
    concrete = TaskFactory(code="1.1", unit="м³", start_date=MONTH, end_date=MONTH.replace(day=30))
    blocks = TaskFactory(code="1.2", unit="шт", start_date=MONTH, end_date=MONTH.replace(day=30))
    for task, plan, done in [(concrete, "200", "7.25"), (blocks, "40", "3")]:
        MonthlyTaskFactory(task=task, month=MONTH, volume_plan=Decimal(plan))
        DailyWorkFactory(task=task, date=datetime.date(2026, 11, 2), volume=Decimal(done))
    sheet = export().active
    formats = {}
    for row in sheet.iter_rows(min_row=3):
        unit = row[2].value
        for cell in row[4:]:
            number = isinstance(cell.value, int | float)
            if number and cell.column_letter != "G":  # G: the percent column
                formats.setdefault(unit, set()).add(cell.number_format)
    assert formats["м³"] == {"#,##0.#"}
    assert formats["шт"] == {"#,##0"}
    totals = {
        row[1].value: {cell.number_format for cell in row[4:] if isinstance(cell.value, float)}
        for row in sheet.iter_rows(min_row=3)
        if str(row[1].value).startswith("Total ")
    }
    assert totals == {
        "Total м³: plan": {"#,##0.#"},
        "Total м³: fact": {"#,##0.#"},
        "Total шт: plan": {"#,##0"},
        "Total шт: fact": {"#,##0"},
    }
    fact_of_concrete = next(
        row for row in sheet.iter_rows(min_row=3) if row[2].value == "м³" and row[3].value == "fact"
    )
    assert fact_of_concrete[FIRST_DAY + 1].value == 7.25  # stored in full, shown as «7,3»
    # A 21.957 shown with one decimal is «22», not «22.»: the whole-number rule rounds as the
    # row's unit shows; шт rows need none (their format has no separator).
    rules = [
        (str(rule.sqref), rule.rules[0].formula[0])
        for rule in sheet.conditional_formatting
        if "MOD(" in rule.rules[0].formula[0]
    ]
    # Rows 4–5: the м³ work's plan and fact; 6–7: the шт work's; 9–10: the м³ totals, 11–12 the
    # шт ones; 3 and 8: the section's and the month's rows (no volumes of one unit).
    assert rules == [
        ("E3:F3 E8:F8", "AND(ISNUMBER(E3),MOD(ROUND(E3,3),1)=0)"),
        ("E4:F5 E9:F10", "AND(ISNUMBER(E4),MOD(ROUND(E4,1),1)=0)"),
        ("H3:K3 H8:K8", "AND(ISNUMBER(H3),MOD(ROUND(H3,3),1)=0)"),
        ("H4:K5 H9:K10", "AND(ISNUMBER(H4),MOD(ROUND(H4,1),1)=0)"),
        ("M3:AP3 M8:AP8", "AND(ISNUMBER(M3),MOD(ROUND(M3,3),1)=0)"),
        ("M4:AP5 M9:AP10", "AND(ISNUMBER(M4),MOD(ROUND(M4,1),1)=0)"),
    ]
