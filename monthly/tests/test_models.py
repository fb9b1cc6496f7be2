import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from monthly.models import MonthlyTask
from schedule.tests.factories import TaskFactory
from scheduler_project.months import first_of_month

from .factories import MonthlyTaskFactory

pytestmark = pytest.mark.django_db

NOV_1 = datetime.date(2026, 11, 1)
NOV_15 = datetime.date(2026, 11, 15)


@pytest.mark.parametrize(
    ("day", "first"),
    [
        (datetime.date(2026, 11, 1), datetime.date(2026, 11, 1)),
        (datetime.date(2026, 11, 30), datetime.date(2026, 11, 1)),
        (datetime.date(2028, 2, 29), datetime.date(2028, 2, 1)),
    ],
)
def test_first_of_month_is_the_first_day_of_the_days_month(day, first):
    assert first_of_month(day) == first


def test_a_month_saved_as_any_day_is_stored_as_its_first_day():
    plan = MonthlyTaskFactory(month=NOV_15)

    assert plan.month == NOV_1
    assert MonthlyTask.objects.get(pk=plan.pk).month == NOV_1


def test_full_clean_moves_the_month_to_its_first_day():
    plan = MonthlyTask(task=TaskFactory(), month=NOV_15, volume_plan=Decimal(1))

    plan.full_clean()

    assert plan.month == NOV_1


def test_database_refuses_a_month_that_is_not_a_first_day():
    plan = MonthlyTaskFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        MonthlyTask.objects.filter(pk=plan.pk).update(month=NOV_15)


def test_a_task_has_one_plan_per_month():
    plan = MonthlyTaskFactory(month=NOV_1)

    with pytest.raises(ValidationError) as error:
        MonthlyTask(task=plan.task, month=NOV_15, volume_plan=Decimal(1)).full_clean()

    assert error.value.message_dict == {"__all__": ["This task already has a plan for this month."]}


def test_database_refuses_a_second_plan_for_the_same_task_and_month():
    plan = MonthlyTaskFactory(month=NOV_1)

    with pytest.raises(IntegrityError), transaction.atomic():
        MonthlyTask(task=plan.task, month=NOV_15, volume_plan=Decimal(1)).save()


def test_a_task_may_have_plans_for_other_months_and_other_tasks_for_this_month():
    plan = MonthlyTaskFactory(month=NOV_1)

    MonthlyTask(
        task=plan.task, month=datetime.date(2026, 12, 1), volume_plan=Decimal(1)
    ).full_clean()
    MonthlyTask(task=TaskFactory(), month=NOV_1, volume_plan=Decimal(1)).full_clean()


def test_negative_planned_volume_is_an_error():
    plan = MonthlyTask(task=TaskFactory(), month=NOV_1, volume_plan=Decimal("-0.001"))

    with pytest.raises(ValidationError) as error:
        plan.full_clean()

    assert error.value.message_dict == {
        "volume_plan": ["Ensure this value is greater than or equal to 0."]
    }


def test_database_refuses_a_negative_planned_volume_when_clean_is_skipped():
    plan = MonthlyTask(task=TaskFactory(), month=NOV_1, volume_plan=Decimal(-1))

    with pytest.raises(IntegrityError), transaction.atomic():
        plan.save()


def test_version_starts_at_one_and_every_save_bumps_it():
    plan = MonthlyTaskFactory()
    assert plan.version == 1

    plan.volume_plan = Decimal(5)
    plan.save()
    plan.save(update_fields=["volume_plan"])

    plan.refresh_from_db()
    assert (plan.volume_plan, plan.version) == (Decimal(5), 3)


def test_for_month_selects_the_plans_of_the_days_month():
    november = MonthlyTaskFactory(month=NOV_1)
    MonthlyTaskFactory(month=datetime.date(2026, 12, 1))

    assert list(MonthlyTask.objects.for_month(datetime.date(2026, 11, 30))) == [november]
