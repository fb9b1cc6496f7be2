"""The import's preview and apply, on sheets built as the reader returns them."""

import dataclasses
import datetime
import io
from contextlib import contextmanager
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from daily.api import DailyWorkSerializer
from daily.models import DailyWork
from daily.services import daily_work_update
from daily.tests.factories import DailyWorkFactory
from monthly.api import MonthlyTaskSerializer
from monthly.models import MonthlyTask
from monthly.services import monthly_task_delete, monthly_task_update
from monthly.tests.factories import MonthlyTaskFactory
from realtime.models import Change, Event
from schedule import import_plans
from schedule.api import TaskSerializer
from schedule.import_plans import (
    Decision,
    FieldChange,
    ImportConflict,
    ImportInvalid,
    MissingTask,
    RowKind,
    plan_from_data,
    plan_to_data,
    schedule_import_apply,
    schedule_import_preview,
)
from schedule.imports import CellError, InvalidRow, ScheduleSheet, SheetRow, read_schedule
from schedule.models import Task
from schedule.services import task_update
from schedule.tests.factories import TaskFactory
from schedule.workbooks import schedule_workbook

pytestmark = pytest.mark.django_db

NOVEMBER = datetime.date(2026, 11, 1)
DECEMBER = datetime.date(2026, 12, 1)
COLUMNS = frozenset(
    {"code", "name", "unit", "volume_plan", "start_date", "end_date", "estimated_cost", "version"}
)


def sheet_row(task_or_code: Task | str, row: int = 2, **changes) -> SheetRow:
    """A row as the export would write ``task`` (or a new task's row for a code)."""
    if isinstance(task_or_code, Task):
        task = task_or_code
        values = {
            "code": task.code,
            "name": task.name,
            "unit": task.unit,
            "volume_plan": task.volume_plan,
            "start_date": task.start_date,
            "end_date": task.end_date,
            "estimated_cost": task.estimated_cost,
            "version": task.version,
        }
    else:
        values = {
            "code": task_or_code,
            "name": f"Work {task_or_code}",
            "unit": "m³",
            "volume_plan": Decimal("10.000"),
            "start_date": datetime.date(2026, 11, 2),
            "end_date": datetime.date(2026, 11, 30),
            "estimated_cost": None,
            "version": None,
        }
    return SheetRow(row=row, **{"monthly_plans": {}, **values, **changes})


def sheet_of(*rows: SheetRow, invalid: list[InvalidRow] | None = None) -> ScheduleSheet:
    months = sorted({month for row in rows for month in row.monthly_plans})
    return ScheduleSheet(
        rows=list(rows), invalid=invalid or [], columns=COLUMNS | {"monthly"}, months=months
    )


def numbered(*rows: SheetRow) -> list[SheetRow]:
    return [dataclasses.replace(row, row=index) for index, row in enumerate(rows, start=2)]


def apply(sheet: ScheduleSheet, seen=None, decisions=None, delete_missing=False, actor=None):
    seen = seen if seen is not None else schedule_import_preview(sheet=sheet).seen
    return schedule_import_apply(
        sheet=sheet,
        seen=seen,
        decisions=decisions or {},
        delete_missing=delete_missing,
        actor=actor,
    )


def test_the_preview_classifies_every_row_and_lists_the_tasks_missing_from_the_file(
    capture_events,
):
    same, changed, contested, missing = TaskFactory.create_batch(4)
    DailyWorkFactory(task=missing)
    MonthlyTaskFactory(task=missing)
    exported_version = contested.version
    task_update(task=contested, data={"name": "Renamed in the app"}, version=None)
    sheet = sheet_of(
        *numbered(
            sheet_row(same),
            sheet_row(changed, volume_plan=Decimal("150.000")),
            sheet_row(contested, version=exported_version, name="Renamed in the file", unit="t"),
            sheet_row("9.1"),
        ),
        invalid=[InvalidRow(row=6, code="9.2", errors=[CellError("D6", "not a number")])],
    )

    with capture_events(expected=0):
        preview = schedule_import_preview(sheet=sheet)

    assert [(row.row, row.code, row.kind) for row in preview.rows] == [
        (2, same.code, RowKind.UNCHANGED),
        (3, changed.code, RowKind.CHANGED),
        (4, contested.code, RowKind.CONFLICT),
        (5, "9.1", RowKind.NEW),
        (6, "9.2", RowKind.ERROR),
    ]
    assert preview.rows[1].changes == (
        FieldChange("volume_plan", Decimal("100.000"), Decimal("150.000")),
    )
    assert preview.rows[2].changes == (
        FieldChange("name", "Renamed in the app", "Renamed in the file"),
        FieldChange("unit", "m³", "t"),
    )
    assert [str(error) for error in preview.rows[4].errors] == ["D6: not a number"]
    assert preview.missing == [
        MissingTask(
            id=missing.pk, code=missing.code, name=missing.name, daily_works=1, monthly_plans=1
        )
    ]
    assert preview.counts == {
        "new": 1,
        "changed": 1,
        "unchanged": 1,
        "error": 1,
        "conflict": 1,
    }
    assert preview.seen.contested == {4}


def test_a_row_whose_task_moved_on_since_the_export_but_agrees_with_the_app_is_unchanged():
    task = TaskFactory()
    row = sheet_row(task, version=task.version)
    task_update(task=task, data={"name": "Renamed"}, version=None)

    preview = schedule_import_preview(sheet=sheet_of(dataclasses.replace(row, name="Renamed")))

    assert [row.kind for row in preview.rows] == [RowKind.UNCHANGED]


def test_a_report_since_the_export_is_no_conflict_and_the_files_change_is_applied(
    capture_events,
):
    task = TaskFactory(name="Old")
    row = sheet_row(task, name="From the file")  # carries the exported version
    DailyWorkFactory(task=task, volume=Decimal("7"))  # moves the volume done and the version

    preview = schedule_import_preview(sheet=sheet_of(row))

    assert [(row.kind, row.changes) for row in preview.rows] == [
        (RowKind.CHANGED, (FieldChange("name", "Old", "From the file"),))
    ]
    with capture_events(expected=1):
        apply(sheet_of(row), seen=preview.seen)
    task.refresh_from_db()
    assert (task.name, task.volume_fact) == ("From the file", Decimal("7.000"))


def test_a_field_changed_in_the_app_since_the_export_is_kept_beside_the_files_change():
    task = TaskFactory(name="Old", unit="m³")
    row = sheet_row(task, unit="t")
    task_update(task=task, data={"name": "Renamed in the app"}, version=None)

    preview = schedule_import_preview(sheet=sheet_of(row))

    assert [(row.kind, row.changes) for row in preview.rows] == [
        (RowKind.CHANGED, (FieldChange("unit", "m³", "t"),))
    ]
    apply(sheet_of(row), seen=preview.seen)
    task.refresh_from_db()
    assert (task.name, task.unit) == ("Renamed in the app", "t")


def test_an_exported_row_left_alone_does_not_undo_a_later_change_in_the_app(capture_events):
    task = TaskFactory(name="Old")
    row = sheet_row(task)
    task_update(task=task, data={"name": "Renamed in the app"}, version=None)

    preview = schedule_import_preview(sheet=sheet_of(row))

    assert [row.kind for row in preview.rows] == [RowKind.UNCHANGED]
    with capture_events(expected=0):
        result = apply(sheet_of(row), seen=preview.seen)
    assert result.unchanged == 1
    assert Task.objects.get(pk=task.pk).name == "Renamed in the app"


def test_a_contested_row_decided_for_the_file_is_refused_again_after_a_later_change():
    task = TaskFactory(name="Old", unit="m³")
    row = sheet_row(task, name="From the file")
    task_update(task=task, data={"name": "Renamed in the app"}, version=None)
    preview = schedule_import_preview(sheet=sheet_of(row))
    assert preview.seen.contested == {row.row}
    task_update(task=task, data={"unit": "t"}, version=None)  # after the preview

    with pytest.raises(ImportConflict, match="changed in the app since the preview"):
        apply(sheet_of(row), seen=preview.seen, decisions={row.row: Decision.FILE})
    assert Task.objects.get(pk=task.pk).unit == "t"


def exported(*tasks: Task) -> ScheduleSheet:
    """The sheet the schedule export writes for ``tasks``, read back."""
    file = io.BytesIO()
    schedule_workbook(file, tasks=tasks, today=datetime.date(2026, 11, 15), exported_at="now")
    file.seek(0)
    return read_schedule(file)


def with_plans(sheet: ScheduleSheet, **plans: Decimal) -> ScheduleSheet:
    """``sheet`` with its first row's plans for ``nov``/``dec`` changed, as in Excel."""
    months = {"nov": NOVEMBER, "dec": DECEMBER}
    first, *rest = sheet.rows
    changed = {**first.monthly_plans, **{months[key]: value for key, value in plans.items()}}
    return dataclasses.replace(
        sheet, rows=[dataclasses.replace(first, monthly_plans=changed), *rest]
    )


def test_the_export_says_when_it_was_made():
    before = timezone.now()
    sheet = exported(TaskFactory())
    assert before <= sheet.exported_at <= timezone.now()


def test_a_plan_changed_in_the_app_since_the_export_is_not_undone_by_the_files_value(
    capture_events,
):
    task = TaskFactory()
    plan = MonthlyTaskFactory(task=task, month=NOVEMBER, volume_plan=Decimal("30"))
    sheet = exported(task)
    monthly_task_update(monthly_task=plan, data={"volume_plan": Decimal("45")}, version=None)

    preview = schedule_import_preview(sheet=sheet)

    assert [row.kind for row in preview.rows] == [RowKind.UNCHANGED]
    with capture_events(expected=0):
        apply(sheet, seen=preview.seen)
    assert MonthlyTask.objects.get().volume_plan == Decimal("45")


def test_a_plan_deleted_in_the_app_since_the_export_is_not_made_again():
    task = TaskFactory()
    plan = MonthlyTaskFactory(task=task, month=NOVEMBER, volume_plan=Decimal("30"))
    sheet = exported(task)
    monthly_task_delete(monthly_task=plan, version=None)

    preview = schedule_import_preview(sheet=sheet)

    assert [row.kind for row in preview.rows] == [RowKind.UNCHANGED]
    apply(sheet, seen=preview.seen)
    assert not MonthlyTask.objects.exists()


def test_a_plan_changed_in_the_file_and_in_the_app_since_the_export_is_a_conflict():
    task = TaskFactory()
    plan = MonthlyTaskFactory(task=task, month=NOVEMBER, volume_plan=Decimal("30"))
    sheet = with_plans(exported(task), nov=Decimal("60"))
    monthly_task_update(monthly_task=plan, data={"volume_plan": Decimal("45")}, version=None)

    preview = schedule_import_preview(sheet=sheet)

    assert [row.kind for row in preview.rows] == [RowKind.CONFLICT]
    assert preview.rows[0].changes == (FieldChange("2026-11", Decimal("45"), Decimal("60")),)
    with pytest.raises(ImportConflict, match="choose which values to keep"):
        apply(sheet, seen=preview.seen)
    apply(sheet, seen=preview.seen, decisions={sheet.rows[0].row: Decision.FILE})
    assert MonthlyTask.objects.get().volume_plan == Decimal("60")


def test_a_plan_changed_only_in_the_file_is_written_beside_an_app_change_of_another_month():
    task = TaskFactory()
    november = MonthlyTaskFactory(task=task, month=NOVEMBER, volume_plan=Decimal("30"))
    MonthlyTaskFactory(task=task, month=DECEMBER, volume_plan=Decimal("70"))
    sheet = with_plans(exported(task), dec=Decimal("80"))
    monthly_task_update(monthly_task=november, data={"volume_plan": Decimal("45")}, version=None)

    preview = schedule_import_preview(sheet=sheet)

    assert [(row.kind, row.changes) for row in preview.rows] == [
        (RowKind.CHANGED, (FieldChange("2026-12", Decimal("70"), Decimal("80")),))
    ]
    apply(sheet, seen=preview.seen)
    assert dict(MonthlyTask.objects.values_list("month", "volume_plan")) == {
        NOVEMBER: Decimal("45"),
        DECEMBER: Decimal("80"),
    }


def test_a_plan_moved_to_another_task_since_the_export_is_a_conflict_on_the_row_it_left():
    first, second = TaskFactory.create_batch(2)
    plan = MonthlyTaskFactory(task=first, month=NOVEMBER, volume_plan=Decimal("30"))
    sheet = exported(first, second)
    monthly_task_update(monthly_task=plan, data={"task": second}, version=None)

    preview = schedule_import_preview(sheet=sheet)

    assert [row.kind for row in preview.rows] == [RowKind.CONFLICT, RowKind.UNCHANGED]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"end_date": datetime.date(2026, 10, 1)}, "The end date cannot be before the start date."),
        ({"volume_plan": Decimal("-1.000")}, "Planned volume: Ensure this value is greater"),
        ({"unit": "x" * 17}, "Unit: Ensure this value has at most 16 characters"),
        ({"estimated_cost": Decimal("1.005")}, "Estimated cost: Ensure that there are no more"),
        ({"monthly_plans": {NOVEMBER: Decimal(-2)}}, "2026-11: Ensure this value is greater"),
    ],
)
def test_the_preview_reports_values_the_models_refuse_on_the_row(changes, message):
    sheet = sheet_of(sheet_row("9.1", row=7, **changes))

    (row,) = schedule_import_preview(sheet=sheet).rows

    assert row.kind == RowKind.ERROR
    assert [error.cell for error in row.errors] == ["A7"]
    assert message in row.errors[0].message


def test_monthly_plans_are_compared_and_shown_per_month():
    task = TaskFactory()
    MonthlyTaskFactory(task=task, month=NOVEMBER, volume_plan=Decimal("40.000"))
    sheet = sheet_of(
        sheet_row(
            task,
            monthly_plans={NOVEMBER: Decimal("40.000"), DECEMBER: Decimal("60.000")},
        )
    )

    (row,) = schedule_import_preview(sheet=sheet).rows

    assert (row.kind, row.changes) == (
        RowKind.CHANGED,
        (FieldChange("2026-12", None, Decimal("60.000")),),
    )
    assert row.changes[0].label == "2026-12"


def test_applying_writes_each_object_through_the_services_with_one_event_each(
    planner, capture_events
):
    same, changed = TaskFactory.create_batch(2)
    plan = MonthlyTaskFactory(task=changed, month=NOVEMBER)
    sheet = sheet_of(
        *numbered(
            sheet_row(same),
            sheet_row(
                changed,
                name="New name",
                monthly_plans={NOVEMBER: Decimal("45.000"), DECEMBER: Decimal("55.000")},
            ),
            sheet_row("9.1", estimated_cost=Decimal("1000.00")),
        )
    )

    with capture_events(expected=4) as events:
        result = apply(sheet, actor=planner)

    assert [(event.type, event.object_id) for event in events[:2]] == [
        ("task_updated", changed.pk),
        ("monthly_task_updated", plan.pk),
    ]
    assert [event.type for event in events[2:]] == ["monthly_task_created", "task_created"]
    assert {event.actor for event in events} == {planner}
    assert (result.created, result.updated, result.unchanged, result.monthly_plans_written) == (
        1,
        1,
        1,
        2,
    )
    assert Task.objects.get(code="9.1").estimated_cost == Decimal("1000.00")
    assert Task.objects.get(pk=changed.pk).name == "New name"
    assert same.version == Task.objects.get(pk=same.pk).version


def test_an_unchanged_file_writes_nothing(capture_events):
    tasks = TaskFactory.create_batch(3)
    plan = MonthlyTaskFactory(task=tasks[0])
    versions = {task.pk: task.version for task in tasks}
    sheet = sheet_of(
        *numbered(
            sheet_row(tasks[0], monthly_plans={plan.month: plan.volume_plan}),
            *(sheet_row(task) for task in tasks[1:]),
        )
    )

    preview = schedule_import_preview(sheet=sheet)
    with capture_events(expected=0):
        result = apply(sheet, seen=preview.seen)

    assert not preview.changes_anything
    assert result.unchanged == 3
    assert dict(Task.objects.values_list("pk", "version")) == versions
    assert MonthlyTask.objects.get().version == plan.version


def test_volume_done_is_never_imported():
    task = TaskFactory()
    DailyWorkFactory(task=task, volume=Decimal("7.000"))
    task.refresh_from_db()

    apply(sheet_of(sheet_row(task, volume_plan=Decimal("500.000"))))

    task.refresh_from_db()
    assert (task.volume_plan, task.volume_fact) == (Decimal("500.000"), Decimal("7.000"))


def test_a_change_made_in_the_app_between_preview_and_apply_refuses_the_apply_until_decided(
    planner, capture_events
):
    first, second = TaskFactory.create_batch(2)
    sheet = sheet_of(
        *numbered(
            sheet_row(first, name="From the file"), sheet_row(second, unit="t"), sheet_row("9.1")
        )
    )
    preview = schedule_import_preview(sheet=sheet)
    task_update(task=first, data={"name": "Another user's"}, version=None)  # in between

    with capture_events(expected=0), pytest.raises(ImportConflict) as refused:
        apply(sheet, seen=preview.seen, actor=planner)

    assert [(c.row, c.code) for c in refused.value.problems] == [(2, first.code)]
    assert "changed in the app since the preview" in str(refused.value)
    assert not Task.objects.filter(code="9.1").exists()
    assert Task.objects.get(pk=second.pk).unit == "m³"

    again = schedule_import_preview(sheet=sheet, since=preview.seen)
    assert [row.kind for row in again.rows] == [RowKind.CONFLICT, RowKind.CHANGED, RowKind.NEW]
    assert again.rows[0].changes == (FieldChange("name", "Another user's", "From the file"),)
    with pytest.raises(ImportConflict, match="choose which values to keep"):
        apply(sheet, seen=again.seen)

    with capture_events(expected=3):
        apply(sheet, seen=again.seen, decisions={2: Decision.FILE}, actor=planner)

    assert Task.objects.get(pk=first.pk).name == "From the file"
    assert Task.objects.get(pk=second.pk).unit == "t"


def test_a_report_before_the_preview_shown_again_after_a_refused_apply_is_no_conflict():
    reported, renamed = TaskFactory.create_batch(2)
    sheet = sheet_of(
        *numbered(
            sheet_row(reported, name="From the file", version=None),
            sheet_row(renamed, name="Also from the file", version=None),
        )
    )
    preview = schedule_import_preview(sheet=sheet)
    task_update(task=renamed, data={"name": "Another user's"}, version=None)
    with pytest.raises(ImportConflict):
        apply(sheet, seen=preview.seen)
    DailyWorkFactory(task=reported, volume=Decimal("2"))  # moves only the volume done

    again = schedule_import_preview(sheet=sheet, since=preview.seen)

    assert [row.kind for row in again.rows] == [RowKind.CHANGED, RowKind.CONFLICT]


def test_a_row_that_agrees_with_the_app_after_a_change_meanwhile_is_no_conflict(capture_events):
    task = TaskFactory(name="Old")
    sheet = sheet_of(sheet_row(task, name="New", version=None), sheet_row("9.1", row=3))
    preview = schedule_import_preview(sheet=sheet)
    task_update(task=task, data={"name": "New"}, version=None)  # the same change, in the app

    with capture_events(expected=1):
        result = apply(sheet, seen=preview.seen)

    assert (result.created, result.updated, result.unchanged) == (1, 0, 1)


def test_a_report_between_preview_and_apply_is_no_conflict():
    task = TaskFactory(name="Old")
    sheet = sheet_of(sheet_row(task, name="From the file"))
    preview = schedule_import_preview(sheet=sheet)
    DailyWorkFactory(task=task, volume=Decimal("7"))  # moves the task's volume done and version

    apply(sheet, seen=preview.seen)

    task.refresh_from_db()
    assert (task.name, task.volume_fact) == ("From the file", Decimal("7.000"))


def test_another_field_changed_between_preview_and_apply_is_kept_beside_the_files(
    capture_events,
):
    task = TaskFactory(name="Old", unit="m³")
    sheet = sheet_of(sheet_row(task, name="From the file"))
    preview = schedule_import_preview(sheet=sheet)
    task_update(task=task, data={"unit": "t"}, version=None)  # another user, another field

    with capture_events(expected=1):
        apply(sheet, seen=preview.seen)

    task.refresh_from_db()
    assert (task.name, task.unit) == ("From the file", "t")


def test_keeping_the_apps_values_leaves_the_row_out(capture_events):
    task = TaskFactory()
    row = sheet_row(task, name="From the file")
    task_update(task=task, data={"name": "The app's"}, version=None)
    sheet = sheet_of(row, sheet_row("9.1", row=3))
    preview = schedule_import_preview(sheet=sheet)

    with capture_events(expected=1):
        result = apply(sheet, seen=preview.seen, decisions={2: Decision.APP})

    assert (result.kept, result.created) == (1, 1)
    assert Task.objects.get(pk=task.pk).name == "The app's"


@pytest.mark.parametrize(
    ("meanwhile", "message"),
    [
        ("delete", "deleted in the app since the preview"),
        ("plan", "its plan for 2026-11 changed in the app since the preview"),
        ("create", "created in the app since the preview"),
    ],
)
def test_other_changes_between_preview_and_apply_are_conflicts(meanwhile, message):
    task = TaskFactory()
    sheet = sheet_of(
        sheet_row(task, name="New", monthly_plans={NOVEMBER: Decimal(5)}), sheet_row("9.1", row=3)
    )
    preview = schedule_import_preview(sheet=sheet)
    if meanwhile == "delete":
        task.delete()
    elif meanwhile == "plan":
        MonthlyTaskFactory(task=task, month=NOVEMBER)
    else:
        TaskFactory(code="9.1")
    before = Event.objects.latest_id()

    with pytest.raises(ImportConflict) as refused:
        apply(sheet, seen=preview.seen)

    assert message in [conflict.message for conflict in refused.value.problems]
    assert Event.objects.latest_id() == before


def test_an_error_at_apply_on_row_900_leaves_rows_1_to_899_unwritten(capture_events):
    rows = [sheet_row(f"5.{n}", row=n + 1) for n in range(1, 900)]
    bad = sheet_row("5.900", row=901, end_date=datetime.date(2026, 1, 1))
    sheet = sheet_of(*rows, bad)
    seen = schedule_import_preview(sheet=sheet_of(*rows)).seen

    with capture_events(expected=0), pytest.raises(ImportInvalid) as refused:
        apply(sheet, seen=seen)

    assert refused.value.problems == [
        "Row 901 (5.900): End: The end date cannot be before the start date."
    ]
    assert not Task.objects.exists()


def test_rows_in_error_refuse_the_whole_apply():
    sheet = sheet_of(
        sheet_row("9.1"),
        invalid=[InvalidRow(row=3, code=None, errors=[CellError("E3", "not a date")])],
    )

    with pytest.raises(ImportInvalid) as refused:
        apply(sheet)

    assert refused.value.problems == ["Row 3: E3: not a date"]
    assert not Task.objects.exists()


def test_tasks_missing_from_the_file_are_kept_unless_deleting_them_is_asked(capture_events):
    kept, missing = TaskFactory.create_batch(2)
    work = DailyWorkFactory(task=missing)
    sheet = sheet_of(sheet_row(kept))
    preview = schedule_import_preview(sheet=sheet)

    with capture_events(expected=0):
        apply(sheet, seen=preview.seen)
    assert Task.objects.count() == 2

    with capture_events(expected=2) as events:
        result = apply(sheet, seen=preview.seen, delete_missing=True)

    assert result.deleted == 1
    assert {(event.type, event.object_id) for event in events} == {
        ("task_deleted", missing.pk),
        ("daily_work_deleted", work.pk),
    }
    assert list(Task.objects.all()) == [kept]


def test_a_missing_task_changed_since_the_preview_is_not_deleted_unseen():
    kept, missing = TaskFactory.create_batch(2)
    sheet = sheet_of(sheet_row(kept))
    preview = schedule_import_preview(sheet=sheet)
    task_update(task=missing, data={"name": "Still needed"}, version=None)

    with pytest.raises(ImportConflict, match="Deletion"):
        apply(sheet, seen=preview.seen, delete_missing=True)

    assert Task.objects.count() == 2


def test_a_task_created_after_the_preview_is_not_deleted_as_missing():
    sheet = sheet_of(sheet_row("9.1"))
    preview = schedule_import_preview(sheet=sheet)
    later = TaskFactory()

    apply(sheet, seen=preview.seen, delete_missing=True)

    assert set(Task.objects.values_list("code", flat=True)) == {"9.1", later.code}


def test_the_plan_between_the_two_steps_survives_its_data_form():
    task = TaskFactory()
    MonthlyTaskFactory(task=task, month=NOVEMBER)
    sheet = sheet_of(
        sheet_row(
            task,
            estimated_cost=Decimal("12.50"),
            monthly_plans={NOVEMBER: Decimal("1.500"), DECEMBER: Decimal(2)},
        ),
        sheet_row("9.1", row=3),
        invalid=[InvalidRow(row=4, code="x", errors=[CellError("C4", "not a number")])],
    )
    seen = schedule_import_preview(sheet=sheet).seen
    exported = dataclasses.replace(sheet, exported_at=timezone.now())

    assert plan_from_data(plan_to_data(sheet=sheet, seen=seen)) == (sheet, seen)
    assert plan_from_data(plan_to_data(sheet=exported, seen=seen)) == (exported, seen)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_an_exported_schedule_imported_unchanged_is_unchanged_and_applying_it_changes_nothing(
    capture_events, language
):
    first = TaskFactory(code="1.1", estimated_cost=Decimal("1200.50"))
    TaskFactory(code="1.2", volume_plan=Decimal("12.345"), unit="t")
    TaskFactory(code="2.1")
    MonthlyTaskFactory(task=first, month=NOVEMBER, volume_plan=Decimal("33.333"))
    MonthlyTaskFactory(task=first, month=DECEMBER, volume_plan=Decimal("66.667"))
    DailyWorkFactory(task=first)
    versions = dict(Task.objects.values_list("pk", "version"))
    file = io.BytesIO()
    with translation.override(language):
        schedule_workbook(
            file, tasks=Task.objects.all(), today=datetime.date(2026, 11, 15), exported_at="now"
        )
    file.seek(0)

    sheet = read_schedule(file)
    preview = schedule_import_preview(sheet=sheet)
    with capture_events(expected=0):
        result = apply(sheet, seen=preview.seen)

    assert sheet.invalid == []
    assert [(row.code, row.kind) for row in preview.rows] == [
        ("1.1", RowKind.UNCHANGED),
        ("1.2", RowKind.UNCHANGED),
        ("2.1", RowKind.UNCHANGED),
    ]
    assert (preview.missing, result.unchanged) == ([], 3)
    assert dict(Task.objects.values_list("pk", "version")) == versions
    assert set(MonthlyTask.objects.values_list("version", flat=True)) == {1}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_sections_name_travels_in_its_subtotal_row_and_the_import_sets_it(language):
    from openpyxl import load_workbook

    from schedule.models import Section

    task = TaskFactory(code="2.1")
    Section.objects.create(code="2", name="Concrete")
    file = io.BytesIO()
    with translation.override(language):
        schedule_workbook(file, tasks=[task], today=datetime.date(2026, 11, 15), exported_at="")
    file.seek(0)
    workbook = load_workbook(file)
    cell = workbook.active.cell(2, 2)  # the section's subtotal row, its name cell
    cell.value = cell.value.replace("Concrete", "Бетонные работы")
    edited = io.BytesIO()
    workbook.save(edited)
    edited.seek(0)

    sheet = read_schedule(edited)
    result = apply(sheet)

    assert sheet.section_names == {"2": "Бетонные работы"}
    assert [row.code for row in sheet.rows] == ["2.1"]  # the subtotal row is no task
    assert result.sections_named == 1
    assert Section.objects.get(code="2").name == "Бетонные работы"
    assert apply(read_schedule(io.BytesIO(edited.getvalue()))).sections_named == 0


# The write: everything computed before it, unlocked; then a short locked part, in bulk.


@contextmanager
def meanwhile(change):
    """Run ``change`` once the apply has computed its writes and before it locks: another
    user's write in between."""
    planned = import_plans._planned
    calls = []

    def planned_then_change(*args, **kwargs):
        writes = planned(*args, **kwargs)
        if not calls:
            calls.append(True)
            change()
        return writes

    with mock.patch.object(import_plans, "_planned", planned_then_change):
        yield


def test_a_change_made_while_the_apply_computes_is_merged_under_the_lock(capture_events):
    task = TaskFactory(name="Old", unit="m³")
    sheet = sheet_of(sheet_row(task, name="From the file", monthly_plans={NOVEMBER: Decimal(5)}))
    preview = schedule_import_preview(sheet=sheet)

    def report_and_edit():
        DailyWorkFactory(task=task, volume=Decimal("7"))
        task_update(task=Task.objects.get(pk=task.pk), data={"unit": "t"}, version=None)

    with meanwhile(report_and_edit), capture_events() as events:
        apply(sheet, seen=preview.seen)

    task.refresh_from_db()
    assert (task.name, task.unit, task.volume_fact) == ("From the file", "t", Decimal("7.000"))
    assert [event.type for event in events][-2:] == ["task_updated", "monthly_task_created"]
    assert events[-2].data["version"] == task.version
    assert events[-2].data["unit"] == "t"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("delete", "deleted in the app since the preview"),
        ("create", "created in the app since the preview"),
        ("plan", "its plan for 2026-11 changed in the app since the preview"),
        ("rename", "created in the app since the preview"),
    ],
)
def test_a_conflict_made_while_the_apply_computes_refuses_it_whole(change, message):
    task = TaskFactory()
    sheet = sheet_of(
        sheet_row(task, name="New", monthly_plans={NOVEMBER: Decimal(5)}), sheet_row("9.1", row=3)
    )
    preview = schedule_import_preview(sheet=sheet)
    changes = {
        "delete": lambda: Task.objects.get(pk=task.pk).delete(),
        "create": lambda: TaskFactory(code="9.1"),
        "plan": lambda: MonthlyTaskFactory(task=task, month=NOVEMBER),
        "rename": lambda: task_update(task=task, data={"code": "9.1"}, version=None),
    }

    with meanwhile(changes[change]), pytest.raises(ImportConflict) as refused:
        apply(sheet, seen=preview.seen)

    assert message in [conflict.message for conflict in refused.value.problems]
    assert not Task.objects.filter(name__in=["New", "Work 9.1"]).exists()
    assert not Change.objects.filter(via="import").exists()


def test_the_write_is_a_few_statements_whatever_the_number_of_rows(planner):
    def statements(count: int, first: int) -> int:
        rows = [
            sheet_row(f"{first}.{n}", row=n + 1, monthly_plans={NOVEMBER: Decimal(n)})
            for n in range(1, count + 1)
        ]
        sheet = sheet_of(*rows)
        seen = schedule_import_preview(sheet=sheet).seen
        with CaptureQueriesContext(connection) as queries:
            apply(sheet, seen=seen, actor=planner)
        return len(queries)

    few, many = statements(5, 1), statements(400, 2)

    assert Task.objects.count() == 405
    assert many < few + 30


def test_the_bulk_write_records_the_events_and_history_a_save_would(planner):
    changed = TaskFactory(name="Old")
    plan = MonthlyTaskFactory(task=changed, month=NOVEMBER, volume_plan=Decimal(3))
    sheet = sheet_of(
        *numbered(
            sheet_row(changed, name="New", monthly_plans={NOVEMBER: Decimal(4)}),
            sheet_row("9.1", monthly_plans={DECEMBER: Decimal(6)}),
        )
    )
    before = Event.objects.latest_id()

    apply(sheet, actor=planner)

    events = list(Event.objects.filter(id__gt=before))
    new = Task.objects.get(code="9.1")
    changed.refresh_from_db()
    plan.refresh_from_db()
    new_plan = MonthlyTask.objects.get(task=new)
    assert [(event.type, event.object_id) for event in events] == [
        ("task_updated", changed.pk),
        ("monthly_task_updated", plan.pk),
        ("task_created", new.pk),
        ("monthly_task_created", new_plan.pk),
    ]
    assert [event.data for event in events] == [
        dict(TaskSerializer(changed).data),
        dict(MonthlyTaskSerializer(plan).data),
        dict(TaskSerializer(new).data),
        dict(MonthlyTaskSerializer(new_plan).data),
    ]
    history = list(
        Change.objects.filter(event_id__in=[event.id for event in events]).order_by("event_id")
    )
    assert [(c.kind, c.version, c.via, c.actor, c.at) for c in history] == [
        ("updated", changed.version, "import", planner, events[0].created_at),
        ("updated", plan.version, "import", planner, events[1].created_at),
        ("created", 1, "import", planner, events[2].created_at),
        ("created", 1, "import", planner, events[3].created_at),
    ]
    assert history[0].fields == {"name": ["Old", "New"]}
    assert history[1].fields == {"volume_plan": ["3.000", "4.000"]}
    assert history[2].fields["id"] == [None, new.pk]
    assert history[3].fields["task"] == [None, new.pk]
    assert history[3].subject == {
        "code": "9.1",
        "name": "Work 9.1",
        "unit": "m³",
        "month": "2026-12",
        "volume_plan": "6.000",
    }
    assert {event.actor for event in events} == {planner}


def test_an_apply_writing_more_than_the_limit_is_refused_before_anything_is_written(settings):
    settings.SPREADSHEET_IMPORT_MAX_WRITES = 3
    task = TaskFactory()
    sheet = sheet_of(
        *numbered(
            sheet_row(task, name="New", monthly_plans={NOVEMBER: Decimal(5)}),
            sheet_row("9.1", monthly_plans={NOVEMBER: Decimal(6)}),
        )
    )
    preview = schedule_import_preview(sheet=sheet)
    message = (
        "Applying this file would write 4 tasks and monthly plans, more than the 3 written at "
        "once (others' changes wait meanwhile): split it into smaller files."
    )

    with pytest.raises(ImportInvalid) as refused:
        apply(sheet, seen=preview.seen)

    assert (preview.writes, preview.too_many_writes) == (4, message)
    assert refused.value.problems == [message]
    assert not MonthlyTask.objects.exists()
    assert Task.objects.get().name == task.name


def test_deleting_missing_tasks_records_what_deleting_each_task_would(planner, foreman):
    kept, missing, other = TaskFactory.create_batch(3)
    works = [
        DailyWorkFactory(task=missing, date=datetime.date(2026, 11, day), created_by=foreman)
        for day in (2, 3)
    ]
    plans = [MonthlyTaskFactory(task=missing, month=month) for month in (NOVEMBER, DECEMBER)]
    DailyWorkFactory(task=other)
    sheet = sheet_of(sheet_row(kept))
    preview = schedule_import_preview(sheet=sheet)
    expected = [
        ("monthly_task_deleted", plans[1].pk, dict(MonthlyTaskSerializer(plans[1]).data)),
        ("monthly_task_deleted", plans[0].pk, dict(MonthlyTaskSerializer(plans[0]).data)),
        ("daily_work_deleted", works[1].pk, dict(DailyWorkSerializer(works[1]).data)),
        ("daily_work_deleted", works[0].pk, dict(DailyWorkSerializer(works[0]).data)),
        ("task_deleted", missing.pk, dict(TaskSerializer(Task.objects.get(pk=missing.pk)).data)),
    ]
    before = Event.objects.latest_id()

    result = apply(sheet, seen=preview.seen, delete_missing=True, actor=planner)

    events = list(
        Event.objects.filter(
            id__gt=before,
            object_id__in=[p.pk for p in plans] + [w.pk for w in works] + [missing.pk],
        )
    )
    assert [(event.type, event.object_id, event.data) for event in events][-5:] == expected
    history = Change.objects.filter(event_id__in=[event.id for event in events])
    assert {(change.kind, change.via, change.actor) for change in history} == {
        ("deleted", "import", planner)
    }
    assert result.deleted == 2
    assert list(Task.objects.all()) == [kept]
    assert not DailyWork.objects.exists() and not MonthlyTask.objects.exists()


def test_a_report_corrected_while_the_apply_computes_is_deleted_as_it_is_then():
    kept, missing = TaskFactory.create_batch(2)
    work = DailyWorkFactory(task=missing, description="first")
    sheet = sheet_of(sheet_row(kept))
    preview = schedule_import_preview(sheet=sheet)

    def correct():
        daily_work_update(daily_work=work, data={"description": "corrected"}, version=None)

    before = Event.objects.latest_id()
    with meanwhile(correct):
        apply(sheet, seen=preview.seen, delete_missing=True)

    deleted = Event.objects.get(id__gt=before, type="daily_work_deleted")
    assert deleted.data["description"] == "corrected"
    assert not Task.objects.filter(pk=missing.pk).exists()


def test_a_missing_task_deleted_while_the_apply_computes_is_not_deleted_again(capture_events):
    kept, missing = TaskFactory.create_batch(2)
    DailyWorkFactory(task=missing)
    sheet = sheet_of(sheet_row(kept))
    preview = schedule_import_preview(sheet=sheet)

    with meanwhile(lambda: Task.objects.get(pk=missing.pk).delete()), capture_events() as events:
        result = apply(sheet, seen=preview.seen, delete_missing=True)

    assert [event.type for event in events].count("task_deleted") == 1
    assert result.deleted == 0
    assert list(Task.objects.all()) == [kept]
