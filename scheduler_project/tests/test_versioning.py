from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models.signals import post_save

from daily.tests.factories import DailyWorkFactory
from monthly.models import MonthlyTask
from monthly.tests.factories import MonthlyTaskFactory
from schedule.models import Task
from schedule.tests.factories import TaskFactory
from scheduler_project.versioning import (
    VersionConflict,
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
        versioned_update(instance=instance, data={}, version=1)

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
