import datetime
from decimal import Decimal

import pytest
from rest_framework.fields import DateTimeField

from daily.models import DailyWork
from schedule.models import Task
from schedule.roles import FOREMEN, PLANNERS, VIEWERS
from schedule.tests.factories import TaskFactory

from .factories import DailyWorkFactory

pytestmark = pytest.mark.django_db

LIST_URL = "/api/daily-works/"
NOV_25 = datetime.date(2026, 11, 25)


def detail_url(work: DailyWork) -> str:
    return f"{LIST_URL}{work.pk}/"


def work_json(work: DailyWork) -> dict:
    """The API representation of the stored daily work (read back from the database)."""
    work.refresh_from_db()
    return {
        "id": work.pk,
        "task": work.task_id,
        "task_code": work.task.code,
        "task_unit": work.task.unit,
        "date": work.date.isoformat(),
        "volume": f"{work.volume:.3f}",
        "description": work.description,
        "created_by": work.created_by_id,
        "created_by_username": work.created_by.username if work.created_by else None,
        "created_at": DateTimeField().to_representation(work.created_at),
        "updated_at": DateTimeField().to_representation(work.updated_at),
        "version": work.version,
    }


def volume_fact(task: Task) -> Decimal:
    return Task.objects.get(pk=task.pk).volume_fact


ALL = {"list": 200, "retrieve": 200, "create": 201, "update": 200, "partial_update": 200}
ALL |= {"destroy": 204}
DENIED = dict.fromkeys(ALL, 403)
EXPECTED_STATUS = {
    PLANNERS: ALL,
    FOREMEN: ALL,
    VIEWERS: DENIED | {"list": 200, "retrieve": 200},
    "no group": DENIED,
    "anonymous": {action: 401 for action in DENIED},
}


def send(client, action: str, work: DailyWork):
    new_work = {"task": work.task_id, "date": "2026-11-26", "volume": "4.000"}
    match action:
        case "list":
            return client.get(LIST_URL)
        case "retrieve":
            return client.get(detail_url(work))
        case "create":
            return client.post(LIST_URL, new_work, format="json")
        case "update":
            return client.put(detail_url(work), new_work, format="json")
        case "partial_update":
            return client.patch(detail_url(work), {"volume": "1"}, format="json")
        case "destroy":
            return client.delete(detail_url(work))


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
    work = DailyWorkFactory(volume=Decimal(2))
    before = work_json(work)

    response = send(client, action, work)

    assert response.status_code == status
    if status == 403:
        assert DailyWork.objects.count() == 1
        assert work_json(work) == before
        assert volume_fact(work.task) == Decimal(2)


def test_list_returns_the_works_ordered_by_date_then_task_code(api_client, foreman):
    first_task = TaskFactory(code="1.1")
    second_task = TaskFactory(code="1.2")
    later = DailyWorkFactory(task=first_task, date=datetime.date(2026, 11, 26))
    second = DailyWorkFactory(task=second_task, date=NOV_25)
    first = DailyWorkFactory(
        task=first_task,
        date=NOV_25,
        volume=Decimal("0.125"),
        description="Night shift",
        created_by=foreman,
    )

    response = api_client.get(LIST_URL)

    assert response.status_code == 200
    assert response.json() == {
        "count": 3,
        "next": None,
        "previous": None,
        "results": [work_json(first), work_json(second), work_json(later)],
    }
    assert response.json()["results"][0] | {"created_at": None, "updated_at": None} == {
        "id": first.pk,
        "task": first_task.pk,
        "task_code": "1.1",
        "task_unit": "m³",
        "date": "2026-11-25",
        "volume": "0.125",
        "description": "Night shift",
        "created_by": foreman.pk,
        "created_by_username": "foremen",
        "created_at": None,
        "updated_at": None,
        "version": 1,
    }


def test_retrieve_returns_the_work(api_client):
    work = DailyWorkFactory()

    response = api_client.get(detail_url(work))

    assert response.status_code == 200
    assert response.json() == work_json(work)


def test_create_records_the_user_as_author_and_adds_to_the_task(api_client_for, foreman):
    task = TaskFactory()
    DailyWorkFactory(task=task, volume=Decimal(1))

    response = api_client_for(foreman).post(
        LIST_URL,
        {"task": task.pk, "date": "2026-11-25", "volume": "2.5", "created_by": None},
        format="json",
    )

    assert response.status_code == 201
    work = DailyWork.objects.get(pk=response.json()["id"])
    assert response.json() == work_json(work) | {"warnings": []}
    assert (work.created_by, work.volume, work.description) == (foreman, Decimal("2.5"), "")
    assert volume_fact(task) == Decimal("3.5")


def test_a_work_that_would_overflow_the_tasks_total_is_refused(api_client):
    task = TaskFactory()
    DailyWorkFactory(task=task, volume=Decimal("99999999999.999"))

    response = api_client.post(
        LIST_URL, {"task": task.pk, "date": "2026-11-25", "volume": "0.001"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "volume": ["The task's total volume done cannot exceed 99999999999.999."]
    }
    assert volume_fact(task) == Decimal("99999999999.999")


def test_update_moving_a_work_to_another_task_updates_both_tasks(api_client):
    old_task, new_task = TaskFactory.create_batch(2)
    work = DailyWorkFactory(task=old_task, volume=Decimal(2))

    response = api_client.put(
        detail_url(work),
        {"task": new_task.pk, "date": "2026-11-27", "volume": "6", "version": 1},
        format="json",
    )

    assert response.status_code == 200
    assert response.json() == work_json(work) | {"warnings": []}
    assert (work.task, work.date, work.volume, work.version) == (
        new_task,
        datetime.date(2026, 11, 27),
        Decimal(6),
        2,
    )
    assert (volume_fact(old_task), volume_fact(new_task)) == (Decimal(0), Decimal(6))


def test_partial_update_of_a_work_without_author_returns_every_field(api_client):
    work = DailyWorkFactory(created_by=None)

    response = api_client.patch(detail_url(work), {"description": "Checked"}, format="json")

    assert response.status_code == 200
    assert response.json() == work_json(work) | {"warnings": []}
    assert response.json()["created_by_username"] is None


def test_partial_update_with_the_current_version_applies_and_bumps_it(api_client):
    work = DailyWorkFactory(volume=Decimal(2))

    response = api_client.patch(detail_url(work), {"volume": "3", "version": 1}, format="json")

    assert response.status_code == 200
    assert response.json() == work_json(work) | {"warnings": []}
    assert (work.volume, work.version) == (Decimal(3), 2)
    assert volume_fact(work.task) == Decimal(3)


@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_stale_version_is_refused_with_the_current_work(api_client, method):
    work = DailyWorkFactory(volume=Decimal(2))
    work.volume = Decimal(5)
    work.save()
    current = work_json(work)

    response = getattr(api_client, method)(
        detail_url(work),
        {"task": work.task_id, "date": "2026-11-25", "volume": "9", "version": 1},
        format="json",
    )

    assert response.status_code == 409
    assert response.json() == {
        "detail": "Daily work was changed by someone else.",
        "code": "version_conflict",
        "fields": {"volume": {"base": "2.000", "stored": "5.000", "submitted": "9.000"}},
        "current": current,
    }
    assert work_json(work) == current
    assert volume_fact(work.task) == Decimal(5)


def test_destroy_deletes_the_work_and_subtracts_it_from_the_task(api_client_for, foreman):
    task = TaskFactory()
    work = DailyWorkFactory(task=task, volume=Decimal(2))
    DailyWorkFactory(task=task, volume=Decimal(3))

    response = api_client_for(foreman).delete(detail_url(work))

    assert response.status_code == 204
    assert not DailyWork.objects.filter(pk=work.pk).exists()
    assert volume_fact(task) == Decimal(3)


@pytest.fixture
def three_works() -> dict[str, DailyWork]:
    first_task = TaskFactory(code="1.1")
    second_task = TaskFactory(code="1.2")
    return {
        "1.1 on 25": DailyWorkFactory(task=first_task, date=NOV_25),
        "1.2 on 25": DailyWorkFactory(task=second_task, date=NOV_25),
        "1.1 on 26": DailyWorkFactory(task=first_task, date=datetime.date(2026, 11, 26)),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["1.1 on 25", "1.2 on 25", "1.1 on 26"]),
        ("?date=2026-11-25", ["1.1 on 25", "1.2 on 25"]),
        ("?date=2026-11-26", ["1.1 on 26"]),
        ("?date=2026-11-27", []),
        ("?task={1.1}", ["1.1 on 25", "1.1 on 26"]),
        ("?task={1.1}&date=2026-11-26", ["1.1 on 26"]),
    ],
)
def test_filters_select_by_date_and_task(api_client, three_works, query, expected):
    query = query.replace("{1.1}", str(three_works["1.1 on 25"].task_id))

    response = api_client.get(LIST_URL + query)

    assert response.status_code == 200
    assert [work["id"] for work in response.json()["results"]] == [
        three_works[name].pk for name in expected
    ]


NOT_A_CHOICE = ["Select a valid choice. That choice is not one of the available choices."]


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("?date=2026-02-30", {"date": ["Enter a valid date."]}),
        ("?date=25.11.2026", {"date": ["Enter a valid date."]}),
        ("?task=abc", {"task": NOT_A_CHOICE}),
        ("?task=999", {"task": NOT_A_CHOICE}),
        ("?task=abc&date=x", {"task": NOT_A_CHOICE, "date": ["Enter a valid date."]}),
    ],
)
def test_a_bad_filter_value_is_refused(api_client, query, errors):
    response = api_client.get(LIST_URL + query)

    assert response.status_code == 400
    assert response.json() == errors


REMOVE = object()
TOO_SMALL = {"volume": ["Ensure this value is greater than or equal to 0.001."]}


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"volume": "0"}, TOO_SMALL),
        ({"volume": "-3"}, TOO_SMALL),
        ({"volume": 0}, TOO_SMALL),
        ({"volume": "five"}, {"volume": ["A valid number is required."]}),
        ({"volume": None}, {"volume": ["This field may not be null."]}),
        (
            {"volume": "1.2345"},
            {"volume": ["Ensure that there are no more than 3 decimal places."]},
        ),
        (
            {"volume": "1" * 12},
            {"volume": ["Ensure that there are no more than 11 digits before the decimal point."]},
        ),
        ({"task": 999}, {"task": ["There is no task 999: it may have been deleted."]}),
        ({"task": "abc"}, {"task": ["Incorrect type. Expected pk value, received str."]}),
        ({"task": [1]}, {"task": ["Incorrect type. Expected pk value, received list."]}),
        (
            {"date": "2026-02-30"},
            {"date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
        ),
        ({"description": 5 * [1]}, {"description": ["Not a valid string."]}),
        ({"version": "first"}, {"version": ["A valid integer is required."]}),
        (
            {"task": REMOVE, "date": REMOVE, "volume": REMOVE},
            {
                "task": ["This field is required."],
                "date": ["This field is required."],
                "volume": ["This field is required."],
            },
        ),
    ],
)
def test_bad_input_is_refused_with_the_field_errors(api_client, changes, errors):
    task = TaskFactory()
    valid = {"task": task.pk, "date": "2026-11-25", "volume": "1.5", "description": ""}
    data = {name: value for name, value in (valid | changes).items() if value is not REMOVE}

    response = api_client.post(LIST_URL, data, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    assert not DailyWork.objects.exists()
    assert volume_fact(task) == Decimal(0)


@pytest.mark.parametrize(
    ("language", "typed", "saved"),
    [
        ("ru", "190,5", "190.5"),
        ("ru-RU", "1 905,5", "1905.5"),
        ("en", "1,905.5", "1905.5"),
        ("en", "7.5", "7.5"),
    ],
)
def test_a_pages_outbox_sends_the_volume_as_typed_with_the_pages_language(
    api_client_for, foreman, language, typed, saved
):
    task = TaskFactory(volume_plan=Decimal(5000))

    response = api_client_for(foreman).post(
        LIST_URL,
        {"task": task.pk, "date": "2026-11-25", "volume": typed},
        format="json",
        HTTP_CONTENT_LANGUAGE=language,
    )

    assert response.status_code == 201, response.json()
    assert DailyWork.objects.get().volume == Decimal(saved)


@pytest.mark.parametrize(
    ("language", "typed", "error"),
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
        (None, "190,5", "A valid number is required."),  # a script: read as DRF reads it
    ],
)
def test_a_volume_not_written_as_a_number_is_refused_naming_it(
    api_client_for, foreman, language, typed, error
):
    task = TaskFactory()
    headers = {"HTTP_CONTENT_LANGUAGE": language} if language else {}

    response = api_client_for(foreman).post(
        LIST_URL,
        {"task": task.pk, "date": "2026-11-25", "volume": typed},
        format="json",
        **headers,
    )

    assert response.status_code == 400
    assert response.json() == {"volume": [error]}
    assert not DailyWork.objects.exists()


def test_an_implausible_report_is_accepted_with_the_warnings_saying_why(api_client_for, foreman):
    task = TaskFactory(code="4.4", volume_plan=Decimal(100), start_date=DAY, end_date=DAY)
    DailyWorkFactory(task=task, volume=Decimal(95))

    response = api_client_for(foreman).post(
        LIST_URL, {"task": task.pk, "date": "2026-11-25", "volume": "10"}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["warnings"] == ["10 m³ is more than the 5 m³ left of 4.4."]
    assert DailyWork.objects.filter(volume=10).exists()


def test_a_plausible_report_answers_no_warnings_and_a_correction_is_measured_without_itself(
    api_client_for, foreman
):
    task = TaskFactory(code="4.4", volume_plan=Decimal(100), start_date=DAY, end_date=DAY)
    work = DailyWorkFactory(task=task, volume=Decimal(95))
    client = api_client_for(foreman)

    response = client.patch(f"{LIST_URL}{work.pk}/", {"volume": "96"}, format="json")

    assert response.status_code == 200
    assert response.json()["warnings"] == []


def test_a_page_checks_a_report_before_sending_it_and_nothing_is_written(api_client_for, foreman):
    task = TaskFactory(code="4.4", volume_plan=Decimal(100), start_date=DAY, end_date=DAY)
    DailyWorkFactory(task=task, volume=Decimal(95))

    response = api_client_for(foreman).post(
        f"{LIST_URL}check/",
        {"task": task.pk, "date": "2026-11-25", "volume": "10,5"},
        format="json",
        HTTP_CONTENT_LANGUAGE="ru",
        HTTP_ACCEPT_LANGUAGE="ru",
    )

    assert response.status_code == 200
    assert response.json() == {"warnings": ["10,5 m³ — больше, чем осталось по 4.4: 5 m³."]}
    assert DailyWork.objects.count() == 1


def test_a_check_of_an_invalid_report_is_refused_with_what_is_wrong(api_client_for, foreman):
    response = api_client_for(foreman).post(
        f"{LIST_URL}check/", {"task": 999, "date": "someday", "volume": "0"}, format="json"
    )

    assert response.status_code == 400
    assert set(response.json()) == {"task", "date", "volume"}


DAY = datetime.date(2026, 11, 25)
"""The one working day of the plausibility tests' task: its whole volume is that day's plan."""
