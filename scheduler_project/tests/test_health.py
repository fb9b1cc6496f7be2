"""``/healthz`` and ``/readyz``: no login, and readiness fails on a real unreachable service."""

import pytest
import requests

from realtime.tests.conftest import STARTUP_TIMEOUT, free_port, start_daphne, stop_process


def test_healthz_answers_ok_without_a_login_or_the_database(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.content == b"ok\n"


def test_readyz_is_ready_when_the_database_and_the_channel_layer_answer(client, db):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"ready": True, "checks": {"database": "ok", "channel_layer": "ok"}}


def test_readyz_answers_503_naming_an_unreachable_channel_layer(client, db, settings):
    # A Redis URL on a port where nothing listens: the connection is refused.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
        }
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "ready": False,
        "checks": {"database": "ok", "channel_layer": "error"},
    }


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_probes_only_answer_reads(client, method):
    assert getattr(client, method)("/healthz").status_code == 405


@pytest.fixture
def server_without_database(tmp_path):
    """A daphne whose PostgreSQL URL points at a port where nothing listens. (Its start-up
    check, a request to the API, fails with a logged 500: the probes must not.)"""
    database_url = f"postgres://schedule:secret@127.0.0.1:{free_port()}/schedule"
    # A pool waits DB_POOL_TIMEOUT for a connection: a short one, so /readyz says "error" soon.
    server = start_daphne(tmp_path / "daphne.log", DATABASE_URL=database_url, DB_POOL_TIMEOUT="1")
    started = len(server.log())
    yield server
    stop_process(server.process)
    assert server.errors(since=started) == ""


def test_readyz_answers_503_naming_the_database_while_healthz_stays_ok(server_without_database):
    url = server_without_database.url

    alive = requests.get(f"{url}/healthz", timeout=STARTUP_TIMEOUT)
    ready = requests.get(f"{url}/readyz", timeout=STARTUP_TIMEOUT)

    assert (alive.status_code, alive.text) == (200, "ok\n")
    assert ready.status_code == 503
    assert ready.json() == {"ready": False, "checks": {"database": "error", "channel_layer": "ok"}}
    assert "readyz: database failed: OperationalError" in server_without_database.log()


def test_readyz_is_ready_with_a_reachable_redis(client, db, settings, redis_url):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url]},
        }
    }

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "channel_layer": "ok"}
