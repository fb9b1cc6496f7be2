import datetime
from decimal import Decimal

import pytest
from rest_framework.fields import DateTimeField

from daily.tests.factories import DailyWorkFactory
from realtime.models import Change
from schedule.models import Task
from schedule.roles import FOREMEN, PLANNERS, VIEWERS

from .factories import TaskFactory

pytestmark = pytest.mark.django_db

LIST_URL = "/api/tasks/"

NEW_TASK = {
    "code": "3.1",
    "name": "Concrete pour",
    "unit": "m³",
    "volume_plan": "120.500",
    "start_date": "2026-11-02",
    "end_date": "2026-11-27",
}


def detail_url(task: Task) -> str:
    return f"{LIST_URL}{task.pk}/"


def task_json(task: Task) -> dict:
    """The API representation of the stored task (read back from the database)."""
    task.refresh_from_db()
    return {
        "id": task.pk,
        "code": task.code,
        "name": task.name,
        "unit": task.unit,
        "volume_plan": f"{task.volume_plan:.3f}",
        "volume_fact": f"{task.volume_fact:.3f}",
        "progress_percent": f"{task.progress_percent:.1f}",
        "start_date": task.start_date.isoformat(),
        "end_date": task.end_date.isoformat(),
        "estimated_cost": None if task.estimated_cost is None else f"{task.estimated_cost:.2f}",
        "created_at": DateTimeField().to_representation(task.created_at),
        "updated_at": DateTimeField().to_representation(task.updated_at),
        "version": task.version,
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


def send(client, action: str, task: Task):
    match action:
        case "list":
            return client.get(LIST_URL)
        case "retrieve":
            return client.get(detail_url(task))
        case "create":
            return client.post(LIST_URL, NEW_TASK, format="json")
        case "update":
            return client.put(detail_url(task), NEW_TASK, format="json")
        case "partial_update":
            return client.patch(detail_url(task), {"name": "Renamed"}, format="json")
        case "destroy":
            return client.delete(detail_url(task))


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
    task = TaskFactory(code="1.1")
    before = task_json(task)

    response = send(client, action, task)

    assert response.status_code == status
    if status == 403:
        assert Task.objects.count() == 1
        assert task_json(task) == before


def test_list_returns_every_task_ordered_by_code(api_client):
    second = TaskFactory(code="1.2")
    first = TaskFactory(code="1.1", volume_plan=Decimal(50))
    DailyWorkFactory(task=first, volume=Decimal("12.5"))

    response = api_client.get(LIST_URL)

    assert response.status_code == 200
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [task_json(first), task_json(second)],
    }
    assert response.json()["results"][0] | {"created_at": None, "updated_at": None} == {
        "id": first.pk,
        "code": "1.1",
        "name": first.name,
        "unit": "m³",
        "volume_plan": "50.000",
        "volume_fact": "12.500",
        "progress_percent": "25.0",
        "start_date": "2026-11-01",
        "end_date": "2026-12-31",
        "estimated_cost": None,
        "created_at": None,
        "updated_at": None,
        "version": 2,
    }


def test_a_progress_far_beyond_the_plan_is_still_listed(api_client):
    task = TaskFactory(volume_plan=Decimal("0.001"))
    DailyWorkFactory(task=task, volume=Decimal("99999999999.999"))

    response = api_client.get(LIST_URL)

    assert response.status_code == 200
    assert response.json()["results"][0]["progress_percent"] == "9999999999999900.0"


def test_retrieve_returns_the_task(api_client):
    task = TaskFactory()

    response = api_client.get(detail_url(task))

    assert response.status_code == 200
    assert response.json() == task_json(task)


def test_retrieve_of_an_unknown_task_is_not_found(api_client):
    response = api_client.get(f"{LIST_URL}999/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No Task matches the given query."}


def test_create_stores_the_task_and_returns_it(api_client):
    response = api_client.post(LIST_URL, NEW_TASK, format="json")

    assert response.status_code == 201
    task = Task.objects.get()
    assert response.json() == task_json(task)
    assert response.json() | {"id": None, "created_at": None, "updated_at": None} == NEW_TASK | {
        "id": None,
        "volume_fact": "0.000",
        "progress_percent": "0.0",
        "estimated_cost": None,
        "created_at": None,
        "updated_at": None,
        "version": 1,
    }


@pytest.mark.parametrize(
    ("cost", "status", "stored"),
    [
        ("1500000.50", 201, Decimal("1500000.50")),
        ("0", 201, Decimal(0)),
        (None, 201, None),
        ("-1", 400, None),
        ("1.005", 400, None),
    ],
)
def test_a_task_may_carry_an_estimated_cost_that_is_not_negative(api_client, cost, status, stored):
    response = api_client.post(LIST_URL, NEW_TASK | {"estimated_cost": cost}, format="json")

    assert response.status_code == status
    if status == 201:
        assert Task.objects.get().estimated_cost == stored
        assert response.json()["estimated_cost"] == (None if cost is None else f"{stored:.2f}")
    else:
        assert set(response.json()) == {"estimated_cost"}


def test_create_ignores_read_only_fields(api_client):
    response = api_client.post(
        LIST_URL,
        NEW_TASK | {"volume_fact": "99.000", "version": 7, "progress_percent": "80.0"},
        format="json",
    )

    assert response.status_code == 201
    task = Task.objects.get()
    assert (task.volume_fact, task.version) == (Decimal(0), 1)


def test_update_replaces_the_task(api_client):
    task = TaskFactory(code="1.1")

    response = api_client.put(detail_url(task), NEW_TASK | {"version": 1}, format="json")

    assert response.status_code == 200
    assert response.json() == task_json(task)
    assert (task.code, task.name, task.volume_plan, task.version) == (
        "3.1",
        "Concrete pour",
        Decimal("120.5"),
        2,
    )


def test_partial_update_with_the_current_version_applies_and_bumps_it(api_client):
    task = TaskFactory(name="Old")

    response = api_client.patch(detail_url(task), {"name": "New", "version": 1}, format="json")

    assert response.status_code == 200
    assert response.json() == task_json(task)
    assert (task.name, task.version) == ("New", 2)


def test_partial_update_without_a_version_applies(api_client):
    task = TaskFactory(name="Old")
    Task.objects.get(pk=task.pk).save()

    response = api_client.patch(detail_url(task), {"name": "From a script"}, format="json")

    assert response.status_code == 200
    assert response.json()["name"] == "From a script"
    assert response.json()["version"] == 3


@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_stale_version_is_refused_with_the_current_task(api_client, method):
    task = TaskFactory(name="Old")
    task.name = "Changed by someone else"
    task.save()
    current = task_json(task)

    response = getattr(api_client, method)(
        detail_url(task), NEW_TASK | {"version": 1}, format="json"
    )

    assert response.status_code == 409
    assert response.json() == {
        "detail": "Task was changed by someone else.",
        "code": "version_conflict",
        "fields": {
            "name": {
                "base": "Old",
                "stored": "Changed by someone else",
                "submitted": "Concrete pour",
            }
        },
        "current": current,
    }
    assert task_json(task) == current


def test_a_stale_update_of_other_fields_is_applied_and_keeps_the_newer_values(api_client):
    task = TaskFactory(name="Old", unit="m³")
    task.unit = "m²"
    task.save()

    response = api_client.patch(
        detail_url(task), {"name": "Renamed", "unit": "m³", "version": 1}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == task_json(task)
    assert (task.name, task.unit, task.version) == ("Renamed", "m²", 3)


def test_a_stale_update_to_the_value_stored_meanwhile_is_applied(api_client):
    task = TaskFactory(name="Old")
    task.name = "New"
    task.save()

    response = api_client.patch(detail_url(task), {"name": "New"}, headers={"If-Match": '"1"'})

    assert response.status_code == 200
    assert response.json()["version"] == 3


def test_a_stale_update_beyond_the_history_is_refused_as_a_whole(api_client):
    task = TaskFactory(name="Old", unit="m³")
    task.unit = "m²"
    task.save()
    Change.objects.filter(object_id=task.pk, version=2).delete()  # pruned by retention

    response = api_client.patch(detail_url(task), {"name": "Renamed", "version": 1}, format="json")

    assert response.status_code == 409
    assert response.json()["fields"] == {}
    assert task_json(task)["name"] == "Old"


def test_a_partial_update_is_validated_against_the_stored_dates(api_client):
    task = TaskFactory(start_date=datetime.date(2026, 11, 10), end_date=datetime.date(2026, 11, 20))

    response = api_client.patch(detail_url(task), {"end_date": "2026-11-09"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"end_date": ["The end date cannot be before the start date."]}
    task.refresh_from_db()
    assert task.end_date == datetime.date(2026, 11, 20)


def test_destroy_deletes_the_task(api_client):
    task = TaskFactory()

    response = api_client.delete(detail_url(task))

    assert response.status_code == 204
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("query", "codes"),
    [
        ("", ["1.1", "1.2", "2.1", "12.1"]),
        ("?code=1.", ["1.1", "1.2"]),
        ("?code=1", ["1.1", "1.2", "12.1"]),
        ("?code=3", []),
        ("?active_on=2026-11-10", ["1.1", "12.1"]),
        ("?active_on=2026-11-30", ["1.1", "1.2", "12.1"]),
        ("?active_on=2026-12-01", ["1.2", "2.1"]),
        ("?code=1.&active_on=2026-12-01", ["1.2"]),
    ],
)
def test_filters_select_by_code_prefix_and_active_day(api_client, query, codes):
    november = {"start_date": datetime.date(2026, 11, 1), "end_date": datetime.date(2026, 11, 30)}
    TaskFactory(code="1.1", **november)
    TaskFactory(
        code="1.2", start_date=datetime.date(2026, 11, 30), end_date=datetime.date(2026, 12, 31)
    )
    TaskFactory(code="12.1", **november)
    TaskFactory(
        code="2.1", start_date=datetime.date(2026, 12, 1), end_date=datetime.date(2026, 12, 31)
    )

    response = api_client.get(LIST_URL + query)

    assert response.status_code == 200
    assert [task["code"] for task in response.json()["results"]] == codes


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("?active_on=2026-02-30", {"active_on": ["Enter a valid date."]}),
        ("?active_on=tomorrow", {"active_on": ["Enter a valid date."]}),
    ],
)
def test_a_bad_filter_value_is_refused(api_client, query, errors):
    response = api_client.get(LIST_URL + query)

    assert response.status_code == 400
    assert response.json() == errors


REMOVE = object()


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"end_date": "2026-11-01"},
            {"end_date": ["The end date cannot be before the start date."]},
        ),
        ({"code": "1.1"}, {"code": ["task with this code already exists."]}),
        ({"code": "x" * 33}, {"code": ["Ensure this field has no more than 32 characters."]}),
        ({"name": ""}, {"name": ["This field may not be blank."]}),
        (
            {"volume_plan": "-1"},
            {"volume_plan": ["Ensure this value is greater than or equal to 0."]},
        ),
        ({"volume_plan": "abc"}, {"volume_plan": ["A valid number is required."]}),
        ({"volume_plan": None}, {"volume_plan": ["This field may not be null."]}),
        (
            {"volume_plan": "1.0001"},
            {"volume_plan": ["Ensure that there are no more than 3 decimal places."]},
        ),
        (
            {"volume_plan": "123456789012"},
            {
                "volume_plan": [
                    "Ensure that there are no more than 11 digits before the decimal point."
                ]
            },
        ),
        (
            {"start_date": "2026-02-30"},
            {
                "start_date": [
                    "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
                ]
            },
        ),
        ({"version": "abc"}, {"version": ["A valid integer is required."]}),
        ({"version": 0}, {"version": ["Ensure this value is greater than or equal to 1."]}),
        ({"code": REMOVE}, {"code": ["This field is required."]}),
        (
            {name: REMOVE for name in NEW_TASK},
            {name: ["This field is required."] for name in NEW_TASK},
        ),
    ],
)
def test_bad_input_is_refused_with_the_field_errors(api_client, changes, errors):
    TaskFactory(code="1.1")
    data = {name: value for name, value in (NEW_TASK | changes).items() if value is not REMOVE}

    response = api_client.post(LIST_URL, data, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    assert Task.objects.count() == 1
