"""Presence in two browsers of two users: each sees the other in the schedule's header, and an
edit page's marker appears on the row for the other and clears when the editor leaves."""

import pytest
from playwright.sync_api import expect

from schedule.roles import PLANNERS
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_users_see_each_other_and_an_editing_marker_appears_and_clears(open_page, make_user):
    maria = make_user(PLANNERS, username="maria", first_name="Maria", last_name="Petrova")
    ivan = make_user(PLANNERS, username="ivan", first_name="Ivan", last_name="Sidorov")
    task = TaskFactory()

    watcher = open_page(ivan, "/")
    editor = open_page(maria, "/")

    expect(watcher.locator("[data-presence-people] li")).to_have_text(["MP"])
    expect(watcher.locator("[data-presence-people] li")).to_have_attribute(
        "title", "Maria Petrova is on this page"
    )
    expect(editor.locator("[data-presence-people] li")).to_have_text(["IS"])

    editor.goto(f"/tasks/{task.pk}/edit/")
    row = watcher.locator(f'tr[data-task-id="{task.pk}"]')
    expect(row.locator(".presence-marker")).to_have_text("Maria Petrova is editing")

    editor.goto("/")
    expect(row.locator(".presence-marker")).to_have_count(0)
    expect(watcher.locator("[data-presence-people] li")).to_have_text(["MP"])


def test_a_plan_input_in_focus_on_the_msg_marks_its_row_for_the_others(open_page, make_user):
    maria = make_user(PLANNERS, username="maria", first_name="Maria", last_name="Petrova")
    ivan = make_user(PLANNERS, username="ivan", first_name="Ivan", last_name="Sidorov")
    task = TaskFactory()
    month = task.start_date.strftime("%Y-%m")

    watcher = open_page(ivan, f"/monthly/?month={month}")
    editor = open_page(maria, f"/monthly/?month={month}")
    expect(watcher.locator("[data-presence-people] li")).to_have_text(["MP"])

    editor.locator(f'tr[data-task-id="{task.pk}"] input[name=volume_plan]').focus()
    row = watcher.locator(f'tr[data-task-id="{task.pk}"]')
    expect(row.locator(".presence-marker")).to_have_text("Maria Petrova is editing")

    editor.locator("h1").click()  # the input loses the focus
    expect(row.locator(".presence-marker")).to_have_count(0)
