"""``manage.py import_schedule FILE``: the preview printed, the apply, the exit codes."""

import datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from openpyxl import Workbook

from realtime.models import Event
from schedule.models import Task
from schedule.services import task_update
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

HEADINGS = ["Code", "Name", "Unit", "Planned volume", "Start", "End", "Version", "2026-11"]


def sheet_file(tmp_path: Path, *rows: list) -> Path:
    workbook = Workbook()
    workbook.active.append(HEADINGS)
    for row in rows:
        workbook.active.append(row)
    path = tmp_path / "schedule.xlsx"
    workbook.save(path)
    return path


def row_of(task: Task, **changes) -> list:
    values = {
        "code": task.code,
        "name": task.name,
        "unit": task.unit,
        "volume_plan": float(task.volume_plan),
        "start": task.start_date,
        "end": task.end_date,
        "version": task.version,
        "plan": None,
    } | changes
    return list(values.values())


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_schedule", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_dry_run_prints_the_preview_and_writes_nothing(tmp_path):
    task = TaskFactory(code="1.1")
    TaskFactory(code="1.2", name="Kept")
    path = sheet_file(
        tmp_path,
        row_of(task, volume_plan=150, plan=40),
        ["2.1", "New work", "t", "5", "01.11.2026", "2026-11-30", None, None],
    )
    before = Event.objects.latest_id()

    out, _err = run(str(path), "--dry-run")

    assert out.splitlines() == [
        "Rows: 1 new, 1 changed, 0 unchanged, 0 in error, 0 in conflict.",
        "Row 2 (1.1) changed: Planned volume: 100 → 150; 2026-11: — → 40",
        "Row 3 (2.1) new",
        "Missing from the file (kept):",
        "  1.2 Kept (0 daily works, 0 monthly plans)",
        "Dry run: nothing written.",
    ]
    assert Event.objects.latest_id() == before
    assert not Task.objects.filter(code="2.1").exists()


def test_the_command_applies_and_says_what_it_did(tmp_path):
    task = TaskFactory(code="1.1")
    missing = TaskFactory(code="1.2")
    path = sheet_file(tmp_path, row_of(task, name="Renamed", plan=40))

    out, _err = run(str(path), "--delete-missing")

    assert out.splitlines()[-1] == (
        "Imported: 0 created, 1 updated, 0 unchanged, 1 deleted, 1 monthly plans written, "
        "0 sections named."
    )
    assert list(Task.objects.values_list("code", "name")) == [("1.1", "Renamed")]
    assert not Task.objects.filter(pk=missing.pk).exists()


def test_rows_in_error_exit_non_zero_and_write_nothing(tmp_path):
    path = sheet_file(
        tmp_path,
        ["2.1", "New work", "t", "5", "01.11.2026", "2026-11-30", None, None],
        ["2.2", "Bad", "t", "lots", "01.11.2026", "2026-11-30", None, None],
    )

    with pytest.raises(CommandError, match="Rows in error: nothing imported"):
        run(str(path))

    assert not Task.objects.exists()


def test_a_conflict_is_refused_unless_the_files_values_are_asked_for(tmp_path):
    task = TaskFactory(code="1.1")
    path = sheet_file(tmp_path, row_of(task, name="From the file"))
    task_update(task=task, data={"name": "The app's"}, version=None)

    with pytest.raises(CommandError, match="Rows in conflict"):
        run(str(path))
    assert Task.objects.get().name == "The app's"

    out, _err = run(str(path), "--overwrite")

    assert 'Row 2 (1.1) conflict: Name: "The app\'s" → "From the file"' in out
    assert Task.objects.get().name == "From the file"


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"code,name\n1.1,x\n", "schedule.xlsx: "), (None, "Cannot read")],
)
def test_a_file_refused_whole_exits_non_zero(tmp_path, content, message):
    path = tmp_path / "schedule.xlsx"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(CommandError, match=message):
        run(str(path))


def test_volumes_and_dates_of_the_file_are_written_as_typed(tmp_path):
    path = sheet_file(
        tmp_path, ["2.1", "New work", "t", "5,5", "01.11.2026", "2026-11-30", None, "2,25"]
    )

    run(str(path))

    task = Task.objects.get()
    assert (task.volume_plan, task.start_date) == (Decimal("5.500"), datetime.date(2026, 11, 1))
    assert task.monthly_tasks.get().volume_plan == Decimal("2.250")
