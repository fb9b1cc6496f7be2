import datetime
from decimal import Decimal

import pytest
from rest_framework.fields import DateTimeField

from monthly.models import MonthlyTask
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
    assert response.json() == plan_json(plan)


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
    assert response.json() == plan_json(plan)
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
    assert response.json() == plan_json(plan)
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
        ({"task": 999}, {"task": ['Invalid pk "999" - object does not exist.']}),
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
