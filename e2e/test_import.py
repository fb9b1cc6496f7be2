"""The schedule import in real Chromium: upload, preview, apply, while another user's schedule
page shows the imported change live."""

import datetime
import io
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from playwright.sync_api import expect

from e2e.conftest import assert_not_reloaded, mark_document
from schedule.roles import PLANNERS, VIEWERS
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)


def sheet_file(tmp_path: Path, *rows: list) -> Path:
    workbook = Workbook()
    workbook.active.append(["Code", "Name", "Unit", "Planned volume", "Start", "End"])
    for row in rows:
        workbook.active.append(row)
    path = tmp_path / "schedule.xlsx"
    buffer = io.BytesIO()
    workbook.save(buffer)
    path.write_bytes(buffer.getvalue())
    return path


def test_an_imported_schedule_reaches_another_users_open_page(open_page, make_user, tmp_path):
    task = TaskFactory(code="1.1", name="Excavation", volume_plan=Decimal(100))
    maria = make_user(PLANNERS, username="maria")
    ivan = make_user(VIEWERS, username="ivan")
    watcher = open_page(ivan, "/")
    mark_document(watcher)
    path = sheet_file(
        tmp_path,
        ["1.1", "Excavation of the pit", "m³", 150, task.start_date, task.end_date],
        ["2.1", "Concrete works", "m³", "1250,5", "02.11.2026", datetime.date(2026, 12, 18)],
    )
    author = open_page(maria, "/")

    author.get_by_role("link", name="Import").click()
    author.get_by_label("Schedule file (.xlsx)").set_input_files(path)
    author.get_by_role("button", name="Preview").click()

    expect(author.locator("[data-import-counts]")).to_have_text(
        "1 new, 1 changed, 0 unchanged, 0 in error, 0 in conflict."
    )
    changed = author.locator('[data-import-row="2"]')
    expect(changed).to_contain_text("Name: Excavation → Excavation of the pit")
    expect(watcher.locator("tr[data-task-id]", has_text="Concrete works")).to_have_count(0)

    author.get_by_role("button", name="Apply").click()

    expect(author.get_by_text("Schedule imported: 1 tasks created, 1 changed")).to_be_visible()
    expect(watcher.locator(f"#task-{task.pk} .task-name")).to_have_text("Excavation of the pit")
    expect(watcher.locator("tr[data-task-id]", has_text="Concrete works")).to_be_visible()
    assert_not_reloaded(watcher)


def test_a_bad_file_is_refused_on_the_page(open_page, make_user, tmp_path):
    maria = make_user(PLANNERS, username="maria")
    path = tmp_path / "schedule.xlsx"
    path.write_bytes(b"code,name\n1.1,x\n")
    author = open_page(maria, "/import/")

    author.get_by_label("Schedule file (.xlsx)").set_input_files(path)
    author.get_by_role("button", name="Preview").click()

    expect(author.locator("[data-import-problems]")).to_contain_text("Nothing was imported.")
