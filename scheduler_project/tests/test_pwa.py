"""The installable app's server side: the manifest, the service worker at the site's root, the
app shell it caches and the offline page (in a browser, offline: ``e2e/test_offline.py``)."""

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client

from scheduler_project.pwa import OFFLINE_USER_COOKIE, OFFLINE_USER_HEADER, app_shell

pytestmark = pytest.mark.django_db

SW_SOURCE = Path(settings.BASE_DIR) / "static" / "pwa" / "sw.js"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/sw.js", "text/javascript"),
        ("/manifest.webmanifest", "application/manifest+json"),
        ("/offline/shell.json", "application/json"),
        ("/offline/", "text/html; charset=utf-8"),
    ],
)
def test_the_app_files_are_served_without_a_login(client, path, content_type):
    response = client.get(path)

    assert response.status_code == 200
    assert response["Content-Type"] == content_type


def test_the_service_worker_is_the_static_file_allowed_the_whole_site_and_never_cached(client):
    response = client.get("/sw.js?v=abc&days=7")

    assert response.content == SW_SOURCE.read_bytes()
    assert response["Service-Worker-Allowed"] == "/"
    assert response["Cache-Control"] == "no-cache"
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_service_worker_is_only_read(client, method):
    assert getattr(client, method)("/sw.js").status_code == 405


def test_the_manifest_opens_the_daily_page_standalone_with_the_icons(client):
    manifest = client.get("/manifest.webmanifest").json()

    assert manifest["start_url"] == "/daily/"
    assert manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] == "#243342"
    assert [(icon["sizes"], icon["type"], icon.get("purpose")) for icon in manifest["icons"]] == [
        ("192x192", "image/png", "any"),
        ("512x512", "image/png", "any"),
        ("512x512", "image/png", "maskable"),
        ("any", "image/svg+xml", None),
    ]
    for icon in manifest["icons"]:
        assert client.get(icon["src"]).status_code == 200


@pytest.mark.parametrize(
    ("language", "name", "short_name"),
    [("en", "Works schedule", "Works"), ("ru", "График работ", "Работы")],
)
def test_the_manifest_names_the_app_in_the_users_language(client, language, name, short_name):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    manifest = client.get("/manifest.webmanifest").json()

    assert (manifest["name"], manifest["short_name"], manifest["lang"]) == (
        name,
        short_name,
        language,
    )


def test_the_shell_holds_the_pages_modules_styles_icons_and_the_offline_page(client):
    urls = client.get("/offline/shell.json").json()["urls"]

    for expected in [
        "/static/css/site.css",
        "/static/js/daily.js",
        "/static/js/live.js",
        "/static/realtime/websocket.js",
        "/static/pwa/register.js",
        "/static/pwa/icon-192.png",
        "/offline/",
    ]:
        assert expected in urls
    assert "/static/pwa/sw.js" not in urls
    assert not [url for url in urls if url.startswith("/static/admin/")]


def test_a_page_registers_the_worker_with_its_settings_in_its_url(client, planner, settings):
    settings.OFFLINE_CACHE_DAYS = 3
    settings.OFFLINE_NETWORK_TIMEOUT_MS = 2500
    client.force_login(planner)

    page = client.get("/daily/").content.decode()

    assert '<link rel="manifest" href="/manifest.webmanifest"' in page
    assert '<link rel="apple-touch-icon" href="/static/pwa/apple-touch-icon.png">' in page
    assert '<script type="module" src="/static/pwa/register.js">' in page
    sw_url = page.split('data-sw-url="')[1].split('"')[0].replace("&amp;", "&")
    url = urlsplit(sw_url)
    assert url.path == "/sw.js"
    query = {key: value for key, [value] in parse_qs(url.query).items()}
    assert query.pop("v")
    assert query == {
        "days": "3",
        "timeout": "2500",
        "shell": "/offline/shell.json",
        "offline": "/offline/",
        "login": "/accounts/login/",
        "logout": "/accounts/logout/",
        "cookie": "offline_user",
        "header": "X-Offline-User",
    }


def test_a_changed_setting_is_a_new_worker_version(client, planner, settings):
    client.force_login(planner)

    def version() -> str:
        page = client.get("/daily/").content.decode()
        return page.split('data-sw-url="/sw.js?v=')[1].split("&")[0]

    first = version()
    settings.OFFLINE_CACHE_DAYS = 1
    assert version() != first


def test_an_anonymous_page_registers_no_worker_and_tells_it_nobody_is_logged_in(client):
    page = client.get("/accounts/login/").content.decode()

    assert "data-sw-url" not in page
    assert 'data-offline-user=""' in page
    assert '<script type="module" src="/static/pwa/register.js">' in page
    assert '<link rel="manifest"' in page


def test_the_offline_page_says_it_in_russian(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"

    page = client.get("/offline/").content.decode()

    assert "Нет соединения" in page
    assert "data-offline-page" in page


def test_the_shell_lists_every_project_static_file_but_the_worker():
    names = {
        path.relative_to(Path(settings.BASE_DIR) / "static").as_posix()
        for path in (Path(settings.BASE_DIR) / "static").rglob("*")
        if path.is_file()
    }

    assert len(app_shell()) == len(names) - 1


def test_the_stylesheet_closes_every_block_so_its_last_rules_apply():
    """An unclosed rule swallows every rule after it (the offline banner's, the history's)."""
    css = (Path(settings.BASE_DIR) / "static" / "css" / "site.css").read_text()
    depth = 0
    for character in re.sub(r"/\*.*?\*/", "", css, flags=re.S):
        depth += {"{": 1, "}": -1}.get(character, 0)
        assert depth >= 0
    assert depth == 0


# Whose copies (OfflineUserMiddleware): the tag of the browser's login, in a header and a cookie.
PASSWORD = "correct-horse-battery"  # UserFactory's


def tag_cookie(response):
    return response.cookies.get(OFFLINE_USER_COOKIE)


def sign_in(client, user, path: str = "/accounts/login/"):
    return client.post(path, {"username": user.username, "password": PASSWORD})


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_a_login_sets_the_cookie_the_worker_reads_with_the_sessions_lifetime(
    client, make_user, path
):
    user = make_user("planners", is_staff=True)

    response = sign_in(client, user, path)

    cookie = tag_cookie(response)
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert re.fullmatch(rf"{user.pk}\.[0-9a-f]{{20}}", cookie.value)
    assert not cookie["httponly"]  # the worker and the outbox read it
    assert (cookie["max-age"], cookie["path"], cookie["samesite"]) == (
        session["max-age"],
        session["path"],
        session["samesite"],
    )
    assert client.get("/daily/")[OFFLINE_USER_HEADER] == cookie.value


def test_each_login_has_its_own_tag_and_a_token_request_none(client, planner, token):
    first = tag_cookie(sign_in(client, planner)).value
    client.post("/accounts/logout/")

    second = tag_cookie(sign_in(client, planner)).value

    assert second != first
    assert second.split(".")[0] == first.split(".")[0] == str(planner.pk)
    api = Client(headers={"Authorization": f"Token {token.key}"})
    assert OFFLINE_USER_HEADER not in api.get("/api/tasks/")


@pytest.mark.parametrize("path", ["/accounts/logout/", "/admin/logout/"])
def test_a_logout_deletes_the_cookie(client, make_user, path):
    sign_in(client, make_user("planners", is_staff=True))

    response = client.post(path)

    assert tag_cookie(response).value == ""
    assert tag_cookie(response)["max-age"] == 0
    assert OFFLINE_USER_HEADER not in response


@pytest.mark.parametrize("path", ["/accounts/password_change/", "/admin/password_change/"])
def test_a_password_change_is_a_new_tag(client, make_user, path):
    before = tag_cookie(sign_in(client, make_user("planners", is_staff=True))).value
    new = "another-horse-battery-9"

    response = client.post(
        path, {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    )

    assert response.status_code == 302
    assert tag_cookie(response).value not in {"", before}


def test_a_session_ended_on_the_server_deletes_the_cookie_at_the_next_request(client, planner):
    sign_in(client, planner)
    Session.objects.all().delete()

    response = client.get("/daily/")

    assert response.status_code == 302  # to the login page
    assert tag_cookie(response).value == ""


def test_an_unchanged_login_sets_no_cookie(client, planner):
    sign_in(client, planner)

    response = client.get("/daily/")

    assert OFFLINE_USER_COOKIE not in response.cookies
