"""What the three REST APIs share: authentication, body parsing and pagination."""

import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import translation
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from daily.tests.factories import DailyWorkFactory
from monthly.tests.factories import MonthlyTaskFactory
from realtime.selectors import token_user
from schedule.api import TaskSerializer
from schedule.models import Task
from schedule.tests.factories import TaskFactory
from scheduler_project.api import Pagination

pytestmark = pytest.mark.django_db

LIST_URLS = ["/api/tasks/", "/api/monthly-tasks/", "/api/daily-works/"]
CODES = ["10.1", "2.1", "1.10", "1.2"]
NATURAL_ORDER = ["1.2", "1.10", "2.1", "10.1"]


@pytest.mark.parametrize("url", LIST_URLS)
def test_anonymous_requests_are_refused_with_401_and_a_token_challenge(url):
    """TokenAuthentication comes first, so scripts learn how to authenticate."""
    response = APIClient().get(url)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_a_token_header_authenticates_reads_and_writes(user, token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    created = client.post(
        "/api/tasks/",
        {
            "code": "1.1",
            "name": "Excavation",
            "unit": "m³",
            "volume_plan": "10",
            "start_date": "2026-11-01",
            "end_date": "2026-11-30",
        },
        format="json",
    )
    listed = client.get("/api/tasks/")

    assert created.status_code == 201
    assert listed.status_code == 200
    assert [task["code"] for task in listed.json()["results"]] == ["1.1"]


def test_an_unknown_token_is_refused(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")

    response = client.get("/api/tasks/")

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


@pytest.mark.parametrize(
    ("language", "message"),
    [("en", "User inactive or deleted."), ("ru", "Пользователь неактивен или удален.")],
)
def test_the_token_of_a_deactivated_user_is_refused_at_once(user, token, language, message):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}", HTTP_ACCEPT_LANGUAGE=language)
    assert client.get("/api/tasks/").status_code == 200

    user.is_active = False
    user.save()
    response = client.get("/api/tasks/")

    assert (response.status_code, response.json()) == (401, {"detail": message})


def test_a_revoked_token_stops_working_at_once(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/tasks/").status_code == 200

    token.delete()
    response = client.get("/api/tasks/")

    assert (response.status_code, response.json()) == (401, {"detail": "Invalid token."})


def test_a_token_login_reads_the_user_once_and_nothing_else(user, token, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert token_user(token.key) == user
    with django_assert_num_queries(1):
        assert token_user("no such token") is None


def test_a_session_write_needs_the_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post("/api/tasks/", {}, format="json")

    assert response.status_code == 403
    assert response.json() == {"detail": "CSRF Failed: CSRF cookie not set."}


def test_drf_create_token_command_creates_a_working_token(user):
    output = StringIO()

    call_command("drf_create_token", user.username, stdout=output)

    key = Token.objects.get(user=user).key
    assert key in output.getvalue()
    response = APIClient().get("/api/tasks/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200


@pytest.mark.parametrize("url", LIST_URLS)
@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            '{"name": ',
            {"detail": "JSON parse error - Expecting value: line 1 column 10 (char 9)"},
        ),
        ("[]", {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ('"text"', {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
        ("42", {"non_field_errors": ["Invalid data. Expected a dictionary, but got int."]}),
        ("null", {"non_field_errors": ["No data provided"]}),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(api_client, url, body, errors):
    response = api_client.post(url, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == errors


def test_a_body_in_an_unsupported_media_type_is_refused(api_client):
    response = api_client.post("/api/tasks/", "code=1.1", content_type="text/plain")

    assert response.status_code == 415


def make_tasks(count: int) -> list[Task]:
    return Task.objects.bulk_create(
        Task(
            code=f"{number:04}",
            name=f"Work item {number}",
            unit="m",
            volume_plan=Decimal(1),
            start_date=datetime.date(2026, 11, 1),
            end_date=datetime.date(2026, 11, 30),
        )
        for number in range(count)
    )


def test_lists_are_paginated_by_limit_and_offset(api_client):
    make_tasks(5)

    response = api_client.get("/api/tasks/?limit=2&offset=2")

    body = response.json()
    assert response.status_code == 200
    assert {name: value for name, value in body.items() if name != "results"} == {
        "count": 5,
        "next": "http://testserver/api/tasks/?limit=2&offset=4",
        "previous": "http://testserver/api/tasks/?limit=2",
    }
    assert [task["code"] for task in body["results"]] == ["0002", "0003"]


def test_the_default_page_holds_500_rows(api_client):
    make_tasks(501)

    response = api_client.get("/api/tasks/")

    body = response.json()
    assert (body["count"], len(body["results"])) == (501, 500)
    assert body["next"] == "http://testserver/api/tasks/?limit=500&offset=500"
    assert body["results"][-1]["code"] == "0499"


@pytest.mark.parametrize("limit", ["4", "100000000000000000000000"])
def test_a_limit_above_the_maximum_gives_a_page_of_the_maximum(api_client, monkeypatch, limit):
    """The real maximum is 1000 rows; a smaller one keeps the test fast."""
    monkeypatch.setattr(Pagination, "max_limit", 3)
    make_tasks(4)

    response = api_client.get(f"/api/tasks/?limit={limit}")

    body = response.json()
    assert response.status_code == 200
    assert (body["count"], len(body["results"])) == (4, 3)
    assert body["next"] == "http://testserver/api/tasks/?limit=3&offset=3"


@pytest.mark.parametrize("query", ["?limit=abc", "?limit=-1", "?limit=0", "?offset=abc"])
def test_a_meaningless_limit_or_offset_falls_back_to_the_first_default_page(api_client, query):
    TaskFactory()

    response = api_client.get("/api/tasks/" + query)

    assert response.status_code == 200
    assert response.json()["count"] == len(response.json()["results"]) == 1


def test_an_offset_past_the_end_gives_an_empty_page(api_client):
    TaskFactory()

    response = api_client.get("/api/tasks/?offset=100000000000000000000000")

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_serializer_messages_follow_the_active_language_after_the_fields_are_cached():
    TaskFactory(code="9.1")
    duplicate = {
        "code": "9.1",
        "name": "n",
        "unit": "m",
        "volume_plan": "1",
        "start_date": "2026-01-01",
        "end_date": "2026-01-02",
    }
    with translation.override("ru"):
        in_russian = TaskSerializer(data=duplicate)
        assert not in_russian.is_valid()
    with translation.override("en"):
        in_english = TaskSerializer(data=duplicate)
        assert not in_english.is_valid()

    assert "already exists" in str(in_english.errors["code"][0])
    assert str(in_russian.errors["code"][0]) != str(in_english.errors["code"][0])


@pytest.mark.parametrize(
    ("url", "code_field"),
    [
        ("/api/tasks/", "code"),
        ("/api/monthly-tasks/", "task_code"),
        ("/api/daily-works/", "task_code"),
    ],
)
def test_lists_come_in_the_natural_order_of_codes(api_client, url, code_field):
    for code in CODES:
        task = TaskFactory(code=code)
        MonthlyTaskFactory(task=task)
        DailyWorkFactory(task=task)

    response = api_client.get(url)

    assert [row[code_field] for row in response.json()["results"]] == NATURAL_ORDER


def test_each_serializer_binds_its_own_copies_of_the_fields_built_once():
    first, second = TaskSerializer(), TaskSerializer()

    assert first.fields["code"] is not second.fields["code"]
    assert (first.fields["code"].parent, second.fields["code"].parent) == (first, second)
    prototype = TaskSerializer._field_prototypes[translation.get_language()]["code"]
    assert prototype.parent is None
