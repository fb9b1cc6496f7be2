from decimal import Decimal

import pytest

from daily.tests.factories import DailyWorkFactory
from monthly.models import MonthlyTask
from monthly.tests.factories import MonthlyTaskFactory
from schedule.models import Task
from schedule.tests.factories import TaskFactory
from scheduler_project.versioning import VersionConflict, versioned_delete, versioned_update

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
