import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Sum

from daily.models import DailyWork
from schedule.models import Task
from schedule.tests.factories import TaskFactory

from .factories import DailyWorkFactory

pytestmark = pytest.mark.django_db

NOV_25 = datetime.date(2026, 11, 25)


def stored_facts(*tasks: Task) -> tuple[Decimal, ...]:
    """Each task's stored ``volume_fact``, after checking it is the sum of its daily works."""
    for task in tasks:
        task.refresh_from_db()
        total = task.daily_works.aggregate(total=Sum("volume"))["total"] or Decimal(0)
        assert task.volume_fact == total
    return tuple(task.volume_fact for task in tasks)


@pytest.mark.parametrize(
    ("volume", "errors"),
    [
        ("0", {"volume": ["Ensure this value is greater than or equal to 0.001."]}),
        ("-2", {"volume": ["Ensure this value is greater than or equal to 0.001."]}),
        ("1.0001", {"volume": ["Ensure that there are no more than 3 decimal places."]}),
    ],
)
def test_volume_must_be_positive_with_at_most_three_decimals(volume, errors):
    work = DailyWork(task=TaskFactory(), date=NOV_25, volume=Decimal(volume))

    with pytest.raises(ValidationError) as error:
        work.full_clean()

    assert error.value.message_dict == errors


def test_the_smallest_volume_is_valid():
    DailyWork(task=TaskFactory(), date=NOV_25, volume=Decimal("0.001")).full_clean()


@pytest.mark.parametrize("volume", ["0", "-1"])
def test_database_refuses_a_volume_that_is_not_positive_when_clean_is_skipped(volume):
    task = TaskFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        DailyWork(task=task, date=NOV_25, volume=Decimal(volume)).save()

    assert stored_facts(task) == (Decimal(0),)


def test_a_volume_that_would_overflow_the_tasks_total_is_an_error():
    task = TaskFactory()
    DailyWorkFactory(task=task, volume=Decimal("99999999999.000"))

    with pytest.raises(ValidationError) as error:
        DailyWork(task=task, date=NOV_25, volume=Decimal(1)).full_clean()

    assert error.value.message_dict == {
        "volume": ["The task's total volume done cannot exceed 99999999999.999."]
    }


def test_a_work_does_not_count_twice_towards_its_tasks_total():
    largest = DailyWorkFactory(volume=Decimal("99999999999.999"))
    DailyWorkFactory(volume=Decimal("99999999999.999"))

    largest.full_clean()


def test_version_starts_at_one_and_every_save_bumps_it():
    work = DailyWorkFactory()
    assert work.version == 1

    work.description = "Rain in the afternoon"
    work.save()
    work.save(update_fields=["description"])

    work.refresh_from_db()
    assert (work.description, work.version) == ("Rain in the afternoon", 3)


def test_recalculating_the_volume_done_bumps_the_task_version():
    task = TaskFactory()
    assert task.version == 1

    work = DailyWorkFactory(task=task, volume=Decimal(2))
    task.refresh_from_db()
    assert task.version == 2

    work.volume = Decimal(3)
    work.save()
    task.refresh_from_db()
    assert task.version == 3


def test_a_change_that_keeps_the_sum_leaves_the_task_alone():
    task = TaskFactory()
    work = DailyWorkFactory(task=task)
    task.refresh_from_db()

    work.description = "Same volume"
    work.save()
    DailyWork.objects.filter(pk=work.pk).update(description="Still the same volume")

    assert Task.objects.get(pk=task.pk).version == task.version


# Every way the ORM can write daily works, from two tasks with works of 2 + 3 and 10.


def create_with_save(a, b, works):
    DailyWork(task=a, date=NOV_25, volume=Decimal(1)).save()


def create_with_manager(a, b, works):
    DailyWork.objects.create(task=b, date=NOV_25, volume=Decimal(1))


def create_through_the_task(a, b, works):
    a.daily_works.create(date=NOV_25, volume=Decimal(1))


def change_volume_with_save(a, b, works):
    works[0].volume = Decimal(7)
    works[0].save()


def move_with_save(a, b, works):
    works[0].task = b
    works[0].save()


def delete_one(a, b, works):
    works[1].delete()


def delete_queryset(a, b, works):
    DailyWork.objects.filter(task=a).delete()


def delete_through_the_task(a, b, works):
    a.daily_works.all().delete()


def delete_across_tasks(a, b, works):
    DailyWork.objects.filter(pk__in=[works[0].pk, works[2].pk]).delete()


def update_volume(a, b, works):
    DailyWork.objects.filter(pk=works[0].pk).update(volume=Decimal(4))


def update_volume_with_an_expression(a, b, works):
    DailyWork.objects.update(volume=F("volume") * 2)


def update_task(a, b, works):
    DailyWork.objects.filter(pk=works[1].pk).update(task=b)


def update_task_id(a, b, works):
    DailyWork.objects.filter(task=a).update(task_id=b.pk)


def bulk_create(a, b, works):
    DailyWork.objects.bulk_create(
        [
            DailyWork(task=a, date=NOV_25, volume=Decimal(1)),
            DailyWork(task=b, date=NOV_25, volume=Decimal(2)),
        ]
    )


def bulk_update_volume(a, b, works):
    works[0].volume = Decimal(1)
    works[2].volume = Decimal(1)
    DailyWork.objects.bulk_update([works[0], works[2]], ["volume"])


def bulk_update_task(a, b, works):
    works[0].task = b
    DailyWork.objects.bulk_update([works[0]], ["task"])


@pytest.mark.parametrize(
    ("write", "facts"),
    [
        (create_with_save, (6, 10)),
        (create_with_manager, (5, 11)),
        (create_through_the_task, (6, 10)),
        (change_volume_with_save, (10, 10)),
        (move_with_save, (3, 12)),
        (delete_one, (2, 10)),
        (delete_queryset, (0, 10)),
        (delete_through_the_task, (0, 10)),
        (delete_across_tasks, (3, 0)),
        (update_volume, (7, 10)),
        (update_volume_with_an_expression, (10, 20)),
        (update_task, (2, 13)),
        (update_task_id, (0, 15)),
        (bulk_create, (6, 12)),
        (bulk_update_volume, (4, 1)),
        (bulk_update_task, (3, 12)),
    ],
)
def test_volume_done_is_the_sum_of_the_daily_works_whatever_the_write_path(write, facts):
    a, b = TaskFactory.create_batch(2)
    works = [
        DailyWorkFactory(task=a, volume=Decimal(2)),
        DailyWorkFactory(task=a, volume=Decimal(3)),
        DailyWorkFactory(task=b, volume=Decimal(10)),
    ]
    assert stored_facts(a, b) == (5, 10)

    write(a, b, works)

    assert stored_facts(a, b) == facts


def test_a_rolled_back_transaction_leaves_the_volume_done_unchanged():
    task = TaskFactory()
    work = DailyWorkFactory(task=task, volume=Decimal(2))
    task.refresh_from_db()

    with pytest.raises(RuntimeError), transaction.atomic():
        DailyWorkFactory(task=task, volume=Decimal(5))
        work.volume = Decimal(20)
        work.save()
        raise RuntimeError("give up")

    assert Task.objects.get(pk=task.pk).version == task.version
    assert stored_facts(task) == (Decimal(2),)


def test_a_failed_bulk_create_leaves_the_volume_done_unchanged():
    task = TaskFactory()

    with pytest.raises(IntegrityError):
        DailyWork.objects.bulk_create(
            [
                DailyWork(task=task, date=NOV_25, volume=Decimal(1)),
                DailyWork(task=task, date=NOV_25, volume=Decimal(0)),
            ]
        )

    assert not DailyWork.objects.exists()
    assert stored_facts(task) == (Decimal(0),)


def test_on_date_selects_the_days_works():
    work = DailyWorkFactory(date=NOV_25)
    DailyWorkFactory(date=datetime.date(2026, 11, 26))

    assert list(DailyWork.objects.on_date(NOV_25)) == [work]
