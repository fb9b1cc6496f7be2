"""How tests start project processes (daphne, ``manage.py shell``) on the test database,
and what they do when a program they need is missing."""

import os
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.db import connection


def database_url() -> str:
    """The URL of the test database, for ``DATABASE_URL`` in a subprocess."""
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    url = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(url._replace(path=f"/{quote(name)}"))


def subprocess_env(**overrides: str) -> dict[str, str]:
    """The environment of a project subprocess: the test database and development settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_ALLOW_ASYNC_UNSAFE", "REDIS_URL", "PYTEST_CURRENT_TEST"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="scheduler_project.settings",
        DATABASE_URL=database_url(),
        DEBUG="1",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def skip_unless_available(reason: str) -> None:
    """Skip a test that needs a missing program — except in CI (``CI=true``), where it fails."""
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason}; CI must run these tests.", pytrace=False)
    pytest.skip(reason)
