from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from scheduler_project.versioning import versioned_create, versioned_delete, versioned_update

from .models import DailyWork


def daily_work_create(
    *, data: Mapping[str, Any], actor: AbstractBaseUser | None = None
) -> DailyWork:
    """Record a daily work; ``created_by`` is the actor (when a user made it)."""
    if actor is not None and actor.is_authenticated:
        data = {**data, "created_by": actor}
    return versioned_create(model=DailyWork, data=data, actor=actor)


def daily_work_update(
    *,
    daily_work: DailyWork,
    data: Mapping[str, Any],
    version: int | None,
    actor: AbstractBaseUser | None = None,
    locked: bool = False,
) -> DailyWork:
    return versioned_update(
        instance=daily_work, data=data, version=version, actor=actor, locked=locked
    )


def daily_work_delete(
    *,
    daily_work: DailyWork,
    version: int | None = None,
    actor: AbstractBaseUser | None = None,
    locked: bool = False,
) -> None:
    versioned_delete(instance=daily_work, version=version, actor=actor, locked=locked)
