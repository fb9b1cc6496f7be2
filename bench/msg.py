"""``python -m bench.msg``: time the МСГ of 300 tasks × 31 days (the issue wants ≤ 200 ms).

Seeds a temporary SQLite database with ``--tasks`` tasks in ten sections running from February
to May 2026, half of them with a plan for March, and a report for every task on every working
day of February and of March up to the 20th. Then times, in ``--repeat`` interleaved rounds
after one warm-up run, ``month_grid`` for March 2026 (today the 20th), the API's JSON of it,
and the whole page (``/monthly/?month=2026-03`` through Django's test client: middleware, view,
templates) on the 20th and seen again on 15 June; prints each one's median, fastest and slowest
run, and the queries of one grid.
"""

import argparse
import datetime
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple


def setup_django(database: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "scheduler_project.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ["WORK_WEEKDAYS"] = "1-5"
    os.environ["HOLIDAYS_COUNTRY"] = "RU"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(task_count: int) -> None:
    import datetime
    from decimal import Decimal

    from daily.models import DailyWork
    from monthly.models import MonthlyTask
    from schedule.models import Task
    from schedule.working_days import working_calendar

    tasks = Task.objects.bulk_create(
        Task(
            code=f"{number % 10 + 1}.{number + 1}",
            name=f"Work {number + 1}",
            unit="m³",
            volume_plan=Decimal(1000 + number),
            start_date=datetime.date(2026, 2, 1),
            end_date=datetime.date(2026, 5, 31),
            estimated_cost=Decimal(10_000 + number),
        )
        for number in range(task_count)
    )
    MonthlyTask.objects.bulk_create(
        MonthlyTask(task=task, month=datetime.date(2026, 3, 1), volume_plan=Decimal(250))
        for task in tasks[::2]
    )
    days = working_calendar(first=datetime.date(2026, 2, 1), last=datetime.date(2026, 3, 20)).days
    DailyWork.objects.bulk_create(
        DailyWork(task=task, date=day, volume=Decimal(5 + (task.pk + day.day) % 7))
        for task in tasks
        for day in days
    )


class Runs(NamedTuple):
    wall: list[float]
    """Milliseconds of each run."""
    cpu: list[float]
    """The process's CPU milliseconds of each run: on a shared machine, the wall time also
    counts the time other processes held the cores."""


def interleaved(measures: dict[str, Callable[[], Any]], repeat: int) -> dict[str, Runs]:
    """``repeat`` rounds, each running every measure once in turn, so that a slow spell of the
    shared machine falls on all of them alike."""
    for function in measures.values():
        function()  # warm-up: the country's calendar of each year is computed once per process
    runs = {name: Runs([], []) for name in measures}
    for _ in range(repeat):
        for name, function in measures.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            function()
            runs[name].wall.append((time.perf_counter() - start) * 1000)
            runs[name].cpu.append((time.process_time() - start_cpu) * 1000)
    return runs


def report(name: str, runs: Runs) -> str:
    return (
        f"{name}: median {statistics.median(runs.wall):.1f} ms "
        f"(fastest {min(runs.wall):.1f}, slowest {max(runs.wall):.1f}, {len(runs.wall)} runs; "
        f"CPU median {statistics.median(runs.cpu):.1f} ms)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.msg", description=__doc__)
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a profile of one run")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() once seeded, as a server may after start-up: the garbage collector's "
        "full collections then skip the objects alive before the runs",
    )
    options = parser.parse_args(argv)
    if options.repeat < 3:
        parser.error("--repeat: at least 3 runs, for a median and a spread")
    with tempfile.TemporaryDirectory() as directory:
        setup_django(Path(directory) / "msg.sqlite3")
        from django.conf import settings
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from progress.api import MonthGridSerializer
        from progress.selectors import month_grid

        settings.DEBUG = False  # no query log: it costs time and fills up while seeding
        seed(options.tasks)
        month, today = datetime.date(2026, 3, 1), datetime.date(2026, 3, 20)

        def grid() -> Any:
            return month_grid(month=month, today=today)

        if options.gc_freeze:
            gc.collect()
            gc.freeze()
        with CaptureQueriesContext(connection) as queries:
            result = grid()
        cells = sum(len(row.cells) for section in result.sections for row in section.rows)
        print(f"{result.totals.tasks} tasks, {cells} cells, {len(queries)} queries")
        if options.profile:
            import cProfile

            cProfile.runctx("grid()", globals(), {"grid": grid}, sort="cumulative")
        measures = {
            "month_grid": grid,
            "month_grid + JSON": lambda: MonthGridSerializer(grid()).data,
            "the МСГ page, today 20 March": page_client(today=today),
            "the МСГ page, March seen on 15 June": page_client(today=datetime.date(2026, 6, 15)),
        }
        for name, runs in interleaved(measures, options.repeat).items():
            print(report(name, runs))
    return 0


def page_client(*, today: datetime.date) -> Callable[[], Any]:
    """A GET of the МСГ page for March 2026 through Django's whole request path (middleware,
    view, templates), as a superuser, on the server's clock set to ``today``; the server's
    time of one page view. In March the month's reports hold every forecast window; seen
    later, the forecasts read their reports apart (one query more)."""
    from unittest import mock

    from django.contrib.auth import get_user_model
    from django.test import Client

    user_model = get_user_model()
    user = user_model.objects.filter(username="bench").first()
    if user is None:
        user = user_model.objects.create_superuser("bench", "bench@example.com", "bench-pw-1")
    client = Client()
    client.force_login(user)

    def get() -> Any:
        with mock.patch("django.utils.timezone.localdate", return_value=today):
            response = client.get("/monthly/?month=2026-03")
        assert response.status_code == 200, response.status_code
        return response

    return get


if __name__ == "__main__":
    sys.exit(main())
