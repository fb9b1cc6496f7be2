"""Changes made outside the pages reach an open schedule page: Django admin, and ORM code in
another process."""

import pytest
from playwright.sync_api import expect

from e2e.conftest import assert_not_reloaded, mark_document, notices, run_orm
from schedule.roles import VIEWERS
from schedule.tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_change_made_in_django_admin_appears_on_an_open_schedule(open_page, make_user):
    task = TaskFactory(code="1.1", name="Excavation")
    admin = UserFactory(username="boss", is_staff=True, is_superuser=True)
    watcher = open_page(make_user(VIEWERS, username="ivan"), "/")
    mark_document(watcher)
    author = open_page(admin, f"/admin/schedule/task/{task.pk}/change/")

    author.get_by_label("Name:").fill("Excavation by hand")
    author.get_by_role("button", name="Save", exact=True).click()
    expect(author.get_by_text("was changed successfully")).to_be_visible()

    expect(watcher.locator(f"#task-{task.pk} .task-name")).to_have_text("Excavation by hand")
    expect(notices(watcher)).to_have_text(["boss: changed task 1.1 “Excavation by hand”"])
    assert_not_reloaded(watcher)


def test_orm_code_in_another_process_reaches_an_open_schedule(open_page, make_user):
    first = TaskFactory(code="1.1", name="Excavation")
    tenth = TaskFactory(code="1.10", name="Cleanup")
    watcher = open_page(make_user(VIEWERS, username="ivan"), "/")
    mark_document(watcher)

    run_orm(
        "import datetime\n"
        "from schedule.models import Task\n"
        "Task.objects.create(code='1.2', name='Backfill', unit='m³', volume_plan=10,\n"
        # Not over by today (a late task's name carries a marker).
        "    start_date=datetime.date(2026, 11, 1), end_date=datetime.date(2099, 11, 30))\n"
        f"task = Task.objects.get(pk={first.pk})\n"
        "task.name = 'Excavation of the pit'\n"
        "task.save()\n"
        f"Task.objects.get(pk={tenth.pk}).delete()\n"
    )

    rows = watcher.locator("tr[data-task-id]")
    expect(rows.locator(".task-code")).to_have_text(["1.1", "1.2"])  # in the order of codes
    expect(rows.locator(".task-name")).to_have_text(["Excavation of the pit", "Backfill"])
    expect(notices(watcher)).to_have_text(
        [
            "A script: new task 1.2 “Backfill”",
            "A script: changed task 1.1 “Excavation of the pit”",
            "A script: deleted task 1.10 “Cleanup”",
        ]
    )
    assert_not_reloaded(watcher)


def test_rows_created_elsewhere_are_put_in_the_order_of_codes(open_page, make_user):
    for code in ["1.1", "1.10", "2.1"]:
        TaskFactory(code=code)
    watcher = open_page(make_user(VIEWERS, username="ivan"), "/")

    run_orm(
        "import datetime\n"
        "from schedule.models import Task\n"
        "for code in ['1.2', '10.1', '0.9', '1.9']:\n"
        "    Task.objects.create(code=code, name='Work ' + code, unit='m', volume_plan=1,\n"
        "        start_date=datetime.date(2026, 11, 1), end_date=datetime.date(2026, 11, 30))\n"
    )

    expect(watcher.locator("tr[data-task-id] .task-code")).to_have_text(
        ["0.9", "1.1", "1.2", "1.9", "1.10", "2.1", "10.1"]
    )
