"""Fixtures shared by every app's tests: users in each role and API clients."""

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import AbstractUser
from django.utils import translation
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from realtime.models import Event
from schedule.models import Unit
from schedule.roles import FOREMEN, PLANNERS, VIEWERS, roles_ensure
from schedule.services import units_ensure
from schedule.tests.factories import UserFactory

ROLES = [PLANNERS, FOREMEN, VIEWERS]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """Give the SQLite test database a file, so that a daphne or shell subprocess can open it.

    An in-memory database exists only inside the pytest process. PostgreSQL's test database is
    reachable from other processes by its name already, so it is left alone.
    """
    from django.conf import settings

    database = settings.DATABASES["default"]
    # Connections opened by database_sync_to_async threads must not outlive their test: a
    # persistent one keeps PostgreSQL from dropping the test database at the end.
    database["CONN_MAX_AGE"] = 0
    if database["ENGINE"] == "django.db.backends.sqlite3":
        name = tmp_path_factory.mktemp("db") / "test.sqlite3"
        database.setdefault("TEST", {})["NAME"] = str(name)


LOCK_NOT_AVAILABLE = "55P03"
"""PostgreSQL's SQLSTATE for a lock not granted within ``lock_timeout``."""


@pytest.fixture(scope="session", autouse=True)
def _flush_gives_way_to_servers() -> Iterator[None]:
    """On PostgreSQL, the flush after a transactional test gives way to a server's query.

    The realtime tests' daphne and uvicorn processes share the test database and may still be
    reading it (a log poll, a permission check) when the test ends. ``TRUNCATE`` takes its
    tables' locks one by one, and a read that holds one of them while waiting for another
    deadlocks with it; PostgreSQL then aborts one side, the flush or the server's read. Here each
    lock is waited for at most 200 ms, well inside ``deadlock_timeout`` (1 s): the flush rolls
    back, the read finishes, and the flush runs again.
    """
    from django.db import transaction
    from django.db.backends.postgresql.operations import DatabaseOperations
    from django.db.utils import OperationalError

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        for attempt in range(1, 51):
            try:
                with (
                    transaction.atomic(using=self.connection.alias),
                    self.connection.cursor() as cursor,
                ):
                    cursor.execute("SET LOCAL lock_timeout = '200ms'")
                    for sql in sql_list:
                        cursor.execute(sql)
                return
            except OperationalError as error:
                state = getattr(error.__cause__, "sqlstate", None)
                if state != LOCK_NOT_AVAILABLE or attempt == 50:
                    raise

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "execute_sql_flush", execute_sql_flush)
        yield


TEST_UNITS = {"m³": 3, "m²": 3, "m": 3, "t": 3, "km": 3, "kg": 3, "m2": 3, "m3": 3}
"""The units the tests' works are measured in (a task's unit is one kept in admin, Task.clean),
shown with all the stored decimals; and the usual Russian ones (``units_ensure``)."""

DATABASE_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "live_server"}


@pytest.fixture(autouse=True)
def _units(request: pytest.FixtureRequest, _django_db_marker: None) -> None:
    """Units kept as a planner keeps them, for every test with a database: the migration seeds
    them, but a transactional test's flush empties the table."""
    uses_database = request.node.get_closest_marker("django_db") is not None
    for name in DATABASE_FIXTURES & set(request.fixturenames):
        request.getfixturevalue(name)
        uses_database = True
    if uses_database:
        units_ensure()
        Unit.objects.bulk_create(
            [Unit(name=name, decimals=places) for name, places in TEST_UNITS.items()],
            ignore_conflicts=True,
        )


@pytest.fixture(autouse=True)
def _test_settings(settings) -> None:
    settings.ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _site_language() -> Iterator[None]:
    """Each test starts in the site's language: a request to a Russian page leaves Russian
    active in its thread (``LocaleMiddleware`` activates it and nothing deactivates it)."""
    translation.activate(django_settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture
def make_user(db) -> Callable[..., AbstractUser]:
    """``make_user(role)`` → a user in that role group (``None``: no group, no permissions)."""
    groups = roles_ensure()

    def make(role: str | None = None, **fields) -> AbstractUser:
        user = UserFactory(**({"username": role or "nobody"} | fields))
        if role is not None:
            user.groups.add(groups[role])
        return user

    return make


@pytest.fixture
def planner(make_user) -> AbstractUser:
    return make_user(PLANNERS)


@pytest.fixture
def foreman(make_user) -> AbstractUser:
    return make_user(FOREMEN)


@pytest.fixture
def viewer(make_user) -> AbstractUser:
    return make_user(VIEWERS)


@pytest.fixture
def user(planner) -> AbstractUser:
    return planner


@pytest.fixture
def api_client_for() -> Callable[[AbstractUser | None], APIClient]:
    """``api_client_for(user)`` → a DRF client logged in as that user (``None``: anonymous)."""

    def make(user: AbstractUser | None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def api_client(api_client_for, user) -> APIClient:
    return api_client_for(user)


@pytest.fixture
def token(user) -> Token:
    return Token.objects.create(user=user)


@pytest.fixture
def capture_events(django_capture_on_commit_callbacks):
    """``with capture_events(expected=N) as events:`` runs the on-commit callbacks (the bells)
    and collects the events the block published, asserting how many when ``expected`` is given.
    """

    @contextmanager
    def capture(expected: int | None = None) -> Iterator[list[Event]]:
        before = Event.objects.latest_id()
        events: list[Event] = []
        with django_capture_on_commit_callbacks(execute=True):
            yield events
        events.extend(Event.objects.filter(id__gt=before).order_by("id"))
        if expected is not None:
            assert len(events) == expected, [e.type for e in events]

    return capture


# The fixtures that start processes (daphne, uvicorn, redis-server, nginx, ORM workers) or a
# live server: a test using one, directly or through another fixture, is in the ``processes``
# lane; the browser tests (e2e/) are in ``browser``, the benchmark's in ``bench``.
PROCESS_FIXTURES = frozenset({"server_factory", "redis_url", "orm", "live_server"})


def _mark_lanes(items: list[pytest.Item]) -> None:
    """The test lanes (``make check`` runs what is in none of them)."""
    for item in items:
        parts = item.path.relative_to(item.config.rootpath).parts
        if parts[0] == "e2e":
            item.add_marker(pytest.mark.browser)
        elif parts[0] == "bench":
            item.add_marker(pytest.mark.bench)
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.processes)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The test lanes are marked (``_mark_lanes``). Tests marked ``postgresql`` need what
    SQLite lacks (row locks): on SQLite they are deselected, and counted as such in the
    summary, not skipped; CI's second pass runs them on PostgreSQL (``.ci/run``)."""
    _mark_lanes(items)
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return
    kept = [item for item in items if item.get_closest_marker("postgresql") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept
