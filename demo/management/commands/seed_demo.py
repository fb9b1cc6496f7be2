from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.data import DEMO_USERS, demo_seed


class Command(BaseCommand):
    help = (
        "Create demo users, a schedule, monthly plans, a calendar exception and daily works "
        "(idempotent)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even when DEBUG is off (the demo users have well-known passwords).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "Refusing to create demo users with well-known passwords while DEBUG is off; "
                "pass --force if this really is a demo installation."
            )
        counts = demo_seed()
        self.stdout.write(
            f"Created tasks: {counts['tasks']}, monthly plans: {counts['monthly_tasks']}, "
            f"daily works: {counts['daily_works']}, calendar exceptions: {counts['calendar_days']}."
        )
        for user in DEMO_USERS:
            self.stdout.write(f"  user {user.username!r} password {user.password!r}")
