from typing import Any

from django.core.management.base import BaseCommand

from schedule.roles import roles_ensure


class Command(BaseCommand):
    help = "Create the planners, foremen and viewers groups with their permissions (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, group in roles_ensure().items():
            self.stdout.write(f"{name}: {group.permissions.count()} permissions")
