import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from daily import views as daily_views
from daily.models import DailyWork
from daily.services import daily_work_delete
from monthly.tests.factories import MonthlyTaskFactory
from realtime.models import Event
from schedule.roles import FOREMEN, PLANNERS, VIEWERS
from schedule.tests.factories import TaskFactory

from .factories import DailyWorkFactory

pytestmark = pytest.mark.django_db

DAY_URL = reverse("daily:day")
CREATE_URL = reverse("daily:daily_work_create")
DAY = datetime.date(2026, 11, 25)


def day_url(day: str) -> str:
    return f"{DAY_URL}?date={day}"


def update_url(work: DailyWork) -> str:
    return reverse("daily:daily_work_update", args=[work.pk])


def delete_url(work: DailyWork) -> str:
    return reverse("daily:daily_work_delete", args=[work.pk])


def work_data(task, /, **overrides: object) -> dict[str, object]:
    return {
        "task": task.pk,
        "date": "2026-11-25",
        "volume": "6.5",
        "description": "Axes A–C",
        **overrides,
    }


def test_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get(DAY_URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize(
    ("role", "can_act"),
    [(PLANNERS, True), (FOREMEN, True), (VIEWERS, False)],
)
def test_day_shows_each_role_only_the_actions_it_may_take(client, make_user, role, can_act):
    work = DailyWorkFactory(description="Axes A–C")
    client.force_login(make_user(role))

    html = client.get(day_url("2026-11-25")).content.decode()

    assert "Axes A–C" in html
    assert (f'action="{CREATE_URL}"' in html) is can_act
    assert (update_url(work) in html) is can_act
    assert (delete_url(work) in html) is can_act


def test_day_lists_that_days_works_with_unit_author_and_ids(client, make_user):
    author = make_user(FOREMEN, first_name="Ivan", last_name="Petrov")
    task = TaskFactory(code="3.1", name="Masonry", unit="m²")
    work = DailyWorkFactory(task=task, volume=Decimal("1234.5"), created_by=author)
    DailyWorkFactory(task=task, date=DAY + datetime.timedelta(days=1), description="Tomorrow")
    client.force_login(author)

    html = client.get(day_url("2026-11-25")).content.decode()

    assert f'data-daily-work-id="{work.pk}" data-task-id="{task.pk}"' in html
    assert '<td class="num daily-work-volume" data-label="Volume">1,234.5</td>' in html
    assert "Masonry" in html
    assert "Ivan Petrov" in html
    assert "Tomorrow" not in html


def test_day_sums_the_volumes_per_unit(client, viewer):
    cubic = TaskFactory(unit="m³")
    DailyWorkFactory(task=cubic, volume=Decimal("2.5"))
    DailyWorkFactory(task=cubic, volume=Decimal("3"))
    DailyWorkFactory(task=TaskFactory(unit="t"), volume=Decimal("7"))
    client.force_login(viewer)

    response = client.get(day_url("2026-11-25"))
    html = response.content.decode()

    assert response.context["totals"] == [("m³", Decimal("5.5")), ("t", Decimal("7"))]
    assert 'data-unit="m³"' in html
    assert '<td class="num daily-total-value">5.5</td>' in html


def test_user_without_permissions_is_refused(client, make_user):
    work = DailyWorkFactory()
    client.force_login(make_user(None))

    assert client.get(DAY_URL).status_code == 403
    assert client.get(CREATE_URL).status_code == 403
    assert client.get(update_url(work)).status_code == 403
    assert client.get(delete_url(work)).status_code == 403


@pytest.mark.parametrize("method", ["get", "post"])
def test_viewers_cannot_write_daily_works(client, viewer, method):
    work = DailyWorkFactory(volume=Decimal("5"))
    client.force_login(viewer)
    send = getattr(client, method)

    assert send(CREATE_URL, work_data(work.task)).status_code == 403
    assert send(update_url(work), work_data(work.task, version=1)).status_code == 403
    assert send(delete_url(work), {"version": 1}).status_code == 403
    assert list(DailyWork.objects.values_list("volume", flat=True)) == [Decimal("5")]


def test_foreman_adds_a_work_that_counts_towards_the_task(client, foreman):
    task = TaskFactory()
    client.force_login(foreman)
    assert client.get(CREATE_URL, {"date": "2026-11-25"}).status_code == 200

    response = client.post(CREATE_URL, work_data(task))

    work = DailyWork.objects.get()
    task.refresh_from_db()
    assert response.status_code == 302
    assert response.url == f"{day_url('2026-11-25')}#work-{work.pk}"
    assert (work.volume, work.created_by) == (Decimal("6.5"), foreman)
    assert task.volume_fact == Decimal("6.5")


def test_day_page_offers_a_quick_add_form_for_that_day(client, foreman):
    client.force_login(foreman)

    html = client.get(day_url("2026-11-25")).content.decode()

    assert '<input type="hidden" name="date" value="2026-11-25">' in html


def test_foreman_edits_a_work(client, foreman):
    work = DailyWorkFactory(volume=Decimal("5"))
    client.force_login(foreman)
    assert 'name="version" value="1"' in client.get(update_url(work)).content.decode()

    response = client.post(update_url(work), work_data(work.task, volume="6", version=1))

    work.refresh_from_db()
    work.task.refresh_from_db()
    assert response.status_code == 302
    assert (work.volume, work.version, work.task.volume_fact) == (Decimal("6"), 2, Decimal("6"))


def test_stale_work_edit_shows_the_conflict_with_the_stored_values_and_overwrites_nothing(
    client, foreman
):
    work = DailyWorkFactory(volume=Decimal("5"), description="First")
    work.description = "Corrected by the planner"
    work.save()
    client.force_login(foreman)

    response = client.post(update_url(work), work_data(work.task, description="Mine", version=1))
    html = response.content.decode()

    work.refresh_from_db()
    assert response.status_code == 409
    assert work.description == "Corrected by the planner"
    assert "Someone changed this meanwhile." in html
    assert "Corrected by the planner" in html  # stored now, beside the entry and a choice
    assert 'name="choose_description" value="theirs"' in html
    assert ">\nMine</textarea>" in html  # the entry stays, to send again with the choice
    assert 'name="version" value="2"' in html


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"volume": "0"}, "volume", "Ensure this value is greater than or equal to 0.001."),
        ({"volume": "-3"}, "volume", "Ensure this value is greater than or equal to 0.001."),
        ({"date": "yesterday"}, "date", "Enter a valid date."),
        ({"task": "999999"}, "task", "Select a valid choice."),
    ],
)
def test_invalid_work_is_refused_with_the_error_on_its_field(
    client, foreman, overrides, field, message
):
    task = TaskFactory()
    client.force_login(foreman)

    response = client.post(CREATE_URL, work_data(task, **overrides))

    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not DailyWork.objects.exists()


def test_foreman_deletes_a_work_after_confirming(client, foreman):
    work = DailyWorkFactory(volume=Decimal("5"))
    client.force_login(foreman)
    assert client.get(delete_url(work)).status_code == 200

    response = client.post(delete_url(work), {"version": 1})

    work.task.refresh_from_db()
    assert response.status_code == 302
    assert response.url == day_url("2026-11-25")
    assert not DailyWork.objects.exists()
    assert work.task.volume_fact == 0


def test_stale_work_delete_shows_the_stored_values_and_deletes_nothing(client, foreman):
    work = DailyWorkFactory(volume=Decimal("5"))
    work.volume = Decimal("8")
    work.save()
    client.force_login(foreman)

    response = client.post(delete_url(work), {"version": 1})

    assert response.status_code == 409
    assert DailyWork.objects.exists()
    assert "Someone changed this meanwhile." in response.content.decode()


@pytest.mark.parametrize("page", [update_url, delete_url])
def test_pages_of_a_work_deleted_meanwhile_lead_back_to_the_day(client, foreman, page):
    work = DailyWorkFactory()
    url = page(work)
    work.delete()
    client.force_login(foreman)

    response = client.get(url, {"date": "2026-11-25"}, follow=True)

    assert response.redirect_chain == [(day_url("2026-11-25"), 302)]
    assert "Someone else deleted this meanwhile." in response.content.decode()


def test_day_without_a_date_shows_today(client, viewer):
    client.force_login(viewer)

    response = client.get(DAY_URL)

    assert response.context["day"] == timezone.localdate()


def test_day_links_to_the_previous_next_day_and_today(client, viewer):
    client.force_login(viewer)

    html = client.get(day_url("2026-03-01")).content.decode()

    assert f'href="{day_url("2026-02-28")}" rel="prev"' in html
    assert f'href="{day_url("2026-03-02")}" rel="next"' in html
    assert f'href="{day_url(timezone.localdate().isoformat())}"' in html


@pytest.mark.parametrize("value", ["2026-02-30", "25.11.2026", "today", "2026-11", "9" * 30])
def test_bad_date_falls_back_to_today_with_a_message(client, viewer, value):
    client.force_login(viewer)

    response = client.get(DAY_URL, {"date": value}, follow=True)

    assert response.redirect_chain == [(day_url(timezone.localdate().isoformat()), 302)]
    assert "is not a date (YYYY-MM-DD); showing today instead." in response.content.decode()


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_days_at_the_ends_of_the_calendar_render(client, viewer, day):
    client.force_login(viewer)

    assert client.get(day_url(day)).status_code == 200


def test_day_needs_the_same_queries_for_many_works(client, foreman):
    DailyWorkFactory(created_by=foreman)
    client.force_login(foreman)
    client.get(day_url("2026-11-25"))
    with CaptureQueriesContext(connection) as few:
        client.get(day_url("2026-11-25"))
    for _ in range(10):
        DailyWorkFactory(created_by=foreman)

    with CaptureQueriesContext(connection) as many:
        client.get(day_url("2026-11-25"))

    assert len(many) == len(few)


def test_task_choice_puts_the_tasks_running_that_day_first(client, foreman):
    TaskFactory(code="1.1", start_date=DAY, end_date=DAY)
    TaskFactory(
        code="1.2", start_date=datetime.date(2027, 1, 1), end_date=datetime.date(2027, 2, 1)
    )
    ended = {"start_date": datetime.date(2026, 11, 2), "end_date": datetime.date(2026, 11, 20)}
    overdue = TaskFactory(code="1.3", volume_plan=Decimal(10), **ended)
    DailyWorkFactory(task=overdue, date=datetime.date(2026, 11, 20), volume=Decimal(4))
    done = TaskFactory(code="1.4", volume_plan=Decimal(10), **ended)
    DailyWorkFactory(task=done, date=datetime.date(2026, 11, 20), volume=Decimal(10))
    client.force_login(foreman)

    choices = client.get(day_url("2026-11-25")).context["form"].fields["task"].choices

    # An unfinished work past its end date is still being done (overdue, carried over).
    assert [(str(group), [label[:3] for _pk, label in items]) for group, items in choices[1:]] == [
        ("Running on this day", ["1.1", "1.3"]),
        ("Other tasks", ["1.2", "1.4"]),
    ]


# Live updates: fragments of the page for static/js/daily.js.


def fragment_url(day: str, **ids: list[object]) -> str:
    query = "".join(f"&{name}={value}" for name, values in ids.items() for value in values)
    return f"{DAY_URL}?date={day}&fragment=rows{query}"


def test_fragment_renders_the_days_rows_of_the_works_and_tasks_asked_for(client, viewer):
    concrete, steel = TaskFactory(code="1.1", unit="m³"), TaskFactory(code="1.2", unit="t")
    asked = DailyWorkFactory(task=concrete, volume=Decimal(3))
    of_task = DailyWorkFactory(task=steel, volume=Decimal(2))
    other_day = DailyWorkFactory(task=steel, date=DAY - datetime.timedelta(days=1))
    not_asked = DailyWorkFactory(task=TaskFactory(code="1.3", unit="m³"), volume=Decimal(4))
    client.force_login(viewer)

    response = client.get(
        fragment_url("2026-11-25", work=[asked.pk, other_day.pk], task=[steel.pk])
    )
    html = response.content.decode()

    assert response.status_code == 200
    assert response.context["works"] == [asked, of_task]
    assert f'data-daily-work-id="{not_asked.pk}"' not in html
    concrete.refresh_from_db()  # its volume done grew: a new version
    assert f'data-task-id="{concrete.pk}" data-version="1" data-task-version="2"' in html
    assert '<tfoot data-live-part="daily-totals">' in html
    assert '<td class="num daily-total-value">7</td>' in html  # m³: 3 + 4, the whole day
    assert 'data-live-part="task-options"' not in html  # a viewer adds nothing


def test_fragment_for_a_foreman_carries_the_task_choices(client, foreman):
    task = TaskFactory(code="1.1", name="Excavation")
    client.force_login(foreman)

    html = client.get(fragment_url("2026-11-25", task=[task.pk])).content.decode()

    assert '<select name="task"' in html
    assert 'data-live-part="task-options"' in html
    assert "1.1 Excavation</option>" in html


def test_day_page_configures_its_live_updates(client, foreman):
    client.force_login(foreman)

    html = client.get(day_url("2026-11-25")).content.decode()

    assert 'data-live-page="daily" data-date="2026-11-25"' in html
    assert f'data-fragment-url="{DAY_URL}?date=2026-11-25&amp;fragment=rows"' in html
    assert 'data-works-api-url="/api/daily-works/?date=2026-11-25"' in html
    assert 'data-live-part="task-options"' in html
    assert '<script type="module" src="/static/js/daily.js"></script>' in html


@pytest.mark.parametrize("page", [update_url, delete_url])
def test_work_forms_watch_their_work(client, foreman, page):
    work = DailyWorkFactory()
    client.force_login(foreman)

    html = client.get(page(work)).content.decode()

    assert 'data-live-watch data-stream="daily_works" data-entity="daily_work"' in html
    assert f'data-object-id="{work.pk}" data-version="{work.version}"' in html


def test_a_works_links_name_its_day_so_that_a_work_deleted_meanwhile_leads_back_to_it(
    client, foreman
):
    work = DailyWorkFactory(date=DAY)
    client.force_login(foreman)
    html = client.get(day_url("2026-11-25")).content.decode()
    link = f"{update_url(work)}?date=2026-11-25"
    assert f'href="{link}"' in html
    assert f'href="{delete_url(work)}?date=2026-11-25"' in html
    work.delete()

    response = client.get(link, follow=True)

    assert response.redirect_chain == [(day_url("2026-11-25"), 302)]
    assert "Someone else deleted this meanwhile." in response.content.decode()


def test_saving_a_work_deleted_meanwhile_says_who_deleted_it_and_offers_the_entry_again(
    client, foreman, planner
):
    work = DailyWorkFactory(date=DAY)
    pk, task, url = work.pk, work.task, update_url(work)
    daily_work_delete(daily_work=work, actor=planner)
    deleted_at = Event.objects.get(type="daily_work_deleted", object_id=pk).created_at
    client.force_login(foreman)

    response = client.post(url, work_data(task, volume="7") | {"version": 1})
    html = response.content.decode()

    when = date_format(timezone.localtime(deleted_at), "SHORT_DATETIME_FORMAT")
    assert response.status_code == 410
    assert f"This work was deleted at {when} by {planner.username}." in html
    assert f'action="{CREATE_URL}"' in html
    assert "Create again" in html
    assert response.context["form"].data["volume"] == "7"
    assert not DailyWork.objects.exists()

    again = client.post(CREATE_URL, response.context["form"].data)

    assert again.status_code == 302
    assert DailyWork.objects.get().volume == Decimal("7")


def test_a_work_deleted_before_the_log_was_pruned_is_reported_without_a_name(client, foreman):
    work = DailyWorkFactory(date=DAY)
    task, url = work.task, update_url(work)
    work.delete()
    Event.objects.all().delete()
    client.force_login(foreman)

    response = client.post(url, work_data(task) | {"version": 1})

    assert response.status_code == 410
    assert "This work was deleted meanwhile." in response.content.decode()


@pytest.mark.parametrize(
    ("service", "page", "data"),
    [
        ("daily_work_update", update_url, lambda work: work_data(work.task) | {"version": 1}),
        ("daily_work_delete", delete_url, lambda work: {"version": 1}),
    ],
)
def test_a_work_deleted_right_after_a_conflict_still_shows_the_conflict(
    client, foreman, monkeypatch, service, page, data
):
    """Another request deletes the row between the refused write and the page's answer."""
    work = DailyWorkFactory(date=DAY)
    work.volume = Decimal(7)
    work.save()  # version 2: the page's version 1 is stale, its volume changed on both sides
    real = getattr(daily_views, service)

    def refused_then_deleted(**kwargs):
        try:
            real(**kwargs)
        finally:
            DailyWork.objects.filter(pk=work.pk).delete()

    monkeypatch.setattr(daily_views, service, refused_then_deleted)
    client.force_login(foreman)

    response = client.post(page(work), data(work))

    assert response.status_code == 409
    assert "Someone changed this meanwhile." in response.content.decode()


def test_a_report_above_what_is_left_of_the_work_asks_to_confirm_before_it_is_saved(
    client, foreman
):
    task = TaskFactory(code="4.4", volume_plan=Decimal(10))
    client.force_login(foreman)

    asked = client.post(CREATE_URL, work_data(task, volume="7,5"), HTTP_ACCEPT_LANGUAGE="ru")

    html = asked.content.decode()
    assert asked.status_code == 200 and not DailyWork.objects.exists()
    assert "Проверьте: пока ничего не сохранено." in html
    assert "<li>7,5 m³ — больше, чем осталось по 4.4: 10 m³.</li>" not in html  # 7.5 < 10
    assert "более чем в 3 раза больше плана на 25.11.2026" in html
    assert 'name="confirm_warnings" value="1"' in html

    saved = client.post(
        CREATE_URL,
        work_data(task, volume="7,5") | {"confirm_warnings": "1"},
        HTTP_ACCEPT_LANGUAGE="ru",
    )

    assert saved.status_code == 302
    assert DailyWork.objects.get().volume == Decimal("7.5")


def test_the_form_says_each_work_s_plan_for_the_day_and_what_is_left(client, foreman):
    """2–6 November 2026 without the 4th (a holiday): 10 m³ planned over 4 working days is
    2.5 a day; of 20 m³, 3 are done, 17 left. A work the day plans nothing says what is left."""
    walls = TaskFactory(
        code="1.1",
        unit="м³",
        volume_plan=Decimal(20),
        start_date=datetime.date(2026, 11, 2),
        end_date=datetime.date(2026, 11, 6),
    )
    MonthlyTaskFactory(task=walls, month=datetime.date(2026, 11, 1), volume_plan=Decimal(10))
    DailyWorkFactory(task=walls, date=datetime.date(2026, 11, 2), volume=Decimal(3))
    later = TaskFactory(code="1.2", unit="шт", volume_plan=Decimal(8), start_date=DAY, end_date=DAY)
    client.force_login(foreman)

    hints = client.get(day_url("2026-11-03")).context["task_hints"]

    assert hints[walls.pk] == "Plan for the day: 2.5\xa0м³ · left: 17\xa0м³"
    assert hints[later.pk] == "Left: 8\xa0шт"
