import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from realtime.services import idempotent_request_prune


class Command(BaseCommand):
    help = (
        "Delete the stored responses of API writes sent with an Idempotency-Key older than "
        "--hours (default IDEMPOTENCY_RETENTION_HOURS): a repeat after that runs again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=float, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        hours = options["hours"]
        if hours is None:
            hours = settings.IDEMPOTENCY_RETENTION_HOURS
        deleted = idempotent_request_prune(max_age=datetime.timedelta(hours=hours))
        self.stdout.write(f"Pruned {deleted} stored idempotent requests.")
