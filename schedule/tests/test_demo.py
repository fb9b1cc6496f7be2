import datetime

import pytest
from django.contrib.auth import authenticate, get_user_model
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


@pytest.mark.parametrize(
    ("host", "exposed"),
    [
        ("127.0.0.1", False),
        ("127.0.1.1", False),
        ("localhost", False),
        ("::1", False),
        ("[::1]", False),
        ("0.0.0.0", True),
        ("::", True),
        ("192.168.1.20", True),
        ("schedule.example.com", True),
    ],
)
def test_serving_beyond_loopback_with_demo_users_is_refused(host, exposed, settings):
    settings.DEBUG = True
    demo_seed(today=TODAY)

    if exposed:
        with pytest.raises(CommandError, match="DEMO_ON_NETWORK=1"):
            call_command("check_demo_exposure", host=host)
    else:
        call_command("check_demo_exposure", host=host)


def test_demo_on_network_insists_on_serving_the_demo(settings, monkeypatch, capsys):
    settings.DEBUG = True
    demo_seed(today=TODAY)
    monkeypatch.setenv("DEMO_ON_NETWORK", "1")

    call_command("check_demo_exposure", host="0.0.0.0")

    assert "anyone who reaches this address can sign in" in capsys.readouterr().err


def test_changed_demo_passwords_and_a_secret_key_may_serve_on_the_network(settings):
    settings.DEBUG = True
    settings.SECRET_KEY = "a-real-secret-key-set-by-the-operator-0123456789abcdef"
    demo_seed(today=TODAY)
    for user in get_user_model().objects.all():
        user.set_password(f"{user.username}-changed-password")
        user.save()

    call_command("check_demo_exposure", host="0.0.0.0")


@pytest.mark.parametrize(
    ("passwords_changed", "secret_key", "named"),
    [
        (False, "a-real-secret-key-set-by-the-operator-0123456789abcdef", "demo users"),
        (True, None, "development SECRET_KEY"),
    ],
)
def test_the_refusal_names_what_exposes_the_installation(
    passwords_changed, secret_key, named, settings
):
    settings.DEBUG = True
    if secret_key is not None:
        settings.SECRET_KEY = secret_key
    else:
        settings.SECRET_KEY = settings.DEVELOPMENT_SECRET_KEY
    demo_seed(today=TODAY)
    if passwords_changed:
        for user in get_user_model().objects.all():
            user.set_password("changed-password-1234")
            user.save()

    with pytest.raises(CommandError) as refusal:
        call_command("check_demo_exposure", host="0.0.0.0")

    assert named in str(refusal.value)
    assert ("admin, planner, foreman, viewer" in str(refusal.value)) is not passwords_changed
