"""The history's pages: recent changes with their filters, one object's history, the rows'
"History" links and the "since your last visit" markers."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from daily.services import daily_work_create
from monthly.tests.factories import MonthlyTaskFactory
from realtime.models import Change
from schedule.services import task_delete, task_update
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

CHANGES_URL = "/changes/"


def history_url(stream: str, object_id: int) -> str:
    return f"/changes/{stream}/{object_id}/"


@pytest.fixture
def renamed(planner):
    task = TaskFactory(code="4.2", name="Old name", volume_plan=Decimal("12.5"))
    return task_update(task=task, data={"name": "New name"}, version=None, actor=planner)


def test_recent_changes_list_who_changed_what_from_what_newest_first(client, viewer, renamed):
    client.force_login(viewer)
    page = client.get(CHANGES_URL).content.decode()

    assert "New name" in page and "Old name" in page
    assert page.index("<del>Old name</del> → <ins>New name</ins>") < page.index("<ins>12.5</ins>")
    assert f'href="{history_url("tasks", renamed.pk)}"' in page


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({}, {"Renamed", "Planned"}),
        ({"stream": "monthly_tasks"}, {"Planned"}),
        ({"kind": "updated"}, {"Renamed"}),
        ({"person": "foreman"}, set()),
        ({"since": "2000-01-01", "until": "2000-01-02"}, set()),
        ({"since": "today"}, {"Renamed", "Planned"}),
    ],
)
def test_recent_changes_are_filtered_by_what_kind_person_and_day(
    client, planner, foreman, query, shown
):
    task = TaskFactory(name="Before")
    task_update(task=task, data={"name": "Renamed"}, version=None, actor=planner)
    MonthlyTaskFactory(task=task, volume_plan=Decimal("7"))
    Change.objects.filter(stream="monthly_tasks").update(fields={"volume_plan": [None, "Planned"]})
    query = {
        key: foreman.pk
        if value == "foreman"
        else timezone.localdate().isoformat()
        if value == "today"
        else value
        for key, value in query.items()
    }
    client.force_login(planner)
    page = client.get(CHANGES_URL, query).content.decode()

    assert {word for word in ("Renamed", "Planned") if f"<ins>{word}</ins>" in page} == shown


def test_a_user_sees_only_the_changes_of_what_they_may_view(client, make_user, renamed):
    MonthlyTaskFactory(task=renamed)
    client.force_login(make_user("foremen"))
    assert client.get(CHANGES_URL, {"stream": "monthly_tasks"}).status_code == 200

    only_tasks = make_user(None)
    only_tasks.user_permissions.add(*_permissions("view_task"))
    client.force_login(only_tasks)
    page = client.get(CHANGES_URL).content.decode()
    assert "New name" in page
    assert "/changes/monthly_tasks/" not in page
    assert client.get(CHANGES_URL, {"stream": "monthly_tasks"}).status_code == 400


def _permissions(*codenames: str):
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(codename__in=codenames)


def test_without_any_view_permission_the_changes_are_refused(client, make_user):
    client.force_login(make_user(None))
    assert client.get(CHANGES_URL).status_code == 403


def test_an_anonymous_user_is_sent_to_log_in(client):
    response = client.get(CHANGES_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_malformed_filter_says_what_is_wrong(client, planner):
    client.force_login(planner)
    response = client.get(CHANGES_URL, {"since": "yesterday"})
    assert response.status_code == 400
    assert "Enter a valid date." in response.content.decode()


def test_an_objects_history_shows_its_changes_with_values_as_the_pages_show_them(
    client, viewer, renamed
):
    client.force_login(viewer)
    page = client.get(history_url("tasks", renamed.pk)).content.decode()

    assert "History: 4.2 New name" in page
    assert "<del>Old name</del> → <ins>New name</ins>" in page
    assert "<ins>12.5</ins>" in page  # created: 12.500 shown as on the pages
    assert "Progress, %:" in page and "progress_percent" not in page  # a derived value's label


def test_a_deleted_objects_history_is_still_shown(client, planner, renamed):
    task_delete(task=renamed, actor=planner)
    client.force_login(planner)
    page = client.get(history_url("tasks", renamed.pk)).content.decode()
    assert "deleted" in page and "New name" in page


def test_a_daily_works_history_names_its_task_by_code(client, foreman, renamed):
    work = daily_work_create(
        data={"task": renamed, "date": datetime.date(2026, 3, 5), "volume": Decimal("2")},
        actor=foreman,
    )
    client.force_login(foreman)
    page = client.get(history_url("daily_works", work.pk)).content.decode()
    assert "<ins>4.2</ins>" in page


@pytest.mark.parametrize(
    ("url", "status"),
    [(history_url("nothing", 1), 404), (history_url("monthly_tasks", 1), 403)],
)
def test_an_objects_history_needs_a_known_stream_and_its_view_permission(
    client, make_user, url, status
):
    user = make_user(None)
    user.user_permissions.add(*_permissions("view_task"))
    client.force_login(user)
    assert client.get(url).status_code == status


def test_every_row_of_the_schedule_and_the_daily_page_links_its_history(client, viewer, renamed):
    client.force_login(viewer)
    assert f'href="{history_url("tasks", renamed.pk)}"' in client.get("/").content.decode()


def test_rows_changed_by_others_since_the_last_visit_are_marked_once(client, planner, foreman):
    mine, theirs, _untouched = TaskFactory.create_batch(3)
    client.force_login(planner)
    assert "is-changed-since" not in client.get("/").content.decode()  # the first visit

    task_update(task=mine, data={"name": "Mine"}, version=None, actor=planner)
    task_update(task=theirs, data={"name": "Theirs"}, version=None, actor=foreman)
    page = client.get("/").content.decode()

    assert page.count('class="changed-since-marker"') == 1
    row = page[page.index(f'id="task-{theirs.pk}"') :].split("</tr>")[0]
    assert "is-changed-since" in row
    assert "is-changed-since" not in client.get("/").content.decode()  # seen


def test_works_changed_by_others_since_the_last_visit_of_the_day_are_marked(
    client, planner, foreman
):
    task = TaskFactory(start_date=datetime.date(2026, 3, 1), end_date=datetime.date(2026, 3, 31))
    day = datetime.date(2026, 3, 5)
    client.force_login(planner)
    client.get("/daily/", {"date": day.isoformat()})
    work = daily_work_create(data={"task": task, "date": day, "volume": Decimal(3)}, actor=foreman)

    page = client.get("/daily/", {"date": day.isoformat()}).content.decode()

    row = page[page.index(f'id="work-{work.pk}"') :].split("</tr>")[0]
    assert "is-changed-since" in row and "changed-since-marker" in row
    assert f'href="{history_url("daily_works", work.pk)}"' in row
