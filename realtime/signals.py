"""The single emitter: one receiver per published model and signal.

Signals rather than explicit calls in the services, because admin forms and bare ORM code in
another process (a shell, a management command) must emit too. Services never publish. The
bulk queryset paths, which send no ``post_save``, call ``publish_saved`` themselves
(``VersionedQuerySet``).

Each event carries its history row (``Change``): the fields' old and new REST representations.
The old ones come from the values the instance was loaded with (``VersionedModel``), so a save
reads nothing more; only a change of a relation the representation shows (a daily work moved
to another task) reads the old related row for it.

A report and its task's recalculated volume done are recorded as cause and consequence
(``Change.caused_by``, the event's ``cause``), so that neither the history nor the pages' notices
take the recalculation for an edit of the task: the daily works' writes open
``recording_causes()`` around both, a report's change is noted under its tasks, and a task's
change of nothing but its recalculated fields looks its cause up there.

``loaddata`` saves raw: its rows are published by nobody. A fixture is the state a database
starts from, not a change someone made, and its rows may arrive before the rows they point at
(a daily work before its task), so they cannot even be serialized yet.
"""

import copy
from collections.abc import Collection
from functools import cache
from typing import Any

from django.db import models
from django.db.models.base import DEFERRED
from django.db.models.signals import post_delete, post_save
from rest_framework import serializers

from daily.api import DailyWorkSerializer
from daily.models import DailyWork
from monthly.api import MonthlyTaskSerializer
from monthly.models import MonthlyTask
from schedule.api import CalendarDaySerializer, TaskSerializer
from schedule.models import CalendarDay, Task

from .context import cause_note, cause_of
from .events import Publication, publish
from .models import Change
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


def _task_subject(task: Task, data: dict[str, Any]) -> dict[str, Any]:
    return {"code": data["code"], "name": data["name"], "unit": data["unit"]}


def _monthly_task_subject(monthly_task: MonthlyTask, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": data["task_code"],
        "name": monthly_task.task.name,
        "unit": data["task_unit"],
        "month": data["month"],
        "volume_plan": data["volume_plan"],
    }


def _daily_work_subject(daily_work: DailyWork, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": data["task_code"],
        "name": daily_work.task.name,
        "unit": data["task_unit"],
        "date": data["date"],
        "volume": data["volume"],
    }


def _calendar_day_subject(calendar_day: CalendarDay, data: dict[str, Any]) -> dict[str, Any]:
    return {"date": data["date"], "is_working": data["is_working"]}


# Per model: its stream, the serializer of its events' data (a deleted object's: its last
# values), and what names it in the history (``Change.subject``), from that data and the row.
PUBLISHED = {
    Task: (TASKS, TaskSerializer, _task_subject),
    MonthlyTask: (MONTHLY_TASKS, MonthlyTaskSerializer, _monthly_task_subject),
    DailyWork: (DAILY_WORKS, DailyWorkSerializer, _daily_work_subject),
    CalendarDay: (CALENDAR_DAYS, CalendarDaySerializer, _calendar_day_subject),
}

# What a report changes on its task by itself (``task_recalculate_volume_fact``).
RECALCULATED = frozenset({"volume_fact", "progress_percent"})


@cache
def representer(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """One serializer per class, its fields bound once, for ``to_representation`` only (which
    keeps no state): an event's data costs no field building."""
    return serializer_class()


# Bookkeeping the history leaves out of ``fields``: the version is the row's own column, and
# ``updated_at`` moves on every save (the row's ``at`` says when).
NOT_RECORDED = frozenset({"version", "updated_at"})


def publish_saved(
    instance: models.Model, *, created: bool, update_fields: Collection[str] | None = None
) -> None:
    """Publish a row as written, with its history: the receiver's path and the bulk paths'
    one. ``update_fields``: the fields the save wrote (``None``: all)."""
    publication = saved_publication(instance, created=created, update_fields=update_fields)
    change = publication.change
    cause = None
    if publication.stream == TASKS and change.fields and change.fields.keys() <= RECALCULATED:
        cause = cause_of((TASKS, instance.pk))
    publish(
        stream=publication.stream,
        type=publication.type,
        object_id=publication.object_id,
        data=publication.data,
        change=change,
        cause=cause,
    )
    _note_cause(instance, change)


def saved_publication(
    instance: models.Model, *, created: bool, update_fields: Collection[str] | None = None
) -> Publication:
    """The event and history row that publish a row as written (``publish_saved``), for
    ``publish_many`` to record with others: a write of thousands of rows (an import) that sent
    no ``post_save``. It carries no cause: such a write is someone's, not a report's
    consequence."""
    stream, serializer_class, subject = PUBLISHED[type(instance)]
    serializer = representer(serializer_class)
    data = dict(serializer.to_representation(instance))
    if created:
        fields = {name: [None, value] for name, value in data.items() if name not in NOT_RECORDED}
    else:
        old = serializer.to_representation(stored_copy(instance, update_fields=update_fields))
        fields = {
            name: [old.get(name), value]
            for name, value in data.items()
            if name not in NOT_RECORDED and old.get(name) != value
        }
    change = _change(
        instance,
        kind=Change.CREATED if created else Change.UPDATED,
        fields=fields,
        subject=subject(instance, data),
    )
    return Publication(
        stream=stream,
        type=event_type(stream, CREATED if created else UPDATED),
        object_id=instance.pk,
        data=data,
        change=change,
    )


def stored_copy(
    instance: models.Model, *, update_fields: Collection[str] | None = None
) -> models.Model:
    """A copy of ``instance`` holding, in the fields a save wrote, the values they replaced
    (the ones it was loaded with; the instance itself when they are unknown)."""
    stored = getattr(instance, "_stored_values", None)
    if stored is None:
        return instance
    old = copy.copy(instance)
    for field, value in zip(instance._meta.concrete_fields, stored, strict=True):
        if value is DEFERRED or (update_fields is not None and field.name not in update_fields):
            continue
        if value != getattr(instance, field.attname):
            setattr(old, field.attname, value)
            if field.is_relation:
                old._state.fields_cache.pop(field.name, None)
    return old


def _change(
    instance: models.Model, *, kind: str, fields: dict[str, Any], subject: dict[str, Any]
) -> Change:
    """The history's row, for ``publish`` to complete (who, via, when, the event, the cause)."""
    return Change(
        object_repr=str(instance)[: Change.REPR_LENGTH],
        kind=kind,
        version=instance.version,
        fields=fields,
        subject=subject,
    )


def _note_cause(instance: models.Model, change: Change) -> None:
    """A report (a daily work's change) is the cause of the recalculation of its task's volume
    done that follows it — of both tasks, when it moved from one to another. Noted only inside
    ``recording_causes()``, which the daily works' writes open around the report and the
    recalculation (``daily.models``)."""
    if not isinstance(instance, DailyWork):
        return
    task_ids = {instance.task_id, *change.fields.get("task", ())} - {None}
    for task_id in task_ids:
        cause_note((TASKS, task_id), change)


def _saved(
    sender: type[models.Model],
    instance: models.Model,
    created: bool,
    raw: bool,
    update_fields: Collection[str] | None = None,
    **_: Any,
) -> None:
    if not raw:
        publish_saved(instance, created=created, update_fields=update_fields)


def publish_deleted(sender: type[models.Model], instance: models.Model, **_: Any) -> None:
    """The event's data is the object's last representation, which says what was deleted."""
    publication = deleted_publication(instance)
    publish(
        stream=publication.stream,
        type=publication.type,
        object_id=publication.object_id,
        data=publication.data,
        change=publication.change,
    )
    _note_cause(instance, publication.change)


def deleted_publication(instance: models.Model) -> Publication:
    """The event and history row that publish a deleted row (``publish_deleted``), for
    ``publish_many``, as ``saved_publication``."""
    stream, serializer_class, subject = PUBLISHED[type(instance)]
    old = dict(representer(serializer_class).to_representation(instance))
    fields = {name: [value, None] for name, value in old.items() if name not in NOT_RECORDED}
    change = _change(instance, kind=Change.DELETED, fields=fields, subject=subject(instance, old))
    return Publication(
        stream=stream,
        type=event_type(stream, DELETED),
        object_id=instance.pk,
        data=old,
        change=change,
    )


def connect() -> None:
    for model in PUBLISHED:
        post_save.connect(_saved, sender=model, dispatch_uid=f"realtime.saved.{model}")
        post_delete.connect(publish_deleted, sender=model, dispatch_uid=f"realtime.deleted.{model}")
