"""Every write path emits exactly its events, after commit, carrying what the REST API returns."""

import datetime
import json
from decimal import Decimal
from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from daily.models import DailyWork
from daily.services import daily_work_create, daily_work_delete, daily_work_update
from daily.tests.factories import DailyWorkFactory
from monthly.models import MonthlyTask
from monthly.tests.factories import MonthlyTaskFactory
from realtime.context import acting_as
from realtime.events import events_batched, publish
from realtime.models import Event
from realtime.protocol import group_for
from realtime.signals import PUBLISHED, representer
from schedule.models import CalendarDay, Task
from schedule.services import task_create
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

TASK_DATA = {
    "code": "3.1",
    "name": "Бетонная подготовка",
    "unit": "м³",
    "volume_plan": "210",
    "start_date": "2026-11-01",
    "end_date": "2026-11-20",
}


def test_rest_create_emits_one_event_with_the_rest_representation(api_client, capture_events):
    with capture_events(expected=1) as events:
        response = api_client.post("/api/tasks/", TASK_DATA, format="json")

    assert response.status_code == 201
    frame = events[0].to_frame()
    assert frame["type"] == "task_created"
    assert frame["event"] == "tasks"
    assert frame["data"] == response.json()
    assert frame["actor"] == {
        "id": api_client.handler._force_user.pk,
        "username": "planners",
        "name": "planners",  # no full name: the login
    }


def test_an_events_actor_is_named_by_the_full_name_at_the_time(make_user, capture_events):
    foreman = make_user("foremen", first_name="Иван", last_name="Петров")

    with capture_events(expected=1) as events, acting_as(foreman):
        TaskFactory()
    foreman.first_name = "Пётр"
    foreman.save()

    assert events[0].to_frame()["actor"] == {
        "id": foreman.pk,
        "username": "foremen",
        "name": "Иван Петров",
    }


def test_an_event_carries_what_the_api_returns_right_after_the_change(api_client, capture_events):
    task = TaskFactory()

    with capture_events(expected=1) as events:
        api_client.patch(f"/api/tasks/{task.pk}/", {"name": "Новое имя"}, format="json")

    assert events[0].type == "task_updated"
    assert events[0].data == api_client.get(f"/api/tasks/{task.pk}/").json()


def test_a_rolled_back_write_emits_nothing(capture_events):
    with capture_events(expected=0), pytest.raises(RuntimeError), transaction.atomic():
        TaskFactory()
        raise RuntimeError("abort")

    assert not Event.objects.exists()
    assert not Task.objects.exists()


def test_bare_orm_save_and_delete_emit_with_no_actor(capture_events):
    with capture_events(expected=2) as events:
        task = Task.objects.create(
            code="9.1",
            name="x",
            unit="m",
            volume_plan=Decimal(1),
            start_date=datetime.date(2026, 1, 1),
            end_date=datetime.date(2026, 1, 2),
        )
        task_id = task.pk
        task.delete()

    assert [e.type for e in events] == ["task_created", "task_deleted"]
    # A deletion's data is the object's last representation: what was deleted.
    assert events[1].data == {**events[0].data, "id": task_id, "code": "9.1"}
    assert all(e.actor is None for e in events)


def test_a_daily_work_also_emits_the_task_whose_volume_fact_changed(planner, capture_events):
    task = TaskFactory()

    with capture_events(expected=2) as events, acting_as(planner):
        work = daily_work_create(
            data={"task": task, "date": datetime.date(2026, 11, 2), "volume": Decimal("4")},
            actor=planner,
        )

    assert [e.type for e in events] == ["daily_work_created", "task_updated"]
    assert events[1].data["volume_fact"] == "4.000"
    assert all(e.actor == planner for e in events)
    assert [e.cause for e in events] == [None, events[0].id]  # the report's consequence

    other = TaskFactory()
    with capture_events(expected=3) as events:
        daily_work_update(daily_work=work, data={"task": other}, version=work.version)
    assert sorted(e.type for e in events) == ["daily_work_updated", "task_updated", "task_updated"]

    work.refresh_from_db()
    with capture_events(expected=2) as events:
        daily_work_delete(daily_work=work, version=work.version)
    assert [e.type for e in events] == ["daily_work_deleted", "task_updated"]
    assert events[0].data | {"created_at": None, "updated_at": None} == {
        "id": work.pk,
        "task": other.pk,
        "task_code": other.code,
        "task_unit": "m³",
        "date": "2026-11-02",
        "volume": "4.000",
        "description": "",
        "created_by": planner.pk,
        "created_by_username": planner.username,
        "created_at": None,
        "updated_at": None,
        "version": 2,
    }


def test_deleting_a_task_emits_its_cascaded_children_too(capture_events):
    task = TaskFactory()
    plan = MonthlyTaskFactory(task=task)
    work = DailyWorkFactory(task=task)

    task_id = task.pk

    with capture_events() as events:
        task.delete()

    assert sorted((e.type, e.object_id) for e in events) == sorted(
        [
            ("task_deleted", task_id),
            ("monthly_task_deleted", plan.pk),
            ("daily_work_deleted", work.pk),
        ]
    )


def test_monthly_task_events_carry_the_month_as_the_api_writes_it(api_client, capture_events):
    plan = MonthlyTaskFactory()

    with capture_events(expected=1) as events:
        api_client.delete(f"/api/monthly-tasks/{plan.pk}/")

    data = events[0].data
    assert (data["id"], data["task"], data["month"]) == (plan.pk, plan.task_id, "2026-11")
    assert not MonthlyTask.objects.exists()


def test_an_admin_form_emits_one_event_attributed_to_the_admin(client, capture_events):
    admin = get_user_model().objects.create_superuser("boss", "b@example.com", "pw-12345-x")
    client.force_login(admin)
    task = TaskFactory()

    with capture_events(expected=1) as events:
        response = client.post(
            reverse("admin:monthly_monthlytask_add"),
            {"task": task.pk, "month": "2026-12-01", "volume_plan": "5"},
        )

    assert response.status_code == 302
    assert events[0].type == "monthly_task_created"
    assert events[0].actor == admin


def test_service_writes_are_attributed_to_their_actor_without_a_request(planner, capture_events):
    with capture_events(expected=1) as events:
        task_create(data={**TASK_DATA, "volume_plan": Decimal(1)}, actor=planner)

    assert events[0].actor == planner
    assert DailyWork.objects.count() == 0


def test_queryset_update_emits_one_updated_event_per_row_and_bumps_versions(capture_events):
    first, second = TaskFactory(), TaskFactory()

    with capture_events(expected=2) as events:
        Task.objects.filter(pk__in=[first.pk, second.pk]).update(name="Renamed")

    assert [(e.type, e.object_id) for e in events] == [
        ("task_updated", first.pk),
        ("task_updated", second.pk),
    ]
    assert all(e.data["name"] == "Renamed" and e.data["version"] == 2 for e in events)


def test_bulk_create_and_bulk_update_emit_per_row(capture_events):
    task = TaskFactory()

    with capture_events() as events:
        plans = MonthlyTask.objects.bulk_create(
            [
                MonthlyTask(task=task, month=datetime.date(2026, 11, 1), volume_plan=1),
                MonthlyTask(task=task, month=datetime.date(2026, 12, 1), volume_plan=2),
            ]
        )
    assert [e.type for e in events] == ["monthly_task_created"] * 2

    for plan in plans:
        plan.volume_plan = Decimal(7)
    with capture_events(expected=2) as events:
        MonthlyTask.objects.bulk_update(plans, ["volume_plan"])
    assert [(e.data["volume_plan"], e.data["version"]) for e in events] == [("7.000", 2)] * 2


def test_queryset_delete_emits_one_deleted_event_per_row(capture_events):
    works = DailyWorkFactory.create_batch(2)

    with capture_events() as events:
        DailyWork.objects.all().delete()

    deleted = [e for e in events if e.type == "daily_work_deleted"]
    assert sorted(e.object_id for e in deleted) == sorted(w.pk for w in works)
    assert {e.type for e in events} == {"daily_work_deleted", "task_updated"}


CREATE = {
    "tasks": lambda task: (
        "/api/tasks/",
        {**TASK_DATA, "code": "7.7"},
    ),
    "monthly_tasks": lambda task: (
        "/api/monthly-tasks/",
        {"task": task.pk, "month": "2027-01", "volume_plan": "12.5"},
    ),
    "daily_works": lambda task: (
        "/api/daily-works/",
        {"task": task.pk, "date": "2026-11-20", "volume": "3.25", "description": "Смена 1"},
    ),
}
PATCH = {
    "tasks": {"name": "Другое"},
    "monthly_tasks": {"volume_plan": "9"},
    "daily_works": {"description": "Смена 2"},
}


@pytest.mark.parametrize("stream", ["tasks", "monthly_tasks", "daily_works"])
def test_every_event_type_says_what_the_api_says_right_after_the_change(
    api_client, capture_events, stream
):
    """created / updated: data == GET of the object; deleted: the object is gone (404)."""
    task = TaskFactory(code="5.5")
    url, body = CREATE[stream](task)
    entity = {"tasks": "task", "monthly_tasks": "monthly_task", "daily_works": "daily_work"}[stream]

    with capture_events() as events:
        created = api_client.post(url, body, format="json").json()
    detail = f"{url}{created['id']}/"
    [event] = [e for e in events if e.type == f"{entity}_created"]
    assert event.data == api_client.get(detail).json()

    with capture_events() as events:
        api_client.patch(detail, PATCH[stream], format="json")
    [event] = [e for e in events if e.type == f"{entity}_updated" and e.object_id == created["id"]]
    assert event.data == api_client.get(detail).json()

    with capture_events() as events:
        api_client.delete(detail)
    [event] = [e for e in events if e.type == f"{entity}_deleted"]
    assert event.object_id == event.data["id"] == created["id"]
    assert api_client.get(detail).status_code == 404


def _create_tasks() -> list[Task]:
    return Task.objects.bulk_create(
        [Task(**{**TASK_DATA, "code": code}) for code in ["8.1", "8.2"]]
    )


def _update_tasks() -> list[Task]:
    tasks = TaskFactory.create_batch(2)
    Task.objects.filter(pk__in=[task.pk for task in tasks]).update(unit="t")
    return tasks


def _bulk_update_tasks() -> list[Task]:
    tasks = TaskFactory.create_batch(2)
    for task in tasks:
        task.code = f"9.{task.pk}"
    Task.objects.bulk_update(tasks, ["code"])
    return tasks


def _create_works() -> list[DailyWork]:
    task = TaskFactory()
    return DailyWork.objects.bulk_create(
        [DailyWork(task=task, date=datetime.date(2026, 11, day), volume=1) for day in (2, 3)]
    )


def _update_works() -> list[DailyWork]:
    works = DailyWorkFactory.create_batch(2)
    DailyWork.objects.filter(pk__in=[work.pk for work in works]).update(volume=5)
    return works


BULK_WRITES = [
    (_create_tasks, "task_created"),
    (_update_tasks, "task_updated"),
    (_bulk_update_tasks, "task_updated"),
    (_create_works, "daily_work_created"),
    (_update_works, "daily_work_updated"),
]


@pytest.mark.parametrize(("write", "event_type"), BULK_WRITES)
def test_each_bulk_path_publishes_each_row_once_as_it_is_stored(capture_events, write, event_type):
    with capture_events() as events:
        rows = write()

    model = type(rows[0])
    published = [e for e in events if e.type == event_type]
    assert sorted(e.object_id for e in published) == sorted(row.pk for row in rows)
    for event in published:
        stored = model.objects.get(pk=event.object_id)
        assert event.data["version"] == stored.version
        assert event.data == api_data(stored)


def api_data(instance) -> dict:
    _stream, serializer_class, _deleted = PUBLISHED[type(instance)]
    return dict(representer(serializer_class).to_representation(instance))


def test_loaddata_loads_silently_even_a_daily_work_listed_before_its_task(tmp_path, capture_events):
    task = TaskFactory(code="4.1")
    MonthlyTaskFactory(task=task)
    DailyWorkFactory(task=task, volume=Decimal(3))
    dumped = StringIO()
    call_command("dumpdata", "schedule.task", "monthly", "daily", stdout=dumped)
    rows = json.loads(dumped.getvalue())
    rows.sort(key=lambda row: row["model"] != "daily.dailywork")  # works first
    fixture = tmp_path / "schedule.json"
    fixture.write_text(json.dumps(rows))
    stored = snapshot()
    Task.objects.all().delete()

    with capture_events(expected=0):
        call_command("loaddata", fixture, verbosity=0)

    assert snapshot() == stored


def snapshot() -> list[list[tuple]]:
    return [
        list(Task.objects.values_list("pk", "code", "code_key", "version", "volume_fact")),
        list(MonthlyTask.objects.values_list("pk", "task_id", "volume_plan", "version")),
        list(DailyWork.objects.values_list("pk", "task_id", "volume", "version")),
    ]


def test_calendar_exceptions_publish_on_every_write_path(client, capture_events):
    """The working calendar shapes every plan per day: its changes reach open pages too."""
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-12345-x")
    client.force_login(admin)

    with capture_events(expected=1) as added:
        client.post(
            reverse("admin:schedule_calendarday_add"),
            {"date": "2026-01-17", "is_working": "on", "note": "Transferred Saturday"},
        )
    day = CalendarDay.objects.get()
    with capture_events(expected=1) as changed:
        client.post(
            reverse("admin:schedule_calendarday_change", args=[day.pk]),
            {
                "date": "2026-01-17",
                "note": "Day off after all",
                "version": str(day.version),
                "initial-date": "2026-01-17",
                "initial-is_working": "on",
                "initial-note": "Transferred Saturday",
            },
        )
    with capture_events(expected=2) as bulk:
        CalendarDay.objects.bulk_create(
            [CalendarDay(date=datetime.date(2026, 1, 19), is_working=False)]
        )
        CalendarDay.objects.filter(date=datetime.date(2026, 1, 19)).update(note="Frost")
    with capture_events(expected=2) as deleted:
        CalendarDay.objects.all().delete()

    assert [e.type for e in added + changed + bulk + deleted] == [
        "calendar_day_created",
        "calendar_day_updated",
        "calendar_day_created",
        "calendar_day_updated",
        "calendar_day_deleted",
        "calendar_day_deleted",
    ]
    assert changed[0].data | {"updated_at": None} == {
        "id": day.pk,
        "date": "2026-01-17",
        "is_working": False,
        "note": "Day off after all",
        "created_at": added[0].data["created_at"],
        "updated_at": None,
        "version": 2,
    }
    assert (added[0].stream, added[0].actor) == ("calendar_days", admin)


def test_an_event_is_recorded_in_the_writes_transaction_without_a_savepoint():
    task = TaskFactory()

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        task.save()

    assert [query["sql"] for query in queries if "SAVEPOINT" in query["sql"].upper()] == []
    assert Event.objects.filter(type="task_updated", object_id=task.pk).count() == 1


def test_a_published_event_is_stored_as_returned_and_reads_back_the_same(planner):
    data = {"id": 5, "volume_plan": Decimal("10.500"), "start_date": datetime.date(2026, 11, 1)}

    with acting_as(planner):
        event = publish(stream="tasks", type="task_updated", object_id=5, data=data)

    stored = Event.objects.get(pk=event.pk)
    assert stored.to_frame() == {
        **event.to_frame(),
        "data": {"id": 5, "volume_plan": "10.500", "start_date": "2026-11-01"},
    }
    assert (stored.actor, stored.actor_username) == (planner, planner.username)
    assert not event._state.adding


@pytest.fixture
def bells(settings):
    """``bells()``: the bells rung since the last call, as (stream, id), read from a channel of
    the in-memory layer that joined every stream's group."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    layer = get_channel_layer()
    for stream in PUBLISHED_STREAMS:
        async_to_sync(layer.group_add)(group_for(stream), f"bells.{stream}")

    def rung() -> list[tuple[str, int]]:
        found = []
        for stream in PUBLISHED_STREAMS:
            queue = layer.channels.get(f"bells.{stream}")
            while queue is not None and not queue.empty():
                _expiry, message = queue.get_nowait()
                found.append((stream, message["id"]))
        return found

    return rung


PUBLISHED_STREAMS = [stream for stream, _serializer, _deleted in PUBLISHED.values()]


def test_without_a_batch_each_event_rings_its_stream(capture_events, bells):
    with capture_events(expected=2) as events, transaction.atomic():
        TaskFactory.create_batch(2)

    assert bells() == [("tasks", events[0].id), ("tasks", events[1].id)]


def test_a_batch_records_every_event_and_rings_each_stream_once_with_its_highest_id(
    capture_events, bells
):
    with capture_events(expected=5) as events, events_batched(), transaction.atomic():
        tasks = TaskFactory.create_batch(3)
        MonthlyTaskFactory(task=tasks[0])
        tasks[1].delete()

    assert [e.type for e in events] == ["task_created"] * 3 + [
        "monthly_task_created",
        "task_deleted",
    ]
    assert sorted(bells()) == [("monthly_tasks", events[3].id), ("tasks", events[4].id)]


def test_a_batch_inside_a_transaction_rings_when_that_transaction_commits(capture_events, bells):
    with capture_events(expected=3) as events, transaction.atomic():
        with events_batched():
            TaskFactory.create_batch(2)
        TaskFactory()  # after the batch: rung on its own
        assert bells() == []

    assert bells() == [("tasks", events[1].id), ("tasks", events[2].id)]


def test_a_batch_rings_only_what_committed(capture_events, bells):
    with capture_events(expected=1) as events, events_batched(), transaction.atomic():
        TaskFactory()
        with pytest.raises(RuntimeError), transaction.atomic():
            TaskFactory()
            raise RuntimeError("abort the savepoint")

    assert bells() == [("tasks", events[0].id)]

    with (
        capture_events(expected=0),
        pytest.raises(RuntimeError),
        events_batched(),
        transaction.atomic(),
    ):
        TaskFactory()
        raise RuntimeError("abort")
    assert bells() == []


def test_nested_batches_ring_once_with_the_outermost(capture_events, bells):
    with capture_events(expected=2) as events, events_batched(), transaction.atomic():
        with events_batched():
            TaskFactory()
        TaskFactory()

    assert bells() == [("tasks", events[1].id)]
