"""``Idempotency-Key`` on the API's writes: a repeat gets the first answer and writes nothing."""

import asyncio
import datetime
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from io import StringIO

import pytest
import requests
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.db import transaction
from django.urls import get_resolver
from django.utils import timezone

from daily.api import DailyWorkViewSet
from daily.models import DailyWork
from daily.tests.factories import DailyWorkFactory
from realtime.models import IdempotentRequest
from realtime.services import (
    idempotent_request_claim,
    idempotent_request_complete,
    idempotent_request_release,
)
from schedule.models import Task
from schedule.roles import FOREMEN
from schedule.tests.factories import TaskFactory
from scheduler_project.idempotency import WRITE_METHODS, IdempotentWritesMixin

pytestmark = pytest.mark.django_db

LIST_URL = "/api/daily-works/"


@pytest.fixture
def client(api_client_for, foreman):
    return api_client_for(foreman)


def new_work() -> dict:
    return {"task": TaskFactory().pk, "date": "2026-11-26", "volume": "4.000"}


def answer(response) -> tuple:
    """What a repeat must give back unchanged."""
    return (
        response.status_code,
        response.content,
        response.get("Content-Type"),
        response.get("ETag"),
        response.get("Location"),
    )


def post(client, data: dict, key: str | None):
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post(LIST_URL, data, format="json", headers=headers)


def test_a_retried_post_creates_one_object_and_answers_the_same(client, capture_events):
    data = new_work()
    key = str(uuid.uuid4())

    with capture_events() as events:
        first = post(client, data, key)
        again = post(client, data, key)

    assert [event.type for event in events] == ["daily_work_created", "task_updated"]
    assert first.status_code == 201
    assert first.has_header("ETag")
    assert answer(again) == answer(first)
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert DailyWork.objects.count() == 1


def test_a_post_without_a_key_is_run_every_time(client):
    data = new_work()

    assert [post(client, data, None).status_code for _ in range(2)] == [201, 201]
    assert DailyWork.objects.count() == 2


def test_a_retried_patch_changes_the_object_once(client, capture_events):
    work = DailyWorkFactory()
    headers = {"Idempotency-Key": "patch-1", "If-Match": f'"{work.version}"'}

    with capture_events() as events:
        first = client.patch(
            f"{LIST_URL}{work.pk}/", {"volume": "7"}, format="json", headers=headers
        )
        again = client.patch(
            f"{LIST_URL}{work.pk}/", {"volume": "7"}, format="json", headers=headers
        )

    assert [event.type for event in events] == ["daily_work_updated", "task_updated"]
    assert first.status_code == 200
    assert answer(again) == answer(first)
    assert again["Idempotent-Replayed"] == "true"
    work.refresh_from_db()
    assert work.version == first.json()["version"] == 2


def test_a_retried_delete_answers_204_again_without_a_second_event(client, capture_events):
    work = DailyWorkFactory()
    url = f"{LIST_URL}{work.pk}/"

    with capture_events() as events:
        first = client.delete(url, headers={"Idempotency-Key": "delete-1"})
        again = client.delete(url, headers={"Idempotency-Key": "delete-1"})

    assert [event.type for event in events] == ["daily_work_deleted", "task_updated"]
    assert (first.status_code, again.status_code) == (204, 204)
    assert again["Idempotent-Replayed"] == "true"
    assert not DailyWork.objects.exists()


def test_a_refusal_is_stored_and_replayed(client):
    work = DailyWorkFactory()
    DailyWork.objects.filter(pk=work.pk).update(version=5)
    url = f"{LIST_URL}{work.pk}/"
    headers = {"Idempotency-Key": "stale", "If-Match": '"1"'}

    first = client.delete(url, headers=headers)
    DailyWork.objects.filter(pk=work.pk).update(version=1)
    again = client.delete(url, headers=headers)

    assert first.status_code == 409
    assert answer(again) == answer(first)
    assert again["Idempotent-Replayed"] == "true"
    assert DailyWork.objects.filter(pk=work.pk).exists()


def test_a_server_error_is_not_stored_and_a_retry_runs_again(client, monkeypatch):
    data = new_work()
    create = DailyWorkViewSet.create_service
    calls = []

    def fail_once(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        return create(**kwargs)

    monkeypatch.setattr(DailyWorkViewSet, "create_service", staticmethod(fail_once))
    client.raise_request_exception = False

    first = post(client, data, "flaky")
    again = post(client, data, "flaky")

    assert first.status_code == 500
    assert again.status_code == 201
    assert not again.has_header("Idempotent-Replayed")
    assert DailyWork.objects.count() == 1
    assert IdempotentRequest.objects.get(key="flaky").state == IdempotentRequest.DONE


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda data: {**data, "volume": "5.000"}, id="another body"),
        pytest.param(lambda data: {**data, "description": "x"}, id="another field"),
    ],
)
def test_the_same_key_with_a_different_request_is_refused_with_422(client, change):
    data = new_work()
    post(client, data, "reused")

    response = post(client, change(data), "reused")

    assert response.status_code == 422
    assert response.json() == {
        "detail": "This Idempotency-Key was sent before with a different request.",
        "code": "idempotency_key_reused",
    }
    assert DailyWork.objects.count() == 1


def test_the_same_key_on_another_path_is_refused_with_422(client):
    work = DailyWorkFactory()
    post(client, new_work(), "reused")

    response = client.delete(f"{LIST_URL}{work.pk}/", headers={"Idempotency-Key": "reused"})

    assert response.status_code == 422
    assert DailyWork.objects.filter(pk=work.pk).exists()


def test_another_users_same_key_is_independent(client, make_user, api_client_for):
    other = api_client_for(make_user(FOREMEN, username="other foreman"))
    data = new_work()

    mine = post(client, data, "same-key")
    theirs = post(other, data, "same-key")

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert not theirs.has_header("Idempotent-Replayed")
    assert DailyWork.objects.count() == 2


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param("k" * 256, id="too long"),
        pytest.param("with space", id="a space"),
        pytest.param("ключ", id="not ASCII"),
        pytest.param("tab\tkey", id="a control character"),
    ],
)
def test_a_malformed_key_is_refused_with_400_before_anything_is_written(client, key):
    response = post(client, new_work(), key)

    assert response.status_code == 400
    assert response.json() == {
        "Idempotency-Key": ["Send a key of 1 to 255 visible ASCII characters, e.g. a UUID."]
    }
    assert not DailyWork.objects.exists()
    assert not IdempotentRequest.objects.exists()


@pytest.mark.parametrize("key", ["a", "~" * 255, "550e8400-e29b-41d4-a716-446655440000"])
def test_a_key_of_1_to_255_visible_characters_is_accepted(client, key):
    assert post(client, new_work(), key).status_code == 201


def test_an_anonymous_write_is_refused_before_the_key_is_looked_at(api_client_for):
    response = post(api_client_for(None), new_work(), "anonymous")

    assert response.status_code == 401
    assert not IdempotentRequest.objects.exists()


def test_a_repeat_while_the_first_is_running_gets_409_in_progress(client):
    data = new_work()
    post(client, data, "slow")
    IdempotentRequest.objects.filter(key="slow").update(state=IdempotentRequest.RUNNING)

    response = post(client, data, "slow")

    assert response.status_code == 409
    assert response["Retry-After"] == "1"
    assert response.json()["code"] == "idempotency_in_progress"
    assert DailyWork.objects.count() == 1


def test_a_claim_left_running_past_the_timeout_is_taken_over(client, settings):
    data = new_work()
    post(client, data, "died")
    stale = timezone.now() - datetime.timedelta(seconds=settings.IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS)
    IdempotentRequest.objects.filter(key="died").update(
        state=IdempotentRequest.RUNNING, created=stale - datetime.timedelta(seconds=1)
    )

    response = post(client, data, "died")

    assert response.status_code == 201
    assert not response.has_header("Idempotent-Replayed")
    assert IdempotentRequest.objects.get(key="died").state == IdempotentRequest.DONE


def test_a_claim_taken_over_cannot_store_its_response_nor_release_the_takers(foreman, settings):
    settings.IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS = 0
    first, claimed = idempotent_request_claim(user=foreman, key="k", fingerprint="f")
    taker, taken = idempotent_request_claim(user=foreman, key="k", fingerprint="f")

    idempotent_request_release(claim=first)

    assert (claimed, taken) == (True, True)
    assert not idempotent_request_complete(claim=first, status=201, headers={}, body=b"late")
    assert idempotent_request_complete(claim=taker, status=201, headers={}, body=b"taker")
    assert bytes(IdempotentRequest.objects.get().body) == b"taker"


def test_a_stored_response_past_the_retention_no_longer_answers(client, settings):
    data = new_work()
    post(client, data, "old")
    old = timezone.now() - datetime.timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS, seconds=1)
    IdempotentRequest.objects.filter(key="old").update(created=old)

    response = post(client, data, "old")

    assert response.status_code == 201
    assert not response.has_header("Idempotent-Replayed")
    assert DailyWork.objects.count() == 2


def test_prune_idempotency_deletes_the_responses_past_the_retention(client, settings):
    post(client, new_work(), "old")
    post(client, new_work(), "new")
    old = timezone.now() - datetime.timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS, seconds=1)
    IdempotentRequest.objects.filter(key="old").update(created=old)
    output = StringIO()

    call_command("prune_idempotency", stdout=output)

    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["new"]
    assert output.getvalue() == "Pruned 1 stored idempotent requests.\n"


def test_prune_idempotency_takes_the_retention_in_hours(client):
    post(client, new_work(), "recent")
    IdempotentRequest.objects.update(created=timezone.now() - datetime.timedelta(hours=2))

    call_command("prune_idempotency", "--hours", "1", stdout=StringIO())

    assert not IdempotentRequest.objects.exists()


def api_write_views():
    """Each view under /api/ that accepts a write method, by its URL pattern."""
    api = next(p for p in get_resolver().url_patterns if str(p.pattern) == "api/")
    for pattern in api.url_patterns:
        view = pattern.callback
        cls = getattr(view, "cls", None)
        if cls is None:
            continue
        actions = getattr(view, "actions", None)
        methods = actions or [m for m in cls.http_method_names if hasattr(cls, m)]
        if {method.upper() for method in methods} & WRITE_METHODS:
            yield str(pattern.pattern), cls


def test_every_api_write_takes_an_idempotency_key():
    views = dict(api_write_views())

    assert views  # the viewsets' list and detail routes
    assert {
        path: issubclass(cls, IdempotentWritesMixin) for path, cls in views.items()
    } == dict.fromkeys(views, True)


def test_the_refusals_speak_the_users_language(client):
    data = new_work()
    post(client, data, "ru")

    response = client.post(
        LIST_URL,
        {**data, "volume": "1"},
        format="json",
        headers={"Idempotency-Key": "ru", "Accept-Language": "ru"},
    )

    assert response.json()["detail"] == "Этот Idempotency-Key уже был отправлен с другим запросом."


def test_the_schema_documents_the_key_and_its_answers_on_every_write(api_client_for, viewer):
    paths = api_client_for(viewer).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    writes = {
        (path, method): operation
        for path, operations in paths["paths"].items()
        for method, operation in operations.items()
        if method.upper() in WRITE_METHODS and not path.endswith("/check/")  # writes nothing
    }

    assert len(writes) == 12  # create, update, partial_update, destroy of three resources
    for operation in writes.values():
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert "Idempotency-Key" in headers
        assert {"409", "422"} <= set(operation["responses"])


# Concurrent duplicates on two real server processes sharing the database (the SQLite file, or
# PostgreSQL in CI's second pass).

from realtime.tests.conftest import (  # noqa: E402
    daphne_factory,  # noqa: F401  (a fixture)
    server_factory,  # noqa: F401  (a fixture)
    until,
)

DUPLICATES = 8


@pytest.fixture(scope="module")
def servers(daphne_factory):  # noqa: F811
    return daphne_factory(), daphne_factory()


def post_to(server, token_key: str, data: dict, key: str, start: threading.Barrier | None = None):
    if start is not None:
        start.wait(timeout=30)
    return requests.post(
        f"{server.url}{LIST_URL}",
        json=data,
        headers={"Authorization": f"Token {token_key}", "Idempotency-Key": key},
        timeout=30,
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_on_two_processes_create_one_object(servers, token):
    data = new_work()
    start = threading.Barrier(DUPLICATES)

    with ThreadPoolExecutor(DUPLICATES) as pool:
        answers = list(
            pool.map(
                lambda i: post_to(servers[i % 2], token.key, data, "together", start),
                range(DUPLICATES),
            )
        )
    again = post_to(servers[0], token.key, data, "together")

    assert DailyWork.objects.count() == 1
    firsts = [a for a in answers if a.status_code == 201 and "Idempotent-Replayed" not in a.headers]
    assert len(firsts) == 1
    for a in answers:
        assert (a.status_code, a.headers.get("Idempotent-Replayed")) in {
            (201, None),
            (201, "true"),
            (409, None),
        }
        if a.status_code == 201:
            assert a.content == firsts[0].content
        else:
            assert a.json()["code"] == "idempotency_in_progress"
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (201, "true")
    assert again.content == firsts[0].content


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_duplicate_at_another_process_while_the_first_runs_gets_409_then_the_answer(
    servers, token
):
    """The first request is held inside its write by a lock on the task's row, which the write
    updates (its ``volume_fact``); its claim is committed by then. SQLite has no row locks (a
    lock on the database would hold the claim too): PostgreSQL only."""
    data = new_work()

    with ThreadPoolExecutor(1) as pool:
        with transaction.atomic():
            Task.objects.select_for_update().get(pk=data["task"])
            first = pool.submit(post_to, servers[0], token.key, data, "held")
            asyncio.run(until(claimed("held")))
            duplicate = post_to(servers[1], token.key, data, "held")
        first = first.result()
    again = post_to(servers[1], token.key, data, "held")

    assert duplicate.status_code == 409
    assert duplicate.headers["Retry-After"] == "1"
    assert duplicate.json()["code"] == "idempotency_in_progress"
    assert first.status_code == 201
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert DailyWork.objects.count() == 1


def claimed(key: str):
    @database_sync_to_async
    def exists() -> bool:
        return IdempotentRequest.objects.filter(key=key).exists()

    return exists
