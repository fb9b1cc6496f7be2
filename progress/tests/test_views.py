import datetime
import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from daily.tests.factories import DailyWorkFactory
from progress.selectors import month_grid
from progress.views import late_tasks, rows_by_lag
from schedule.roles import FOREMEN, PLANNERS, VIEWERS
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

PROGRESS_URL = reverse("progress:page")
CURVE_URL = reverse("api:progress-curve")
DAY = datetime.timedelta(days=1)


def days(count: int) -> datetime.date:
    """``count`` days from today (the view's today: the server's local date)."""
    return timezone.localdate() + count * DAY


def running_task(code: str, **fields: object):
    """A task running from 40 days ago to 40 days ahead: it runs in this month."""
    return TaskFactory(**{"code": code, "start_date": days(-40), "end_date": days(40)} | fields)


def embedded_curve(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="progress-curve" type="application/json">')
    body = html[start:].split(">", 1)[1].split("</script>", 1)[0]
    return json.loads(body)


def test_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get(PROGRESS_URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("role", [PLANNERS, FOREMEN, VIEWERS])
def test_every_role_sees_the_page_and_its_menu_link(client, make_user, role):
    client.force_login(make_user(role))

    response = client.get(PROGRESS_URL)

    assert response.status_code == 200
    assert f'<a href="{PROGRESS_URL}" aria-current="page">Progress</a>' in response.content.decode()


@pytest.mark.parametrize(
    ("permissions", "status"),
    [
        ([], 403),
        (["view_task"], 403),
        (["view_dailywork"], 403),
        (["view_task", "view_dailywork"], 200),
    ],
)
def test_the_page_needs_the_view_permission_on_tasks_and_on_daily_works(
    client, make_user, permissions, status
):
    user = make_user(None)
    user.user_permissions.add(*Permission.objects.filter(codename__in=permissions))
    client.force_login(user)

    for url in (PROGRESS_URL, f"{PROGRESS_URL}?fragment=tables"):
        assert client.get(url).status_code == status


def test_a_user_without_the_permissions_gets_no_menu_link(client, make_user):
    user = make_user(None)
    user.user_permissions.add(*Permission.objects.filter(codename="view_task"))
    client.force_login(user)

    html = client.get(reverse("schedule:task_list")).content.decode()

    assert PROGRESS_URL not in html


def test_the_page_embeds_the_same_curve_as_the_api(client, planner):
    task = running_task("1.1")
    DailyWorkFactory(task=task, date=days(-3), volume=Decimal("7"))
    client.force_login(planner)

    page = client.get(PROGRESS_URL)
    api = client.get(CURVE_URL)

    assert embedded_curve(page) == api.json()
    assert embedded_curve(page)["today"] == timezone.localdate().isoformat()
    html = page.content.decode()
    assert f'data-curve-url="{CURVE_URL}?section="' in html
    assert f'data-fragment-url="{PROGRESS_URL}?fragment=tables"' in html


@pytest.mark.parametrize(
    ("costs", "shown", "hidden"),
    [
        (
            [Decimal("100"), Decimal("300")],
            "Each task counts by its estimated cost.",
            "Each task counts equally",
        ),
        (
            [Decimal("100"), None],
            "Each task counts equally: not every task has an estimated cost.",
            "Each task counts by its estimated cost.",
        ),
    ],
)
def test_the_page_says_how_the_tasks_are_weighted(client, planner, costs, shown, hidden):
    for number, cost in enumerate(costs, start=1):
        running_task(f"1.{number}", estimated_cost=cost)
    client.force_login(planner)

    html = client.get(PROGRESS_URL).content.decode()

    assert f">{shown}</span>" in html
    hidden_note = html[: html.index(hidden)].rsplit("<span", 1)[1]
    assert " hidden" in hidden_note


def test_this_month_lists_the_most_behind_task_first(client, planner):
    ahead = running_task("1.1", name="Ahead")
    behind = running_task("1.2", name="Behind")
    DailyWorkFactory(task=ahead, date=timezone.localdate(), volume=Decimal("90"))
    client.force_login(planner)

    response = client.get(PROGRESS_URL)

    assert [item.row.task for item in response.context["lag_rows"]] == [behind, ahead]
    html = response.content.decode()
    assert html.index(f'id="lag-{behind.pk}"') < html.index(f'id="lag-{ahead.pk}"')
    # The deviation as the МСГ writes it: fact − plan to date, "+" ahead, "▼ −" behind.
    deviation = html.split(f'id="lag-{ahead.pk}"')[1].split('class="num progress-lag"')[1]
    assert deviation.split("</td>")[0].startswith(' data-label="Deviation"><span>+')
    month = timezone.localdate().strftime("%Y-%m")
    assert f'href="{reverse("monthly:order")}?month={month}#task-{ahead.pk}"' in html


def test_the_lag_orders_tasks_by_percent_of_their_month_plan_whatever_their_units():
    november = datetime.date(2026, 11, 1)
    dates = {"start_date": november, "end_date": datetime.date(2026, 11, 30)}
    small = TaskFactory(code="1.1", unit="t", volume_plan=Decimal("10"), **dates)
    large = TaskFactory(code="1.2", unit="m³", volume_plan=Decimal("1000"), **dates)
    TaskFactory(code="1.3", volume_plan=Decimal("0"), **dates)
    TaskFactory(code="1.4", volume_plan=Decimal("100"), **dates)  # nothing done
    DailyWorkFactory(task=small, date=datetime.date(2026, 11, 2), volume=Decimal("0.1"))
    DailyWorkFactory(task=large, date=datetime.date(2026, 11, 2), volume=Decimal("200"))
    grid = month_grid(month=november, today=datetime.date(2026, 11, 20), section=None)

    ordered = rows_by_lag([row for section in grid.sections for row in section.rows])

    # 13 of November's 20 working days (4 November is a holiday) are before the 20th.
    assert [(item.row.task.code, item.lag_percent) for item in ordered] == [
        ("1.4", Decimal("65.0")),
        ("1.1", Decimal("64.0")),
        ("1.2", Decimal("45.0")),
        ("1.3", None),
    ]
    assert [item.lag for item in ordered] == [
        Decimal("65.000"),
        Decimal("6.400"),
        Decimal("450.000"),
        Decimal("0.000"),
    ]


def test_late_tasks_are_the_unfinished_ones_past_their_end_or_forecast_after_it(client, planner):
    late = TaskFactory(code="1.1", start_date=days(-30), end_date=days(-1))
    later = TaskFactory(code="1.2", start_date=days(-30), end_date=days(-1))
    done_late = TaskFactory(code="1.3", start_date=days(-30), end_date=days(-10))
    on_time = TaskFactory(code="1.4", start_date=days(-30), end_date=days(300))
    not_started = TaskFactory(code="1.5", start_date=days(-30), end_date=days(-1))
    DailyWorkFactory(task=late, date=days(-2), volume=Decimal("50"))
    DailyWorkFactory(task=later, date=days(-2), volume=Decimal("10"))
    DailyWorkFactory(task=done_late, date=days(-2), volume=Decimal("100"))
    DailyWorkFactory(task=on_time, date=days(-2), volume=Decimal("10"))
    client.force_login(planner)

    response = client.get(PROGRESS_URL)

    listed = response.context["late_tasks"]
    # Not started past its end: no finish in sight, so first; then the latest finish first.
    assert [item.task for item in listed] == [not_started, later, late]
    assert listed[1].forecast.days_late > listed[2].forecast.days_late > 0
    html = response.content.decode()
    assert f'href="{reverse("schedule:task_list")}#task-{later.pk}"' in html


def test_late_tasks_of_a_list_are_found_with_two_queries_whatever_their_number(
    django_assert_num_queries,
):
    tasks = [TaskFactory(code=f"1.{n}") for n in range(1, 6)]

    with django_assert_num_queries(2):
        assert late_tasks(tasks, today=datetime.date(2026, 11, 20)) == []


def test_a_section_shows_only_its_tasks_and_the_selector_lists_every_section(client, planner):
    first = running_task("1.1")
    second = running_task("2.1")
    running_task("10.1")
    client.force_login(planner)

    response = client.get(f"{PROGRESS_URL}?section=2")

    assert [item.row.task for item in response.context["lag_rows"]] == [second]
    assert embedded_curve(response)["site"]["tasks"] == 1
    assert response.context["sections"] == [
        ("1", "Section 1"),
        ("2", "Section 2"),
        ("10", "Section 10"),
    ]
    html = response.content.decode()
    assert '<option value="2" selected>Section 2</option>' in html
    assert f'data-curve-url="{CURVE_URL}?section=2"' in html
    assert f'id="lag-{first.pk}"' not in html


@pytest.mark.parametrize("section", ["2.1", "2\x00"])
def test_a_section_no_code_can_have_sends_the_page_back_to_the_whole_site(client, planner, section):
    client.force_login(planner)

    response = client.get(PROGRESS_URL, {"section": section}, follow=True)

    assert response.redirect_chain == [(PROGRESS_URL, 302)]
    assert f"“{section}” is not a section" in response.content.decode()


def test_the_tables_of_a_section_no_code_can_have_are_a_400(client, planner):
    client.force_login(planner)

    response = client.get(PROGRESS_URL, {"section": "2\x00", "fragment": "tables"})

    assert response.status_code == 400


def test_the_tables_fragment_is_the_two_tables_alone(client, planner):
    task = running_task("1.1")
    client.force_login(planner)

    response = client.get(f"{PROGRESS_URL}?fragment=tables")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.count("data-progress-part=") == 2
    assert f'id="lag-{task.pk}"' in html


def test_the_tables_fragment_refuses_a_section_with_a_dot(client, planner):
    client.force_login(planner)

    response = client.get(f"{PROGRESS_URL}?fragment=tables&section=2.1")

    assert response.status_code == 400


@pytest.mark.parametrize("url", [PROGRESS_URL, f"{PROGRESS_URL}?fragment=tables"])
def test_the_page_takes_the_same_queries_whatever_the_number_of_tasks(client, planner, url):
    client.force_login(planner)

    def queries(count: int) -> int:
        for _ in range(count):
            task = running_task(f"{len(str(count))}.{_ + 1}")
            DailyWorkFactory(task=task, date=days(-1), volume=Decimal("3"))
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    few = queries(2)
    assert queries(12) == few
