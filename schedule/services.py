"""Writes to tasks. ``volume_fact`` is never set from outside: it is recalculated here."""

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Sum

from scheduler_project.versioning import versioned_create, versioned_delete, versioned_update

from .models import USUAL_UNITS, CalendarDay, Section, Task, Unit


def task_create(*, data: Mapping[str, Any], actor: AbstractBaseUser | None = None) -> Task:
    return versioned_create(model=Task, data=data, actor=actor)


def task_update(
    *,
    task: Task,
    data: Mapping[str, Any],
    version: int | None,
    actor: AbstractBaseUser | None = None,
    locked: bool = False,
) -> Task:
    return versioned_update(instance=task, data=data, version=version, actor=actor, locked=locked)


def task_delete(
    *,
    task: Task,
    version: int | None = None,
    actor: AbstractBaseUser | None = None,
    locked: bool = False,
) -> None:
    versioned_delete(instance=task, version=version, actor=actor, locked=locked)


def task_recalculate_volume_fact(*, task_ids: Iterable[int]) -> None:
    """Set ``volume_fact`` of the given tasks to the sum of their daily works.

    The task rows are locked (in id order, so concurrent writers cannot deadlock) before the
    sum is read: a second writer for the same task waits and then sums a set that includes the
    first writer's committed row. A task is saved (and its version bumped) only when the value
    changes.
    """
    ids = sorted({task_id for task_id in task_ids if task_id is not None})
    if not ids:
        return
    with transaction.atomic():
        tasks = list(Task.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        totals = dict(
            Task.objects.filter(pk__in=ids)
            .order_by()
            .annotate(total=Sum("daily_works__volume"))
            .values_list("pk", "total")
        )
        for task in tasks:
            total = totals.get(task.pk) or Decimal(0)
            if task.volume_fact != total:
                task.volume_fact = total
                task.save(update_fields=["volume_fact"])


def calendar_day_create(
    *, data: Mapping[str, Any], actor: AbstractBaseUser | None = None
) -> CalendarDay:
    return versioned_create(model=CalendarDay, data=data, actor=actor)


def calendar_day_update(
    *,
    calendar_day: CalendarDay,
    data: Mapping[str, Any],
    version: int | None,
    actor: AbstractBaseUser | None = None,
    locked: bool = False,
) -> CalendarDay:
    return versioned_update(
        instance=calendar_day, data=data, version=version, actor=actor, locked=locked
    )


def calendar_day_delete(
    *,
    calendar_day: CalendarDay,
    version: int | None = None,
    actor: AbstractBaseUser | None = None,
    locked: bool = False,
) -> None:
    versioned_delete(instance=calendar_day, version=version, actor=actor, locked=locked)


def units_ensure() -> None:
    """The usual units (``USUAL_UNITS``) kept in admin, those missing added; a unit already
    kept keeps the decimals a planner set."""
    Unit.objects.bulk_create(
        [Unit(name=name, decimals=decimals) for name, decimals in USUAL_UNITS.items()],
        ignore_conflicts=True,
    )


def sections_name(*, names: Mapping[str, str]) -> int:
    """Give the sections their names (an import's subtotal rows); how many were set or
    changed. Sections are not published: pages show a new name when they next load."""
    named = 0
    stored = Section.objects.filter(code__in=names).names()
    for code, name in names.items():
        if stored.get(code) != name:
            Section.objects.update_or_create(code=code, defaults={"name": name})
            named += 1
    return named
