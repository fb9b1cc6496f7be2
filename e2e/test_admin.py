"""Django admin in a Russian browser whose clock is not the site's (Moscow): a date comes without
Django's time-zone note, a time of day keeps it (in Russian), and the calendar's labels are
Russian. The server side of it: scheduler_project/tests/test_admin.py."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser, expect

from daily.tests.factories import DailyWorkFactory
from e2e.conftest import Server, log_in, screenshot
from monthly.tests.factories import MonthlyTaskFactory
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)

VLADIVOSTOK = "Asia/Vladivostok"  # seven hours ahead of Moscow, all year round


def test_dates_come_without_a_time_zone_note_and_times_keep_theirs(
    browser: Browser, server: Server
):
    boss = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-12345-x")
    task = TaskFactory(code="2.1", name="Разработка грунта", unit="м³")
    MonthlyTaskFactory(task=task)
    DailyWorkFactory(task=task)
    context = browser.new_context(
        base_url=server.url,
        locale="ru-RU",
        timezone_id=VLADIVOSTOK,
        viewport={"width": 1366, "height": 900},
    )
    log_in(context, boss, server)
    page = context.new_page()

    page.goto(f"/admin/schedule/task/{task.pk}/change/")

    shortcuts = page.locator(".datetimeshortcuts")
    notes = page.locator(".timezonewarning").filter(has_text=re.compile("."))
    # the task's two dates, the plan's month and the work's date, and the inlines' blank rows
    expect(shortcuts).to_have_count(6)
    expect(notes).to_have_count(0)
    page.get_by_role("button", name="Добавить ещё ежедневную работу").click()
    expect(shortcuts).to_have_count(7)
    expect(notes).to_have_count(0)
    today = shortcuts.first.get_by_role("button").first
    expect(today).to_have_text("Сегодня")
    expect(today).to_have_attribute(
        "aria-label", re.compile(r"^Сегодня \(\d+-е число, [А-ЯЁ][а-яё]+ \d{4}\)$")
    )
    screenshot(page, "ru-admin-task-dates")

    page.goto(f"/admin/auth/user/{boss.pk}/change/")

    expect(page.locator(".timezonewarning").first).to_have_text(
        "Внимание: вводите время в часовом поясе Europe/Moscow "
        "(ваше время опережает его на 7 часов)."
    )
    assert page.page_errors() == []
    context.close()
