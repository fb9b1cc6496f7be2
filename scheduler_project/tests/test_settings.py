"""Settings come from the environment; each case runs manage.py in a fresh process."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

from scheduler_project.settings import env_weekdays

BASE_DIR = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": get_random_secret_key(),
    "ALLOWED_HOSTS": "schedule.example.com",
    "DATABASE_URL": "sqlite:////tmp/unused-deploy-check.sqlite3",
}
DATABASE_ENV = ["DB_CONN_MAX_AGE", "DB_POOL_MIN_SIZE", "DB_POOL_MAX_SIZE", "DB_POOL_TIMEOUT"]
POSTGRESQL_URL = "postgres://u:p@127.0.0.1:5439/schedule"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean_env = {
        k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and k not in DATABASE_ENV
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**clean_env, "DJANGO_SETTINGS_MODULE": "scheduler_project.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_passes_for_a_production_configuration():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = {**PRODUCTION_ENV, "SECRET_KEY": ""}

    result = manage("check", **env)

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "InMemoryChannelLayer"),
        ({"REDIS_URL": "redis://127.0.0.1:6399/0"}, "RedisChannelLayer"),
    ],
)
def test_redis_url_switches_the_channel_layer(env, expected):
    result = manage(
        "shell", "-c", "from django.conf import settings; print(settings.CHANNEL_LAYERS)", **env
    )

    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


def test_database_url_switches_the_database():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])",
        DATABASE_URL=POSTGRESQL_URL,
    )

    assert result.returncode == 0, result.stderr
    assert "django.db.backends.postgresql" in result.stdout


def database_settings(**env: str) -> dict[str, Any]:
    """``settings.DATABASES['default']`` of a process started with ``env``."""
    result = manage(
        "shell",
        "-c",
        "import json; from django.conf import settings;"
        " print(json.dumps(settings.DATABASES['default']))",
        **env,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    ("env", "pool"),
    [
        ({}, {"min_size": 2, "max_size": 10, "timeout": 10.0}),
        (
            {"DB_POOL_MIN_SIZE": "1", "DB_POOL_MAX_SIZE": "20", "DB_POOL_TIMEOUT": "2.5"},
            {"min_size": 1, "max_size": 20, "timeout": 2.5},
        ),
        ({"DB_POOL_MAX_SIZE": "1"}, {"min_size": 1, "max_size": 1, "timeout": 10.0}),
        ({"DB_POOL_MAX_SIZE": "0"}, None),
    ],
)
def test_postgresql_connections_come_from_a_pool_without_persistent_connections(env, pool):
    database = database_settings(DATABASE_URL=POSTGRESQL_URL, **env)

    assert database["OPTIONS"].get("pool") == pool
    assert database["CONN_MAX_AGE"] == 0


def test_postgresql_refuses_persistent_connections_with_the_pool():
    result = manage("check", DATABASE_URL=POSTGRESQL_URL, DB_CONN_MAX_AGE="60")

    assert result.returncode != 0
    assert "DB_CONN_MAX_AGE must be 0 with the connection pool" in result.stderr


@pytest.mark.parametrize(
    ("env", "conn_max_age"),
    [
        ({}, (600, 0)),
        ({"DB_CONN_MAX_AGE": "60"}, (60, 60)),
    ],
)
def test_db_conn_max_age_sets_persistent_connections_where_there_is_no_pool(env, conn_max_age):
    """SQLite keeps its connections by default (the HTTP threads are a fixed pool); PostgreSQL
    without the pool only when asked (each connection is a server process)."""
    sqlite = database_settings(DATABASE_URL="sqlite:////tmp/unused.sqlite3", **env)
    unpooled = database_settings(DATABASE_URL=POSTGRESQL_URL, DB_POOL_MAX_SIZE="0", **env)

    assert (sqlite["CONN_MAX_AGE"], unpooled["CONN_MAX_AGE"]) == conn_max_age


@pytest.mark.parametrize(
    ("value", "weekdays"),
    [
        ("", (1, 2, 3, 4, 5)),
        ("1-5", (1, 2, 3, 4, 5)),
        ("1-6", (1, 2, 3, 4, 5, 6)),
        ("1,2,3,4,5,6", (1, 2, 3, 4, 5, 6)),
        ("1-3, 5", (1, 2, 3, 5)),
        ("6,7,1-2", (1, 2, 6, 7)),
        ("3", (3,)),
    ],
)
def test_work_weekdays_read_iso_numbers_and_ranges(monkeypatch, value, weekdays):
    monkeypatch.setenv("WORK_WEEKDAYS", value)

    assert env_weekdays("WORK_WEEKDAYS", "1-5") == weekdays


@pytest.mark.parametrize("value", ["0-5", "1-8", "5-1", "mon-fri", "1,,2", "1-", "-5", "1.5"])
def test_work_weekdays_refuse_anything_but_iso_numbers_and_ranges(monkeypatch, value):
    monkeypatch.setenv("WORK_WEEKDAYS", value)

    with pytest.raises(ImproperlyConfigured, match="WORK_WEEKDAYS"):
        env_weekdays("WORK_WEEKDAYS", "1-5")


def test_the_working_calendar_settings_come_from_the_environment():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings;"
        " print(settings.WORK_WEEKDAYS, repr(settings.HOLIDAYS_COUNTRY))",
        WORK_WEEKDAYS="1-6",
        HOLIDAYS_COUNTRY="de",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "(1, 2, 3, 4, 5, 6) 'DE'"


def test_manage_py_check_refuses_an_unknown_holidays_country():
    result = manage("check", HOLIDAYS_COUNTRY="XX")

    assert result.returncode != 0
    assert "schedule.E001" in result.stderr


@pytest.mark.parametrize(
    ("env", "hsts"),
    [
        ({}, [31536000, False, False]),
        ({"SECURE_HSTS_INCLUDE_SUBDOMAINS": "1"}, [31536000, True, False]),
        (
            {"SECURE_HSTS_INCLUDE_SUBDOMAINS": "1", "SECURE_HSTS_PRELOAD": "1"},
            [31536000, True, True],
        ),
    ],
)
def test_hsts_covers_subdomains_and_asks_for_preloading_only_when_told(env, hsts):
    """Both bind every subdomain for a year, and leaving the preload list takes months: the
    operator opts in; the deploy check passes either way."""
    settings = manage(
        "shell",
        "-c",
        "import json; from django.conf import settings as s;"
        " print(json.dumps([s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS,"
        " s.SECURE_HSTS_PRELOAD]))",
        **PRODUCTION_ENV,
        **env,
    )
    check = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV, **env)

    assert settings.returncode == 0, settings.stderr
    assert json.loads(settings.stdout.splitlines()[-1]) == hsts
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, "Europe/Moscow 2026-12-08"), ({"TIME_ZONE": "UTC"}, "UTC 2026-12-07")],
)
def test_the_sites_today_follows_its_time_zone_moscow_by_default(monkeypatch, env, expected):
    monkeypatch.delenv("TIME_ZONE", raising=False)
    # 22:30 UTC on 7 December is already the 8th on a site in Moscow.
    code = (
        "import datetime; from django.conf import settings; from django.utils import timezone;"
        "now = datetime.datetime(2026, 12, 7, 22, 30, tzinfo=datetime.UTC);"
        "print(settings.TIME_ZONE, timezone.localdate(now))"
    )

    result = manage("shell", "-c", code, **env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(expected)
