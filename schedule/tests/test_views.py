import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from daily.tests.factories import DailyWorkFactory
from monthly.tests.factories import MonthlyTaskFactory
from realtime.models import Event
from schedule.models import Task, Unit
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


def test_stale_edit_of_a_field_changed_since_offers_a_choice_for_it_and_overwrites_nothing(
    client, planner
):
    task = TaskFactory(code="1.1", name="Excavation", volume_plan=Decimal(100))
    seen_version = task.version
    task.name = "Excavation, stage 2"
    task.save()
    client.force_login(planner)

    response = client.post(
        update_url(task),
        task_data(code="1.1", name="My name", volume_plan="150", version=seen_version),
    )
    html = response.content.decode()

    task.refresh_from_db()
    assert response.status_code == 409
    assert (task.name, task.volume_plan) == ("Excavation, stage 2", Decimal(100))
    assert "Someone changed this meanwhile." in html
    conflict = response.context["conflict"]
    assert [(item.label, item.base, item.stored, item.yours) for item in conflict.fields] == [
        ("Name", "Excavation", "Excavation, stage 2", "My name")
    ]
    assert 'name="choose_name" value="mine"' in html
    assert 'name="choose_name" value="theirs"' in html
    form = response.context["form"]
    # The form sends the entry again, at the stored version, once the choice is made.
    assert (form["name"].value(), form["volume_plan"].value()) == ("My name", Decimal(150))
    assert f'name="version" value="{task.version}"' in html


@pytest.mark.parametrize(
    ("choice", "name"), [("mine", "My name"), ("theirs", "Excavation, stage 2")]
)
def test_the_choice_of_a_conflict_decides_its_field_and_the_other_changes_are_saved(
    client, planner, choice, name
):
    task = TaskFactory(code="1.1", name="Excavation", volume_plan=Decimal(100))
    task.name = "Excavation, stage 2"
    task.save()
    client.force_login(planner)
    entry = task_data(code="1.1", name="My name", volume_plan="150")
    client.post(update_url(task), entry | {"version": 1})

    response = client.post(
        update_url(task), entry | {"version": 2, "conflicts": "name", "choose_name": choice}
    )

    task.refresh_from_db()
    assert response.status_code == 302
    assert (task.name, task.volume_plan, task.version) == (name, Decimal(150), 3)


def test_an_unanswered_choice_is_asked_again_and_saves_nothing(client, planner):
    task = TaskFactory(code="1.1", name="Excavation")
    client.force_login(planner)

    response = client.post(
        update_url(task), task_data(code="1.1", name="My name", version=1, conflicts="name")
    )
    html = response.content.decode()

    task.refresh_from_db()
    assert response.status_code == 400
    assert task.name == "Excavation"
    assert "Choose which value to keep." in html
    assert 'name="choose_name" value="mine"' in html


def test_stale_edit_of_other_fields_is_saved_and_keeps_the_newer_values(client, planner):
    task = TaskFactory(code="1.1", name="Excavation", unit="m³")
    task.name = "Excavation, stage 2"
    task.save()
    client.force_login(planner)

    response = client.post(
        update_url(task),
        task_data(code="1.1", name="Excavation", unit="m", version=1),
    )

    task.refresh_from_db()
    assert response.status_code == 302
    assert (task.name, task.unit, task.version) == ("Excavation, stage 2", "m", 3)


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


# Forecasts (docs/msg.md, "Forecasts") and the timeline.

JAN_14 = datetime.date(2026, 1, 14)  # a Wednesday: the docs' example's "today"
TIMELINE_URL = LIST_URL + "?view=timeline"


@pytest.fixture
def today(monkeypatch):
    """Pin the server's date for the page (the forecast counts from it)."""

    def pin(day: datetime.date) -> datetime.date:
        monkeypatch.setattr("django.utils.timezone.localdate", lambda *args, **kwargs: day)
        return day

    return pin


def report(task: Task, *volumes_by_day: tuple[datetime.date, str]) -> None:
    for day, volume in volumes_by_day:
        DailyWorkFactory(task=task, date=day, volume=Decimal(volume))


def jan(day: int) -> datetime.date:
    return datetime.date(2026, 1, day)


@pytest.mark.parametrize(
    ("end", "reports", "forecast"),
    [
        # The docs' example: 20 in 3 report days, 80 left: 12 working days from the 14th.
        (
            jan(30),
            [(jan(12), "5"), (jan(13), "5"), (jan(14), "10")],
            "01/29/2026 1 working day early",
        ),
        (jan(29), [(jan(12), "5"), (jan(13), "5"), (jan(14), "10")], "01/29/2026 on time"),
        (
            jan(23),
            [(jan(12), "5"), (jan(13), "5"), (jan(14), "10")],
            "01/29/2026 4 working days late",
        ),
        (jan(30), [], "not started"),
        (jan(30), [(jan(12), "60"), (jan(13), "40")], "done 01/13/2026"),
    ],
)
def test_schedule_shows_each_tasks_forecast(client, viewer, today, end, reports, forecast):
    today(JAN_14)
    task = TaskFactory(volume_plan=Decimal(100), start_date=jan(12), end_date=end)
    report(task, *reports)
    client.force_login(viewer)

    html = client.get(LIST_URL).content.decode()

    assert '<th scope="col" class="forecast-col">Forecast</th>' in html
    cell = re.search(r'<td class="task-forecast"[^>]*>(.*?)</td>', html, re.S).group(1)
    assert " ".join(re.sub(r"<[^>]+>", " ", cell).split()) == forecast


def test_forecast_says_what_rate_it_rests_on(client, viewer, today):
    today(JAN_14)
    task = TaskFactory(volume_plan=Decimal(100), start_date=jan(12), end_date=jan(30))
    report(task, (jan(12), "5"), (jan(13), "5"), (jan(14), "10"))
    client.force_login(viewer)

    html = client.get(LIST_URL).content.decode()

    assert 'title="6.667 a day on average over the last 3 report days; 80 left."' in html


AFTER_END = "At the rate of its recent reports this task finishes after its end date."
NEVER = "At the rate of its recent reports this task does not finish within ten years."
PAST_END = "Its end date has passed and nothing is reported on it."


@pytest.mark.parametrize(
    ("end", "volume_plan", "reports", "late"),
    [
        (jan(23), "100", [(jan(13), "10")], AFTER_END),  # 9 more working days: past the 23rd
        (jan(30), "100", [(jan(13), "10")], None),  # done by the 26th
        (jan(23), "100", [], None),  # not started, its end ahead: no forecast to be late by
        (jan(13), "100", [], PAST_END),  # not started and its end date gone
        (jan(13), "100", [(jan(12), "10")], AFTER_END),  # its end gone, work left
        (jan(12), "100", [(jan(12), "100")], None),  # done: nothing to catch up
        (jan(30), "100000", [(jan(13), "0.001")], NEVER),  # no finish within ten years
    ],
)
def test_a_late_task_is_marked_with_a_titled_word_not_only_a_colour(
    client, viewer, today, end, volume_plan, reports, late
):
    today(JAN_14)
    task = TaskFactory(volume_plan=Decimal(volume_plan), start_date=jan(12), end_date=end)
    report(task, *reports)
    client.force_login(viewer)

    html = client.get(LIST_URL).content.decode()

    assert (f'<tr id="task-{task.pk}" class="is-late"' in html) is (late is not None)
    assert html.count('<span class="late-marker"') == (late is not None)
    if late is not None:
        assert (
            f'<span class="late-marker" title="{late}"><span class="late-marker__icon"'
            ' aria-hidden="true">▲</span> <span class="late-marker__word">Late</span></span>'
        ) in html


def test_fragment_rows_carry_the_forecast_of_the_reports_so_far(client, viewer, today):
    today(JAN_14)
    task = TaskFactory(volume_plan=Decimal(100), start_date=jan(12), end_date=jan(23))
    report(task, (jan(13), "10"))
    client.force_login(viewer)

    html = client.get(fragment_url(task.pk)).content.decode()

    assert f'<tr id="task-{task.pk}" class="is-late"' in html
    assert '<time class="forecast__finish" datetime="2026-01-26">01/26/2026</time>' in html


@pytest.mark.parametrize(
    ("role", "streams"),
    [
        (PLANNERS, "tasks daily_works calendar_days"),
        (VIEWERS, "tasks daily_works calendar_days"),
        (None, "tasks"),  # only the view permission of tasks
    ],
)
@pytest.mark.parametrize("url", [LIST_URL, TIMELINE_URL])
def test_schedule_follows_the_streams_that_move_a_forecast_that_the_user_may_see(
    client, make_user, role, streams, url
):
    user = make_user(role)
    if role is None:
        user.user_permissions.add(Permission.objects.get(codename="view_task"))
    client.force_login(user)

    html = client.get(url).content.decode()

    assert f'data-streams="{streams}"' in html


@pytest.mark.parametrize(
    "url", [LIST_URL, TIMELINE_URL, TIMELINE_URL + "&fragment=timeline", fragment_url(1, 2, 3)]
)
def test_forecasts_and_the_timeline_need_the_same_queries_for_many_tasks(client, planner, url):
    def add_tasks(count: int) -> None:
        for task in TaskFactory.create_batch(count, volume_plan=Decimal(100)):
            report(task, (task.start_date, "10"), (task.start_date + datetime.timedelta(1), "5"))

    add_tasks(1)
    client.force_login(planner)
    client.get(url)
    with CaptureQueriesContext(connection) as one_task:
        client.get(url)
    add_tasks(20)

    with CaptureQueriesContext(connection) as many_tasks:
        client.get(url)

    assert len(many_tasks) == len(one_task)


# The timeline: January to April 2026 is 120 days, drawn by months at 960 / 120 = 8 px a day.

MAR_2 = datetime.date(2026, 3, 2)  # a Monday


def timeline_tasks() -> dict[str, Task]:
    whole = TaskFactory(
        code="1.1",
        volume_plan=Decimal(100),
        start_date=datetime.date(2026, 1, 1),
        end_date=datetime.date(2026, 4, 30),
    )
    half = TaskFactory(
        code="1.2",
        volume_plan=Decimal(100),
        start_date=datetime.date(2026, 2, 1),
        end_date=datetime.date(2026, 3, 31),
    )
    report(half, (datetime.date(2026, 2, 2), "50"))
    # 10 a day, 90 left: 9 working days from 2 March (9 March is a holiday) end on the 13th.
    late = TaskFactory(
        code="2.1",
        volume_plan=Decimal(100),
        start_date=MAR_2,
        end_date=datetime.date(2026, 3, 6),
    )
    report(late, (MAR_2, "10"))
    return {"whole": whole, "half": half, "late": late}


def test_timeline_lays_bars_progress_and_overrun_on_the_date_axis(client, viewer, today):
    today(MAR_2)
    tasks = timeline_tasks()
    client.force_login(viewer)

    response = client.get(TIMELINE_URL)
    timeline = response.context["timeline"]
    bars = {bar.task.code: bar for section in timeline.sections for bar in section.bars}

    assert timeline.axis.unit == "month"
    assert (timeline.axis.first, timeline.axis.last) == (
        datetime.date(2026, 1, 1),
        datetime.date(2026, 4, 30),
    )
    assert [(tick.day.month, tick.x) for tick in timeline.axis.ticks] == [
        (1, 0),
        (2, 248),
        (3, 472),
        (4, 720),
    ]
    assert timeline.axis.today_x == 484  # the middle of 2 March: (59 + 0.5) × 8
    assert [(bar.x, bar.width, bar.done_width, bar.overrun_width) for bar in bars.values()] == [
        (0, 960, 0, None),
        (248, 472, 236, None),  # half done, the rest due on 2 March: early
        (480, 40, 4, 56),  # 7–13 March beyond its end
    ]
    assert [(s.section, len(s.bars), s.late_count) for s in timeline.sections] == [
        ("1", 2, 0),
        ("2", 1, 1),
    ]
    html = response.content.decode()
    late = tasks["late"]
    assert f'<div class="timeline-row timeline-task is-late" id="timeline-task-{late.pk}"' in html
    assert '<rect class="timeline-bar" x="480" y="7" width="40" height="14" rx="3"/>' in html
    assert (
        '<rect class="timeline-bar__overrun" x="520" y="9" width="56" height="10" rx="2">'
        "<title>Forecast finish: 03/13/2026</title></rect>"
    ) in html
    assert 'x1="484" x2="484"' in html
    assert '<details class="timeline-section" data-section="2" open>' in html


def test_timeline_speaks_russian_and_keeps_its_positions_numbers(client, viewer, today):
    today(MAR_2)
    TaskFactory(start_date=datetime.date(2026, 3, 4), end_date=datetime.date(2026, 3, 17))
    client.force_login(viewer)

    html = client.get(TIMELINE_URL, headers={"accept-language": "ru"}).content.decode()

    assert '<html lang="ru">' in html
    assert 'aria-current="page">Диаграмма</a>' in html
    assert "Раздел 1" in html
    # 4 March on the 21 days from Monday 2 March, at 960 / 21 = 45.71 px a day
    assert '<rect class="timeline-bar" x="91.4" y="7" width="640" height="14" rx="3"/>' in html
    assert "91,4" not in html


@pytest.mark.parametrize(
    ("first", "last", "unit", "axis", "labels"),
    [
        # Up to 16 weeks: whole weeks, Monday to Sunday.
        ("2026-03-04", "2026-03-17", "week", ("2026-03-02", "2026-03-22"), 3),
        ("2026-01-05", "2026-04-26", "week", ("2026-01-05", "2026-04-26"), 16),
        # Longer: whole months, each labelled up to two years.
        ("2026-01-05", "2026-04-27", "month", ("2026-01-01", "2026-04-30"), 4),
        ("2026-01-15", "2027-12-01", "month", ("2026-01-01", "2027-12-31"), 24),
        # Beyond: one label a quarter.
        ("2026-01-15", "2028-01-01", "month", ("2026-01-01", "2028-01-31"), 9),
    ],
)
def test_timeline_scale_follows_the_span(first, last, unit, axis, labels):
    from schedule.views import timeline_axis

    result = timeline_axis(
        first=datetime.date.fromisoformat(first),
        last=datetime.date.fromisoformat(last),
        today=MAR_2,
    )

    assert result.unit == unit
    assert (result.first.isoformat(), result.last.isoformat()) == axis
    assert sum(tick.labelled for tick in result.ticks) == labels
    assert result.x(result.last + datetime.timedelta(days=1)) == 960


def test_timeline_toggle_marks_the_view_shown(client, viewer):
    client.force_login(viewer)

    table = client.get(LIST_URL).content.decode()
    timeline = client.get(TIMELINE_URL).content.decode()
    unknown = client.get(LIST_URL + "?view=junk")

    assert f'href="{LIST_URL}" aria-current="page">Table</a>' in table
    assert f'href="{TIMELINE_URL}" aria-current="page">Timeline</a>' in timeline
    assert 'data-live-page="timeline"' in timeline
    assert "data-live-rows" not in timeline
    assert unknown.context["view"] == "table"


def test_timeline_fragment_is_its_body_with_the_task_count(client, viewer, today):
    today(MAR_2)
    timeline_tasks()
    client.force_login(viewer)

    html = client.get(TIMELINE_URL + "&fragment=timeline").content.decode()

    assert html.lstrip().startswith('<div class="timeline-body" data-timeline-body>')
    assert '<p class="page-header__lead" data-live-part="task-count">3 tasks</p>' in html
    assert "<html" not in html


def test_forecast_speaks_russian(client, viewer, today):
    today(JAN_14)
    task = TaskFactory(volume_plan=Decimal(100), start_date=jan(12), end_date=jan(23))
    report(task, (jan(12), "5"), (jan(13), "5"), (jan(14), "10"))
    client.force_login(viewer)

    html = client.get(LIST_URL, headers={"accept-language": "ru"}).content.decode()

    assert ">Прогноз</th>" in html
    assert "опоздание на 4 рабочих дня" in html
    assert "Опаздывает</span>" in html
    assert "6,667 в день в среднем за последние 3 дня с отчётами; осталось 80." in html


def test_a_tasks_volumes_are_shown_with_its_units_decimals(client, viewer):
    Unit.objects.update_or_create(name="шт", defaults={"decimals": 0})
    Unit.objects.update_or_create(name="м³", defaults={"decimals": 1})
    pieces = TaskFactory(code="1.1", unit="шт", volume_plan=Decimal("20"))
    cubic = TaskFactory(code="1.2", unit="м³", volume_plan=Decimal("120.55"))
    DailyWorkFactory(task=pieces, volume=Decimal("2.4"))
    DailyWorkFactory(task=cubic, volume=Decimal("7.25"))
    client.force_login(viewer)

    html = client.get(LIST_URL, HTTP_ACCEPT_LANGUAGE="ru").content.decode()

    def cells(task: Task) -> list[str]:
        row = html[html.index(f'<tr id="task-{task.pk}"') :]
        return re.findall(r'task-volume-(?:plan|fact)"[^>]*>([^<]*)<', row[: row.index("</tr>")])

    assert cells(pieces) == ["20", "2"]
    assert cells(cubic) == ["120,6", "7,3"]  # half up
