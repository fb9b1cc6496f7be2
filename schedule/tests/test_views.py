import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from daily.tests.factories import DailyWorkFactory
from monthly.tests.factories import MonthlyTaskFactory
from realtime.models import Event
from schedule.models import Task
from schedule.roles import FOREMEN, PLANNERS, VIEWERS
from schedule.services import task_delete

from .factories import TaskFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("schedule:task_list")
CREATE_URL = reverse("schedule:task_create")


def update_url(task: Task) -> str:
    return reverse("schedule:task_update", args=[task.pk])


def delete_url(task: Task) -> str:
    return reverse("schedule:task_delete", args=[task.pk])


def task_data(**overrides: object) -> dict[str, object]:
    return {
        "code": "2.1",
        "name": "Concrete the slab",
        "unit": "m³",
        "volume_plan": "120.5",
        "start_date": "2026-11-02",
        "end_date": "2026-11-30",
        **overrides,
    }


def test_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get(LIST_URL)

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={LIST_URL}"


def test_login_page_renders_for_anonymous_visitors(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b'name="password"' in response.content


def test_logging_in_leads_to_the_schedule(client, planner):
    response = client.post(
        reverse("login"), {"username": planner.username, "password": "correct-horse-battery"}
    )

    assert response.status_code == 302
    assert response.url == LIST_URL


@pytest.mark.parametrize(
    ("role", "can_add", "can_change", "can_delete"),
    [
        (PLANNERS, True, True, True),
        (FOREMEN, False, False, False),
        (VIEWERS, False, False, False),
    ],
)
def test_schedule_shows_each_role_only_the_actions_it_may_take(
    client, make_user, role, can_add, can_change, can_delete
):
    task = TaskFactory(code="1.1", name="Excavation", volume_plan=Decimal("200"))
    client.force_login(make_user(role))

    response = client.get(LIST_URL)
    html = response.content.decode()

    assert response.status_code == 200
    assert "Excavation" in html
    assert (CREATE_URL in html) is can_add
    assert (update_url(task) in html) is can_change
    assert (delete_url(task) in html) is can_delete


def test_schedule_row_carries_its_ids_and_formatted_numbers(client, planner):
    task = TaskFactory(volume_plan=Decimal("200"))
    DailyWorkFactory(task=task, volume=Decimal("50.6"))
    client.force_login(planner)

    html = client.get(LIST_URL).content.decode()

    assert f'data-task-id="{task.pk}"' in html
    assert '<td class="num task-volume-plan" data-label="Plan">200</td>' in html
    assert '<td class="num task-volume-fact" data-label="Done">50.6</td>' in html
    assert "25.3&nbsp;%" in html


def test_header_shows_navigation_user_logout_and_language_switch(client, planner):
    client.force_login(planner)

    html = client.get(LIST_URL).content.decode()

    assert f'<a href="{LIST_URL}" aria-current="page">Schedule</a>' in html
    assert reverse("monthly:order") in html
    assert reverse("daily:day") in html
    assert planner.username in html
    assert f'action="{reverse("logout")}" method="post"' in html
    assert f'action="{reverse("set_language")}"' in html
    assert reverse("admin:index") not in html


def test_header_links_staff_to_the_admin(client, make_user):
    client.force_login(make_user(PLANNERS, is_staff=True))

    assert reverse("admin:index") in client.get(LIST_URL).content.decode()


def test_logout_is_a_post_that_leads_to_the_login_page(client, planner):
    client.force_login(planner)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response.url == reverse("login")
    assert client.get(LIST_URL).status_code == 302


def test_user_without_permissions_is_refused_every_schedule_page(client, make_user):
    task = TaskFactory()
    client.force_login(make_user(None))

    assert client.get(LIST_URL).status_code == 403
    assert client.get(CREATE_URL).status_code == 403
    assert client.get(update_url(task)).status_code == 403
    assert client.get(delete_url(task)).status_code == 403


@pytest.mark.parametrize("role", [FOREMEN, VIEWERS])
@pytest.mark.parametrize("method", ["get", "post"])
def test_roles_that_only_view_tasks_cannot_write_them(client, make_user, role, method):
    task = TaskFactory(name="Excavation")
    client.force_login(make_user(role))
    send = getattr(client, method)

    assert send(CREATE_URL, task_data()).status_code == 403
    assert send(update_url(task), task_data(version=task.version)).status_code == 403
    assert send(delete_url(task), {"version": task.version}).status_code == 403
    assert Task.objects.get().name == "Excavation"


def test_planner_creates_a_task_through_the_form(client, planner):
    client.force_login(planner)
    assert client.get(CREATE_URL).status_code == 200

    response = client.post(CREATE_URL, task_data(volume_fact="99"))

    task = Task.objects.get()
    assert response.status_code == 302
    assert response.url == f"{LIST_URL}#task-{task.pk}"
    assert (task.code, task.volume_plan, task.volume_fact) == ("2.1", Decimal("120.5"), 0)
    assert task.end_date == datetime.date(2026, 11, 30)
    assert "Task 2.1 Concrete the slab created." in client.get(response.url).content.decode()


def test_planner_edits_a_task_with_its_current_version(client, planner):
    task = TaskFactory(code="1.1")
    client.force_login(planner)
    form_html = client.get(update_url(task)).content.decode()
    assert f'name="version" value="{task.version}"' in form_html

    response = client.post(update_url(task), task_data(code="1.1", version=task.version))

    task.refresh_from_db()
    assert response.status_code == 302
    assert (task.name, task.version) == ("Concrete the slab", 2)


def test_edit_form_shows_volume_done_but_not_as_a_field(client, planner):
    task = TaskFactory()
    DailyWorkFactory(task=task, volume=Decimal("7"))
    client.force_login(planner)

    html = client.get(update_url(task)).content.decode()

    assert 'name="volume_fact"' not in html
    assert "7 m³" in html


def test_stale_edit_shows_the_conflict_with_the_stored_values_and_overwrites_nothing(
    client, planner
):
    task = TaskFactory(code="1.1", name="Excavation")
    seen_version = task.version
    task.name = "Excavation, stage 2"
    task.save()
    client.force_login(planner)

    response = client.post(
        update_url(task), task_data(code="1.1", name="My name", version=seen_version)
    )
    html = response.content.decode()

    task.refresh_from_db()
    assert response.status_code == 409
    assert task.name == "Excavation, stage 2"
    assert "Someone changed this meanwhile." in html
    assert "My name" in html  # what the user entered, listed beside the stored value
    assert 'value="Excavation, stage 2"' in html  # the form now shows the stored value
    assert f'name="version" value="{task.version}"' in html


def test_conflict_form_saves_once_resubmitted_with_the_new_version(client, planner):
    task = TaskFactory(code="1.1")
    task.save()
    client.force_login(planner)
    client.post(update_url(task), task_data(code="1.1", version=1))

    response = client.post(update_url(task), task_data(code="1.1", version=2))

    task.refresh_from_db()
    assert response.status_code == 302
    assert task.name == "Concrete the slab"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"start_date": "2026-12-01", "end_date": "2026-11-01"},
            "end_date",
            "The end date cannot be before the start date.",
        ),
        ({"code": "1.1"}, "code", "Task with this Code already exists."),
        ({"volume_plan": "-1"}, "volume_plan", "greater than or equal to 0"),
        ({"start_date": "25.11.2026x"}, "start_date", "Enter a valid date."),
        ({"name": ""}, "name", "This field is required."),
    ],
)
def test_invalid_task_is_refused_with_the_error_on_its_field(
    client, planner, overrides, field, message
):
    TaskFactory(code="1.1")
    client.force_login(planner)

    response = client.post(CREATE_URL, task_data(**overrides))

    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert message in response.content.decode()
    assert Task.objects.count() == 1


def test_edit_to_an_end_before_the_start_is_refused(client, planner):
    task = TaskFactory(code="1.1")
    client.force_login(planner)

    response = client.post(
        update_url(task),
        task_data(code="1.1", start_date="2026-12-01", end_date="2026-11-01", version=1),
    )

    task.refresh_from_db()
    assert response.status_code == 400
    assert "The end date cannot be before the start date." in response.content.decode()
    assert task.version == 1


def test_delete_asks_for_confirmation_and_names_what_goes_with_the_task(client, planner):
    task = TaskFactory(code="1.1")
    MonthlyTaskFactory(task=task)
    DailyWorkFactory(task=task)
    DailyWorkFactory(task=task)
    client.force_login(planner)

    html = client.get(delete_url(task)).content.decode()

    assert "Its 1 monthly plan will be deleted too." in html
    assert "Its 2 daily works will be deleted too." in html
    assert Task.objects.exists()


def test_planner_deletes_a_task_after_confirming(client, planner):
    task = TaskFactory()
    client.force_login(planner)

    response = client.post(delete_url(task), {"version": task.version})

    assert response.status_code == 302
    assert response.url == LIST_URL
    assert not Task.objects.exists()


def test_stale_delete_shows_the_stored_values_and_deletes_nothing(client, planner):
    task = TaskFactory(name="Excavation")
    task.name = "Excavation, renamed"
    task.save()
    client.force_login(planner)

    response = client.post(delete_url(task), {"version": 1})
    html = response.content.decode()

    assert response.status_code == 409
    assert Task.objects.filter(pk=task.pk).exists()
    assert "Someone changed this meanwhile." in html
    assert "Excavation, renamed" in html
    assert 'name="version" value="2"' in html


@pytest.mark.parametrize(
    ("page", "method"), [(update_url, "get"), (delete_url, "get"), (delete_url, "post")]
)
def test_pages_of_a_task_deleted_meanwhile_lead_back_to_the_schedule(client, planner, page, method):
    """Saving an edit of a deleted task instead offers to create it again (below)."""
    task = TaskFactory()
    url = page(task)
    task.delete()
    client.force_login(planner)

    response = getattr(client, method)(url, task_data(version=1), follow=True)

    assert response.redirect_chain == [(LIST_URL, 302)]
    assert "Someone else deleted this meanwhile." in response.content.decode()


def test_schedule_needs_the_same_queries_for_many_tasks(client, planner):
    TaskFactory()
    client.force_login(planner)
    client.get(LIST_URL)
    with CaptureQueriesContext(connection) as one_task:
        client.get(LIST_URL)
    TaskFactory.create_batch(20)

    with CaptureQueriesContext(connection) as many_tasks:
        client.get(LIST_URL)

    assert len(many_tasks) == len(one_task)


def test_schedule_lists_codes_in_reading_order(client, viewer):
    for code in ["10.1", "2.1", "1.10", "1.2"]:
        TaskFactory(code=code)
    client.force_login(viewer)

    tasks = client.get(LIST_URL).context["tasks"]

    assert [task.code for task in tasks] == ["1.2", "1.10", "2.1", "10.1"]


def test_page_embeds_the_event_log_position_its_data_was_read_at(client, planner):
    TaskFactory()
    client.force_login(planner)

    html = client.get(LIST_URL).content.decode()

    assert f'<body class="" data-last-event-id="{Event.objects.latest_id()}">' in html


# Live updates: fragments of the page for static/js/schedule.js.


def fragment_url(*task_ids: object) -> str:
    return LIST_URL + "?fragment=rows" + "".join(f"&task={task_id}" for task_id in task_ids)


def test_fragment_renders_the_rows_asked_for_and_the_task_count(client, viewer):
    first, second, _third = TaskFactory(code="1.1"), TaskFactory(code="1.10"), TaskFactory()
    client.force_login(viewer)

    response = client.get(fragment_url(second.pk, first.pk, 999_999, "junk", "-1"))
    html = response.content.decode()

    assert response.status_code == 200
    assert [task.code for task in response.context["tasks"]] == ["1.1", "1.10"]
    assert html.lstrip().startswith("<table><tbody>")
    assert (
        f'<tr id="task-{first.pk}" data-sort-key="{first.code_key}" data-task-id="{first.pk}"'
        ' data-version="1">'
    ) in html
    assert '<p class="page-header__lead" data-live-part="task-count">3 tasks</p>' in html


def test_fragment_of_a_deleted_task_has_no_row(client, viewer):
    task = TaskFactory()
    task_id = task.pk
    task.delete()
    client.force_login(viewer)

    html = client.get(fragment_url(task_id)).content.decode()

    assert "<table><tbody></tbody></table>" in html


@pytest.mark.parametrize(
    ("role", "can_change", "can_delete"),
    [(PLANNERS, True, True), (FOREMEN, False, False), (VIEWERS, False, False)],
)
def test_fragment_rows_show_only_the_actions_the_role_may_take(
    client, make_user, role, can_change, can_delete
):
    task = TaskFactory()
    client.force_login(make_user(role))

    html = client.get(fragment_url(task.pk)).content.decode()

    assert (update_url(task) in html) is can_change
    assert (delete_url(task) in html) is can_delete


def test_fragment_needs_the_view_permission(client, make_user):
    task = TaskFactory()
    client.force_login(make_user(None))

    assert client.get(fragment_url(task.pk)).status_code == 403


def test_schedule_page_configures_its_live_updates(client, viewer, settings):
    settings.REALTIME_CLIENT_RECONNECT_DELAY_MS = 250
    client.force_login(viewer)

    response = client.get(LIST_URL)
    html = response.content.decode()

    assert 'data-live-page="schedule"' in html
    assert f'data-fragment-url="{LIST_URL}?fragment=rows"' in html
    assert 'data-api-url="/api/tasks/"' in html
    assert '<script type="module" src="/static/js/schedule.js"></script>' in html
    assert response.context["realtime_client"]["reconnectDelay"] == 250
    assert '<script id="realtime-config" type="application/json">' in html
    assert '<script id="live-messages" type="application/json">' in html
    assert "data-live-status" in html


def test_empty_schedule_keeps_a_hidden_table_for_live_rows(client, viewer):
    client.force_login(viewer)

    html = client.get(LIST_URL).content.decode()

    assert '<div class="table-card" data-live-rows hidden>' in html
    assert '<div class="card empty-state" data-live-empty>' in html


def test_login_page_has_no_live_updates(client):
    html = client.get(reverse("login")).content.decode()

    assert "realtime-config" not in html
    assert "data-live-status" not in html


@pytest.mark.parametrize("page", [update_url, delete_url])
def test_task_forms_watch_their_task_for_changes(client, planner, page):
    task = TaskFactory()
    task.name = "Renamed"
    task.save()
    client.force_login(planner)

    html = client.get(page(task)).content.decode()

    assert (
        f'data-live-watch data-stream="tasks" data-entity="task"\n'
        f'     data-object-id="{task.pk}" data-version="2"'
    ) in html
    assert 'data-changed="This task was changed by %(actor)s meanwhile;' in html
    assert '<script type="module" src="/static/js/form-watch.js"></script>' in html


def test_new_task_form_watches_nothing(client, planner):
    client.force_login(planner)

    assert "data-live-watch" not in client.get(CREATE_URL).content.decode()


def test_saving_a_task_deleted_meanwhile_says_who_deleted_it_and_offers_to_create_it_again(
    client, planner, make_user
):
    other = make_user(PLANNERS, username="olga", first_name="Olga", last_name="Petrova")
    task = TaskFactory(code="1.1")
    url = update_url(task)
    task_delete(task=task, actor=other)
    client.force_login(planner)

    response = client.post(url, task_data(code="1.1", name="Mine", version=1))
    html = response.content.decode()

    assert response.status_code == 410
    assert "This task was deleted at " in html and " by Olga Petrova." in html
    assert f'action="{CREATE_URL}"' in html
    assert 'value="Mine"' in html
    assert not Task.objects.exists()

    again = client.post(CREATE_URL, task_data(code="1.1", name="Mine"))

    assert again.status_code == 302
    assert Task.objects.get().name == "Mine"


def test_a_role_that_cannot_create_tasks_is_only_told_the_task_was_deleted(client, make_user):
    editor = make_user(None, username="editor")
    editor.user_permissions.add(Permission.objects.get(codename="change_task"))
    task = TaskFactory(code="1.1")
    url = update_url(task)
    task.delete()
    client.force_login(editor)

    response = client.post(url, task_data(code="1.1", version=1), follow=True)

    assert response.redirect_chain == [(LIST_URL, 302)]
    assert "Someone else deleted this meanwhile." in response.content.decode()
