import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from daily.models import DailyWork
from daily.services import daily_work_create, daily_work_delete, daily_work_update
from schedule.models import Task
from schedule.tests.factories import TaskFactory
from scheduler_project.versioning import VersionConflict

from .factories import DailyWorkFactory

pytestmark = pytest.mark.django_db

NOV_25 = datetime.date(2026, 11, 25)


def volume_fact(task: Task) -> Decimal:
    return Task.objects.get(pk=task.pk).volume_fact


def test_daily_work_create_records_the_actor_and_adds_to_the_task(foreman):
    task = TaskFactory()

    work = daily_work_create(
        data={"task": task, "date": NOV_25, "volume": Decimal("2.5"), "description": "North"},
        actor=foreman,
    )

    stored = DailyWork.objects.get(pk=work.pk)
    assert (stored.task, stored.date, stored.volume, stored.description) == (
        task,
        NOV_25,
        Decimal("2.5"),
        "North",
    )
    assert (stored.created_by, stored.version) == (foreman, 1)
    assert volume_fact(task) == Decimal("2.5")


def test_daily_work_create_without_an_actor_records_no_author():
    work = daily_work_create(data={"task": TaskFactory(), "date": NOV_25, "volume": Decimal(1)})

    assert DailyWork.objects.get(pk=work.pk).created_by is None


@pytest.mark.parametrize("volume", [Decimal(0), Decimal(-1)])
def test_daily_work_create_refuses_a_volume_that_is_not_positive(volume):
    task = TaskFactory()

    with pytest.raises(ValidationError) as error:
        daily_work_create(data={"task": task, "date": NOV_25, "volume": volume})

    assert error.value.message_dict == {
        "volume": ["Ensure this value is greater than or equal to 0.001."]
    }
    assert not DailyWork.objects.exists()
    assert volume_fact(task) == Decimal(0)


def test_daily_work_update_of_the_volume_updates_the_task():
    task = TaskFactory()
    work = DailyWorkFactory(task=task, volume=Decimal(2))
    DailyWorkFactory(task=task, volume=Decimal(3))

    updated = daily_work_update(daily_work=work, data={"volume": Decimal(10)}, version=1)

    assert (updated.volume, updated.version) == (Decimal(10), 2)
    assert volume_fact(task) == Decimal(13)


def test_daily_work_update_moving_to_another_task_updates_both_tasks():
    old_task, new_task = TaskFactory.create_batch(2)
    work = DailyWorkFactory(task=old_task, volume=Decimal(4))
    DailyWorkFactory(task=new_task, volume=Decimal(1))

    daily_work_update(daily_work=work, data={"task": new_task}, version=None)

    assert (volume_fact(old_task), volume_fact(new_task)) == (Decimal(0), Decimal(5))


def test_daily_work_update_with_a_stale_version_changes_nothing():
    task = TaskFactory()
    work = DailyWorkFactory(task=task, volume=Decimal(2))
    daily_work_update(daily_work=work, data={"volume": Decimal(3)}, version=None)

    with pytest.raises(VersionConflict) as conflict:
        daily_work_update(daily_work=work, data={"volume": Decimal(9)}, version=1)

    assert str(conflict.value) == "Daily work was changed by someone else."
    assert conflict.value.current.volume == Decimal(3)
    assert volume_fact(task) == Decimal(3)


def test_daily_work_update_refusing_the_volume_leaves_the_task_alone():
    task = TaskFactory()
    work = DailyWorkFactory(task=task, volume=Decimal(2))

    with pytest.raises(ValidationError):
        daily_work_update(daily_work=work, data={"volume": Decimal(0)}, version=None)

    assert volume_fact(task) == Decimal(2)


def test_daily_work_delete_subtracts_from_the_task():
    task = TaskFactory()
    work = DailyWorkFactory(task=task, volume=Decimal(2))
    DailyWorkFactory(task=task, volume=Decimal(3))

    daily_work_delete(daily_work=work)

    assert not DailyWork.objects.filter(pk=work.pk).exists()
    assert volume_fact(task) == Decimal(3)


def test_daily_work_delete_with_a_stale_version_keeps_the_work():
    task = TaskFactory()
    work = DailyWorkFactory(task=task, volume=Decimal(2))
    daily_work_update(daily_work=work, data={"description": "Edited"}, version=None)

    with pytest.raises(VersionConflict):
        daily_work_delete(daily_work=work, version=1)

    assert volume_fact(task) == Decimal(2)
