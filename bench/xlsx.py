"""``python -m bench.xlsx``: time the Excel exports (the issue wants ≤ 2 s per file).

Seeds a temporary SQLite database as ``bench.msg`` does (``--tasks`` tasks in ten sections from
February to May 2026, half with a plan for March, a report on every working day up to 20
March), then times, in ``--repeat`` interleaved rounds after one warm-up run, the server's
whole answer (middleware, view, queries, the workbook written and read back from its
temporary file) of the МСГ file of March 2026 (31 days, today the 20th) and of the schedule
file; prints each one's median, fastest and slowest run and the file's size.
"""

import argparse
import datetime
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.msg import interleaved, report, seed, setup_django


def download(url: str, *, today: datetime.date, sizes: dict[str, int]) -> Callable[[], Any]:
    """A GET of ``url`` through Django's test client as a superuser, its streamed body read
    whole: the server's time for one file."""
    from unittest import mock

    from django.contrib.auth import get_user_model
    from django.test import Client

    user_model = get_user_model()
    user = user_model.objects.filter(username="bench").first()
    if user is None:
        user = user_model.objects.create_superuser("bench", "bench@example.com", "bench-pw-1")
    client = Client()
    client.force_login(user)

    def get() -> None:
        with mock.patch("django.utils.timezone.localdate", return_value=today):
            response = client.get(url)
            assert response.status_code == 200, response.status_code
            sizes[url] = len(b"".join(response.streaming_content))

    return get


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.xlsx", description=__doc__)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args(argv)
    if options.repeat < 3:
        parser.error("--repeat: at least 3 runs, for a median and a spread")
    with tempfile.TemporaryDirectory() as directory:
        setup_django(Path(directory) / "xlsx.sqlite3")
        from django.conf import settings

        settings.DEBUG = False
        seed(options.tasks)
        today = datetime.date(2026, 3, 20)
        sizes: dict[str, int] = {}
        msg_url, schedule_url = "/monthly/export/?month=2026-03", "/tasks/export/"
        measures = {
            f"the МСГ file, {options.tasks} tasks × 31 days": download(
                msg_url, today=today, sizes=sizes
            ),
            f"the schedule file, {options.tasks} tasks": download(
                schedule_url, today=today, sizes=sizes
            ),
        }
        for name, runs in interleaved(measures, options.repeat).items():
            print(report(name, runs))
        for url, size in sizes.items():
            print(f"{url}: {size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
