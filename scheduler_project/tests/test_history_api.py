"""``GET /api/<resource>/<id>/history/``: an object's changes, newest first, paginated, to those
who may view the resource; a deleted object's too."""

import datetime
from decimal import Decimal

import pytest

from daily.services import daily_work_create
from daily.tests.factories import DailyWorkFactory
from monthly.tests.factories import MonthlyTaskFactory
from realtime.models import Change
from schedule.roles import VIEWERS
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

RESOURCES = {
    "tasks": (lambda: TaskFactory(name="Old"), {"name": "New"}, "name", "Old", "New"),
    "monthly-tasks": (
        lambda: MonthlyTaskFactory(volume_plan=Decimal(1)),
        {"volume_plan": "2"},
        "volume_plan",
        "1.000",
        "2.000",
    ),
    "daily-works": (
        lambda: DailyWorkFactory(date=datetime.date(2026, 11, 3), description="Shift 1"),
        {"description": "Shift 2"},
        "description",
        "Shift 1",
        "Shift 2",
    ),
}


@pytest.mark.parametrize("resource", RESOURCES)
def test_history_lists_the_objects_changes_newest_first(api_client, planner, resource):
    make, patch, field, old, new = RESOURCES[resource]
    obj = make()
    api_client.patch(f"/api/{resource}/{obj.pk}/", patch, format="json")

    response = api_client.get(f"/api/{resource}/{obj.pk}/history/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    updated, created = body["results"]
    assert {k: updated[k] for k in ("kind", "version", "via", "actor", "actor_username")} == {
        "kind": "updated",
        "version": 2,
        "via": "api",
        "actor": planner.pk,
        "actor_username": planner.username,
    }
    assert updated["fields"] == {field: [old, new]}
    assert (created["kind"], created["version"], created["via"]) == ("created", 1, "script")
    assert created["fields"][field] == [None, old]
    assert set(updated) == {
        "id",
        "kind",
        "version",
        "object_repr",
        "fields",
        "actor",
        "actor_username",
        "via",
        "at",
        "caused_by",
    }
    assert updated["caused_by"] is None


def test_a_tasks_history_lists_its_recalculated_volume_done_with_the_report_as_cause(
    api_client, foreman
):
    task = TaskFactory()
    work = daily_work_create(
        data={"task": task, "date": datetime.date(2026, 11, 2), "volume": Decimal("4")},
        actor=foreman,
    )

    recalculated, _created = api_client.get(f"/api/tasks/{task.pk}/history/").json()["results"]

    report = Change.objects.get(stream="daily_works", object_id=work.pk)
    assert recalculated["fields"]["volume_fact"] == ["0.000", "4.000"]
    assert recalculated["caused_by"] == report.pk


def test_history_is_paginated(api_client):
    task = TaskFactory()
    for name in ["B", "C"]:
        task.name = name
        task.save()

    body = api_client.get(f"/api/tasks/{task.pk}/history/?limit=1&offset=1").json()

    assert body["count"] == 3
    assert [change["version"] for change in body["results"]] == [2]
    assert body["next"] and body["previous"]


def test_a_deleted_objects_history_stays_readable(api_client):
    task = TaskFactory(name="Gone")
    api_client.delete(f"/api/tasks/{task.pk}/")

    body = api_client.get(f"/api/tasks/{task.pk}/history/").json()

    assert [change["kind"] for change in body["results"]] == ["deleted", "created"]
    assert body["results"][0]["fields"]["name"] == ["Gone", None]


@pytest.mark.parametrize("object_id", ["999999", "abc"])
def test_an_object_without_history_or_existence_is_not_found(api_client, object_id):
    assert api_client.get(f"/api/tasks/{object_id}/history/").status_code == 404


def test_an_object_older_than_the_history_answers_an_empty_list(api_client):
    task = TaskFactory()
    Change.objects.all().delete()

    body = api_client.get(f"/api/tasks/{task.pk}/history/").json()

    assert (body["count"], body["results"]) == (0, [])


@pytest.mark.parametrize(("role", "status"), [(None, 403), (VIEWERS, 200)])
def test_history_needs_the_view_permission_of_the_resource(api_client_for, make_user, role, status):
    task = TaskFactory()

    response = api_client_for(make_user(role)).get(f"/api/tasks/{task.pk}/history/")

    assert response.status_code == status


def test_history_refuses_anonymous_requests(api_client_for):
    task = TaskFactory()

    assert api_client_for(None).get(f"/api/tasks/{task.pk}/history/").status_code == 401


@pytest.mark.parametrize("resource", RESOURCES)
def test_the_schema_documents_the_paginated_history(api_client, resource):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    operation = schema["paths"][f"/api/{resource}/{{id}}/history/"]["get"]
    assert {"401", "403", "404"} <= set(operation["responses"])
    reference = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][reference.rpartition("/")[2]]
    assert {"count", "next", "previous", "results"} <= set(page["properties"])
    assert [p["name"] for p in operation["parameters"] if p["in"] == "query"] == [
        "limit",
        "offset",
    ]
