"""Two users on the same object: the form says when it changed meanwhile; a stale save is merged
when they changed different fields, and otherwise offers a choice per conflicting field, never
silently overwriting."""

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


def test_a_stale_save_of_another_field_is_merged_keeping_the_newer_values(open_page, make_user):
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

    expect(second.get_by_text("Task 1.1 Excavation by hand saved.")).to_be_visible()
    task.refresh_from_db()
    assert (task.name, task.volume_plan) == ("Excavation by hand", Decimal(150))


@pytest.mark.parametrize(
    ("choice", "name"),
    [("Keep mine", "Excavation by hand"), ("Take theirs", "Excavation, stage 2")],
)
def test_a_stale_save_of_the_same_field_offers_the_choice_for_it_alone(
    open_page, make_user, choice, name
):
    task = TaskFactory(code="1.1", name="Excavation", volume_plan=Decimal(100))
    maria = make_user(PLANNERS, username="maria")
    olga = make_user(PLANNERS, username="olga")
    first = open_page(maria, f"/tasks/{task.pk}/edit/")
    second = open_page(olga, f"/tasks/{task.pk}/edit/")

    first.get_by_label("Name", exact=True).fill("Excavation, stage 2")
    first.get_by_role("button", name="Save").click()
    expect(first.get_by_text("Task 1.1 Excavation, stage 2 saved.")).to_be_visible()
    second.get_by_label("Name", exact=True).fill("Excavation by hand")
    second.get_by_label("Planned volume").fill("120")
    second.get_by_role("button", name="Save").click()

    conflict = second.locator(".alert--conflict[role=alert]")
    expect(conflict).to_contain_text("Someone changed this meanwhile.")
    expect(conflict).to_contain_text("Choose for each which value to keep")
    rows = conflict.locator("tbody tr")
    expect(rows).to_have_count(1)  # the volume was changed by one side only: no choice
    expect(rows.locator("th")).to_have_text("Name")
    expect(rows.locator("td").nth(0)).to_have_text("Excavation")
    expect(rows.locator("td").nth(1)).to_have_text("Excavation, stage 2")
    expect(rows.locator("td").nth(2)).to_have_text("Excavation by hand")
    expect(second.get_by_label("Planned volume")).to_have_value("120")  # the entry stays
    screenshot(second, "task-conflict-choice")

    second.get_by_role("button", name="Save").click()  # no choice made yet
    expect(conflict).to_contain_text("Choose which value to keep.")
    conflict.get_by_label(choice).check()
    second.get_by_role("button", name="Save").click()

    expect(second.get_by_text(f"Task 1.1 {name} saved.")).to_be_visible()
    task.refresh_from_db()
    assert (task.name, task.volume_plan) == (name, Decimal(120))


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
    typing_row.get_by_role("textbox").fill("55")

    author.locator(f"#task-{task.pk}").get_by_role("textbox").fill("48")
    author.locator(f"#task-{task.pk}").get_by_role("button", name="Save").click()

    expect(notices(typing)).to_have_text(["maria: plan of 1.1 for November 2026 now 48 m³"])
    expect(typing_row).to_have_class(re.compile(r"\bis-outdated\b"))
    expect(typing_row.get_by_role("textbox")).to_have_value("55")  # the entry stays
    typing_row.get_by_role("button", name="Save").click()

    conflict = typing.locator(".row-message .alert--conflict")
    expect(conflict).to_contain_text("Someone changed this meanwhile.")
    expect(conflict.locator("tbody td").nth(0)).to_have_text("40")  # when the row was read
    expect(conflict.locator("tbody td").nth(1)).to_have_text("48")  # stored now
    expect(conflict.locator("tbody td").nth(2)).to_have_text("55")  # the entry
    screenshot(typing, "monthly-conflict")
    conflict.get_by_label("Keep mine").check()  # the radio belongs to the row's form
    typing_row.get_by_role("button", name="Save").click()
    expect(typing.locator(f"#task-{task.pk}").get_by_role("textbox")).to_have_value("55")
