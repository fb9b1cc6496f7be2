"""The single emitter: one receiver per published model and signal.

Signals rather than explicit calls in the services, because admin forms and bare ORM code in
another process (a shell, a management command) must emit too. Services never publish. The
bulk queryset paths, which send no ``post_save``, call ``publish_saved`` themselves
(``VersionedQuerySet``).

``loaddata`` saves raw: its rows are published by nobody. A fixture is the state a database
starts from, not a change someone made, and its rows may arrive before the rows they point at
(a daily work before its task), so they cannot even be serialized yet.
"""

from functools import cache
from typing import Any

from django.db import models
from django.db.models.signals import post_delete, post_save
from rest_framework import serializers

from daily.api import DailyWorkSerializer
from daily.models import DailyWork
from monthly.api import MonthlyTaskSerializer
from monthly.fields import format_month
from monthly.models import MonthlyTask
from schedule.api import CalendarDaySerializer, TaskSerializer
from schedule.models import CalendarDay, Task

from .events import publish
from .protocol import (
    CALENDAR_DAYS,
    CREATED,
    DAILY_WORKS,
    DELETED,
    MONTHLY_TASKS,
    TASKS,
    UPDATED,
    event_type,
)


def _task_deleted_data(task: Task) -> dict[str, Any]:
    return {"id": task.pk, "code": task.code}


def _monthly_task_deleted_data(monthly_task: MonthlyTask) -> dict[str, Any]:
    return {
        "id": monthly_task.pk,
        "task": monthly_task.task_id,
        "month": format_month(monthly_task.month),
    }


def _calendar_day_deleted_data(calendar_day: CalendarDay) -> dict[str, Any]:
    return {"id": calendar_day.pk, "date": calendar_day.date.isoformat()}


def _daily_work_deleted_data(daily_work: DailyWork) -> dict[str, Any]:
    return {"id": daily_work.pk, "task": daily_work.task_id, "date": daily_work.date.isoformat()}


PUBLISHED = {
    Task: (TASKS, TaskSerializer, _task_deleted_data),
    MonthlyTask: (MONTHLY_TASKS, MonthlyTaskSerializer, _monthly_task_deleted_data),
    DailyWork: (DAILY_WORKS, DailyWorkSerializer, _daily_work_deleted_data),
    CalendarDay: (CALENDAR_DAYS, CalendarDaySerializer, _calendar_day_deleted_data),
}


@cache
def representer(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """One serializer per class, its fields bound once, for ``to_representation`` only (which
    keeps no state): an event's data costs no field building."""
    return serializer_class()


def publish_saved(instance: models.Model, *, created: bool) -> None:
    """Publish a row as written: the receiver's path and the bulk paths' one."""
    stream, serializer_class, _deleted = PUBLISHED[type(instance)]
    publish(
        stream=stream,
        type=event_type(stream, CREATED if created else UPDATED),
        object_id=instance.pk,
        data=dict(representer(serializer_class).to_representation(instance)),
    )


def _saved(
    sender: type[models.Model], instance: models.Model, created: bool, raw: bool, **_: Any
) -> None:
    if not raw:
        publish_saved(instance, created=created)


def publish_deleted(sender: type[models.Model], instance: models.Model, **_: Any) -> None:
    stream, _serializer, deleted_data = PUBLISHED[sender]
    publish(
        stream=stream,
        type=event_type(stream, DELETED),
        object_id=instance.pk,
        data=deleted_data(instance),
    )


def connect() -> None:
    for model in PUBLISHED:
        post_save.connect(_saved, sender=model, dispatch_uid=f"realtime.saved.{model}")
        post_delete.connect(publish_deleted, sender=model, dispatch_uid=f"realtime.deleted.{model}")
