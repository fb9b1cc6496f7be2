import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from daily.models import DailyWork
from daily.tests.factories import DailyWorkFactory
from schedule.models import Task
from schedule.services import (
    task_create,
    task_delete,
    task_recalculate_volume_fact,
    task_update,
)
from scheduler_project.versioning import VersionConflict

from .factories import TaskFactory

pytestmark = pytest.mark.django_db

TASK_DATA = {
    "code": "2.1",
    "name": "Formwork",
    "unit": "m²",
    "volume_plan": Decimal("250.500"),
    "start_date": datetime.date(2026, 11, 2),
    "end_date": datetime.date(2026, 11, 20),
}


def test_task_create_stores_a_task_at_version_one():
    task = task_create(data=TASK_DATA)

    stored = Task.objects.get(pk=task.pk)
    assert {name: getattr(stored, name) for name in TASK_DATA} == TASK_DATA
    assert (stored.version, stored.volume_fact) == (1, Decimal(0))


def test_task_create_validates_with_the_model_rules_and_stores_nothing():
    with pytest.raises(ValidationError) as error:
        task_create(data=TASK_DATA | {"end_date": datetime.date(2026, 11, 1)})

    assert error.value.message_dict == {
        "end_date": ["The end date cannot be before the start date."]
    }
    assert not Task.objects.exists()


def test_task_update_with_the_current_version_applies_and_bumps_it():
    task = TaskFactory()

    updated = task_update(task=task, data={"name": "Renamed"}, version=1)

    assert (updated.name, updated.version) == ("Renamed", 2)
    task.refresh_from_db()
    assert (task.name, task.version) == ("Renamed", 2)


def test_task_update_without_a_version_applies():
    task = TaskFactory(name="Old")
    task_update(task=task, data={"name": "First"}, version=None)

    updated = task_update(task=task, data={"name": "Second"}, version=None)

    assert (updated.name, updated.version) == ("Second", 3)


def test_task_update_with_a_stale_version_raises_conflict_and_changes_nothing():
    task = TaskFactory(name="Old")
    task_update(task=task, data={"name": "Someone else's"}, version=1)

    with pytest.raises(VersionConflict) as conflict:
        task_update(task=task, data={"name": "Mine"}, version=1)

    assert conflict.value.current.version == 2
    assert conflict.value.current.name == "Someone else's"
    assert str(conflict.value) == "Task was changed by someone else."
    task.refresh_from_db()
    assert (task.name, task.version) == ("Someone else's", 2)


def test_task_update_validates_against_the_stored_values():
    task = TaskFactory(start_date=datetime.date(2026, 11, 10), end_date=datetime.date(2026, 11, 20))

    with pytest.raises(ValidationError):
        task_update(task=task, data={"end_date": datetime.date(2026, 11, 9)}, version=None)

    task.refresh_from_db()
    assert (task.end_date, task.version) == (datetime.date(2026, 11, 20), 1)


def test_task_update_keeps_the_volume_done_even_from_a_stale_copy():
    task = TaskFactory()
    stale = Task.objects.get(pk=task.pk)
    DailyWorkFactory(task=task, volume=Decimal(4))

    updated = task_update(task=stale, data={"name": "Renamed"}, version=None)

    assert updated.volume_fact == Decimal(4)


def test_task_delete_removes_the_task_and_its_daily_works():
    task = TaskFactory()
    DailyWorkFactory(task=task)

    task_delete(task=task)

    assert not Task.objects.exists()
    assert not DailyWork.objects.exists()


def test_task_delete_with_a_stale_version_raises_conflict_and_keeps_the_task():
    task = TaskFactory()
    task_update(task=task, data={"name": "Changed"}, version=None)

    with pytest.raises(VersionConflict):
        task_delete(task=task, version=1)

    assert Task.objects.filter(pk=task.pk).exists()


def test_recalculating_sets_the_sum_of_the_daily_works_and_bumps_the_version():
    task = TaskFactory()
    DailyWorkFactory(task=task, volume=Decimal("1.250"))
    DailyWorkFactory(task=task, volume=Decimal("2.500"))
    Task.objects.filter(pk=task.pk).update(volume_fact=Decimal(0), version=1)

    task_recalculate_volume_fact(task_ids=[task.pk])

    task.refresh_from_db()
    assert (task.volume_fact, task.version) == (Decimal("3.750"), 2)


def test_recalculating_an_unchanged_sum_saves_nothing():
    task = TaskFactory()
    DailyWorkFactory(task=task, volume=Decimal(3))
    task.refresh_from_db()

    task_recalculate_volume_fact(task_ids=[task.pk, task.pk, None])

    assert Task.objects.get(pk=task.pk).version == task.version


def test_recalculating_a_task_without_daily_works_gives_zero():
    task = TaskFactory()
    Task.objects.filter(pk=task.pk).update(volume_fact=Decimal(9))

    task_recalculate_volume_fact(task_ids={task.pk})

    task.refresh_from_db()
    assert task.volume_fact == Decimal(0)


def test_recalculating_no_tasks_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        task_recalculate_volume_fact(task_ids=[None])
