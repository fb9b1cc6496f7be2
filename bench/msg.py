"""``python -m bench.msg``: time the МСГ of 300 tasks × 31 days (the issue wants ≤ 200 ms).

Seeds a temporary SQLite database with ``--tasks`` tasks in ten sections running from February
to May 2026, half of them with a plan for March, and a report for every task on every working
day of February and of March up to the 20th; then times ``month_grid`` for March 2026 (today
the 20th) and the API's JSON of it, each ``--repeat`` times after one warm-up run, and prints
the median, the fastest and the slowest run and the queries of one run; then the whole page
(``/monthly/?month=2026-03`` through Django's test client: middleware, view, templates).
"""

import argparse
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


def timed(function: Callable[[], Any], repeat: int) -> Runs:
    function()  # warm-up: the country's calendar of each year is computed once per process
    runs = Runs([], [])
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        runs.wall.append((time.perf_counter() - start) * 1000)
        runs.cpu.append((time.process_time() - start_cpu) * 1000)
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
        import datetime

        from django.conf import settings
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from monthly.api import MonthGridSerializer
        from monthly.selectors import month_grid

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
        print(report("month_grid", timed(grid, options.repeat)))
        print(
            report(
                "month_grid + JSON",
                timed(lambda: MonthGridSerializer(grid()).data, options.repeat),
            )
        )
        print(report("the МСГ page", timed(page_client(), options.repeat)))
    return 0


def page_client() -> Callable[[], Any]:
    """A GET of the МСГ page for March 2026 through Django's whole request path (middleware,
    view, templates), as a superuser; the server's time of one page view."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-pw-1")
    client = Client()
    client.force_login(user)

    def get() -> Any:
        response = client.get("/monthly/?month=2026-03")
        assert response.status_code == 200, response.status_code
        return response

    return get


if __name__ == "__main__":
    sys.exit(main())
