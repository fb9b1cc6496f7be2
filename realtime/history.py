"""Reading the history of changes (``realtime.models.Change``).

The rows are written by the one publish path (``realtime.signals`` → ``realtime.events``); this
module only reads them: an object's changes, the recent changes of everything, and an object's
values at an older version, which the merge of a stale update needs for its base.
"""

import datetime
from collections.abc import Collection, Mapping
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Exists, OuterRef
from django.utils import timezone

from .models import Change
from .protocol import STREAM_PERMISSIONS


def object_values_at(
    *,
    stream: str,
    object_id: int,
    version: int,
    current: Mapping[str, Any],
    current_version: int,
) -> dict[str, Any] | None:
    """The object's field representations at `version`: `current` (its REST representation
    at `current_version`) rolled back through its Change rows with version > `version`.
    None when the history does not reach back (a version between is missing: the object
    predates the history, or retention pruned it) — the caller then treats any stale version
    as a conflict, as before.

    ``version`` comes back as asked; ``updated_at``, which the history does not record, stays
    the current one. One query, on the object's (stream, object_id, version) index.
    """
    if version == current_version:
        return dict(current)
    if not 1 <= version < current_version:
        return None
    rows = list(
        Change.objects.of_object(stream=stream, object_id=object_id)
        .filter(version__gt=version, version__lte=current_version)
        .exclude(kind=Change.DELETED)
        .order_by("-version")
        .values_list("version", "kind", "fields")
    )
    if [row_version for row_version, _kind, _fields in rows] != list(
        range(current_version, version, -1)
    ):
        return None
    values = dict(current)
    for _version, kind, fields in rows:
        if kind == Change.CREATED:
            return None  # not reachable: a version before creation
        for name, (old, _new) in fields.items():
            values[name] = old
    values["version"] = version
    return values


def object_changes(*, stream: str, object_id: int, consequences: bool = True) -> Any:
    """An object's changes, newest first (a deleted object's too); without ``consequences``,
    only those someone made (a task's volume done recalculated after a report is left out:
    the report's entry tells it, ``consequences_of``)."""
    changes = Change.objects.of_object(stream=stream, object_id=object_id)
    if not consequences:
        changes = changes.filter(caused_by__isnull=True)
    return changes.select_related(None).order_by("-id")


def recent_changes(
    *,
    actor_id: int | None = None,
    since: datetime.date | None = None,
    until: datetime.date | None = None,
    streams: Collection[str] | None = None,
    kinds: Collection[str] | None = None,
) -> Any:
    """Every object's changes that someone made, newest first, narrowed to a person, the days
    from ``since`` to ``until`` (both included, in the current time zone), streams and kinds.
    Consequences are told with their causes (``consequences_of``). The caller paginates (a
    queryset: slicing reads one page)."""
    changes = Change.objects.filter(caused_by__isnull=True).order_by("-id")
    if actor_id is not None:
        changes = changes.filter(actor_id=actor_id)
    if since is not None and (start := _day_start(since)) is not None:
        changes = changes.filter(at__gte=start)
    if until is not None and until < datetime.date.max:
        end = _day_start(until + datetime.timedelta(days=1))
        if end is not None:
            changes = changes.filter(at__lt=end)
    if streams:
        changes = changes.filter(stream__in=list(streams))
    if kinds:
        changes = changes.filter(kind__in=list(kinds))
    return changes


def change_actors(*, streams: Collection[str]) -> Any:
    """The people who made a change of the ``streams`` (a consequence is not one: its cause's
    author is), by first name and login; those no longer active too, as their changes stay."""
    made = Change.objects.filter(
        actor=OuterRef("pk"), stream__in=list(streams), caused_by__isnull=True
    )
    return get_user_model().objects.filter(Exists(made)).order_by("first_name", "username")


def consequences_of(change_ids: Collection[int]) -> dict[int, list[Change]]:
    """The changes each of ``change_ids`` brought about (a report: its tasks' recalculated
    volume done), oldest first; one query."""
    found: dict[int, list[Change]] = {}
    for change in Change.objects.filter(caused_by__in=list(change_ids)).order_by("id"):
        found.setdefault(change.caused_by, []).append(change)
    return found


def _day_start(day: datetime.date) -> datetime.datetime | None:
    """The first moment of ``day`` in the current time zone; None when it has no UTC time
    (the year 1's first day east of Greenwich): every change is later."""
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    try:
        start.astimezone(datetime.UTC)
    except OverflowError:
        return None
    return start


def stream_model(stream: str) -> type[models.Model]:
    """The model whose changes a stream carries (from its view permission's app and model)."""
    app_label, codename = STREAM_PERMISSIONS[stream].split(".")
    return apps.get_model(app_label, codename.removeprefix("view_"))


def changes_since(*, stream: str, since: datetime.datetime) -> list[tuple[int, str, dict]]:
    """The stream's changes after ``since``, oldest first: (object id, kind, fields)."""
    return list(
        Change.objects.filter(stream=stream, at__gt=since)
        .order_by("id")
        .values_list("object_id", "kind", "fields")
    )


def objects_changed_since(
    *, streams: Collection[str], since: datetime.datetime, excluding_actor_id: int | None
) -> dict[str, set[int]]:
    """Per stream of ``streams``, the ids of its objects that someone other than
    ``excluding_actor_id`` (bare scripts included) changed after ``since``."""
    changes = Change.objects.filter(stream__in=streams, at__gt=since)
    if excluding_actor_id is not None:
        changes = changes.exclude(actor_id=excluding_actor_id)
    changed: dict[str, set[int]] = {stream: set() for stream in streams}
    for stream, object_id in changes.values_list("stream", "object_id").order_by().distinct():
        changed[stream].add(object_id)
    return changed
