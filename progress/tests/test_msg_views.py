import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from daily.models import DailyWork
from daily.services import daily_work_create, daily_work_delete, daily_work_update
from daily.tests.factories import DailyWorkFactory
from monthly.models import MonthlyTask
from monthly.services import monthly_task_delete, monthly_task_update
from monthly.tests.factories import MonthlyTaskFactory
from progress import msg_views
from progress.selectors import month_grid
from schedule.models import Task
from schedule.roles import FOREMEN, PLANNERS, VIEWERS
from schedule.services import task_update
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

ORDER_URL = reverse("monthly:order")
CREATE_URL = reverse("monthly:monthly_task_create")
NOVEMBER = datetime.date(2026, 11, 1)


def order_url(month: str) -> str:
    return f"{ORDER_URL}?month={month}"


def update_url(plan: MonthlyTask) -> str:
    return reverse("monthly:monthly_task_update", args=[plan.pk])


def delete_url(plan: MonthlyTask) -> str:
    return reverse("monthly:monthly_task_delete", args=[plan.pk])


def task_in_november(**fields: object):
    return TaskFactory(
        **{"start_date": datetime.date(2026, 11, 10), "end_date": datetime.date(2026, 11, 20)}
        | fields
    )


def test_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get(ORDER_URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_order_lists_the_tasks_running_in_the_month_and_those_planned_for_it(client, planner):
    running = task_in_november(code="1.1")
    TaskFactory(
        code="1.2", start_date=datetime.date(2026, 12, 1), end_date=datetime.date(2026, 12, 5)
    )
    planned_elsewhere = TaskFactory(
        code="1.3", start_date=datetime.date(2027, 1, 1), end_date=datetime.date(2027, 1, 5)
    )
    MonthlyTaskFactory(task=planned_elsewhere, month=NOVEMBER, volume_plan=Decimal("12.5"))
    client.force_login(planner)

    response = client.get(order_url("2026-11"))

    assert response.status_code == 200
    listed = [(row["task"], row["plan"]) for row in response.context["rows"]]
    assert [task.code for task, _plan in listed] == ["1.1", "1.3"]
    assert listed[0] == (running, None)
    assert listed[1][1].volume_plan == Decimal("12.5")


@pytest.mark.parametrize(
    ("role", "can_add", "can_change", "can_delete"),
    [
        (PLANNERS, True, True, True),
        (FOREMEN, False, False, False),
        (VIEWERS, False, False, False),
    ],
)
def test_order_shows_each_role_only_the_actions_it_may_take(
    client, make_user, role, can_add, can_change, can_delete
):
    task_in_november(code="1.1")
    plan = MonthlyTaskFactory(task=task_in_november(code="1.2"), volume_plan=Decimal("40"))
    client.force_login(make_user(role))

    html = client.get(order_url("2026-11")).content.decode()

    assert (f'action="{CREATE_URL}"' in html) is can_add
    assert (update_url(plan) in html) is can_change
    assert (delete_url(plan) in html) is can_delete
    assert 'class="monthly-volume-plan-value">40<' in html or can_change


def test_order_rows_carry_task_and_plan_ids(client, planner):
    unplanned = task_in_november(code="1.1")
    plan = MonthlyTaskFactory(task=task_in_november(code="1.2"))
    client.force_login(planner)

    html = client.get(order_url("2026-11")).content.decode()

    assert f'data-task-id="{unplanned.pk}" data-monthly-task-id=""' in html
    assert f'data-task-id="{plan.task_id}" data-monthly-task-id="{plan.pk}"' in html


def test_a_rows_code_links_the_history_of_its_plan_or_else_of_its_task(client, viewer):
    unplanned = task_in_november(code="1.1")
    plan = MonthlyTaskFactory(task=task_in_november(code="1.2"))
    client.force_login(viewer)

    html = client.get(order_url("2026-11")).content.decode()

    assert f'href="/changes/tasks/{unplanned.pk}/" title="History">1.1</a>' in html
    assert f'href="/changes/monthly_tasks/{plan.pk}/" title="History">1.2</a>' in html


def row_of(html: str, task: Task) -> str:
    return html[html.index(f'<tr id="task-{task.pk}"') :].split("</tr>")[0]


def test_rows_others_changed_since_the_last_visit_of_the_month_are_marked_once(
    client, planner, foreman
):
    renamed, replanned, reported, mine, untouched = (
        task_in_november(code=f"1.{n}") for n in range(1, 6)
    )
    plan = MonthlyTaskFactory(task=replanned)
    client.force_login(planner)
    assert "is-changed-since" not in client.get(order_url("2026-11")).content.decode()

    task_update(task=renamed, data={"name": "Renamed"}, version=None, actor=foreman)
    monthly_task_update(
        monthly_task=plan, data={"volume_plan": Decimal(7)}, version=None, actor=foreman
    )
    november_12 = datetime.date(2026, 11, 12)
    daily_work_create(data={"task": reported, "date": november_12, "volume": 2}, actor=foreman)
    task_update(task=mine, data={"name": "Mine"}, version=None, actor=planner)
    html = client.get(order_url("2026-11")).content.decode()

    for task in (renamed, replanned, reported):
        assert "is-changed-since" in row_of(html, task)
        assert 'class="changed-since-marker"' in row_of(html, task)
    for task in (mine, untouched):
        assert "is-changed-since" not in row_of(html, task)
    assert "is-changed-since" not in client.get(order_url("2026-11")).content.decode()  # seen
    # Each month is a page of its own: October's first visit marks nothing.
    assert "is-changed-since" not in client.get(order_url("2026-10")).content.decode()


def test_user_without_permissions_is_refused(client, make_user):
    plan = MonthlyTaskFactory()
    client.force_login(make_user(None))

    assert client.get(ORDER_URL).status_code == 403
    assert client.get(delete_url(plan)).status_code == 403


@pytest.mark.parametrize(
    ("permissions", "status"),
    [
        (["view_monthlytask"], 403),
        (["view_monthlytask", "view_task"], 403),
        (["view_monthlytask", "view_dailywork"], 403),
        (["view_monthlytask", "view_task", "view_dailywork"], 200),
    ],
)
def test_the_page_shows_tasks_plans_and_reports_so_it_needs_the_view_permission_of_each(
    client, make_user, permissions, status
):
    user = make_user(None)
    user.user_permissions.add(*Permission.objects.filter(codename__in=permissions))
    client.force_login(user)

    assert client.get(ORDER_URL).status_code == status
    menu = client.get(reverse("schedule:task_list")).content.decode()
    assert (ORDER_URL in menu) == (status == 200)


def test_the_page_asks_for_the_calendars_events_only_of_who_may_view_it(client, make_user):
    user = make_user(None)
    codenames = ["view_monthlytask", "view_task", "view_dailywork"]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    html = client.get(ORDER_URL).content.decode()
    assert 'data-streams="tasks monthly_tasks daily_works"' in html

    user.user_permissions.add(Permission.objects.get(codename="view_calendarday"))
    user = type(user).objects.get(pk=user.pk)  # the permission cache
    client.force_login(user)
    html = client.get(ORDER_URL).content.decode()
    assert 'data-streams="tasks monthly_tasks daily_works calendar_days"' in html


@pytest.mark.parametrize("role", [FOREMEN, VIEWERS])
def test_roles_that_only_view_plans_cannot_write_them(client, make_user, role):
    task = task_in_november()
    plan = MonthlyTaskFactory(volume_plan=Decimal("40"))
    client.force_login(make_user(role))

    create = client.post(CREATE_URL, {"task": task.pk, "month": "2026-11", "volume_plan": "5"})
    update = client.post(update_url(plan), {"volume_plan": "5", "version": 1})
    delete_page = client.get(delete_url(plan))
    delete = client.post(delete_url(plan), {"version": 1})

    assert [r.status_code for r in (create, update, delete_page, delete)] == [403] * 4
    assert list(MonthlyTask.objects.values_list("volume_plan", flat=True)) == [Decimal("40")]


def test_planner_plans_a_task_for_the_month_from_its_row(client, planner):
    task = task_in_november(code="1.1")
    client.force_login(planner)

    response = client.post(CREATE_URL, {"task": task.pk, "month": "2026-11", "volume_plan": "30"})

    plan = MonthlyTask.objects.get()
    assert response.status_code == 302
    assert response.url == f"{order_url('2026-11')}#task-{task.pk}"
    assert (plan.task, plan.month, plan.volume_plan) == (task, NOVEMBER, Decimal("30"))
    assert "Plan of 1.1 for November 2026 saved." in client.get(response.url).content.decode()


def test_planner_changes_a_plan_from_its_row(client, planner):
    plan = MonthlyTaskFactory(volume_plan=Decimal("40"))
    client.force_login(planner)

    response = client.post(update_url(plan), {"volume_plan": "45.5", "version": plan.version})

    plan.refresh_from_db()
    assert response.status_code == 302
    assert (plan.volume_plan, plan.version) == (Decimal("45.5"), 2)


def test_stale_plan_edit_offers_the_choice_under_its_row_and_overwrites_nothing(client, planner):
    plan = MonthlyTaskFactory(volume_plan=Decimal("40"))
    plan.volume_plan = Decimal("44")
    plan.save()
    client.force_login(planner)

    response = client.post(update_url(plan), {"volume_plan": "50", "version": 1})
    html = response.content.decode()

    plan.refresh_from_db()
    assert response.status_code == 409
    assert plan.volume_plan == Decimal("44")
    assert "Someone changed this meanwhile." in html
    assert f'id="plan-{plan.task_id}-form"' in html  # the row's form, which the choice names
    assert 'value="50"' in html  # the row's input keeps the entry, to send with the choice
    assert f'name="version" value="{plan.version}"' in html
    # Then, now and the user's entry.
    assert "<td>40</td> <td>44</td> <td>50</td>" in " ".join(html.split())
    assert f'name="choose_volume_plan" value="theirs" form="plan-{plan.task_id}-form"' in html


@pytest.mark.parametrize(("choice", "volume"), [("mine", "50"), ("theirs", "44")])
def test_the_choice_under_a_plans_row_decides_its_value(client, planner, choice, volume):
    plan = MonthlyTaskFactory(volume_plan=Decimal("40"))
    plan.volume_plan = Decimal("44")
    plan.save()
    client.force_login(planner)
    entry = {"volume_plan": "50", "conflicts": "volume_plan", "choose_volume_plan": choice}

    response = client.post(update_url(plan), entry | {"version": 2})

    plan.refresh_from_db()
    assert response.status_code == 302
    assert plan.volume_plan == Decimal(volume)


def test_stale_plan_edit_to_the_value_stored_meanwhile_is_saved(client, planner):
    plan = MonthlyTaskFactory(volume_plan=Decimal("40"))
    plan.volume_plan = Decimal("44")
    plan.save()
    client.force_login(planner)

    response = client.post(update_url(plan), {"volume_plan": "44", "version": 1})

    assert response.status_code == 302


def test_plan_entered_by_someone_else_meanwhile_is_shown_instead_of_duplicated(client, planner):
    plan = MonthlyTaskFactory(volume_plan=Decimal("40"))
    client.force_login(planner)

    response = client.post(
        CREATE_URL, {"task": plan.task_id, "month": "2026-11", "volume_plan": "30"}
    )
    html = response.content.decode()

    assert response.status_code == 409
    assert MonthlyTask.objects.get().volume_plan == Decimal("40")
    assert "This task already has a plan for this month." in html
    assert f'action="{update_url(plan)}?month=2026-11&amp;task={plan.task_id}"' in html


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        ("-1", "Ensure this value is greater than or equal to 0."),
        ("", "This field is required."),
        ("abc", "“abc” is not a number. Write numbers like 1,905.5, decimals after a point."),
    ],
)
def test_invalid_plan_volume_is_shown_in_its_row(client, planner, volume, message):
    task = task_in_november()
    plan = MonthlyTaskFactory(volume_plan=Decimal("40"))
    client.force_login(planner)

    created = client.post(CREATE_URL, {"task": task.pk, "month": "2026-11", "volume_plan": volume})
    updated = client.post(update_url(plan), {"volume_plan": volume, "version": 1})

    for response in (created, updated):
        assert response.status_code == 400
        assert message in response.content.decode()
    assert MonthlyTask.objects.count() == 1


def test_plan_for_a_task_deleted_meanwhile_is_reported_above_the_table(client, planner):
    task = task_in_november()
    task_id = task.pk
    task.delete()
    client.force_login(planner)

    response = client.post(
        CREATE_URL, {"task": task_id, "month": "2026-11", "volume_plan": "3"}, follow=True
    )

    assert response.redirect_chain == [(order_url("2026-11"), 302)]
    assert "Select a valid choice" in response.content.decode()


def test_planner_deletes_a_plan_after_confirming(client, planner):
    plan = MonthlyTaskFactory()
    client.force_login(planner)
    assert client.get(delete_url(plan)).status_code == 200

    response = client.post(delete_url(plan), {"version": plan.version})

    assert response.status_code == 302
    assert response.url == f"{order_url('2026-11')}#task-{plan.task_id}"
    assert not MonthlyTask.objects.exists()


def test_stale_plan_delete_shows_the_stored_value_and_deletes_nothing(client, planner):
    plan = MonthlyTaskFactory(volume_plan=Decimal("40"))
    plan.volume_plan = Decimal("41")
    plan.save()
    client.force_login(planner)

    response = client.post(delete_url(plan), {"version": 1})

    assert response.status_code == 409
    assert MonthlyTask.objects.exists()
    assert "Someone changed this meanwhile." in response.content.decode()
    assert "41" in response.content.decode()


def test_order_without_a_month_shows_the_current_month(client, planner):
    client.force_login(planner)

    response = client.get(ORDER_URL)

    assert response.status_code == 200
    assert response.context["month"] == timezone.localdate().replace(day=1)


def test_order_links_to_the_previous_next_and_current_month(client, planner):
    client.force_login(planner)

    html = client.get(order_url("2026-01")).content.decode()

    assert f'href="{order_url("2025-12")}" rel="prev"' in html
    assert f'href="{order_url("2026-02")}" rel="next"' in html
    assert f'href="{order_url(timezone.localdate().strftime("%Y-%m"))}"' in html


@pytest.mark.parametrize(
    "value", ["2026-13", "november", "2026-02-30", "0000-01", "20261", "'; drop table"]
)
def test_bad_month_falls_back_to_the_current_month_with_a_message(client, planner, value):
    client.force_login(planner)

    response = client.get(ORDER_URL, {"month": value}, follow=True)

    this_month = timezone.localdate().strftime("%Y-%m")
    assert response.redirect_chain == [(order_url(this_month), 302)]
    assert "is not a month (YYYY-MM); showing the current month instead." in (
        response.content.decode()
    )


@pytest.mark.parametrize(
    ("month", "previous", "next_"), [("1900-01", None, "1900-02"), ("2199-12", "2199-11", None)]
)
def test_months_at_the_ends_of_the_shown_range_render_without_a_link_beyond(
    client, planner, month, previous, next_
):
    client.force_login(planner)

    response = client.get(order_url(month))

    assert response.status_code == 200
    assert [response.context["previous_url"], response.context["next_url"]] == [
        order_url(previous) if previous else None,
        order_url(next_) if next_ else None,
    ]


@pytest.mark.parametrize("month", ["0001-01", "1899-12", "2200-01", "9999-12"])
def test_months_outside_the_shown_range_fall_back_to_the_current_month(client, planner, month):
    client.force_login(planner)

    response = client.get(order_url(month), follow=True)

    this_month = timezone.localdate().strftime("%Y-%m")
    assert response.redirect_chain == [(order_url(this_month), 302)]
    assert "The schedule shows the months from 1900-01 to 2199-12" in response.content.decode()


def test_order_needs_the_same_queries_for_many_tasks(client, planner):
    MonthlyTaskFactory(task=task_in_november())
    task_in_november()
    client.force_login(planner)
    client.get(order_url("2026-11"))
    with CaptureQueriesContext(connection) as few:
        client.get(order_url("2026-11"))
    for _ in range(10):
        MonthlyTaskFactory(task=task_in_november())
        task_in_november()

    with CaptureQueriesContext(connection) as many:
        client.get(order_url("2026-11"))

    assert len(many) == len(few)


def test_the_footer_sums_plan_and_fact_per_unit_for_the_month_and_each_day(client, viewer):
    # 10–20 November: 9 working days (10–13, 16–20). Plans 10 and 2.5 m³, 1,200 t; reports on
    # the 10th: 1 and 2 m³, 100 t.
    first = task_in_november(unit="m³")
    second = task_in_november(unit="m³")
    tonnes = task_in_november(unit="t")
    for task, plan in [(first, "10"), (second, "2.5"), (tonnes, "1200")]:
        MonthlyTaskFactory(task=task, volume_plan=Decimal(plan))
    for task, volume in [(first, "1"), (second, "2"), (tonnes, "100")]:
        DailyWorkFactory(task=task, date=datetime.date(2026, 11, 10), volume=Decimal(volume))
    client.force_login(viewer)

    html = client.get(order_url("2026-11")).content.decode()

    footer = html[html.index("<tfoot") : html.index("</tfoot>")]
    rows = re.findall(r'<tr class="monthly-total" data-unit="([^"]+)">(.*?)</tr>', footer, re.S)
    assert [unit for unit, _row in rows] == ["m³", "t"]
    (_unit, cubic), (_unit, tonne) = rows
    assert "Total, m³" in cubic and "Total, t" in tonne
    figures = r'monthly-total-(?:value|fact)[^"]*"[^>]*>([^<]*)<'
    assert re.findall(figures, cubic) == ["12.5", "3"]
    assert re.findall(figures, tonne) == ["1,200", "100"]
    # The 10th (the tenth day column): 10 / 9 → 1.111 and 2.5 / 9 → 0.278 planned; 3 done.
    day = r'<span class="msg-cell__plan">([^<]*)</span><span class="msg-cell__fact">([^<]*)<'
    assert re.findall(day, cubic)[9] == ("1.389", "3")
    assert re.findall(day, tonne)[9] == ("133.333", "100")
    assert re.findall(day, cubic)[0] == ("", "")  # a Sunday


# Live updates: fragments of the page for static/js/monthly.js.


def fragment_url(month: str, *task_ids: object) -> str:
    query = "".join(f"&task={task_id}" for task_id in task_ids)
    return f"{ORDER_URL}?month={month}&fragment=rows{query}"


def test_fragment_renders_the_rows_of_the_tasks_asked_for_that_are_in_the_month(client, viewer):
    november = TaskFactory(
        code="1.1", start_date=datetime.date(2026, 11, 1), end_date=datetime.date(2026, 11, 30)
    )
    january = TaskFactory(
        code="1.2", start_date=datetime.date(2027, 1, 1), end_date=datetime.date(2027, 1, 31)
    )
    MonthlyTaskFactory(task=november, month=datetime.date(2026, 11, 1), volume_plan=Decimal(40))
    client.force_login(viewer)

    response = client.get(fragment_url("2026-11", november.pk, january.pk))
    html = response.content.decode()

    assert response.status_code == 200
    assert [row["task"] for row in response.context["rows"]] == [november]
    assert f'data-task-id="{november.pk}"' in html
    assert f'data-task-id="{january.pk}"' not in html
    assert f'data-task-version="{november.version}"' in html
    assert '<tfoot data-live-part="monthly-totals">' in html
    assert 'data-label="Plan for the month">40</td>' in html


def test_fragment_totals_cover_the_whole_month(client, viewer):
    for code in ["1.1", "1.2"]:
        MonthlyTaskFactory(task=TaskFactory(code=code, unit="m³"), volume_plan=Decimal(10))
    client.force_login(viewer)

    html = client.get(fragment_url("2026-11")).content.decode()

    assert "data-task-id" not in html  # no row asked for
    assert 'data-live-part="msg-section-1"' in html  # every section's subtotal is
    assert 'data-label="Plan for the month">20</td>' in html


def test_fragment_rows_carry_the_forms_of_the_role(client, planner):
    task = TaskFactory()
    client.force_login(planner)

    html = client.get(fragment_url("2026-11", task.pk)).content.decode()

    assert 'name="csrfmiddlewaretoken"' in html
    assert f'id="plan-{task.pk}-volume_plan"' in html


def test_order_page_configures_its_live_updates(client, viewer):
    client.force_login(viewer)

    html = client.get(f"{ORDER_URL}?month=2026-02").content.decode()

    assert 'data-live-page="monthly" data-month="2026-02"' in html
    assert 'data-month-first="2026-02-01" data-month-last="2026-02-28"' in html
    assert f'data-fragment-url="{ORDER_URL}?month=2026-02&amp;fragment=rows"' in html
    assert 'data-plans-api-url="/api/monthly-tasks/?month=2026-02"' in html
    assert '<script type="module" src="/static/js/monthly.js"></script>' in html


def test_plan_delete_page_watches_its_plan(client, planner):
    plan = MonthlyTaskFactory()
    client.force_login(planner)

    html = client.get(reverse("monthly:monthly_task_delete", args=[plan.pk])).content.decode()

    assert 'data-live-watch data-stream="monthly_tasks" data-entity="monthly_task"' in html


def test_saving_a_plan_deleted_meanwhile_says_who_deleted_it_and_keeps_the_entry_in_its_row(
    client, planner
):
    task = task_in_november()
    plan = MonthlyTaskFactory(task=task, month=NOVEMBER, volume_plan=Decimal("40"))
    client.force_login(planner)
    page = client.get(order_url("2026-11")).content.decode()
    action = f"{update_url(plan)}?month=2026-11&amp;task={task.pk}"
    assert f'action="{action}"' in page
    monthly_task_delete(monthly_task=plan, actor=planner)

    response = client.post(action.replace("&amp;", "&"), {"volume_plan": "50", "version": 1})
    html = response.content.decode()

    assert response.status_code == 410
    assert "This plan was deleted at " in html and f" by {planner.username}." in html
    assert "Your entry is kept in the row: add it to plan it again." in html
    assert f'action="{CREATE_URL}"' in html
    assert 'value="50"' in html
    assert not MonthlyTask.objects.exists()

    again = client.post(CREATE_URL, {"task": task.pk, "month": "2026-11", "volume_plan": "50"})

    assert again.status_code == 302
    assert MonthlyTask.objects.get().volume_plan == Decimal("50")


def test_saving_a_plan_whose_task_was_deleted_meanwhile_says_so_above_the_table(client, planner):
    plan = MonthlyTaskFactory(task=task_in_november(), month=NOVEMBER)
    url = f"{update_url(plan)}?month=2026-11&task={plan.task_id}"
    plan.task.delete()
    client.force_login(planner)

    response = client.post(url, {"volume_plan": "50", "version": 1}, follow=True)

    assert response.redirect_chain == [(order_url("2026-11"), 302)]
    assert "This plan was deleted meanwhile (at " in response.content.decode()


def test_a_plan_deleted_right_after_a_refused_delete_still_shows_the_conflict(
    client, planner, monkeypatch
):
    """Another request deletes the row between the refused delete and the page's answer."""
    plan = MonthlyTaskFactory()
    plan.save()  # version 2: the page's version 1 is stale

    def refused_then_deleted(**kwargs):
        try:
            monthly_task_delete(**kwargs)
        finally:
            MonthlyTask.objects.filter(pk=plan.pk).delete()

    monkeypatch.setattr(msg_views, "monthly_task_delete", refused_then_deleted)
    client.force_login(planner)

    response = client.post(delete_url(plan), {"version": 1})

    assert response.status_code == 409
    assert "Someone changed this meanwhile." in response.content.decode()


# The МСГ: plan and fact per day, the month's figures, sections, day cells.

MARCH_2025 = "2025-03"  # long past: every figure of the month is final


def march_task(**fields: object):
    """Monday 3 to Friday 7 March 2025: five working days."""
    return TaskFactory(
        **{
            "code": "1.1",
            "unit": "m³",
            "volume_plan": Decimal(10),
            "start_date": datetime.date(2025, 3, 3),
            "end_date": datetime.date(2025, 3, 7),
        }
        | fields
    )


def day_cell(html: str, task, day: str) -> str:
    """The ``<td>`` of the task's row for ``day`` (YYYY-MM-DD)."""
    row = html[html.index(f'id="task-{task.pk}"') :]
    cell = row[row.rindex("<td", 0, row.index(f'data-date="{day}"')) :]
    return cell[: cell.index("</td>")]


def test_grid_shows_each_days_plan_and_fact_and_marks_the_days_behind(client, viewer):
    task = march_task()
    DailyWorkFactory(task=task, date=datetime.date(2025, 3, 3), volume=Decimal(2))
    DailyWorkFactory(task=task, date=datetime.date(2025, 3, 4), volume=Decimal(1))
    client.force_login(viewer)

    html = client.get(order_url(MARCH_2025)).content.decode()

    on_plan, short, missed = (day_cell(html, task, f"2025-03-0{day}") for day in (3, 4, 5))
    saturday = day_cell(html, task, "2025-03-08")  # International Women's Day, a Saturday
    assert '<span class="msg-cell__plan">2</span><span class="msg-cell__fact">2</span>' in on_plan
    assert "is-behind" not in on_plan
    assert "is-behind" in short and '<span class="msg-cell__fact">1</span>' in short
    assert "is-behind" in missed and '<span class="msg-cell__fact"></span>' in missed
    assert "is-off" in saturday and '<span class="msg-cell__plan"></span>' in saturday


def test_grid_rows_carry_the_months_figures_and_sections_their_subtotals(client, viewer):
    task = march_task()
    MonthlyTaskFactory(task=task, month=datetime.date(2025, 3, 1), volume_plan=Decimal(8))
    march_task(code="1.2", name="Backfill")
    march_task(code="2.1", name="Roofing")
    DailyWorkFactory(task=task, date=datetime.date(2025, 3, 3), volume=Decimal(2))
    client.force_login(viewer)

    response = client.get(order_url(MARCH_2025))
    html = response.content.decode()

    row = html[html.index(f'id="task-{task.pk}"') :]
    figures = [
        (name, row[row.index(f"msg-{name}") :].split(">", 1)[1].split("<", 1)[0])
        for name in ("fact", "percent", "remaining")
    ]
    assert figures == [("fact", "2"), ("percent", "25.0%"), ("remaining", "6")]
    assert [section["name"] for section in response.context["sections"]] == ["1", "2"]
    section = html[html.index('data-section-row="1"') :]
    assert '2 tasks · <span class="msg-totals__behind">2 behind</span>' in section
    assert "12.5% of the month's plan" in section  # 25 % and 0 %, equal weights


@pytest.mark.parametrize(
    ("role", "links"),
    [(FOREMEN, True), (PLANNERS, True), (VIEWERS, False)],
)
def test_day_cells_link_to_their_form_for_those_who_report_works(client, make_user, role, links):
    task = march_task()
    client.force_login(make_user(role))

    html = client.get(order_url(MARCH_2025)).content.decode()

    cell_url = f"{CELL_URL}?task={task.pk}&amp;date=2025-03-05"
    assert (f'<a class="msg-cell" href="{cell_url}" data-cell' in html) is links


def test_a_day_cell_with_several_works_links_to_the_daily_page(client, foreman):
    task = march_task()
    for volume in (1, 2):
        DailyWorkFactory(task=task, date=datetime.date(2025, 3, 5), volume=volume)
    client.force_login(foreman)

    cell = day_cell(client.get(order_url(MARCH_2025)).content.decode(), task, "2025-03-05")

    assert f'href="{reverse("daily:day")}?date=2025-03-05"' in cell
    assert "data-cell" not in cell.replace("data-date", "")
    assert '<span class="msg-cell__fact">3</span>' in cell


def test_a_day_cell_with_one_work_carries_what_its_dialog_corrects_it_with(client, foreman):
    """The dialog opens with no network: it asks the server nothing."""
    task = march_task()
    work = DailyWorkFactory(
        task=task, date=datetime.date(2025, 3, 5), volume=Decimal("2.5"), description='Crew "B"'
    )
    work.save()  # version 2
    DailyWorkFactory(task=task, date=datetime.date(2025, 3, 6), description="")
    client.force_login(foreman)

    html = client.get(order_url(MARCH_2025)).content.decode()

    described, plain, empty = (day_cell(html, task, f"2025-03-0{day}") for day in (5, 6, 7))
    assert f'data-work="{work.pk}" data-work-version="2"' in described
    assert 'data-work-description="Crew &quot;B&quot;"' in described
    assert "data-work=" in plain and "data-work-description" not in plain
    assert "data-work" not in empty.replace("data-work-ids", "")


def test_the_page_has_the_day_dialog_only_for_who_may_report_works(client, make_user):
    march_task()
    pages = {}
    for role in (FOREMEN, VIEWERS):
        client.force_login(make_user(role))
        pages[role] = client.get(order_url(MARCH_2025)).content.decode()

    assert "data-cell-dialog" in pages[FOREMEN] and "data-outbox-texts" in pages[FOREMEN]
    assert 'name="volume" inputmode="decimal"' in pages[FOREMEN]
    assert "data-cell-delete" in pages[FOREMEN]  # foremen delete daily works
    assert "data-cell-dialog" not in pages[VIEWERS]


def test_a_rows_unit_and_what_is_left_of_its_work_are_on_the_row(client, viewer):
    task = march_task(volume_plan=Decimal(1200))
    DailyWorkFactory(task=task, date=datetime.date(2025, 3, 3), volume=Decimal("0.5"))
    client.force_login(viewer)

    html = client.get(order_url(MARCH_2025)).content.decode()

    row = html[html.index(f'id="task-{task.pk}"') :]
    assert 'data-left="1,199.5"' in row[: row.index(">")]
    assert '<td class="task-unit msg-sticky msg-sticky--unit" data-label="Unit">m³</td>' in row


def flags(html: str, task) -> list[str]:
    """The words a row's marks are said in (shown on a phone)."""
    row = html[html.index(f'id="task-{task.pk}"') :]
    row = row[: row.index("</tr>")]
    if 'class="msg-flags"' not in row:
        return []
    shown = row[row.index('class="msg-flags"') :]
    return [part.split("</span>", 1)[0] for part in shown.split('class="msg-flag msg-flag--')[1:]]


def test_a_rows_marks_are_said_in_words_behind_late_and_changed_since_the_last_visit(
    client, foreman, make_user
):
    """March 2025, long past: every work ended. One done on time; one never started (behind,
    late), renamed by another user since the visit; one under way (behind, late by its
    forecast)."""
    done = march_task(code="1.1", volume_plan=Decimal(1))
    DailyWorkFactory(task=done, date=datetime.date(2025, 3, 3), volume=Decimal(1))
    idle = march_task(code="1.2")
    slow = march_task(code="1.3")
    DailyWorkFactory(task=slow, date=datetime.date(2025, 3, 3), volume=Decimal(1))
    client.force_login(foreman)
    client.get(order_url(MARCH_2025))  # the visit
    task_update(
        task=idle,
        data={"name": "Idle"},
        version=idle.version,
        actor=make_user(PLANNERS, username="maria"),
    )

    html = client.get(order_url(MARCH_2025)).content.decode()

    days = next(
        row.forecast.days_late
        for section in month_grid(
            month=datetime.date(2025, 3, 1), today=timezone.localdate()
        ).sections
        for row in section.rows
        if row.task == slow
    )
    assert flags(html, done) == []
    assert flags(html, idle) == [
        'behind">Behind the plan',
        'late">Late: its end date has passed and nothing is reported',
        'changed">Changed by someone else since your last visit',
    ]
    assert flags(html, slow) == [
        'behind">Behind the plan',
        f'late">Late: finishes {days} working days after its end date',
    ]


@pytest.mark.parametrize("tasks", [1, 20])
def test_grid_needs_the_same_queries_for_1_and_20_tasks(
    client, planner, django_assert_num_queries, tasks
):
    for number in range(tasks):
        task = march_task(code=f"{number % 3 + 1}.{number}")
        MonthlyTaskFactory(task=task, month=datetime.date(2025, 3, 1))
        DailyWorkFactory(task=task, date=datetime.date(2025, 3, 4))
    client.force_login(planner)
    client.get(order_url(MARCH_2025))  # the session and the calendar's cache warmed

    with django_assert_num_queries(GRID_QUERIES):
        response = client.get(order_url(MARCH_2025))

    assert len(response.context["rows"]) == tasks


GRID_QUERIES = 19  # with the units' decimals of the live notices (base.html)
"""Session and user, permissions, the event log's head, the visit (its row read and written in a
savepoint) and the changes since it, the grid's eight (the month is past: the forecasts read their
own reports) and the savepoint pair of the messages' storage."""


@pytest.mark.parametrize("fragment", [False, True])
def test_grid_renders_the_same_templates_for_2_and_20_tasks(client, planner, fragment):
    """The rows, their day cells and their plan forms are written in Python (msg_grid.py): per
    node, the template engine took seconds for a month of 300 tasks."""
    tasks = []

    def rendered() -> list[str]:
        ids = "".join(f"&task={task.pk}" for task in tasks)
        url = f"{order_url(MARCH_2025)}&fragment=rows{ids}" if fragment else order_url(MARCH_2025)
        response = client.get(url)
        assert len(response.context["rows"]) == len(tasks)
        return [template.name for template in response.templates]

    client.force_login(planner)
    for number in range(20):
        task = march_task(code=f"1.{number}")
        if number % 2:  # rows with a plan to update, and rows with one to add
            MonthlyTaskFactory(task=task, month=datetime.date(2025, 3, 1))
        DailyWorkFactory(task=task, date=datetime.date(2025, 3, 4))
        tasks.append(task)
        if number == 1:
            two_tasks = rendered()

    assert rendered() == two_tasks


def test_fragment_says_which_event_it_reflects_and_its_rows_change_with_the_works(client, viewer):
    task = march_task()
    client.force_login(viewer)
    url = f"{ORDER_URL}?month={MARCH_2025}&fragment=rows&task={task.pk}"
    before = client.get(url).content.decode()
    work = DailyWorkFactory(task=task, date=datetime.date(2025, 3, 5))

    after = client.get(url).content.decode()

    def attribute(html: str, name: str) -> str:
        return html.split(f'{name}="', 1)[1].split('"', 1)[0]

    assert int(attribute(after, "data-snapshot")) > int(attribute(before, "data-snapshot"))
    assert attribute(after, "data-version") != attribute(before, "data-version")
    assert attribute(after, "data-work-ids") == str(work.pk)
    assert '<thead data-live-part="msg-head">' in after


# A day cell's form: the daily works' edit flow, leading back to the МСГ.

CELL_URL = reverse("monthly:cell")
CELL_CREATE_URL = reverse("monthly:cell_create")


def cell_update_url(work: DailyWork) -> str:
    return reverse("monthly:cell_update", args=[work.pk])


def test_an_empty_cell_opens_the_form_of_a_new_work_of_that_task_and_day(client, foreman):
    task = march_task()
    client.force_login(foreman)

    response = client.get(CELL_URL, {"task": task.pk, "date": "2025-03-05"})
    html = response.content.decode()

    assert response.status_code == 200
    assert f'action="{CELL_CREATE_URL}"' in html
    assert f'name="task" value="{task.pk}"' in html
    assert 'name="date" value="2025-03-05"' in html


def test_a_foreman_adds_a_days_work_from_its_cell_and_returns_to_its_row(client, foreman):
    task = march_task()
    client.force_login(foreman)

    response = client.post(
        CELL_CREATE_URL,
        {"task": task.pk, "date": "2025-03-05", "volume": "2.5", "description": "Two crews"},
    )

    work = DailyWork.objects.get()
    assert response.status_code == 302
    assert response.url == f"{order_url(MARCH_2025)}#task-{task.pk}"
    assert (work.task, work.volume, work.created_by) == (task, Decimal("2.5"), foreman)
    assert "Work 1.1 on 03/05/2025 added." in client.get(response.url).content.decode()


def test_a_cell_with_one_work_corrects_it_with_its_version(client, foreman):
    work = DailyWorkFactory(task=march_task(), date=datetime.date(2025, 3, 5), volume=2)
    client.force_login(foreman)

    page = client.get(CELL_URL, {"task": work.task_id, "date": "2025-03-05"}).content.decode()
    response = client.post(
        cell_update_url(work),
        {"task": work.task_id, "date": "2025-03-05", "volume": "3", "version": work.version},
    )

    assert f'action="{cell_update_url(work)}"' in page
    assert f'name="version" value="{work.version}"' in page and 'value="2"' in page
    assert response.status_code == 302
    work.refresh_from_db()
    assert (work.volume, work.version) == (Decimal(3), 2)


def test_a_stale_cell_correction_of_the_same_volume_offers_the_choice_in_the_cell(client, foreman):
    work = DailyWorkFactory(task=march_task(), date=datetime.date(2025, 3, 5), volume=2)
    daily_work_update(daily_work=work, data={"volume": Decimal(4)}, version=1)
    client.force_login(foreman)

    response = client.post(
        cell_update_url(work),
        {"task": work.task_id, "date": "2025-03-05", "volume": "3", "version": 1},
    )
    html = response.content.decode()

    assert response.status_code == 409
    assert "Someone changed this meanwhile." in html
    assert 'name="version" value="2"' in html
    assert "<td>2</td> <td>4</td> <td>3</td>" in " ".join(html.split())
    assert 'name="choose_volume" value="mine"' in html
    work.refresh_from_db()
    assert work.volume == Decimal(4)


def test_a_stale_cell_correction_of_another_field_is_saved_and_keeps_the_newer_volume(
    client, foreman
):
    work = DailyWorkFactory(
        task=march_task(), date=datetime.date(2025, 3, 5), volume=2, description=""
    )
    daily_work_update(daily_work=work, data={"volume": Decimal(4)}, version=1)
    client.force_login(foreman)

    response = client.post(
        cell_update_url(work),
        {
            "task": work.task_id,
            "date": "2025-03-05",
            "volume": "2",
            "description": "Rain after noon",
            "version": 1,
        },
    )

    assert response.status_code == 302
    work.refresh_from_db()
    assert (work.volume, work.description, work.version) == (Decimal(4), "Rain after noon", 3)


def test_correcting_a_work_deleted_meanwhile_keeps_the_entry_to_add_again(client, foreman):
    work = DailyWorkFactory(task=march_task(), date=datetime.date(2025, 3, 5))
    daily_work_delete(daily_work=work, actor=foreman)
    client.force_login(foreman)

    response = client.post(
        cell_update_url(work),
        {"task": work.task_id, "date": "2025-03-05", "volume": "3", "version": 1},
    )
    html = response.content.decode()

    assert response.status_code == 410
    assert f"by {foreman.username}." in html
    assert f'action="{CELL_CREATE_URL}"' in html and 'value="3"' in html


def test_a_cell_with_several_works_leads_to_the_daily_page(client, foreman):
    task = march_task()
    DailyWorkFactory.create_batch(2, task=task, date=datetime.date(2025, 3, 5))
    client.force_login(foreman)

    response = client.get(CELL_URL, {"task": task.pk, "date": "2025-03-05"})

    assert response.status_code == 302
    assert response.url == f"{reverse('daily:day')}?date=2025-03-05"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"task": "x", "date": "2025-03-05"}, 400),
        ({"task": "1", "date": "2025-02-30"}, 400),
        ({"date": "2025-03-05"}, 400),
        ({"task": "999999", "date": "2025-03-05"}, 404),
    ],
)
def test_a_cell_named_badly_is_refused(client, foreman, query, status):
    client.force_login(foreman)

    assert client.get(CELL_URL, query).status_code == status


@pytest.mark.parametrize("role", [VIEWERS, None])
def test_who_may_not_report_works_gets_no_cell_form(client, make_user, role):
    task = march_task()
    client.force_login(make_user(role))

    page = client.get(CELL_URL, {"task": task.pk, "date": "2025-03-05"})
    post = client.post(CELL_CREATE_URL, {"task": task.pk, "date": "2025-03-05", "volume": "1"})

    assert (page.status_code, post.status_code) == (403, 403)
    assert not DailyWork.objects.exists()


def test_a_rows_version_is_the_same_until_what_it_shows_changes(client, planner):
    # The planner's rows hold plan forms, whose CSRF token differs in every response.
    task = march_task()
    client.force_login(planner)
    url = f"{ORDER_URL}?month={MARCH_2025}&fragment=rows&task={task.pk}"

    first, second = (client.get(url).content.decode() for _ in range(2))

    assert "csrfmiddlewaretoken" in first
    assert row_version(first, task) == row_version(second, task)
    MonthlyTaskFactory(task=task, month=datetime.date(2025, 3, 1))
    assert row_version(client.get(url).content.decode(), task) != row_version(first, task)


def row_version(html: str, task: Task) -> str:
    return html.split(f'<tr id="task-{task.pk}" data-version="', 1)[1].split('"', 1)[0]


@pytest.mark.parametrize(
    ("language", "typed", "saved"),
    [
        ("ru", "190,5", "190.5"),
        ("ru", "1 905,5", "1905.5"),
        ("ru", "190.5", "190.5"),
        ("en", "1,905.5", "1905.5"),
        ("en", "190.5", "190.5"),
    ],
)
def test_a_plan_typed_as_the_pages_language_writes_numbers_saves_that_number(
    client, planner, language, typed, saved
):
    plan = MonthlyTaskFactory(task=TaskFactory(volume_plan=5000), volume_plan=Decimal("40"))
    client.force_login(planner)

    response = client.post(
        update_url(plan),
        {"volume_plan": typed, "version": plan.version},
        HTTP_ACCEPT_LANGUAGE=language,
    )

    plan.refresh_from_db()
    assert response.status_code == 302
    assert plan.volume_plan == Decimal(saved)


@pytest.mark.parametrize(
    ("language", "typed", "message"),
    [
        (
            "en",
            "190,5",
            "“190,5” is not a number. Write numbers like 1,905.5, decimals after a point.",
        ),
        (
            "ru",
            "1,905.5",
            "«1,905.5» — не число. Пишите числа так: 1 905,5, дробную часть — после запятой.",
        ),
        (
            "ru",
            "1e3",
            "«1e3» — не число. Пишите числа так: 1 905,5, дробную часть — после запятой.",
        ),
    ],
)
def test_a_plan_not_written_as_a_number_is_refused_naming_it_and_nothing_is_saved(
    client, planner, language, typed, message
):
    plan = MonthlyTaskFactory(volume_plan=Decimal("40"))
    client.force_login(planner)

    response = client.post(
        update_url(plan),
        {"volume_plan": typed, "version": plan.version},
        HTTP_ACCEPT_LANGUAGE=language,
    )

    plan.refresh_from_db()
    assert plan.volume_plan == Decimal("40")
    html = response.content.decode()
    assert message in html
    # What was typed stays in the input, in a text input the browser does not parse.
    assert f'type="text" name="volume_plan" value="{typed}"' in html


@pytest.mark.parametrize(("language", "shown"), [("ru", "45,5"), ("en", "45.5")])
def test_a_plans_input_shows_it_as_the_pages_language_writes_it(client, planner, language, shown):
    MonthlyTaskFactory(volume_plan=Decimal("45.500"))
    client.force_login(planner)

    html = client.get(order_url("2026-11"), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert f'<input type="text" name="volume_plan" value="{shown}" inputmode="decimal"' in html
    assert 'type="number"' not in html


@pytest.mark.parametrize(
    ("unit", "days", "needed"),
    [
        # 20 over the 9 working days 10–13 and 16–20 November: 2.222… a day, shown to 0.1.
        ("м³", ["2,2"] * 9, "2,3"),
        # Whole pieces: whole numbers a day adding up to 20; needed per day rounded up to one.
        ("шт", ["2", "2", "3", "2", "2", "2", "3", "2", "2"], "3"),
    ],
)
def test_figures_are_shown_with_their_units_decimals(
    client, planner, monkeypatch, unit, days, needed
):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: datetime.date(2026, 11, 10))
    task = task_in_november(unit=unit)
    MonthlyTaskFactory(task=task, month=NOVEMBER, volume_plan=Decimal(20))
    client.force_login(planner)

    html = client.get(order_url("2026-11"), HTTP_ACCEPT_LANGUAGE="ru").content.decode()

    row = html[html.index(f'<tr id="task-{task.pk}"') :]
    row = row[: row.index("</tr>")]
    assert re.findall(r'<span class="msg-cell__plan">([^<]+)</span>', row) == days
    assert re.search(r"msg-needed[^>]*>([^<]+)<", row)[1] == needed


def test_a_plan_above_what_is_left_of_the_work_asks_to_confirm_before_it_is_saved(client, planner):
    plan = MonthlyTaskFactory(task=TaskFactory(code="4.1", volume_plan=540), volume_plan=50)
    client.force_login(planner)
    entry = {"volume_plan": "5000", "version": plan.version}

    asked = client.post(update_url(plan), entry)

    html = asked.content.decode()
    plan.refresh_from_db()
    assert asked.status_code == 200 and plan.volume_plan == 50
    assert "5,000 m³ planned for November 2026 is more than the 540 m³ left of 4.1." in html
    # "Save anyway" submits the row's form, with what was typed.
    form_id = f"plan-form-{plan.task_id}"
    assert f'id="{form_id}"' in html
    assert f'name="confirm_warnings" value="1" class="button" form="{form_id}"' in html
    assert 'name="volume_plan" value="5000"' in html

    saved = client.post(update_url(plan), entry | {"confirm_warnings": "1"})

    plan.refresh_from_db()
    assert saved.status_code == 302 and plan.volume_plan == 5000


def test_a_section_is_shown_by_its_name_where_it_has_one(client, viewer):
    from schedule.models import Section

    Section.objects.create(code="4", name="Монолитные работы")
    task_in_november(code="4.1")
    task_in_november(code="5.1")
    client.force_login(viewer)

    html = client.get(order_url("2026-11"), HTTP_ACCEPT_LANGUAGE="ru").content.decode()

    assert '<span class="msg-section__title">Раздел 4 — Монолитные работы</span>' in html
    assert '<span class="msg-section__title">Раздел 5</span>' in html


def test_a_plan_of_a_whole_unit_must_be_whole(client, planner):
    plan = MonthlyTaskFactory(task=TaskFactory(unit="шт", volume_plan=20), volume_plan=10)
    client.force_login(planner)

    response = client.post(
        update_url(plan), {"volume_plan": "12,345", "version": 1}, HTTP_ACCEPT_LANGUAGE="ru"
    )

    plan.refresh_from_db()
    assert response.status_code == 400 and plan.volume_plan == 10
    assert "шт считаются целыми единицами: 12,345 — не целое число." in response.content.decode()


def test_a_carried_over_work_s_empty_plan_input_shows_the_plan_its_row_counts(client, planner):
    """What was left of it (10 − 4 = 6) is its plan for the month: the empty input shows it
    greyed, so the plan column adds up to the total."""
    carried = task_in_november(
        code="1.1",
        volume_plan=Decimal(10),
        start_date=datetime.date(2026, 10, 1),
        end_date=datetime.date(2026, 10, 30),
    )
    DailyWorkFactory(task=carried, date=datetime.date(2026, 10, 30), volume=Decimal(4))
    client.force_login(planner)

    html = client.get(order_url("2026-11")).content.decode()

    row = row_of(html, carried)
    assert 'name="volume_plan" placeholder="6"' in row
    assert "left 6" in row
