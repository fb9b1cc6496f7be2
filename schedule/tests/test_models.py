import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from daily.models import DailyWork
from daily.tests.factories import DailyWorkFactory
from monthly.models import MonthlyTask
from monthly.tests.factories import MonthlyTaskFactory
from schedule.models import Task

from .factories import TaskFactory

pytestmark = pytest.mark.django_db

NOV_1 = datetime.date(2026, 11, 1)
NOV_30 = datetime.date(2026, 11, 30)


def unsaved_task(**fields) -> Task:
    return Task(
        **{
            "code": "1.1",
            "name": "Excavation",
            "unit": "m³",
            "volume_plan": Decimal(100),
            "start_date": NOV_1,
            "end_date": NOV_30,
        }
        | fields
    )


def test_a_valid_task_passes_full_clean():
    unsaved_task().full_clean()


def test_task_code_must_be_unique():
    TaskFactory(code="1.1")

    with pytest.raises(ValidationError) as error:
        unsaved_task(code="1.1").full_clean()

    assert error.value.message_dict == {"code": ["Task with this Code already exists."]}


def test_database_refuses_a_duplicate_task_code():
    TaskFactory(code="1.1")

    with pytest.raises(IntegrityError), transaction.atomic():
        unsaved_task(code="1.1").save()


def test_end_date_before_start_date_is_an_error_on_the_end_date():
    with pytest.raises(ValidationError) as error:
        unsaved_task(start_date=NOV_30, end_date=NOV_1).full_clean()

    assert error.value.message_dict == {
        "end_date": ["The end date cannot be before the start date."]
    }


def test_a_task_may_start_and_end_on_the_same_day():
    unsaved_task(start_date=NOV_1, end_date=NOV_1).full_clean()


def test_database_refuses_end_date_before_start_date_when_clean_is_skipped():
    with pytest.raises(IntegrityError), transaction.atomic():
        unsaved_task(start_date=NOV_30, end_date=NOV_1).save()


def test_negative_planned_volume_is_an_error():
    with pytest.raises(ValidationError) as error:
        unsaved_task(volume_plan=Decimal("-0.001")).full_clean()

    assert error.value.message_dict == {
        "volume_plan": ["Ensure this value is greater than or equal to 0."]
    }


def test_database_refuses_a_negative_planned_volume_when_clean_is_skipped():
    with pytest.raises(IntegrityError), transaction.atomic():
        unsaved_task(volume_plan=Decimal(-1)).save()


def test_version_starts_at_one_and_every_save_bumps_it():
    task = unsaved_task()
    task.save()
    assert task.version == 1

    task.name = "Backfill"
    task.save()
    task.save()

    task.refresh_from_db()
    assert task.version == 3
    assert task.name == "Backfill"


def test_save_with_update_fields_also_stores_the_new_version_and_updated_at():
    task = TaskFactory()
    created = Task.objects.get(pk=task.pk)

    task.name = "Renamed"
    task.save(update_fields=["name"])

    task.refresh_from_db()
    assert (task.name, task.version) == ("Renamed", 2)
    assert task.updated_at > created.updated_at


def test_saving_a_stale_copy_of_a_task_keeps_the_volume_done():
    task = TaskFactory()
    stale = Task.objects.get(pk=task.pk)
    DailyWorkFactory(task=task, volume=Decimal(7))

    stale.name = "Renamed in the admin"
    stale.save()

    task.refresh_from_db()
    assert (task.name, task.volume_fact) == ("Renamed in the admin", Decimal(7))


def test_deleting_a_task_deletes_its_daily_works_and_monthly_plans():
    task, other = TaskFactory.create_batch(2)
    DailyWorkFactory.create_batch(2, task=task)
    MonthlyTaskFactory(task=task)
    kept_work = DailyWorkFactory(task=other)
    kept_plan = MonthlyTaskFactory(task=other)

    task.delete()

    assert list(DailyWork.objects.all()) == [kept_work]
    assert list(MonthlyTask.objects.all()) == [kept_plan]


@pytest.mark.parametrize(
    ("volume_plan", "volume_fact", "expected"),
    [
        ("100", "0", "0.0"),
        ("100", "25", "25.0"),
        ("3", "1", "33.3"),
        ("3", "2", "66.7"),
        ("10", "15", "150.0"),
        ("0", "5", "0"),
        ("0.001", "99999999999.999", "9999999999999900.0"),
    ],
)
def test_progress_percent_is_the_share_done_rounded_to_one_decimal(
    volume_plan, volume_fact, expected
):
    task = unsaved_task(volume_plan=Decimal(volume_plan), volume_fact=Decimal(volume_fact))

    assert task.progress_percent == Decimal(expected)


def test_active_on_selects_tasks_running_that_day_ends_included():
    early = TaskFactory(start_date=datetime.date(2026, 10, 1), end_date=datetime.date(2026, 10, 31))
    late = TaskFactory(start_date=NOV_1, end_date=NOV_30)

    assert list(Task.objects.active_on(datetime.date(2026, 10, 31))) == [early]
    assert list(Task.objects.active_on(NOV_1)) == [late]
    assert list(Task.objects.active_on(datetime.date(2026, 12, 1))) == []


def test_overlapping_selects_tasks_sharing_at_least_one_day_with_the_period():
    october = TaskFactory(
        code="1", start_date=datetime.date(2026, 10, 1), end_date=datetime.date(2026, 10, 31)
    )
    november = TaskFactory(code="2", start_date=NOV_1, end_date=NOV_30)
    TaskFactory(
        code="3", start_date=datetime.date(2026, 12, 1), end_date=datetime.date(2026, 12, 31)
    )

    assert list(Task.objects.overlapping(datetime.date(2026, 10, 31), NOV_1)) == [
        october,
        november,
    ]
