from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from scheduler_project.versioning import versioned_create, versioned_delete, versioned_update

from .models import MonthlyTask


def monthly_task_create(
    *, data: Mapping[str, Any], actor: AbstractBaseUser | None = None
) -> MonthlyTask:
    return versioned_create(model=MonthlyTask, data=data, actor=actor)


def monthly_task_update(
    *,
    monthly_task: MonthlyTask,
    data: Mapping[str, Any],
    version: int | None,
    actor: AbstractBaseUser | None = None,
    locked: bool = False,
) -> MonthlyTask:
    return versioned_update(
        instance=monthly_task, data=data, version=version, actor=actor, locked=locked
    )


def monthly_task_delete(
    *,
    monthly_task: MonthlyTask,
    version: int | None = None,
    actor: AbstractBaseUser | None = None,
    locked: bool = False,
) -> None:
    versioned_delete(instance=monthly_task, version=version, actor=actor, locked=locked)
