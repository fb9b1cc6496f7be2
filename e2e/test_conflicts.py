"""Two users on the same object: the form says when it changed meanwhile, and a stale save is
refused with the reason and the stored values, never silently overwriting."""

import datetime
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from e2e.conftest import notices, screenshot
from monthly.tests.factories import MonthlyTaskFactory
from schedule.roles import PLANNERS
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_second_save_of_a_task_is_refused_with_the_current_values(open_page, make_user):
    task = TaskFactory(code="1.1", name="Excavation", volume_plan=Decimal(100))
    maria = make_user(PLANNERS, username="maria")
    olga = make_user(PLANNERS, username="olga")
    first = open_page(maria, f"/tasks/{task.pk}/edit/")
    second = open_page(olga, f"/tasks/{task.pk}/edit/")
    warning = second.locator("[data-live-watch]")
    expect(warning).to_be_hidden()

    first.get_by_label("Planned volume").fill("150")
    first.get_by_role("button", name="Save").click()
    expect(first.get_by_text("Task 1.1 Excavation saved.")).to_be_visible()

    expect(warning).to_have_text(
        "This task was changed by maria meanwhile; saving will show you the differences."
    )
    second.get_by_label("Name", exact=True).fill("Excavation by hand")
    second.get_by_role("button", name="Save").click()

    conflict = second.locator(".alert--conflict[role=alert]")
    expect(conflict).to_contain_text("Someone changed this meanwhile.")
    expect(conflict).to_contain_text("Your changes were not saved.")
    stored = conflict.locator("tbody tr")
    expect(stored.filter(has_text="Planned volume").locator("td")).to_have_text(["150", "100"])
    expect(stored.filter(has_text="Name").locator("td")).to_have_text(
        ["Excavation", "Excavation by hand"]
    )
    expect(second.get_by_label("Planned volume")).to_have_value("150")  # the form: stored now
    screenshot(second, "task-conflict")

    second.get_by_label("Name", exact=True).fill("Excavation by hand")
    second.get_by_role("button", name="Save").click()  # now on top of the current version
    expect(second.get_by_text("Task 1.1 Excavation by hand saved.")).to_be_visible()


def test_a_deleted_task_is_reported_on_its_open_form(open_page, make_user):
    task = TaskFactory(code="1.1", name="Excavation")
    maria = make_user(PLANNERS, username="maria")
    olga = make_user(PLANNERS, username="olga")
    form = open_page(olga, f"/tasks/{task.pk}/edit/")
    author = open_page(maria, f"/tasks/{task.pk}/delete/")

    author.get_by_role("button", name="Delete").click()

    expect(form.locator("[data-live-watch]")).to_have_text(
        "This task was deleted by maria meanwhile."
    )


def test_a_plan_being_typed_is_kept_when_someone_else_saves_it(open_page, make_user):
    task = TaskFactory(
        code="1.1",
        name="Excavation",
        start_date=datetime.date(2026, 11, 1),
        end_date=datetime.date(2026, 11, 30),
    )
    MonthlyTaskFactory(task=task, month=datetime.date(2026, 11, 1), volume_plan=Decimal(40))
    maria = make_user(PLANNERS, username="maria")
    olga = make_user(PLANNERS, username="olga")
    typing = open_page(olga, "/monthly/?month=2026-11")
    author = open_page(maria, "/monthly/?month=2026-11")
    typing_row = typing.locator(f"#task-{task.pk}")
    typing_row.get_by_role("spinbutton").fill("55")

    author.locator(f"#task-{task.pk}").get_by_role("spinbutton").fill("48")
    author.locator(f"#task-{task.pk}").get_by_role("button", name="Save").click()

    expect(notices(typing)).to_have_text(["maria updated the plan of 1.1"])
    expect(typing_row).to_have_class(re.compile(r"\bis-outdated\b"))
    expect(typing_row.get_by_role("spinbutton")).to_have_value("55")  # the entry stays
    typing_row.get_by_role("button", name="Save").click()

    conflict = typing.locator(".row-message .alert--conflict")
    expect(conflict).to_contain_text("Someone changed this meanwhile.")
    expect(conflict.locator("tbody td")).to_have_text(["48", "55"])
    screenshot(typing, "monthly-conflict")
