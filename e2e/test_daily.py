"""The daily order page, live: works entered, changed and deleted by one user reach another's
open page of that date, with the day's totals, and only of that date."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from daily.models import DailyWork
from e2e.conftest import assert_not_reloaded, mark_document, notices, screenshot
from schedule.roles import FOREMEN, PLANNERS
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_works_entered_changed_and_deleted_on_the_page_reach_another_user(open_page, make_user):
    # Planned so that 20 a day is plausible: the edit saves without asking to confirm it.
    TaskFactory(code="2.1", name="Concrete works", unit="m³", volume_plan=Decimal(1000))
    TaskFactory(code="2.2", name="Reinforcement", unit="t")
    petr = make_user(FOREMEN, username="petr")
    olga = make_user(PLANNERS, username="olga")
    watcher = open_page(olga, "/daily/?date=2026-11-25")
    expect(watcher.get_by_text("No works are entered for this day.")).to_be_visible()
    mark_document(watcher)
    author = open_page(petr, "/daily/?date=2026-11-24")

    def add_work(task: str, volume: str, description: str = "") -> None:
        author.get_by_label("Task").select_option(label=task)
        author.get_by_label("Volume").fill(volume)
        author.get_by_label("Description").fill(description)
        author.get_by_role("button", name="Add", exact=True).click()

    add_work("2.1 Concrete works", "7")  # the day before: not for the watcher's page
    expect(author.get_by_text("Work 2.1 on 11/24/2026 added.")).to_be_visible()
    author.goto("/daily/?date=2026-11-25")
    add_work("2.1 Concrete works", "12.5", "Two shifts")
    expect(author.get_by_text("Work 2.1 on 11/25/2026 added.")).to_be_visible()
    add_work("2.2 Reinforcement", "1.25")
    expect(author.get_by_text("Work 2.2 on 11/25/2026 added.")).to_be_visible()

    rows = watcher.locator("tr[data-daily-work-id]")
    expect(rows.locator(".task-code")).to_have_text(["2.1", "2.2"])
    expect(rows.first.locator("td:not(.actions-col)")).to_have_text(
        ["2.1", "Concrete works", "12.5", "m³", "Two shifts", "petr"]
    )
    totals = watcher.locator(".daily-total")
    expect(totals.locator(".daily-total-unit")).to_have_text(["m³", "t"])
    expect(totals.locator(".daily-total-value")).to_have_text(["12.5", "1.25"])
    expect(notices(watcher)).to_have_text(
        ["petr: 12.5 m³ of 2.1 on 11/25", "petr: 1.25 t of 2.2 on 11/25"]
    )
    screenshot(watcher, "daily")

    author.locator("tr[data-daily-work-id]").first.get_by_role("link", name="Edit").click()
    author.get_by_label("Volume").fill("20")
    author.get_by_role("button", name="Save").click()

    expect(rows.first.locator(".daily-work-volume")).to_have_text("20")
    expect(totals.locator(".daily-total-value")).to_have_text(["20", "1.25"])
    expect(notices(watcher).last).to_have_text("petr: now 20 m³ of 2.1 on 11/25")

    for _ in range(2):
        author.locator("tr[data-daily-work-id]").first.get_by_role("link", name="Delete").click()
        author.get_by_role("button", name="Delete").click()

    expect(rows).to_have_count(0)
    expect(totals).to_have_count(0)
    expect(watcher.get_by_text("No works are entered for this day.")).to_be_visible()
    expect(notices(watcher).last).to_have_text("petr: deleted 1.25 t of 2.2 on 11/25")
    assert_not_reloaded(watcher)


def test_a_new_task_becomes_a_choice_of_the_add_form(open_page, make_user):
    TaskFactory(code="1.1", name="Excavation")
    petr = make_user(FOREMEN, username="petr")
    maria = make_user(PLANNERS, username="maria")
    daily = open_page(petr, "/daily/?date=2026-11-25")
    daily.get_by_label("Volume").fill("3")  # an entry in progress stays
    author = open_page(maria, "/tasks/new/")

    for label, value in [
        ("Code", "1.2"),
        ("Name", "Backfill"),
        ("Unit", "m³"),
        ("Planned volume", "80"),
        ("Start date", "2026-11-20"),
        ("End date", "2026-11-30"),
    ]:
        author.get_by_label(label, exact=True).fill(value)
    author.get_by_role("button", name="Create task").click()

    expect(daily.get_by_label("Task").locator("option")).to_contain_text(["1.2 Backfill"])
    daily.get_by_label("Task").select_option(label="1.2 Backfill")
    expect(daily.get_by_label("Volume")).to_have_value("3")
    daily.get_by_role("button", name="Add", exact=True).click()
    expect(daily.locator("tr[data-daily-work-id] .task-name")).to_have_text(["Backfill"])


def test_an_implausible_report_is_questioned_before_it_is_queued(open_page, make_user):
    TaskFactory(code="2.1", name="Concrete works", unit="m³", volume_plan=10)
    page = open_page(make_user(FOREMEN, username="petr"), "/daily/")
    page.answers_questions_itself = True
    page.get_by_label("Task").select_option(label="2.1 Concrete works")
    page.get_by_label("Volume").fill("50")

    # Answered as it opens: the question may open within the click (the check's answer already
    # in), and a click waits for an open dialog to close.
    page.once("dialog", lambda dialog: dialog.dismiss())
    with page.expect_event("dialog") as asked:
        page.get_by_role("button", name="Add", exact=True).click()
    question = asked.value.message

    assert "50 m³ is more than the 10 m³ left of 2.1." in question
    assert "Save anyway?" in question
    expect(page.get_by_label("Volume")).to_have_value("50")  # kept: not sent
    expect(page.locator("tr[data-daily-work-id]")).to_have_count(0)

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_event("dialog"):
        page.get_by_role("button", name="Add", exact=True).click()

    expect(page.locator("tr[data-daily-work-id]")).to_have_count(1)
    assert DailyWork.objects.get().volume == 50


def test_the_chosen_work_s_plan_for_the_day_and_what_is_left_show_under_the_volume(
    open_page, make_user
):
    TaskFactory(code="2.1", name="Concrete works", unit="m³", volume_plan=Decimal("120.5"))
    TaskFactory(code="2.2", name="Reinforcement", unit="t", volume_plan=Decimal(4))
    page = open_page(make_user(FOREMEN, username="petr"), "/daily/?date=2026-11-25")
    hint = page.locator("[data-task-hint]")
    expect(hint).to_be_hidden()  # no work chosen

    page.get_by_label("Task").select_option(label="2.1 Concrete works")
    # No monthly plan: 120.5 spread over its 42 working days, 1 November to 31 December 2026
    # (20 in November without the 4th, 22 in December without the 31st): 2.869 a day.
    expect(hint).to_have_text("Plan for the day: 2.869\xa0m³ · left: 120.5\xa0m³")
    page.get_by_label("Task").select_option(label="2.2 Reinforcement")
    expect(hint).to_have_text("Plan for the day: 0.095\xa0t · left: 4\xa0t")
