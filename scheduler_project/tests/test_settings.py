"""Settings come from the environment; each case runs manage.py in a fresh process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": get_random_secret_key(),
    "ALLOWED_HOSTS": "schedule.example.com",
    "DATABASE_URL": "sqlite:////tmp/unused-deploy-check.sqlite3",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean_env = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
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
        DATABASE_URL="postgres://u:p@127.0.0.1:5439/schedule",
    )

    assert result.returncode == 0, result.stderr
    assert "django.db.backends.postgresql" in result.stdout
