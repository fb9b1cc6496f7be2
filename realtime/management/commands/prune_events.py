import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from realtime.services import event_log_prune, history_prune


class Command(BaseCommand):
    help = (
        "Delete old events from the real-time log: those older than --days or beyond the "
        "newest --keep (defaults: REALTIME_RETENTION_DAYS and REALTIME_RETENTION_COUNT); and "
        "the history's changes older than --history-days (default HISTORY_RETENTION_DAYS; 0 "
        "keeps them all)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=float, default=None)
        parser.add_argument("--keep", type=int, default=None)
        parser.add_argument("--history-days", type=float, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else settings.REALTIME_RETENTION_DAYS
        keep = options["keep"] if options["keep"] is not None else settings.REALTIME_RETENTION_COUNT
        deleted = event_log_prune(max_age=datetime.timedelta(days=days), keep=keep)
        self.stdout.write(f"Pruned {deleted} events.")
        history_days = options["history_days"]
        if history_days is None:
            history_days = settings.HISTORY_RETENTION_DAYS
        if history_days > 0:
            pruned = history_prune(max_age=datetime.timedelta(days=history_days))
            self.stdout.write(f"Pruned {pruned} changes from the history.")
