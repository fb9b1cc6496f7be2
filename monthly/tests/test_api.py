import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import translation
from rest_framework.fields import DateTimeField

from daily.tests.factories import DailyWorkFactory
from monthly.models import MonthlyTask
from realtime.models import Event
from schedule.roles import FOREMEN, PLANNERS, VIEWERS
from schedule.tests.factories import TaskFactory

from .factories import MonthlyTaskFactory

pytestmark = pytest.mark.django_db

LIST_URL = "/api/monthly-tasks/"
NOV_1 = datetime.date(2026, 11, 1)
DEC_1 = datetime.date(2026, 12, 1)


def detail_url(plan: MonthlyTask) -> str:
    return f"{LIST_URL}{plan.pk}/"


def plan_json(plan: MonthlyTask) -> dict:
    """The API representation of the stored plan (read back from the database)."""
    plan.refresh_from_db()
    return {
        "id": plan.pk,
        "task": plan.task_id,
        "task_code": plan.task.code,
        "task_unit": plan.task.unit,
        "month": f"{plan.month.year:04}-{plan.month.month:02}",
        "volume_plan": f"{plan.volume_plan:.3f}",
        "created_at": DateTimeField().to_representation(plan.created_at),
        "updated_at": DateTimeField().to_representation(plan.updated_at),
        "version": plan.version,
    }


ALLOWED_TO_ALL_STAFF = {"list": 200, "retrieve": 200}
ONLY_PLANNERS = {"create": 201, "update": 200, "partial_update": 200, "destroy": 204}
DENIED = {action: 403 for action in [*ALLOWED_TO_ALL_STAFF, *ONLY_PLANNERS]}
EXPECTED_STATUS = {
    PLANNERS: ALLOWED_TO_ALL_STAFF | ONLY_PLANNERS,
    FOREMEN: DENIED | ALLOWED_TO_ALL_STAFF,
    VIEWERS: DENIED | ALLOWED_TO_ALL_STAFF,
    "no group": DENIED,
    "anonymous": {action: 401 for action in DENIED},
}


def send(client, action: str, plan: MonthlyTask):
    new_plan = {"task": plan.task_id, "month": "2026-12", "volume_plan": "15.000"}
    match action:
        case "list":
            return client.get(LIST_URL)
        case "retrieve":
            return client.get(detail_url(plan))
        case "create":
            return client.post(LIST_URL, new_plan, format="json")
        case "update":
            return client.put(detail_url(plan), new_plan, format="json")
        case "partial_update":
            return client.patch(detail_url(plan), {"volume_plan": "1"}, format="json")
        case "destroy":
            return client.delete(detail_url(plan))


@pytest.mark.parametrize(
    ("role", "action", "status"),
    [
        (role, action, status)
        for role, statuses in EXPECTED_STATUS.items()
        for action, status in statuses.items()
    ],
)
def test_each_role_may_do_only_what_its_permissions_allow(
    make_user, api_client_for, role, action, status
):
    match role:
        case "anonymous":
            client = api_client_for(None)
        case "no group":
            client = api_client_for(make_user(None))
        case _:
            client = api_client_for(make_user(role))
    plan = MonthlyTaskFactory()
    before = plan_json(plan)

    response = send(client, action, plan)

    assert response.status_code == status
    if status == 403:
        assert MonthlyTask.objects.count() == 1
        assert plan_json(plan) == before


def test_list_returns_the_plans_ordered_by_month_then_task_code(api_client):
    first_task = TaskFactory(code="1.1")
    second_task = TaskFactory(code="1.2")
    december = MonthlyTaskFactory(task=first_task, month=DEC_1)
    november_second = MonthlyTaskFactory(task=second_task, month=NOV_1)
    november_first = MonthlyTaskFactory(task=first_task, month=NOV_1, volume_plan=Decimal("7.5"))

    response = api_client.get(LIST_URL)

    assert response.status_code == 200
    assert response.json() == {
        "count": 3,
        "next": None,
        "previous": None,
        "results": [plan_json(november_first), plan_json(november_second), plan_json(december)],
    }
    assert response.json()["results"][0] | {"created_at": None, "updated_at": None} == {
        "id": november_first.pk,
        "task": first_task.pk,
        "task_code": "1.1",
        "task_unit": "m³",
        "month": "2026-11",
        "volume_plan": "7.500",
        "created_at": None,
        "updated_at": None,
        "version": 1,
    }


def test_retrieve_returns_the_plan(api_client):
    plan = MonthlyTaskFactory()

    response = api_client.get(detail_url(plan))

    assert response.status_code == 200
    assert response.json() == plan_json(plan)


@pytest.mark.parametrize("month", ["2026-11", "2026-11-20"])
def test_create_stores_the_plan_on_the_first_of_the_month(api_client, month):
    task = TaskFactory()

    response = api_client.post(
        LIST_URL, {"task": task.pk, "month": month, "volume_plan": "12"}, format="json"
    )

    assert response.status_code == 201
    plan = MonthlyTask.objects.get()
    assert (plan.month, plan.volume_plan, plan.version) == (NOV_1, Decimal(12), 1)
    assert response.json() == plan_json(plan) | {"warnings": []}


def test_a_month_before_the_year_1000_is_written_with_four_digits(api_client):
    task = TaskFactory()

    response = api_client.post(
        LIST_URL, {"task": task.pk, "month": "0171-02", "volume_plan": "1"}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["month"] == "0171-02"
    assert MonthlyTask.objects.get().month == datetime.date(171, 2, 1)


def test_update_replaces_the_plan(api_client):
    plan = MonthlyTaskFactory(month=NOV_1)
    other_task = TaskFactory()

    response = api_client.put(
        detail_url(plan),
        {"task": other_task.pk, "month": "2026-12", "volume_plan": "3.25", "version": 1},
        format="json",
    )

    assert response.status_code == 200
    assert response.json() == plan_json(plan) | {"warnings": []}
    assert (plan.task, plan.month, plan.volume_plan, plan.version) == (
        other_task,
        DEC_1,
        Decimal("3.25"),
        2,
    )


def test_partial_update_without_a_version_applies(api_client):
    plan = MonthlyTaskFactory()

    response = api_client.patch(detail_url(plan), {"volume_plan": "2"}, format="json")

    assert response.status_code == 200
    assert response.json() == plan_json(plan) | {"warnings": []}
    assert (plan.volume_plan, plan.version) == (Decimal(2), 2)


@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_stale_version_is_refused_with_the_current_plan(api_client, method):
    plan = MonthlyTaskFactory()
    plan.volume_plan = Decimal(99)
    plan.save()
    current = plan_json(plan)

    response = getattr(api_client, method)(
        detail_url(plan),
        {"task": plan.task_id, "month": "2027-01", "volume_plan": "1", "version": 1},
        format="json",
    )

    assert response.status_code == 409
    assert response.json() == {
        "detail": "Monthly order was changed by someone else.",
        "code": "version_conflict",
        "fields": {"volume_plan": {"base": "40.000", "stored": "99.000", "submitted": "1.000"}},
        "current": current,
    }
    assert plan_json(plan) == current


def test_destroy_deletes_the_plan(api_client):
    plan = MonthlyTaskFactory()

    response = api_client.delete(detail_url(plan))

    assert response.status_code == 204
    assert not MonthlyTask.objects.exists()


@pytest.fixture
def three_plans() -> dict[str, MonthlyTask]:
    first_task = TaskFactory(code="1.1")
    second_task = TaskFactory(code="1.2")
    return {
        "1.1 Nov": MonthlyTaskFactory(task=first_task, month=NOV_1),
        "1.2 Nov": MonthlyTaskFactory(task=second_task, month=NOV_1),
        "1.1 Dec": MonthlyTaskFactory(task=first_task, month=DEC_1),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["1.1 Nov", "1.2 Nov", "1.1 Dec"]),
        ("?month=2026-11", ["1.1 Nov", "1.2 Nov"]),
        ("?month=2026-11-30", ["1.1 Nov", "1.2 Nov"]),
        ("?month=2026-12", ["1.1 Dec"]),
        ("?month=2027-01", []),
        ("?task={1.1}", ["1.1 Nov", "1.1 Dec"]),
        ("?task={1.1}&month=2026-12", ["1.1 Dec"]),
    ],
)
def test_filters_select_by_month_and_task(api_client, three_plans, query, expected):
    query = query.replace("{1.1}", str(three_plans["1.1 Nov"].task_id))

    response = api_client.get(LIST_URL + query)

    assert response.status_code == 200
    assert [plan["id"] for plan in response.json()["results"]] == [
        three_plans[name].pk for name in expected
    ]


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("?month=2026-13", {"month": ["Enter a month as YYYY-MM, e.g. 2026-11."]}),
        ("?month=abc", {"month": ["Enter a month as YYYY-MM, e.g. 2026-11."]}),
        ("?month=11.2026", {"month": ["Enter a month as YYYY-MM, e.g. 2026-11."]}),
        (
            "?task=abc",
            {"task": ["Select a valid choice. That choice is not one of the available choices."]},
        ),
        (
            "?task=999",
            {"task": ["Select a valid choice. That choice is not one of the available choices."]},
        ),
    ],
)
def test_a_bad_filter_value_is_refused(api_client, query, errors):
    response = api_client.get(LIST_URL + query)

    assert response.status_code == 400
    assert response.json() == errors


REMOVE = object()
BAD_MONTH = {"month": ["Enter a month as YYYY-MM, e.g. 2026-11."]}


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"month": "2026-13"}, BAD_MONTH),
        ({"month": "November 2026"}, BAD_MONTH),
        ({"month": "2026/11"}, BAD_MONTH),
        ({"month": 202611}, BAD_MONTH),
        ({"month": ""}, BAD_MONTH),
        ({"month": None}, {"month": ["This field may not be null."]}),
        (
            {"month": "2026-11"},
            {"non_field_errors": ["This task already has a plan for this month."]},
        ),
        ({"task": 999}, {"task": ["There is no task 999: it may have been deleted."]}),
        ({"task": "abc"}, {"task": ["Incorrect type. Expected pk value, received str."]}),
        (
            {"volume_plan": "-1"},
            {"volume_plan": ["Ensure this value is greater than or equal to 0."]},
        ),
        ({"volume_plan": "many"}, {"volume_plan": ["A valid number is required."]}),
        (
            {"volume_plan": "0.0001"},
            {"volume_plan": ["Ensure that there are no more than 3 decimal places."]},
        ),
        ({"version": "1.5"}, {"version": ["A valid integer is required."]}),
        (
            {"task": REMOVE, "month": REMOVE, "volume_plan": REMOVE},
            {
                "task": ["This field is required."],
                "month": ["This field is required."],
                "volume_plan": ["This field is required."],
            },
        ),
    ],
)
def test_bad_input_is_refused_with_the_field_errors(api_client, changes, errors):
    existing = MonthlyTaskFactory(month=NOV_1)
    valid = {"task": existing.task_id, "month": "2026-12", "volume_plan": "5"}
    data = {name: value for name, value in (valid | changes).items() if value is not REMOVE}

    response = api_client.post(LIST_URL, data, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    assert MonthlyTask.objects.count() == 1


# The МСГ and the S-curve (docs/msg.md). January 2026 is past whatever the clock says, so its
# figures do not depend on today: the task of 150 m³ over 12–30 January plans 30 for January,
# 2 a working day (12–16, 19–23, 26–30).

MONTH_URL = "/api/progress/month/"
CURVE_URL = "/api/progress/curve/"
PROGRESS_URLS = [f"{MONTH_URL}?month=2026-01", CURVE_URL]


def january_task(code: str = "1.1", **reports: str):
    task = TaskFactory(
        code=code,
        volume_plan=Decimal(150),
        start_date=datetime.date(2026, 1, 12),
        end_date=datetime.date(2026, 1, 30),
    )
    MonthlyTaskFactory(task=task, month=datetime.date(2026, 1, 1), volume_plan=Decimal(30))
    for day, volume in reports.items():
        DailyWorkFactory(task=task, date=datetime.date(2026, 1, int(day[2:])), volume=volume)
    return task


@pytest.fixture(autouse=True)
def russian_five_day_week(settings):
    settings.WORK_WEEKDAYS = (1, 2, 3, 4, 5)
    settings.HOLIDAYS_COUNTRY = "RU"


@pytest.fixture
def task_viewer(make_user):
    """May view tasks but not daily works."""
    user = make_user(None, username="task-viewer")
    user.user_permissions.add(Permission.objects.get(codename="view_task"))
    return user


@pytest.mark.parametrize("url", PROGRESS_URLS)
@pytest.mark.parametrize(
    ("who", "status"),
    [
        (PLANNERS, 200),
        (FOREMEN, 200),
        (VIEWERS, 200),
        ("task viewer", 403),
        ("no group", 403),
        ("anonymous", 401),
    ],
)
def test_progress_needs_the_view_permission_on_tasks_and_daily_works(
    url, who, status, make_user, task_viewer, api_client_for
):
    special = {"anonymous": None, "no group": make_user(None), "task viewer": task_viewer}
    user = special[who] if who in special else make_user(who)

    response = api_client_for(user).get(url)

    assert response.status_code == status
    if status == 401:
        assert response["WWW-Authenticate"] == "Token"
    if status == 200:
        assert response["X-Last-Event-Id"] == str(Event.objects.latest_id())


@pytest.mark.parametrize(
    ("url", "errors"),
    [
        (MONTH_URL, {"month": ["This field is required."]}),
        (f"{MONTH_URL}?month=2026-13", {"month": ["Enter a month as YYYY-MM, e.g. 2026-11."]}),
        (f"{MONTH_URL}?month=january", {"month": ["Enter a month as YYYY-MM, e.g. 2026-11."]}),
        (f"{MONTH_URL}?month=1899-12", {"month": ["Enter a month from 1900-01 to 2199-12."]}),
        (f"{MONTH_URL}?month=9999-12", {"month": ["Enter a month from 1900-01 to 2199-12."]}),
        (
            f"{MONTH_URL}?month=2026-01&section=1.2",
            {"section": ["A section is the first level of a code, the part before the first dot."]},
        ),
        (
            f"{CURVE_URL}?section=1.2",
            {"section": ["A section is the first level of a code, the part before the first dot."]},
        ),
        (
            f"{CURVE_URL}?section={'9' * 33}",
            {"section": ["Ensure this field has no more than 32 characters."]},
        ),
    ],
)
def test_a_bad_progress_query_is_refused_with_what_is_wrong(url, errors, api_client_for, viewer):
    response = api_client_for(viewer).get(url)

    assert (response.status_code, response.json()) == (400, errors)


def test_the_month_grid_comes_as_json_with_its_rows_cells_and_totals(api_client_for, viewer):
    task = january_task(on12="2", on13="1", on14="2")
    january_task("2.1")

    response = api_client_for(viewer).get(f"{MONTH_URL}?month=2026-01&section=1")

    grid = response.json()
    assert (grid["month"], grid["weighting"], len(grid["days"])) == ("2026-01", "equal", 31)
    assert grid["days"][0] == {
        "date": "2026-01-01",
        "is_working": False,
        "is_holiday": True,
        "is_today": False,
    }
    (section,) = grid["sections"]
    (row,) = section.pop("rows")
    cells, forecast = row.pop("cells"), row.pop("forecast")
    plan = MonthlyTask.objects.get(task=task)
    assert row == {
        "task": task.pk,
        "code": "1.1",
        "name": task.name,
        "unit": "m³",
        "section": "1",
        "monthly_task": plan.pk,
        "monthly_task_version": plan.version,
        "plan": "30.000",
        "unspread": "0.000",
        "fact": "5.000",
        "percent": "16.7",
        "remaining": "25.000",
        "fact_before_month": "0.000",
        "remaining_at_month_start": "150.000",
        "plan_to_date": "30.000",
        # 5 − 30, at 2 a day (30 over 15 working days)
        "deviation_to_date": "-25.000",
        "deviation_days": "-12.5",
        "is_behind": True,
        "days_left": 0,
        "needed_per_day": None,
        "remaining_total": "145.000",
        # Past its end, to January's last working day: none is left
        "needed_per_day_to_finish": None,
        # January judges "unfinished" at its last day; the work ended on the 30th
        "overdue_since": "2026-01-31",
        "is_carried_over": False,
        "is_finished": False,
    }
    assert cells[11:14] == [
        {"date": "2026-01-12", "plan": "2.000", "fact": "2.000", "is_behind": False},
        {"date": "2026-01-13", "plan": "2.000", "fact": "1.000", "is_behind": True},
        {"date": "2026-01-14", "plan": "2.000", "fact": "2.000", "is_behind": False},
    ]
    assert cells[0] == {"date": "2026-01-01", "plan": None, "fact": None, "is_behind": False}
    assert (forecast["status"], forecast["rate"], forecast["window_days"]) == (
        "in_progress",
        "1.667",
        3,
    )
    totals = {"tasks": 1, "behind": 1, "late": 1, "percent": "16.7"}
    assert section == {"section": "1", "name": "", "totals": totals} and grid["totals"] == totals


def test_the_curve_comes_as_json_per_section_and_for_the_site(api_client_for, viewer):
    # 10 over 15, 16 and 19 January (3.333, 3.334, 3.333); 1 done on the 14th: 10 %.
    task = TaskFactory(
        code="3.1",
        volume_plan=Decimal(10),
        start_date=datetime.date(2026, 1, 15),
        end_date=datetime.date(2026, 1, 19),
    )
    DailyWorkFactory(task=task, date=datetime.date(2026, 1, 14), volume=Decimal(1))

    curve = api_client_for(viewer).get(f"{CURVE_URL}?section=3").json()

    series = {
        "tasks": 1,
        "planned": ["0.0", "33.3", "66.7", "66.7", "66.7", "100.0"],
        "actual": ["10.0"] * 6,
    }
    assert curve["weighting"] == "equal"
    assert curve["days"] == [f"2026-01-{day}" for day in range(14, 20)]
    assert (curve["site"], curve["sections"]) == (series, [{"section": "3", **series}])


def test_a_bad_progress_query_is_explained_in_russian(api_client_for, viewer):
    # The request activates Russian for the thread; override() puts the language back after.
    with translation.override("en"):
        response = api_client_for(viewer).get(
            f"{MONTH_URL}?month=1800-01", HTTP_ACCEPT_LANGUAGE="ru"
        )

    assert response.json() == {"month": ["Укажите месяц с 1900-01 по 2199-12."]}


def test_a_plan_above_what_is_left_of_the_work_is_accepted_with_a_warning(api_client):
    task = TaskFactory(code="4.1", volume_plan=Decimal(540))
    DailyWorkFactory(task=task, date=datetime.date(2026, 11, 2), volume=Decimal("351.4"))

    response = api_client.post(
        LIST_URL, {"task": task.pk, "month": "2026-12", "volume_plan": "5000"}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["warnings"] == [
        "5,000 m³ planned for December 2026 is more than the 188.6 m³ left of 4.1."
    ]
