"""The three roles staff are given, as Django groups with model permissions."""

from django.contrib.auth.models import Group, Permission
from django.db import transaction

PLANNERS = "planners"
FOREMEN = "foremen"
VIEWERS = "viewers"

MODELS = ["schedule.task", "monthly.monthlytask", "daily.dailywork", "schedule.calendarday"]
ALL_ACTIONS = ["view", "add", "change", "delete"]

KEPT_MODELS = [*MODELS, "schedule.unit", "schedule.section"]
"""What the roles see: the published models, the units and the sections (kept in admin, not
published)."""

# Everyone sees the working calendar (it shapes every plan per day), the units and the sections;
# planners keep them.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    PLANNERS: [f"{model}.{action}" for model in KEPT_MODELS for action in ALL_ACTIONS],
    FOREMEN: [f"{model}.view" for model in KEPT_MODELS]
    + [f"daily.dailywork.{action}" for action in ["add", "change", "delete"]],
    VIEWERS: [f"{model}.view" for model in KEPT_MODELS],
}


def _permission(spec: str) -> Permission:
    app_label, model, action = spec.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=f"{action}_{model}")


@transaction.atomic
def roles_ensure() -> dict[str, Group]:
    """Create or reset the role groups so that each has exactly its permissions (idempotent)."""
    groups = {}
    for name, specs in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.set([_permission(spec) for spec in specs])
        groups[name] = group
    return groups
