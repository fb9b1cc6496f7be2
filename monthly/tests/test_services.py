import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from monthly.models import MonthlyTask
from monthly.services import monthly_task_create, monthly_task_delete, monthly_task_update
from schedule.tests.factories import TaskFactory
from scheduler_project.versioning import VersionConflict

from .factories import MonthlyTaskFactory

pytestmark = pytest.mark.django_db

NOV_1 = datetime.date(2026, 11, 1)
DEC_1 = datetime.date(2026, 12, 1)


def test_monthly_task_create_stores_the_plan_on_the_first_of_the_month():
    task = TaskFactory()

    plan = monthly_task_create(
        data={"task": task, "month": datetime.date(2026, 11, 20), "volume_plan": Decimal(30)}
    )

    stored = MonthlyTask.objects.get(pk=plan.pk)
    assert (stored.task, stored.month, stored.volume_plan, stored.version) == (
        task,
        NOV_1,
        Decimal(30),
        1,
    )


def test_monthly_task_create_refuses_a_second_plan_for_the_month():
    plan = MonthlyTaskFactory(month=NOV_1)

    with pytest.raises(ValidationError) as error:
        monthly_task_create(data={"task": plan.task, "month": NOV_1, "volume_plan": Decimal(1)})

    assert error.value.message_dict == {"__all__": ["This task already has a plan for this month."]}
    assert MonthlyTask.objects.count() == 1


def test_monthly_task_update_with_the_current_version_applies_and_bumps_it():
    plan = MonthlyTaskFactory(month=NOV_1)

    updated = monthly_task_update(
        monthly_task=plan, data={"month": DEC_1, "volume_plan": Decimal(8)}, version=1
    )

    assert (updated.month, updated.volume_plan, updated.version) == (DEC_1, Decimal(8), 2)


def test_monthly_task_update_with_a_stale_version_raises_conflict_and_changes_nothing():
    plan = MonthlyTaskFactory(volume_plan=Decimal(40))
    monthly_task_update(monthly_task=plan, data={"volume_plan": Decimal(50)}, version=None)

    with pytest.raises(VersionConflict) as conflict:
        monthly_task_update(monthly_task=plan, data={"volume_plan": Decimal(60)}, version=1)

    assert str(conflict.value) == "Monthly order was changed by someone else."
    plan.refresh_from_db()
    assert (plan.volume_plan, plan.version) == (Decimal(50), 2)


def test_monthly_task_update_refuses_moving_onto_a_month_already_planned():
    november = MonthlyTaskFactory(month=NOV_1)
    december = MonthlyTaskFactory(task=november.task, month=DEC_1)

    with pytest.raises(ValidationError):
        monthly_task_update(monthly_task=december, data={"month": NOV_1}, version=None)

    december.refresh_from_db()
    assert (december.month, december.version) == (DEC_1, 1)


def test_monthly_task_delete_removes_the_plan():
    plan = MonthlyTaskFactory()

    monthly_task_delete(monthly_task=plan)

    assert not MonthlyTask.objects.exists()


def test_monthly_task_delete_with_a_stale_version_raises_conflict():
    plan = MonthlyTaskFactory()
    monthly_task_update(monthly_task=plan, data={"volume_plan": Decimal(1)}, version=None)

    with pytest.raises(VersionConflict):
        monthly_task_delete(monthly_task=plan, version=1)

    assert MonthlyTask.objects.exists()
