"""Open pages ride out server restarts and network drops without losing a change."""

import re

import pytest
from playwright.sync_api import expect

from e2e.conftest import (
    assert_not_reloaded,
    live_status,
    mark_document,
    notices,
    run_orm,
    screenshot,
)
from schedule.roles import VIEWERS
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)

# Made by ORM code in another process while the server is down.
CHANGES = """
import datetime
from daily.models import DailyWork
from schedule.models import Task
Task.objects.create(code='1.3', name='Waterproofing', unit='m²', volume_plan=40,
    start_date=datetime.date(2026, 11, 1), end_date=datetime.date(2026, 11, 30))
task = Task.objects.get(code='1.1')
task.name = 'Excavation of the pit'
task.save()
Task.objects.get(code='1.2').delete()
DailyWork.objects.create(task=Task.objects.get(code='1.1'), date=datetime.date(2026, 11, 25),
    volume=30)
"""

RETRYING = re.compile(r"Reconnecting \(attempt ([2-9]|\d\d+)\)…")


def test_after_a_server_restart_the_page_shows_every_change_made_meanwhile(
    open_page, make_user, server
):
    TaskFactory(code="1.1", name="Excavation")
    TaskFactory(code="1.2", name="Backfill")
    page = open_page(make_user(VIEWERS, username="ivan"), "/")
    mark_document(page)
    badge = live_status(page)

    server.stop()
    expect(badge).to_have_text(RETRYING)  # counts its attempts
    expect(badge).to_have_attribute("data-state", "reconnecting")
    screenshot(page, "schedule-reconnecting")
    run_orm(CHANGES)
    expect(badge).to_have_text(RETRYING)
    server.start()

    expect(badge).to_have_text("Connected")
    rows = page.locator("tr[data-task-id]")
    expect(rows.locator(".task-code")).to_have_text(["1.1", "1.3"])
    expect(rows.first.locator(".task-name")).to_have_text("Excavation of the pit")
    expect(rows.first.locator(".task-volume-fact")).to_have_text("30")
    expect(rows.first.locator(".task-progress-percent")).to_have_text(re.compile(r"30\.0\s%"))
    expect(notices(page)).to_contain_text(
        [
            "A script: new task 1.3 “Waterproofing”",
            "A script: changed task 1.1 “Excavation of the pit”",
            "A script: deleted task 1.2 “Backfill”",
            "A script: 30 m³ of 1.1 on 11/25",  # the report, not its task's recalculation
        ]
    )
    console = [message.text for message in page.console_messages()]
    assert "WebSocket disconnected" in console
    assert console.count("WebSocket connected") == 2
    assert server.starts == 2
    assert_not_reloaded(page)


def test_a_page_away_for_longer_than_the_log_keeps_reloads_its_data(open_page, make_user, server):
    TaskFactory(code="1.1", name="Excavation")
    TaskFactory(code="1.2", name="Backfill")
    page = open_page(make_user(VIEWERS, username="ivan"), "/")
    mark_document(page)

    server.stop()
    expect(live_status(page)).to_have_attribute("data-state", "reconnecting")
    run_orm(
        CHANGES
        + "from django.core.management import call_command\n"
        + "call_command('prune_events', days=0)\n"  # the events of the changes are gone too
    )
    server.start()

    expect(notices(page)).to_have_text(
        ["This page was away too long to catch up change by change; its data was reloaded."]
    )
    rows = page.locator("tr[data-task-id]")
    expect(rows.locator(".task-code")).to_have_text(["1.1", "1.3"])
    expect(rows.first.locator(".task-name")).to_have_text("Excavation of the pit")
    expect(rows.first.locator(".task-volume-fact")).to_have_text("30")
    expect(page.locator("[data-live-part=task-count]")).to_have_text("2 tasks")
    assert_not_reloaded(page)


def test_the_badge_says_offline_while_the_browser_has_no_network(open_page, make_user):
    page = open_page(make_user(VIEWERS, username="ivan"), "/")
    badge = live_status(page)

    page.context.set_offline(True)
    expect(badge).to_have_text("Offline")
    expect(badge).to_have_attribute("data-state", "offline")
    screenshot(page, "schedule-offline")
    page.context.set_offline(False)

    expect(badge).to_have_text("Connected")
