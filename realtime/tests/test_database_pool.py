"""A server process holds a bounded number of database connections however many requests it
serves at once. On PostgreSQL at most ``DB_POOL_MAX_SIZE``, from the pool; on SQLite one per
HTTP thread (``HTTP_THREADS``, each keeps its own) plus the sockets' and the readiness probe's.
Under Django's ASGI handler each request ran in a thread of its own and left its connection open
(29–31 SQLite files after this burst).

On PostgreSQL the server's connections are told apart from this process's by their
``application_name`` (libpq reads it from ``PGAPPNAME``); on SQLite they are the server's open
descriptors of the database file. CI runs the suite on both.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from .conftest import RECEIVE_TIMEOUT, Server

pytestmark = pytest.mark.django_db(transaction=True)

POOL_MAX_SIZE = 4
HTTP_THREADS = 3
CONCURRENT_REQUESTS = 40


def server_connections(server: Server, application_name: str) -> int:
    """Connections to the test database that ``server`` (started as ``application_name``)
    holds."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = %s",
                [application_name],
            )
            return cursor.fetchone()[0]
    database = Path(settings.DATABASES["default"]["NAME"]).resolve()
    count = 0
    for fd in Path(f"/proc/{server.process.pid}/fd").iterdir():
        try:
            count += Path(os.readlink(fd)) == database
        except OSError:
            continue  # closed meanwhile
    return count


def connection_limit() -> int:
    if connection.vendor == "postgresql":
        return POOL_MAX_SIZE
    return HTTP_THREADS + 2  # the sockets' database thread and the readiness probe's loop


def get_at_once(server: Server, path: str, key: str, count: int) -> list[int]:
    """``count`` GET requests, each from its own thread, released together; their statuses."""
    start = threading.Barrier(count, timeout=RECEIVE_TIMEOUT)

    def get(_: int) -> int:
        start.wait()
        response = requests.get(
            f"{server.url}{path}",
            headers={"Authorization": f"Token {key}"},
            timeout=RECEIVE_TIMEOUT,
        )
        return response.status_code

    with ThreadPoolExecutor(count) as threads:
        return list(threads.map(get, range(count)))


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_concurrent_requests_share_a_bounded_set_of_connections(kind, server_factory, token):
    application_name = f"schedule-pool-test-{kind}"
    server = server_factory(
        kind,
        PGAPPNAME=application_name,
        DB_POOL_MAX_SIZE=str(POOL_MAX_SIZE),
        HTTP_THREADS=str(HTTP_THREADS),
    )

    statuses = get_at_once(server, "/api/tasks/", token.key, CONCURRENT_REQUESTS)

    assert statuses == [200] * CONCURRENT_REQUESTS  # the requests beyond the pool waited
    assert 1 <= server_connections(server, application_name) <= connection_limit()
