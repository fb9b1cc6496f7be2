"""The admin speaks as the pages do: dates come without a time-zone note."""

import datetime
import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from daily.tests.factories import DailyWorkFactory
from monthly.tests.factories import MonthlyTaskFactory
from schedule.models import CalendarDay
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-12345-x")
    client.force_login(admin)
    return client


@pytest.fixture
def objects():
    task = TaskFactory(code="2.1", name="Разработка грунта", unit="м³")
    return {
        "task": task,
        "monthlytask": MonthlyTaskFactory(task=task),
        "dailywork": DailyWorkFactory(task=task, description="Захватка 1"),
        "calendarday": CalendarDay.objects.create(
            date=datetime.date(2026, 1, 17), is_working=True, note="Перенос выходного"
        ),
    }


ADMINS = {
    "task": "schedule",
    "monthlytask": "monthly",
    "dailywork": "daily",
    "calendarday": "schedule",
}


def url(model: str, view: str, *args: int) -> str:
    return reverse(f"admin:{ADMINS[model]}_{model}_{view}", args=args)


def get(client, path: str, language: str = "ru", **query: str) -> str:
    response = client.get(path, query, headers={"accept-language": language})
    assert response.status_code == 200, path
    return response.content.decode()


# the add form and the date inputs it holds (a task's change form holds its inlines' too)
DATE_FIELDS = [
    ("task", "add", ["start_date", "end_date", "monthly_tasks-__prefix__-month",
                     "daily_works-__prefix__-date"]),
    ("task", "change", ["start_date", "end_date", "monthly_tasks-0-month",
                        "monthly_tasks-__prefix__-month", "daily_works-0-date",
                        "daily_works-__prefix__-date"]),
    ("monthlytask", "add", ["month"]),
    ("dailywork", "add", ["date"]),
    ("calendarday", "add", ["date"]),
]  # fmt: skip


@pytest.mark.parametrize(("model", "view", "names"), DATE_FIELDS)
def test_date_fields_come_without_a_time_zone_note(admin_client, objects, model, view, names):
    """Django's script adds "Note: you are 3 hours behind the server" beside a date field unless
    the field holds a ``timezonewarning`` already (the browser side: e2e/test_admin.py)."""
    args = [objects[model].pk] if view == "change" else []
    page = get(admin_client, url(model, view, *args))

    assert re.findall(r'<input type="text" name="([^"]+)"[^>]*class="vDateField"', page) == names
    assert "timezone_warning" not in page
    assert page.count('</p><span class="timezonewarning" hidden></span>') == len(names)


def test_a_date_and_time_keeps_djangos_time_zone_note(admin_client):
    """A time of day is entered in the server's zone: the user's last login keeps the note."""
    user = get_user_model().objects.get(username="boss")

    page = get(admin_client, reverse("admin:auth_user_change", args=[user.pk]))

    assert 'aria-describedby="id_last_login_timezone_warning_helptext"' in page
