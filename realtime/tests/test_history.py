"""Every write path records its changes in the history, in the write's transaction: who, through
what, and each field's old and new REST representation; ``object_values_at`` reads them back."""

import datetime
import subprocess
import sys
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import Workbook

from daily.models import DailyWork
from daily.services import daily_work_create
from daily.tests.factories import DailyWorkFactory
from monthly.models import MonthlyTask
from monthly.tests.factories import MonthlyTaskFactory
from realtime.context import writing_via
from realtime.history import object_values_at
from realtime.models import Change, Event
from schedule.models import CalendarDay, Task
from schedule.services import task_recalculate_volume_fact, task_update
from schedule.tests.factories import TaskFactory
from scheduler_project.tests.subprocesses import subprocess_env

pytestmark = pytest.mark.django_db


def changes_after(change_id: int) -> list[Change]:
    return list(Change.objects.filter(id__gt=change_id).order_by("id"))


def last_change_id() -> int:
    return Change.objects.order_by("-id").values_list("id", flat=True).first() or 0


def summary(change: Change) -> tuple:
    return (change.stream, change.object_id, change.kind, change.version, change.via)


def test_a_rest_update_records_who_via_the_api_and_each_changed_field(api_client, planner):
    task = TaskFactory(name="Old name")
    before = last_change_id()

    response = api_client.patch(f"/api/tasks/{task.pk}/", {"name": "New name"}, format="json")

    assert response.status_code == 200
    [change] = changes_after(before)
    assert summary(change) == ("tasks", task.pk, "updated", 2, "api")
    assert (change.actor, change.actor_username) == (planner, planner.username)
    assert change.fields == {"name": ["Old name", "New name"]}
    assert change.object_repr == f"{task.code} New name"
    assert change.event_id == Event.objects.latest_id()
    assert change.at == Event.objects.get(id=change.event_id).created_at


def test_a_rest_create_and_delete_record_every_field_from_and_to_null(api_client):
    task = TaskFactory()
    before = last_change_id()

    created = api_client.post(
        "/api/monthly-tasks/", {"task": task.pk, "month": "2027-01", "volume_plan": "12.5"}
    ).json()
    api_client.delete(f"/api/monthly-tasks/{created['id']}/")

    added, deleted = changes_after(before)
    # Not recorded: version and updated_at (the row's own columns say them), and the answer's
    # warnings (the writer's alone).
    expected = {k: v for k, v in created.items() if k not in {"version", "updated_at", "warnings"}}
    assert (added.kind, added.version, added.via) == ("created", 1, "api")
    assert added.fields == {name: [None, value] for name, value in expected.items()}
    assert (deleted.kind, deleted.version) == ("deleted", 1)
    assert deleted.fields == {name: [value, None] for name, value in expected.items()}


def test_a_schedule_task_form_records_its_change_via_the_schedule(client, planner):
    task = TaskFactory(code="1.1", name="Old", volume_plan=Decimal("100"))
    client.force_login(planner)
    before = last_change_id()

    response = client.post(
        reverse("schedule:task_update", args=[task.pk]),
        {
            "code": "1.1",
            "name": "New",
            "unit": task.unit,
            "volume_plan": "120.5",
            "start_date": "2026-11-01",
            "end_date": "2026-12-31",
            "version": task.version,
        },
    )

    assert response.status_code == 302
    [change] = changes_after(before)
    assert summary(change) == ("tasks", task.pk, "updated", 2, "schedule")
    assert change.actor == planner
    assert change.fields == {
        "name": ["Old", "New"],
        "volume_plan": ["100.000", "120.500"],
    }


def test_an_admin_form_records_its_change_via_the_admin(client):
    admin = get_user_model().objects.create_superuser("boss", "b@example.com", "pw-12345-x")
    client.force_login(admin)
    plan = MonthlyTaskFactory(volume_plan=Decimal("5"))
    before = last_change_id()

    response = client.post(
        reverse("admin:monthly_monthlytask_change", args=[plan.pk]),
        {
            "task": plan.task_id,
            "month": plan.month.isoformat(),
            "volume_plan": "8",
            "version": plan.version,
        },
    )

    assert response.status_code == 302, response.content
    [change] = changes_after(before)
    assert summary(change) == ("monthly_tasks", plan.pk, "updated", 2, "admin")
    assert change.actor == admin
    assert change.fields == {"volume_plan": ["5.000", "8.000"]}


DAY = "2026-11-25"


def _daily_form(client, task):
    return client.post(
        reverse("daily:daily_work_create"), {"task": task.pk, "date": DAY, "volume": "2.5"}
    )


def _msg_cell(client, task):
    return client.post(
        reverse("monthly:cell_create"), {"task": task.pk, "date": DAY, "volume": "2.5"}
    )


def _msg_plan(client, task):
    return client.post(
        reverse("monthly:monthly_task_create"),
        {"task": task.pk, "month": "2026-11", "volume_plan": "30"},
    )


def _admin_form(client, task):
    return client.post(
        reverse("admin:daily_dailywork_add"), {"task": task.pk, "date": DAY, "volume": "2.5"}
    )


def _api(source):
    def send(client, task):
        headers = {} if source is None else {"X-Source": source}
        body = {"task": task.pk, "date": DAY, "volume": "2.5"}
        return client.post(
            "/api/daily-works/", body, content_type="application/json", headers=headers
        )

    return send


@pytest.mark.parametrize(
    ("send", "via"),
    [
        pytest.param(_daily_form, "daily", id="daily page form"),
        pytest.param(_msg_cell, "msg", id="МСГ day cell"),
        pytest.param(_msg_plan, "msg", id="МСГ plan form"),
        pytest.param(_admin_form, "admin", id="admin"),
        pytest.param(_api(None), "api", id="API"),
        pytest.param(_api("daily"), "daily", id="API sent by the daily page's outbox"),
        pytest.param(_api("msg"), "msg", id="API sent by the МСГ"),
        pytest.param(_api("telepathy"), "api", id="API with an unknown source"),
        pytest.param(_api("Daily"), "api", id="API with a source in the wrong case"),
        pytest.param(_api("admin"), "api", id="API claiming the admin"),
    ],
)
def test_a_change_records_the_page_it_came_from(client, send, via):
    admin = get_user_model().objects.create_superuser("boss", "b@example.com", "pw-12345-x")
    client.force_login(admin)
    task = TaskFactory(start_date=datetime.date(2026, 11, 1), end_date=datetime.date(2026, 11, 30))
    before = last_change_id()

    response = send(client, task)

    assert response.status_code in {201, 302}, response.content
    made = [change for change in changes_after(before) if change.caused_by is None]
    assert [(change.kind, change.via) for change in made] == [("created", via)]


def test_bare_orm_code_records_via_script_with_no_actor():
    task = TaskFactory(unit="m")
    before = last_change_id()

    task.unit = "t"
    task.save()
    task.unit = "kg"
    task.save()

    first, second = changes_after(before)
    assert summary(first) == ("tasks", task.pk, "updated", 2, "script")
    assert (first.fields, second.fields) == ({"unit": ["m", "t"]}, {"unit": ["t", "kg"]})
    assert (first.actor, first.actor_username) == (None, "")


def test_a_save_reads_nothing_but_writes_one_history_row(planner):
    task = TaskFactory()
    locked = Task.objects.get(pk=task.pk)

    with CaptureQueriesContext(connection) as queries:
        task_update(task=locked, data={"name": "Renamed"}, version=locked.version)

    inserts = [q["sql"] for q in queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 2  # the event and its change
    assert not any("realtime_change" in q["sql"] and "SELECT" in q["sql"] for q in queries)


def test_an_object_built_by_hand_records_what_its_save_replaced():
    task = TaskFactory(name="Stored")
    by_hand = Task(**{f.attname: getattr(task, f.attname) for f in Task._meta.concrete_fields})
    by_hand._state.adding = False
    by_hand.name = "By hand"
    before = last_change_id()

    by_hand.save()

    [change] = changes_after(before)
    assert change.fields == {"name": ["Stored", "By hand"]}


def test_a_daily_work_records_the_volume_fact_it_changes_on_its_task(foreman):
    task = TaskFactory()
    before = last_change_id()

    daily_work_create(
        data={"task": task, "date": datetime.date(2026, 11, 2), "volume": Decimal("4")},
        actor=foreman,
    )

    work, task_change = changes_after(before)
    assert (work.stream, task_change.stream) == ("daily_works", "tasks")
    assert summary(task_change) == ("tasks", task.pk, "updated", 2, "script")
    assert task_change.actor == foreman
    assert task_change.fields == {
        "volume_fact": ["0.000", "4.000"],
        "progress_percent": ["0.0", "4.0"],
    }
    assert (work.caused_by, task_change.caused_by) == (None, work.pk)
    work_event, task_event = Event.objects.filter(id__in=[work.event_id, task_change.event_id])
    assert (work_event.cause, task_event.cause) == (None, work_event.id)
    assert "cause" not in work_event.to_frame()
    assert task_event.to_frame()["cause"] == work_event.id


def test_moving_a_report_to_another_task_is_the_cause_of_both_recalculations():
    first, second = TaskFactory(code="1.1"), TaskFactory(code="1.2")
    work = DailyWorkFactory(task=first, volume=Decimal("3"))
    work = DailyWork.objects.get(pk=work.pk)
    before = last_change_id()

    work.task = second
    work.save()

    moved, *recalculated = changes_after(before)
    assert moved.stream == "daily_works"
    assert sorted((c.object_id, c.caused_by) for c in recalculated) == [
        (first.pk, moved.pk),
        (second.pk, moved.pk),
    ]


def test_each_of_many_reports_deleted_at_once_causes_its_own_tasks_recalculation():
    first, second = TaskFactory(), TaskFactory()
    DailyWorkFactory(task=first, volume=Decimal("1"))
    DailyWorkFactory(task=second, volume=Decimal("2"))
    before = last_change_id()

    DailyWork.objects.all().delete()

    changes = changes_after(before)
    reports = {c.fields["task"][0]: c.pk for c in changes if c.stream == "daily_works"}
    recalculated = {c.object_id: c.caused_by for c in changes if c.stream == "tasks"}
    assert recalculated == reports == {first.pk: reports[first.pk], second.pk: reports[second.pk]}


def test_a_recalculation_after_several_reports_on_its_task_at_once_has_no_single_cause():
    task = TaskFactory()
    DailyWorkFactory.create_batch(2, task=task, volume=Decimal("1"))
    before = last_change_id()

    DailyWork.objects.filter(task=task).delete()

    changes = changes_after(before)
    assert [(c.stream, c.caused_by) for c in changes] == [
        ("daily_works", None),
        ("daily_works", None),
        ("tasks", None),  # 2 → 0: neither deletion alone
    ]
    assert changes[-1].fields["volume_fact"] == ["2.000", "0.000"]


def test_a_recalculation_outside_a_report_and_an_edit_of_a_task_have_no_cause(planner):
    task = TaskFactory()
    DailyWorkFactory(task=task, volume=Decimal("5"))
    Task.objects.filter(pk=task.pk).update(volume_fact=Decimal("0"))  # made wrong by hand
    before = last_change_id()

    task_recalculate_volume_fact(task_ids=[task.pk])
    task_update(task=Task.objects.get(pk=task.pk), data={"name": "Edited"}, version=None)

    recalculated, edited = changes_after(before)
    assert recalculated.fields["volume_fact"] == ["0.000", "5.000"]
    assert (recalculated.caused_by, edited.caused_by) == (None, None)


@pytest.mark.parametrize(
    ("make", "subject"),
    [
        (
            lambda task: task,
            {"code": "4.4", "name": "Кладка стен", "unit": "м³"},
        ),
        (
            lambda task: DailyWorkFactory(
                task=task, date=datetime.date(2026, 12, 7), volume=Decimal("23.7")
            ),
            {
                "code": "4.4",
                "name": "Кладка стен",
                "unit": "м³",
                "date": "2026-12-07",
                "volume": "23.700",
            },
        ),
        (
            lambda task: MonthlyTaskFactory(
                task=task, month=datetime.date(2026, 12, 1), volume_plan=Decimal("505")
            ),
            {
                "code": "4.4",
                "name": "Кладка стен",
                "unit": "м³",
                "month": "2026-12",
                "volume_plan": "505.000",
            },
        ),
    ],
)
def test_a_change_records_what_names_its_object_and_a_deletion_its_last_values(make, subject):
    task = TaskFactory(code="4.4", name="Кладка стен", unit="м³")
    obj = make(task)
    obj = type(obj).objects.get(pk=obj.pk)
    before = last_change_id()

    obj.delete()

    deleted = next(c for c in changes_after(before) if c.kind == "deleted")
    created = Change.objects.get(stream=deleted.stream, object_id=deleted.object_id, kind="created")
    assert deleted.subject == created.subject == subject


def test_moving_a_daily_work_records_both_tasks_codes():
    first, second = TaskFactory(code="1.1"), TaskFactory(code="1.2")
    work = DailyWorkFactory(task=first)
    work = DailyWork.objects.get(pk=work.pk)
    before = last_change_id()

    work.task = second
    work.save()

    [moved] = [c for c in changes_after(before) if c.stream == "daily_works"]
    assert moved.fields == {"task": [first.pk, second.pk], "task_code": ["1.1", "1.2"]}


def test_a_queryset_update_records_each_rows_old_values():
    first, second = TaskFactory(name="A"), TaskFactory(name="B")
    before = last_change_id()

    Task.objects.filter(pk__in=[first.pk, second.pk]).update(name="Same")

    assert [(c.object_id, c.version, c.fields) for c in changes_after(before)] == [
        (first.pk, 2, {"name": ["A", "Same"]}),
        (second.pk, 2, {"name": ["B", "Same"]}),
    ]


def test_bulk_create_and_bulk_update_record_each_row():
    task = TaskFactory()
    before = last_change_id()

    plans = MonthlyTask.objects.bulk_create(
        [
            MonthlyTask(task=task, month=datetime.date(2026, 11, 1), volume_plan=1),
            MonthlyTask(task=task, month=datetime.date(2026, 12, 1), volume_plan=2),
        ]
    )
    for plan in plans:
        plan.volume_plan = Decimal(7)
    MonthlyTask.objects.bulk_update(plans, ["volume_plan"])
    plans[0].volume_plan = Decimal(8)
    plans[0].save()

    changes = changes_after(before)
    assert [(c.kind, c.version) for c in changes] == [
        ("created", 1),
        ("created", 1),
        ("updated", 2),
        ("updated", 2),
        ("updated", 3),
    ]
    assert changes[0].fields["volume_plan"] == [None, "1.000"]
    assert [c.fields for c in changes[2:]] == [
        {"volume_plan": ["1.000", "7.000"]},
        {"volume_plan": ["2.000", "7.000"]},
        {"volume_plan": ["7.000", "8.000"]},
    ]


def test_a_queryset_delete_records_each_row_and_a_cascade_its_children():
    task = TaskFactory()
    plan = MonthlyTaskFactory(task=task)
    work = DailyWorkFactory(task=task)
    before = last_change_id()

    Task.objects.filter(pk=task.pk).delete()

    deleted = {(c.stream, c.object_id) for c in changes_after(before) if c.kind == "deleted"}
    assert deleted == {("tasks", task.pk), ("monthly_tasks", plan.pk), ("daily_works", work.pk)}


def test_calendar_days_are_recorded_too():
    day = CalendarDay.objects.create(date=datetime.date(2026, 1, 17), is_working=True)
    day.note = "Transferred Saturday"
    day.save()

    assert [(c.stream, c.kind, c.fields.get("note")) for c in Change.objects.order_by("id")] == [
        ("calendar_days", "created", [None, ""]),
        ("calendar_days", "updated", ["", "Transferred Saturday"]),
    ]


def test_a_rolled_back_write_records_nothing():
    task = TaskFactory()
    before = last_change_id()

    with pytest.raises(RuntimeError), transaction.atomic():
        task.name = "Never"
        task.save()
        TaskFactory()
        raise RuntimeError("abort")

    assert changes_after(before) == []


def test_a_rolled_back_savepoint_keeps_only_what_committed():
    task = TaskFactory(name="A")
    before = last_change_id()

    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            Task.objects.filter(pk=task.pk).update(name="Never")
            raise RuntimeError("abort")
        Task.objects.filter(pk=task.pk).update(name="B")

    assert [c.fields for c in changes_after(before)] == [{"name": ["A", "B"]}]


def write_sheet(tmp_path: Path, task: Task, name: str) -> Path:
    workbook = Workbook()
    workbook.active.append(["Code", "Name", "Unit", "Planned volume", "Start", "End", "Version"])
    workbook.active.append(
        [task.code, name, task.unit, 100, task.start_date, task.end_date, task.version]
    )
    path = tmp_path / "schedule.xlsx"
    workbook.save(path)
    return path


def test_the_import_records_its_changes_via_the_import(tmp_path):
    task = TaskFactory(name="Old")
    path = write_sheet(tmp_path, task, "Imported")
    before = last_change_id()

    with writing_via("page"):  # the upload's request: the import says what it is
        call_command("import_schedule", str(path), stdout=StringIO(), stderr=StringIO())

    [change] = changes_after(before)
    assert summary(change) == ("tasks", task.pk, "updated", 2, "import")
    assert change.fields == {"name": ["Old", "Imported"]}


@pytest.mark.django_db(transaction=True)
def test_orm_code_in_another_process_records_via_script():
    task = TaskFactory(name="Before")
    code = (
        "from schedule.models import Task\n"
        f"task = Task.objects.get(pk={task.pk})\n"
        "task.name = 'From a shell'\n"
        "task.save()\n"
    )

    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=settings.BASE_DIR,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    change = Change.objects.get(stream="tasks", object_id=task.pk, kind="updated")
    assert (change.version, change.via, change.actor) == (2, "script", None)
    assert change.fields == {"name": ["Before", "From a shell"]}


def test_writing_via_refuses_an_unknown_way_in():
    with pytest.raises(ValueError), writing_via("telepathy"):
        pass


# object_values_at
def task_with_history() -> tuple[Task, dict]:
    """A task at version 4: name A → B (v2), unit m → t (v3), name B → C (v4)."""
    task = TaskFactory(name="A", unit="m")
    for field, value in [("name", "B"), ("unit", "t"), ("name", "C")]:
        setattr(task, field, value)
        task.save()
    current = {"id": task.pk, "name": "C", "unit": "t", "version": 4, "code": task.code}
    return task, current


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (4, {"name": "C", "unit": "t", "version": 4}),
        (3, {"name": "B", "unit": "t", "version": 3}),
        (2, {"name": "B", "unit": "m", "version": 2}),
        (1, {"name": "A", "unit": "m", "version": 1}),
    ],
)
def test_object_values_at_rolls_the_current_values_back(version, expected):
    task, current = task_with_history()

    values = object_values_at(
        stream="tasks", object_id=task.pk, version=version, current=current, current_version=4
    )

    assert values == current | expected


@pytest.mark.parametrize(
    ("missing_version", "asked", "reaches"),
    [
        (3, 1, False),  # the gap lies between
        (3, 2, False),
        (2, 2, True),  # the gap lies before: not needed
        (2, 3, True),
        (4, 3, False),
    ],
)
def test_object_values_at_is_none_when_a_version_between_is_missing(
    missing_version, asked, reaches
):
    task, current = task_with_history()
    Change.objects.filter(stream="tasks", object_id=task.pk, version=missing_version).delete()

    values = object_values_at(
        stream="tasks", object_id=task.pk, version=asked, current=current, current_version=4
    )

    assert (values is not None) is reaches


@pytest.mark.parametrize("version", [0, 5, -1])
def test_object_values_at_is_none_for_a_version_the_object_never_had(version):
    task, current = task_with_history()

    assert (
        object_values_at(
            stream="tasks", object_id=task.pk, version=version, current=current, current_version=4
        )
        is None
    )


def test_object_values_at_is_none_for_an_object_older_than_the_history():
    task, current = task_with_history()
    Change.objects.all().delete()

    assert (
        object_values_at(
            stream="tasks", object_id=task.pk, version=2, current=current, current_version=4
        )
        is None
    )


def test_object_values_at_reads_other_streams_apart():
    task = TaskFactory()
    plan = MonthlyTaskFactory(task=task, volume_plan=Decimal(1))
    plan.volume_plan = Decimal(2)
    plan.save()

    assert object_values_at(
        stream="monthly_tasks",
        object_id=plan.pk,
        version=1,
        current={"volume_plan": "2.000", "version": 2},
        current_version=2,
    ) == {"volume_plan": "1.000", "version": 1}
    assert (
        object_values_at(
            stream="tasks",
            object_id=plan.pk,
            version=1,
            current={"volume_plan": "2.000", "version": 2},
            current_version=2,
        )
        is None
    )
