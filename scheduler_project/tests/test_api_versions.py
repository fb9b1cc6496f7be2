"""The version contract on the REST API: ETag on reads, ``If-Match`` and ``?version=`` on writes."""

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext

from daily.tests.factories import DailyWorkFactory
from monthly.tests.factories import MonthlyTaskFactory
from schedule.models import Task
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

# url, factory, a field and a value a PATCH may set
KINDS = [
    pytest.param("/api/tasks/", TaskFactory, {"name": "Renamed"}, id="task"),
    pytest.param("/api/monthly-tasks/", MonthlyTaskFactory, {"volume_plan": "5.000"}, id="plan"),
    pytest.param("/api/daily-works/", DailyWorkFactory, {"description": "Redone"}, id="work"),
]


@pytest.fixture
def admin_api(api_client_for, make_user):
    user = make_user(None)
    user.is_superuser = True
    user.save()
    return api_client_for(user)


def changed_meanwhile(obj: models.Model) -> models.Model:
    """The object after someone else saved it: version 2 in the database."""
    obj.save()
    obj.refresh_from_db()
    assert obj.version == 2
    return obj


@pytest.mark.parametrize(("url", "factory", "change"), KINDS)
@pytest.mark.parametrize(
    "how",
    [
        pytest.param({"QUERY_STRING": "version=1"}, id="query"),
        pytest.param({"HTTP_IF_MATCH": '"1"'}, id="if-match"),
    ],
)
def test_a_stale_delete_is_refused_with_409_and_the_current_object(
    admin_api, url, factory, change, how
):
    obj = changed_meanwhile(factory())
    current = admin_api.get(f"{url}{obj.pk}/").json()

    response = admin_api.delete(f"{url}{obj.pk}/", **how)

    assert response.status_code == 409
    assert response.json()["code"] == "version_conflict"
    assert response.json()["current"] == current
    assert response.headers["ETag"] == '"2"'
    assert type(obj).objects.filter(pk=obj.pk).exists()


@pytest.mark.parametrize(("url", "factory", "change"), KINDS)
@pytest.mark.parametrize(
    "how",
    [
        pytest.param({"QUERY_STRING": "version=2"}, id="query"),
        pytest.param({"HTTP_IF_MATCH": '"2"'}, id="if-match"),
        pytest.param({"HTTP_IF_MATCH": "*"}, id="if-match-any"),
        pytest.param({}, id="no-version"),
    ],
)
def test_a_delete_with_the_current_version_or_none_deletes(admin_api, url, factory, change, how):
    obj = changed_meanwhile(factory())

    response = admin_api.delete(f"{url}{obj.pk}/", **how)

    assert response.status_code == 204
    assert not type(obj).objects.filter(pk=obj.pk).exists()


@pytest.mark.parametrize(("url", "factory", "change"), KINDS)
def test_a_read_sends_the_version_as_etag_and_if_match_guards_an_update(
    admin_api, url, factory, change
):
    obj = factory()
    read = admin_api.get(f"{url}{obj.pk}/")
    # Someone else changes the same field meanwhile: a stale update of another would be merged.
    (name,) = change
    theirs = {name: "7.000" if name == "volume_plan" else "Someone else's"}
    assert admin_api.patch(f"{url}{obj.pk}/", theirs, format="json").status_code == 200

    stale = admin_api.patch(
        f"{url}{obj.pk}/", change, format="json", HTTP_IF_MATCH=read.headers["ETag"]
    )
    fresh = admin_api.patch(f"{url}{obj.pk}/", change, format="json", HTTP_IF_MATCH='"2"')

    assert read.headers["ETag"] == '"1"'
    assert stale.status_code == 409
    assert stale.json()["current"]["version"] == 2
    assert fresh.status_code == 200
    assert fresh.headers["ETag"] == '"3"' == f'"{fresh.json()["version"]}"'


@pytest.mark.parametrize(("url", "factory", "change"), KINDS)
@pytest.mark.parametrize("method", ["patch", "put"])
def test_an_update_with_a_stale_version_in_the_query_is_refused_as_with_if_match(
    admin_api, url, factory, change, method
):
    obj = factory()
    read = admin_api.get(f"{url}{obj.pk}/").json()
    (name,) = change
    theirs = {name: "7.000" if name == "volume_plan" else "Someone else's"}
    assert admin_api.patch(f"{url}{obj.pk}/", theirs, format="json").status_code == 200
    body = change if method == "patch" else {**read, **change, "version": None}
    body.pop("version", None)

    stale = getattr(admin_api, method)(f"{url}{obj.pk}/?version=1", body, format="json")
    fresh = getattr(admin_api, method)(f"{url}{obj.pk}/?version=2", body, format="json")

    assert stale.status_code == 409, stale.json()
    assert stale.json()["current"]["version"] == 2
    assert fresh.status_code == 200, fresh.json()
    assert fresh.json()["version"] == 3


def test_a_created_object_answers_with_its_etag(admin_api):
    response = admin_api.post(
        "/api/tasks/",
        {
            "code": "9.9",
            "name": "New",
            "unit": "m",
            "volume_plan": "1",
            "start_date": "2026-11-01",
            "end_date": "2026-11-02",
        },
        format="json",
    )

    assert response.status_code == 201
    assert response.headers["ETag"] == '"1"'


@pytest.mark.parametrize(
    ("send", "errors"),
    [
        (
            {"HTTP_IF_MATCH": 'W/"1"'},
            {"If-Match": ['Send one version as a strong entity tag, e.g. "3".']},
        ),
        (
            {"HTTP_IF_MATCH": "1"},
            {"If-Match": ['Send one version as a strong entity tag, e.g. "3".']},
        ),
        (
            {"HTTP_IF_MATCH": '"1", "2"'},
            {"If-Match": ['Send one version as a strong entity tag, e.g. "3".']},
        ),
        ({"QUERY_STRING": "version=abc"}, {"version": ["The version is a whole number from 1."]}),
        ({"QUERY_STRING": "version=0"}, {"version": ["The version is a whole number from 1."]}),
        (
            {"QUERY_STRING": "version=1", "HTTP_IF_MATCH": '"2"'},
            {"version": ["The versions sent in If-Match, version differ."]},
        ),
    ],
)
def test_a_malformed_or_contradictory_delete_version_is_refused_with_400(admin_api, send, errors):
    task = TaskFactory()

    response = admin_api.delete(f"/api/tasks/{task.pk}/", **send)

    assert response.status_code == 400
    assert response.json() == errors
    assert Task.objects.filter(pk=task.pk).exists()


@pytest.mark.parametrize(
    ("query", "if_match", "body", "errors"),
    [
        (
            "",
            '"2"',
            {"version": 1},
            {"version": ["The versions sent in If-Match, version differ."]},
        ),
        ("", 'W/"1"', {}, {"If-Match": ['Send one version as a strong entity tag, e.g. "3".']}),
        (
            "?version=2",
            None,
            {"version": 1},
            {"version": ["The versions sent in ?version, version differ."]},
        ),
        (
            "?version=1",
            '"2"',
            {},
            {"version": ["The versions sent in If-Match, ?version differ."]},
        ),
        ("?version=0", None, {}, {"version": ["The version is a whole number from 1."]}),
        ("?version=x", None, {}, {"version": ["The version is a whole number from 1."]}),
    ],
)
def test_an_update_whose_versions_are_malformed_or_disagree_is_refused_with_400(
    admin_api, query, if_match, body, errors
):
    task = TaskFactory(name="Kept")
    headers = {"HTTP_IF_MATCH": if_match} if if_match is not None else {}

    response = admin_api.patch(
        f"/api/tasks/{task.pk}/{query}", {"name": "Lost"} | body, format="json", **headers
    )

    assert response.status_code == 400
    assert response.json() == errors
    task.refresh_from_db()
    assert (task.name, task.version) == ("Kept", 1)


@pytest.mark.parametrize(
    "path", ["/api/tasks/{id}/", "/api/monthly-tasks/{id}/", "/api/daily-works/{id}/"]
)
def test_the_schema_documents_if_match_version_and_etag(admin_api, path):
    operations = admin_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"][path]

    def parameters(method: str) -> set[tuple[str, str]]:
        return {(p["in"], p["name"]) for p in operations[method]["parameters"]}

    assert {("header", "If-Match"), ("query", "version")} <= parameters("delete")
    assert {("header", "If-Match"), ("query", "version")} <= parameters("put")
    assert {("header", "If-Match"), ("query", "version")} <= parameters("patch")
    assert "409" in operations["delete"]["responses"]
    assert "ETag" in operations["get"]["responses"]["200"]["headers"]


def row_reads(queries: CaptureQueriesContext, model: type[models.Model]) -> list[str]:
    """The queries that loaded a whole ``model`` row (its version among the columns)."""
    table = connection.ops.quote_name(model._meta.db_table)
    version = f"{table}.{connection.ops.quote_name('version')}"
    return [
        query["sql"]
        for query in queries
        if query["sql"].startswith("SELECT") and version in query["sql"].split(" FROM ")[0]
    ]


@pytest.mark.parametrize(("url", "factory", "change"), KINDS)
@pytest.mark.parametrize("method", ["patch", "delete"])
def test_an_api_write_reads_its_row_once_under_the_lock(admin_api, url, factory, change, method):
    obj = factory()

    with CaptureQueriesContext(connection) as queries:
        response = getattr(admin_api, method)(f"{url}{obj.pk}/", change, format="json")

    assert response.status_code in (200, 204), response.content
    assert len(row_reads(queries, type(obj))) == 1
