from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import CheckConstraint, F, Q
from django.db.models.signals import post_save
from django.db.transaction import TransactionManagementError

from daily.services import daily_work_create
from daily.tests.factories import DailyWorkFactory
from monthly.models import MonthlyTask
from monthly.tests.factories import MonthlyTaskFactory
from realtime.models import Change
from schedule.models import Task
from schedule.services import task_update
from schedule.tests.factories import TaskFactory
from scheduler_project.versioning import (
    FieldConflict,
    VersionConflict,
    check_in_python,
    merge_fields,
    unaffected_fields,
    versioned_delete,
    versioned_update,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (TaskFactory, "Task was changed by someone else."),
        (MonthlyTaskFactory, "Monthly order was changed by someone else."),
        (DailyWorkFactory, "Daily work was changed by someone else."),
    ],
)
def test_a_conflict_names_the_kind_of_object_and_carries_the_stored_one(factory, message):
    instance = factory()
    type(instance).objects.filter(pk=instance.pk).update()

    with pytest.raises(VersionConflict) as conflict:
        versioned_delete(instance=instance, version=1)

    assert str(conflict.value) == message
    assert conflict.value.current.version == 2


@pytest.mark.parametrize("factory", [TaskFactory, MonthlyTaskFactory, DailyWorkFactory])
def test_a_queryset_update_bumps_the_version_of_each_row(factory):
    rows = factory.create_batch(2)
    model = type(rows[0])

    model.objects.filter(pk__in=[row.pk for row in rows]).update()

    assert [row.version for row in model.objects.order_by("pk")] == [2, 2]


def test_a_bulk_update_bumps_the_version_of_each_row():
    plans = MonthlyTaskFactory.create_batch(2)
    for plan in plans:
        plan.volume_plan = Decimal(3)

    MonthlyTask.objects.bulk_update(plans, ["volume_plan"])

    assert list(MonthlyTask.objects.values_list("volume_plan", "version")) == [(Decimal(3), 2)] * 2


def test_updating_a_row_deleted_meanwhile_raises_does_not_exist():
    task = TaskFactory()
    Task.objects.filter(pk=task.pk).delete()

    with pytest.raises(Task.DoesNotExist):
        versioned_update(instance=task, data={"name": "Too late"}, version=None)


def test_deleting_a_row_deleted_meanwhile_raises_does_not_exist():
    plan = MonthlyTaskFactory()
    MonthlyTask.objects.filter(pk=plan.pk).delete()

    with pytest.raises(MonthlyTask.DoesNotExist):
        versioned_delete(instance=plan, version=None)


def test_an_update_still_checks_a_constraint_its_field_shares_with_an_unchanged_one():
    plan = MonthlyTaskFactory()
    other = MonthlyTaskFactory(month=plan.month)

    with pytest.raises(ValidationError) as error:
        versioned_update(instance=other, data={"task": plan.task}, version=None)

    assert "This task already has a plan for this month." in str(error.value)


def test_an_update_still_checks_a_rule_on_two_fields_when_one_changes():
    task = TaskFactory(start_date=date(2026, 3, 1), end_date=date(2026, 3, 31))

    with pytest.raises(ValidationError) as error:
        versioned_update(instance=task, data={"end_date": date(2026, 2, 1)}, version=None)

    assert "end_date" in error.value.message_dict


def test_an_update_skips_only_the_rules_of_fields_it_leaves_alone():
    assert "month" not in unaffected_fields(MonthlyTask, {"task"})
    assert "task" not in unaffected_fields(MonthlyTask, {"month"})
    assert {"task", "month"} <= unaffected_fields(MonthlyTask, {"volume_plan"})
    assert "start_date" not in unaffected_fields(Task, {"end_date"})
    assert "code" in unaffected_fields(Task, {"volume_plan"})


def _bulk_create_tasks(tasks: list[Task]) -> None:
    Task.objects.bulk_create([TaskFactory.build(code=f"9.{task.pk}") for task in tasks])


def _update_tasks(tasks: list[Task]) -> None:
    Task.objects.update(name="Renamed")


def _bulk_update_tasks(tasks: list[Task]) -> None:
    for task in tasks:
        task.code = f"9.{task.pk}"
    Task.objects.bulk_update(tasks, ["code"])


@pytest.mark.parametrize("bulk_write", [_bulk_create_tasks, _update_tasks, _bulk_update_tasks])
def test_bulk_paths_send_no_post_save_for_rows_never_saved_one_by_one(bulk_write):
    tasks = TaskFactory.create_batch(2)
    saves = []

    def receiver(sender, instance, **kwargs) -> None:
        saves.append(instance)

    post_save.connect(receiver, sender=Task, weak=False, dispatch_uid="test.bulk")
    try:
        bulk_write(tasks)
    finally:
        post_save.disconnect(sender=Task, dispatch_uid="test.bulk")

    assert saves == []


# Check constraints evaluated in Python: the same verdicts and messages as the database's.


def database_errors(instance: models.Model, exclude: set[str]) -> dict[str, list[str]]:
    """Django's own validation: every check constraint asked of the database."""
    try:
        models.Model.validate_constraints(instance, exclude=exclude)
    except ValidationError as error:
        return error.message_dict
    return {}


def python_errors(instance: models.Model, exclude: set[str]) -> dict[str, list[str]]:
    try:
        instance.validate_constraints(exclude=exclude)
    except ValidationError as error:
        return error.message_dict
    return {}


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"volume_plan": Decimal("-0.001")},
        {"volume_plan": Decimal(0)},
        {"end_date": date(2026, 10, 31)},
        {"end_date": date(2026, 11, 1)},
        {"estimated_cost": None},
        {"estimated_cost": Decimal(-1)},
        {"estimated_cost": Decimal(0)},
        {"code_key": ""},
        {"volume_plan": Decimal(-1), "end_date": date(2026, 1, 1), "estimated_cost": Decimal(-5)},
    ],
)
@pytest.mark.parametrize("exclude", [set(), {"end_date"}, {"volume_plan", "estimated_cost"}])
def test_task_rules_checked_in_python_give_the_databases_verdicts_and_messages(fields, exclude):
    task = TaskFactory(start_date=date(2026, 11, 1), end_date=date(2026, 11, 30))
    for name, value in fields.items():
        setattr(task, name, value)

    assert python_errors(task, exclude) == database_errors(task, exclude)


@pytest.mark.parametrize(
    "fields",
    [{}, {"volume_plan": Decimal(-1)}, {"month": date(2026, 11, 2)}, {"task_id": None}],
)
def test_monthly_rules_checked_in_python_or_by_the_database_give_its_verdicts(fields):
    monthly = MonthlyTaskFactory(month=date(2026, 11, 1))
    for name, value in fields.items():
        setattr(monthly, name, value)

    assert python_errors(monthly, set()) == database_errors(monthly, set())


@pytest.mark.parametrize("volume", [Decimal(1), Decimal(0), Decimal("-0.5")])
def test_daily_rules_checked_in_python_give_the_databases_verdicts(volume):
    daily = DailyWorkFactory()
    daily.volume = volume

    assert python_errors(daily, set()) == database_errors(daily, set())


def test_a_task_update_checks_its_rules_without_asking_the_database(django_assert_num_queries):
    task = TaskFactory(start_date=date(2026, 11, 1), end_date=date(2026, 11, 30))
    task.volume_plan = Decimal(7)
    task.end_date = date(2026, 12, 31)

    with django_assert_num_queries(0):
        task.validate_constraints(exclude={"code", "name", "unit"})


@pytest.mark.parametrize(
    ("condition", "fields", "in_python"),
    [
        (Q(volume_plan__gte=0), {}, True),
        (Q(end_date__gte=F("start_date")), {}, True),
        (Q(name__gt="a"), {}, False),  # the order of strings is the database's collation
        (Q(start_date__year=2026), {}, False),  # a transform
        (Q(volume_plan__gte=F("estimated_cost") + 1), {}, False),  # an expression
        (Q(volume_plan__gte=0), {"volume_plan": F("volume_plan") + 1}, False),
        (Q(volume_plan__in=[1, 2]), {}, False),
        (Q(volume_plan__gte=0) ^ Q(estimated_cost__gte=0), {}, False),
    ],
)
def test_only_conditions_python_evaluates_as_the_database_does_skip_the_query(
    condition, fields, in_python
):
    task = TaskFactory.build(volume_plan=Decimal(1), estimated_cost=Decimal(2))
    for name, value in fields.items():
        setattr(task, name, value)
    constraint = CheckConstraint(condition=condition, name="rule")

    assert check_in_python(constraint, task, exclude=set()) is in_python


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("write", ["update", "delete"])
def test_a_write_of_a_row_said_to_be_locked_outside_any_transaction_is_refused(write):
    task = TaskFactory()

    with pytest.raises(TransactionManagementError, match="transaction in which the row"):
        if write == "update":
            versioned_update(instance=task, data={"name": "x"}, version=None, locked=True)
        else:
            versioned_delete(instance=task, version=None, locked=True)

    task.refresh_from_db()
    assert task.version == 1


BASE = {"name": "Walls", "unit": "m3", "volume_plan": "10.000", "volume_fact": "0.000"}


@pytest.mark.parametrize(
    ("stored", "submitted", "changed", "conflicts"),
    [
        # Someone else changed another field: the client's change applies, alone.
        ({"volume_fact": "4.000"}, {"name": "Walls, 2nd floor"}, ["name"], {}),
        # Nobody else changed anything: the client's changes apply.
        ({}, {"name": "Slabs", "unit": "m2"}, ["name", "unit"], {}),
        # The client sends a field unchanged that someone else changed: the stored value stays.
        ({"unit": "m2"}, {"unit": "m3", "name": "Slabs"}, ["name"], {}),
        # Both changed the field to the same value: no conflict.
        ({"name": "Slabs"}, {"name": "Slabs"}, ["name"], {}),
        # Both changed the field to different values: a conflict with the three values.
        (
            {"name": "Beams", "volume_fact": "4.000"},
            {"name": "Slabs", "unit": "m2"},
            ["name", "unit"],
            {"name": FieldConflict(base="Walls", stored="Beams", submitted="Slabs")},
        ),
        # The client changed nothing: nothing to write.
        ({"name": "Beams"}, {"name": "Walls"}, [], {}),
    ],
)
def test_a_stale_write_changes_the_fields_it_changed_and_conflicts_where_both_did(
    stored, submitted, changed, conflicts
):
    assert merge_fields(
        names=list(submitted),
        base=BASE,
        stored={**BASE, **stored},
        submitted={**BASE, **submitted},
    ) == (changed, conflicts)


def test_a_stale_write_of_a_field_missing_from_a_representation_cannot_be_merged():
    assert merge_fields(
        names=["note"], base=BASE, stored=BASE, submitted={**BASE, "note": "x"}
    ) == (None, {})


def test_a_stale_update_of_other_fields_is_applied_and_keeps_the_newer_values():
    task = TaskFactory(name="Walls", unit="m³")
    task_update(task=task, data={"unit": "m²"}, version=1)

    saved = task_update(task=task, data={"name": "Walls, 2nd floor", "unit": "m³"}, version=1)

    saved.refresh_from_db()
    assert (saved.name, saved.unit, saved.version) == ("Walls, 2nd floor", "m²", 3)


def test_a_stale_update_of_a_field_changed_since_conflicts_naming_it_and_writes_nothing():
    task = TaskFactory(name="Walls", volume_plan=Decimal(10))
    task_update(task=task, data={"name": "Beams", "volume_plan": Decimal(12)}, version=1)

    with pytest.raises(VersionConflict) as conflict:
        task_update(task=task, data={"name": "Slabs", "unit": "m²"}, version=1)

    assert conflict.value.fields == {
        "name": FieldConflict(base="Walls", stored="Beams", submitted="Slabs")
    }
    assert conflict.value.changed == ["name", "unit"]
    task.refresh_from_db()
    assert (task.name, task.unit, task.version) == ("Beams", "m³", 2)


def test_a_stale_update_to_the_value_stored_meanwhile_is_applied():
    task = TaskFactory(name="Walls")
    task_update(task=task, data={"name": "Slabs"}, version=1)

    saved = task_update(task=task, data={"name": "Slabs"}, version=1)

    assert (saved.name, saved.version) == ("Slabs", 3)


def test_a_planner_renames_a_task_while_a_foreman_reports_on_it_and_both_succeed():
    task = TaskFactory(name="Walls")
    seen = Task.objects.get(pk=task.pk)
    daily_work_create(data={"task": task, "date": date(2026, 11, 3), "volume": Decimal(4)})

    saved = task_update(task=seen, data={"name": "Walls, 2nd floor"}, version=seen.version)

    saved.refresh_from_db()
    assert (saved.name, saved.volume_fact, saved.version) == ("Walls, 2nd floor", Decimal(4), 3)


def test_a_stale_update_beyond_the_history_conflicts_as_a_whole():
    task = TaskFactory(name="Walls")
    task_update(task=task, data={"unit": "m²"}, version=1)
    Change.objects.filter(object_id=task.pk, version=2).delete()  # pruned by retention

    with pytest.raises(VersionConflict) as conflict:
        task_update(task=task, data={"name": "Slabs"}, version=1)

    assert (conflict.value.fields, conflict.value.changed) == ({}, [])
    task.refresh_from_db()
    assert (task.name, task.version) == ("Walls", 2)
