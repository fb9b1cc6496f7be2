"""The admin's history page of an object lists its changes from the history, whatever made
them: who, when, through what, each field from what to what."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from daily.services import daily_work_create
from daily.tests.factories import DailyWorkFactory
from monthly.tests.factories import MonthlyTaskFactory
from realtime.context import acting_as, writing_via
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-12345-x")
    client.force_login(admin)
    return client


OBJECTS = {
    "schedule_task": (lambda: TaskFactory(name="Old"), "name", "New", "Name"),
    "monthly_monthlytask": (
        lambda: MonthlyTaskFactory(volume_plan=Decimal(1)),
        "volume_plan",
        Decimal(2),
        "Planned volume",
    ),
    "daily_dailywork": (
        lambda: DailyWorkFactory(description="Old"),
        "description",
        "New",
        "Description",
    ),
}


@pytest.mark.parametrize("admin_name", OBJECTS)
def test_the_history_page_lists_changes_made_anywhere(admin_client, planner, admin_name):
    make, field, value, label = OBJECTS[admin_name]
    obj = make()
    with acting_as(planner), writing_via("api"):
        setattr(obj, field, value)
        obj.save()

    response = admin_client.get(reverse(f"admin:{admin_name}_history", args=[obj.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert [(c.kind, c.via, c.actor_username) for c in response.context["changes"]] == [
        ("updated", "api", planner.username),
        ("created", "script", ""),
    ]
    assert f'<span class="changed-fields__label">{label}:</span>' in page
    assert "API" in page and planner.username in page
    assert "1 change" not in page and "2 changes" in page


def test_the_history_page_shows_field_values_old_to_new(admin_client):
    task = TaskFactory(name="Old")
    task.name = "New"
    task.save()

    page = admin_client.get(reverse("admin:schedule_task_history", args=[task.pk])).content

    assert "<del>Old</del> → <ins>New</ins>" in page.decode()


def test_the_history_page_speaks_russian(admin_client):
    task = TaskFactory()
    task.name = "Новое"
    task.save()

    with translation.override("ru"):
        page = admin_client.get(
            reverse("admin:schedule_task_history", args=[task.pk]),
            headers={"accept-language": "ru"},
        ).content.decode()

    assert "Через" in page and "скрипт" in page and "изменено" in page


def test_an_object_older_than_the_history_says_so(admin_client):
    task = TaskFactory()
    from realtime.models import Change

    Change.objects.all().delete()

    page = admin_client.get(reverse("admin:schedule_task_history", args=[task.pk]))

    assert "predates the history" in page.content.decode()


def test_the_history_page_tells_a_report_in_the_pages_words_and_not_on_its_task(
    admin_client, make_user
):
    foreman = make_user("foremen", first_name="Иван", last_name="Петров")
    task = TaskFactory(code="4.4", name="Кладка стен", unit="м³")
    with writing_via("daily"):
        work = daily_work_create(
            data={"task": task, "date": datetime.date(2026, 12, 7), "volume": Decimal("23.7")},
            actor=foreman,
        )

    with translation.override("ru"):
        work_page = admin_client.get(
            reverse("admin:daily_dailywork_history", args=[work.pk]),
            headers={"accept-language": "ru"},
        ).content.decode()
        task_page = admin_client.get(reverse("admin:schedule_task_history", args=[task.pk]))

    assert "История изменений: 4.4 «Кладка стен»: 23,7 м³ за 07.12.2026" in work_page  # title
    assert "4.4 «Кладка стен»: 23,7 м³ за 07.12.2026</td>" in work_page
    assert "Иван Петров" in work_page and "суточное задание" in work_page
    assert "Выполнено по 4.4:" in work_page
    assert [(c.kind, c.who) for c in task_page.context["changes"]] == [("created", "")]
