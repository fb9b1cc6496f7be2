"""The monthly order page, live: plans made, changed and deleted by one user reach another's
open page of that month, and only of that month."""

import datetime
import re

import pytest
from playwright.sync_api import expect

from e2e.conftest import assert_not_reloaded, mark_document, notices, screenshot
from schedule.roles import PLANNERS, VIEWERS
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_plans_made_changed_and_deleted_on_the_page_reach_another_user(open_page, make_user):
    task = TaskFactory(
        code="1.1",
        name="Excavation",
        unit="m³",
        start_date=datetime.date(2026, 11, 1),
        end_date=datetime.date(2026, 12, 31),
    )
    TaskFactory(code="1.2", name="Backfill", unit="t")  # its volumes are not added to m³
    maria = make_user(PLANNERS, username="maria")
    ivan = make_user(VIEWERS, username="ivan")
    november = open_page(ivan, "/monthly/?month=2026-11")
    december = open_page(ivan, "/monthly/?month=2026-12")
    for page in (november, december):
        mark_document(page)
    author = open_page(maria, "/monthly/?month=2026-11")
    author_row = author.locator(f"#task-{task.pk}")
    row = november.locator(f"#task-{task.pk}")
    total = november.locator('.monthly-total[data-unit="m³"] .monthly-total-value')

    author_row.get_by_role("textbox").fill("40")
    author_row.get_by_role("button", name="Add").click()

    expect(row.locator(".monthly-volume-plan")).to_have_text("40")
    expect(total).to_have_text("40")
    expect(notices(november)).to_have_text(["maria: plan of 1.1 for November 2026 — 40 m³"])

    author_row.get_by_role("textbox").fill("45.5")
    author_row.get_by_role("button", name="Save").click()

    expect(row.locator(".monthly-volume-plan")).to_have_text("45.5")
    expect(total).to_have_text("45.5")
    expect(notices(november).last).to_have_text("maria: plan of 1.1 for November 2026 now 45.5 m³")
    screenshot(november, "monthly")

    # December's page hears nothing of November, only of its own month.
    author.goto("/monthly/?month=2026-12")
    author_row.get_by_role("textbox").fill("25")
    author_row.get_by_role("button", name="Add").click()

    expect(december.locator(f"#task-{task.pk} .monthly-volume-plan")).to_have_text("25")
    expect(notices(december)).to_have_text(["maria: plan of 1.1 for December 2026 — 25 m³"])
    expect(row.locator(".monthly-volume-plan")).to_have_text("45.5")

    author.goto("/monthly/?month=2026-11")
    author_row.get_by_role("link", name="Delete").click()
    author.get_by_role("button", name="Delete").click()

    expect(row.locator(".monthly-volume-plan")).to_have_text("—")  # the task still runs then
    expect(row).to_have_class(re.compile(r"\bis-unplanned\b"))
    # The 100 m³ less December's 25 are all November's now (the only month without a plan).
    expect(total).to_have_text("75")
    expect(notices(november).last).to_have_text("maria: deleted the plan of 1.1 for November 2026")
    expect(december.locator(f"#task-{task.pk} .monthly-volume-plan")).to_have_text("25")
    for page in (november, december):
        assert_not_reloaded(page)


def test_tasks_join_and_leave_the_month_as_their_dates_change(open_page, make_user):
    task = TaskFactory(
        code="2.1",
        name="Roofing",
        start_date=datetime.date(2027, 1, 10),
        end_date=datetime.date(2027, 2, 20),
    )
    maria = make_user(PLANNERS, username="maria")
    ivan = make_user(VIEWERS, username="ivan")
    watcher = open_page(ivan, "/monthly/?month=2026-12")
    expect(watcher.locator("[data-live-empty]")).to_be_visible()
    author = open_page(maria, f"/tasks/{task.pk}/edit/")

    author.get_by_label("Start date").fill("2026-12-14")
    author.get_by_role("button", name="Save").click()

    expect(watcher.locator(f"#task-{task.pk} .task-name")).to_have_text("Roofing")
    expect(watcher.locator("[data-live-empty]")).to_be_hidden()

    author.goto(f"/tasks/{task.pk}/edit/")
    author.get_by_label("Start date").fill("2027-01-04")
    author.get_by_role("button", name="Save").click()

    expect(watcher.locator(f"#task-{task.pk}")).to_have_count(0)
    expect(watcher.locator("[data-live-empty]")).to_be_visible()
    expect(notices(watcher)).to_have_text(
        ["maria: changed task 2.1 “Roofing”", "maria: changed task 2.1 “Roofing”"]
    )
