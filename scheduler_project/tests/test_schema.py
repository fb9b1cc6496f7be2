"""The OpenAPI schema: valid, login-only, and kept honest by schemathesis against the real API."""

import copy
import json
from collections.abc import Iterator
from io import StringIO

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from daily.tests.factories import DailyWorkFactory
from monthly.tests.factories import MonthlyTaskFactory
from schedule.tests.factories import TaskFactory, UserFactory

HYPOTHESIS_SETTINGS = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)


@pytest.fixture
def wsgi_app() -> Iterator[object]:
    """The project's WSGI application, run inside the test's transaction.

    Like Django's test client, it keeps the request signals from closing the connection that holds
    the test transaction.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def openapi_document() -> dict:
    """The schema drf-spectacular serves at ``/api/schema/``, as plain JSON data."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document))


def load_schema(document: dict, mode: str) -> BaseSchema:
    loaded = schemathesis.openapi.from_dict(copy.deepcopy(document))
    loaded.config.generation.update(modes=[mode], with_security_parameters=False)
    return loaded


DOCUMENT = openapi_document()
valid_requests = load_schema(DOCUMENT, "positive")
invalid_requests = load_schema(DOCUMENT, "negative")


@pytest.fixture
def superuser_token(db) -> str:
    user = UserFactory(username="admin", is_staff=True, is_superuser=True)
    return Token.objects.create(user=user).key


@pytest.fixture
def stored_rows(db) -> dict[str, int]:
    """Ids of stored rows by collection path, and of a task to refer to (under ``"task"``)."""
    task = TaskFactory()
    return {
        "/api/tasks/": TaskFactory().pk,
        "/api/monthly-tasks/": MonthlyTaskFactory(task=task).pk,
        "/api/daily-works/": DailyWorkFactory(task=task).pk,
        "task": task.pk,
    }


def aim_at_stored_rows(case: Case, rows: dict[str, int]) -> None:
    """Point generated ids at stored rows: random ids would nearly always stop at a 404 or 400."""
    if "id" in (case.path_parameters or {}):
        case.path_parameters["id"] = rows[case.path.split("{id}/")[0]]
    if isinstance(case.body, dict) and "task" in case.body:
        case.body["task"] = rows["task"]


def call_and_roll_back(case: Case, *, app: object, token: str, checks: list) -> None:
    """Send the case and check the answer; each example starts from the same stored rows."""
    with transaction.atomic():
        case.call_and_validate(app=app, headers={"Authorization": f"Token {token}"}, checks=checks)
        transaction.set_rollback(True)


@valid_requests.parametrize()
@HYPOTHESIS_SETTINGS
def test_valid_requests_are_answered_as_documented(case, wsgi_app, superuser_token, stored_rows):
    aim_at_stored_rows(case, stored_rows)
    call_and_roll_back(
        case,
        app=wsgi_app,
        token=superuser_token,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )


@invalid_requests.parametrize()
@HYPOTHESIS_SETTINGS
def test_invalid_requests_are_refused_with_a_documented_status(
    case, wsgi_app, superuser_token, stored_rows
):
    """Only the status is checked: an id that no URL matches gets Django's HTML 404 page."""
    call_and_roll_back(
        case,
        app=wsgi_app,
        token=superuser_token,
        checks=[not_a_server_error, status_code_conformance],
    )


def test_schema_has_no_warnings():
    output = StringIO()

    call_command("spectacular", "--validate", "--fail-on-warn", stdout=output)

    assert output.getvalue().startswith("openapi: 3.0.3")


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/"])
def test_schema_and_docs_need_login(db, url):
    response = APIClient().get(url)

    assert response.status_code == 401


def test_schema_renders_for_a_logged_in_user(api_client_for, viewer):
    response = api_client_for(viewer).get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert set(response.json()["paths"]) == {
        "/api/tasks/",
        "/api/tasks/{id}/",
        "/api/tasks/{id}/history/",
        "/api/monthly-tasks/",
        "/api/monthly-tasks/{id}/",
        "/api/monthly-tasks/{id}/history/",
        "/api/daily-works/",
        "/api/daily-works/{id}/",
        "/api/daily-works/{id}/history/",
        "/api/daily-works/check/",
        "/api/progress/month/",
        "/api/progress/curve/",
    }


def test_docs_render_swagger_ui_from_local_static_files(api_client_for, viewer):
    response = api_client_for(viewer).get("/api/docs/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert "//unpkg.com" not in html
