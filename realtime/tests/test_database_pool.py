"""On PostgreSQL a server process holds at most ``DB_POOL_MAX_SIZE`` connections, however many
requests it serves at once: under ASGI each HTTP request runs its sync code in a thread of its
own, and without the pool every one of them left its connection open.

The server's connections are told apart from this process's by their ``application_name``
(libpq reads it from ``PGAPPNAME``). On SQLite there is no pool: skipped (CI runs the suite on
PostgreSQL too).
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection

from .conftest import RECEIVE_TIMEOUT, Server

pytestmark = pytest.mark.django_db(transaction=True)

POOL_MAX_SIZE = 4
CONCURRENT_REQUESTS = 40


@pytest.fixture(autouse=True)
def _postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the connection pool is PostgreSQL's; DATABASE_URL points at SQLite")


def server_connections(application_name: str) -> int:
    """Connections to the test database that a process named ``application_name`` holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            [application_name],
        )
        return cursor.fetchone()[0]


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
def test_concurrent_requests_share_the_pools_connections(kind, server_factory, token):
    application_name = f"schedule-pool-test-{kind}"
    server = server_factory(kind, PGAPPNAME=application_name, DB_POOL_MAX_SIZE=str(POOL_MAX_SIZE))

    statuses = get_at_once(server, "/api/tasks/", token.key, CONCURRENT_REQUESTS)

    assert statuses == [200] * CONCURRENT_REQUESTS  # the requests beyond the pool waited
    assert 1 <= server_connections(application_name) <= POOL_MAX_SIZE
