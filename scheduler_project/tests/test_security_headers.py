"""Security headers: a Content-Security-Policy without inline script or style on every kind of
response. (That the pages work under it, in a browser: ``e2e/test_csp.py``. HSTS:
``test_settings.py``.)"""

import re
from collections.abc import Callable

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PAGES = [
    ("/", "planner"),
    ("/monthly/", "planner"),
    ("/daily/", "planner"),
    ("/accounts/login/", None),
    ("/admin/", "superuser"),
    ("/admin/schedule/task/add/", "superuser"),
    ("/api/docs/", "planner"),
    ("/api/docs/?script=", "planner"),
    ("/api/tasks/", "planner"),
]


@pytest.fixture
def client_as(make_user, planner) -> Callable[[str | None], Client]:
    def client_for(who: str | None) -> Client:
        client = Client()
        if who == "planner":
            client.force_login(planner)
        elif who == "superuser":
            client.force_login(make_user(None, username="boss", is_staff=True, is_superuser=True))
        return client

    return client_for


def policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


@pytest.mark.parametrize(("path", "who"), PAGES)
def test_every_response_carries_a_policy_without_inline_script_or_style(client_as, path, who):
    response = client_as(who).get(path)

    assert response.status_code == 200
    directives = policy(response["Content-Security-Policy"])
    assert directives["default-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["connect-src"] == ["'self'"]
    for name in ["script-src", "style-src"]:
        assert directives[name][0] == "'self'"
        assert "'unsafe-inline'" not in directives[name]
        assert "'unsafe-eval'" not in directives[name]


def test_the_api_docs_page_has_no_inline_script_or_style(client_as):
    html = client_as("planner").get("/api/docs/").content.decode()

    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    assert 'src="/api/docs/?script="' in html


def test_the_api_docs_script_is_served_as_javascript(client_as):
    response = client_as("planner").get("/api/docs/?script=")

    assert response["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in response.content.decode()
