import datetime

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Sum

from daily.models import DailyWork
from monthly.models import MonthlyTask
from schedule.demo import DEMO_TASKS, DEMO_USERS, demo_seed
from schedule.models import Task

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 11, 25)


def snapshot() -> dict[str, list]:
    return {
        "tasks": list(Task.objects.values_list("code", "version", "volume_fact")),
        "monthly": list(MonthlyTask.objects.values_list("pk", "version")),
        "daily": list(DailyWork.objects.values_list("pk", "version")),
    }


def test_demo_seed_creates_a_realistic_schedule():
    counts = demo_seed(today=TODAY)

    assert counts["tasks"] == len(DEMO_TASKS) == Task.objects.count()
    assert counts["monthly_tasks"] == MonthlyTask.objects.count() > len(DEMO_TASKS)
    assert counts["daily_works"] == DailyWork.objects.count() > 100
    assert not DailyWork.objects.filter(date__gte=TODAY).exists()
    for task in Task.objects.all():
        assert task.volume_fact == (task.daily_works.aggregate(s=Sum("volume"))["s"] or 0)
    assert Task.objects.filter(volume_fact=0, start_date__gt=TODAY).exists()
    assert Task.objects.filter(volume_fact__gt=0, end_date__gte=TODAY).exists()


def test_demo_seed_is_idempotent():
    demo_seed(today=TODAY)
    before = snapshot()

    counts = demo_seed(today=TODAY)

    assert counts == {"tasks": 0, "monthly_tasks": 0, "daily_works": 0}
    assert snapshot() == before


def test_demo_users_log_in_with_the_documented_passwords():
    demo_seed(today=TODAY)

    for spec in DEMO_USERS:
        user = authenticate(username=spec.username, password=spec.password)
        assert user is not None
        assert user.groups.filter(name=spec.role).exists() or spec.is_superuser


def test_seed_demo_refuses_to_run_in_production(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("seed_demo")

    assert not Task.objects.exists()
