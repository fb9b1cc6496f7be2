"""The Russian interface: the pages, the badge and the live notices, on the demo site's data.

Also makes the README's screenshot of the live schedule: with ``E2E_UPDATE_DOCS=1`` it is
written to ``docs/screenshot-schedule.png`` (otherwise only to ``artifacts/``).
"""

import os
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from demo.data import demo_seed
from e2e.conftest import assert_not_reloaded, live_status, mark_document, notices, screenshot
from schedule.models import Task

pytestmark = pytest.mark.django_db(transaction=True)

README_SCREENSHOT = Path(settings.BASE_DIR) / "docs" / "screenshot-schedule.png"


def test_the_russian_interface_renders_and_updates_live(open_page):
    demo_seed()
    users = {user.username: user for user in get_user_model().objects.all()}
    task = Task.objects.get(code="4.2")
    schedule = open_page(users["viewer"], "/", locale="ru-RU")
    mark_document(schedule)
    row = schedule.locator(f"#task-{task.pk}")
    done_before = row.locator(".task-volume-fact").inner_text()

    expect(schedule.locator("h1")).to_have_text("График")
    expect(schedule.locator("html")).to_have_attribute("lang", "ru")
    expect(live_status(schedule)).to_have_text("Подключено")
    expect(schedule.locator("[data-live-part=task-count]")).to_have_text("30 работ")

    daily = open_page(users["foreman"], "/daily/", locale="ru-RU")
    expect(daily.locator("h1")).to_have_text("Суточное задание")
    daily.locator("select[name=task]").select_option(value=str(task.pk))
    daily.locator("input[name=volume]").fill("112.5")
    daily.locator("textarea[name=description]").fill("Две смены, каток")
    daily.get_by_role("button", name="Добавить", exact=True).click()

    # The foreman's report by his name, not a change of the task (its volume done moved).
    today = timezone.localdate()
    expect(notices(schedule)).to_have_text([f"Иван Петров: 112,5 м³ по 4.2 за {today:%d.%m}"])
    expect(row.locator(".task-volume-fact")).not_to_have_text(done_before)
    expect(row).to_have_class(re.compile(r"\bis-live-changed\b"))
    path = screenshot(schedule, "ru-schedule")
    schedule.screenshot(path=path.with_name("readme-schedule.png"))  # the viewport, notice included
    if os.environ.get("E2E_UPDATE_DOCS") == "1":
        shutil.copyfile(path.with_name("readme-schedule.png"), README_SCREENSHOT)
    assert_not_reloaded(schedule)

    expect(daily.locator(".daily-table")).to_contain_text("Две смены, каток")
    expect(daily.locator(".daily-total th").first).to_have_text("Итого за день")
    screenshot(daily, "ru-daily")

    monthly = open_page(users["planner"], "/monthly/", locale="ru-RU")
    expect(monthly.locator("h1")).to_have_text("Месячно-суточный график")
    screenshot(monthly, "ru-monthly")

    schedule.set_viewport_size({"width": 390, "height": 844})  # a phone: rows become cards
    schedule.evaluate("window.scrollTo(0, 0)")
    schedule.screenshot(path=path.with_name("ru-schedule-phone.png"))


def test_the_russian_edit_form_says_when_its_task_changed(open_page):
    demo_seed()
    users = {user.username: user for user in get_user_model().objects.all()}
    task = Task.objects.get(code="3.4")
    form = open_page(users["planner"], f"/tasks/{task.pk}/edit/", locale="ru-RU")
    author = open_page(users["admin"], f"/tasks/{task.pk}/edit/", locale="ru-RU")

    author.locator("input[name=volume_plan]").fill("1700")
    author.get_by_role("button", name="Сохранить").click()

    expect(form.locator("[data-live-watch]")).to_have_text(
        "Алексей Смирнов тем временем изменил(а) эту работу; при сохранении вы увидите различия."
    )
    screenshot(form, "ru-task-changed-meanwhile")


def test_the_schedule_fits_its_card_for_a_planner_on_a_laptop_in_russian(open_page):
    """A late task's forecast ("на 12 рабочих дней позже") and the row's two buttons once pushed
    the table past its card, the Delete buttons off the screen."""
    demo_seed()
    planner = get_user_model().objects.get(username="planner")
    schedule = open_page(planner, "/", locale="ru-RU")
    expect(schedule.locator(".forecast__delta--late").first).to_be_visible()

    card = schedule.locator(".table-card").bounding_box()
    table = schedule.locator(".task-table").bounding_box()
    delete = schedule.locator(".row-actions .button--quiet-danger").first.bounding_box()
    assert table["x"] + table["width"] <= card["x"] + card["width"]
    assert delete["x"] + delete["width"] <= card["x"] + card["width"]
