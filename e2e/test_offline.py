"""The installable app offline, on a phone-sized screen: a page opened online reloads from the
service worker's copy with the "Offline — last updated" banner (in English and Russian), a page
never opened shows the offline page, the banner goes when the network is back, and every way a
login ends or changes (the site's or the admin's logout and login, a password change, a session
ended on the server that a page notices) forgets the copies: none is shown to another login.

"No signal" is both ``context.set_offline(True)`` (the page's ``navigator.onLine``, its socket)
and the server stopped: Chromium's offline emulation does not reach the service worker's own
fetches (microsoft/playwright#2311), while a stopped server refuses every one of them.
"""

import re
from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import AbstractUser
from django.contrib.sessions.models import Session
from playwright.sync_api import Browser, BrowserContext, Page, expect

from daily.tests.factories import DailyWorkFactory
from e2e.conftest import Server, live_status, log_in, screenshot
from schedule.roles import PLANNERS
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
DAY = "/daily/?date=2026-11-25"


@pytest.fixture
def phone(browser: Browser, server: Server) -> Iterator[Callable[..., BrowserContext]]:
    """``phone(user, locale="en-US")``: a phone-sized browser context logged in as ``user``; an
    uncaught error in any of its pages fails the test."""
    contexts: list[BrowserContext] = []

    def open_(user: AbstractUser, *, locale: str = "en-US") -> BrowserContext:
        context = browser.new_context(
            base_url=server.url, locale=locale, viewport=PHONE, is_mobile=True, has_touch=True
        )
        contexts.append(context)
        log_in(context, user, server)
        return context

    yield open_
    errors = [
        str(error) for context in contexts for page in context.pages for error in page.page_errors()
    ]
    for context in contexts:
        context.close()
    assert errors == []


def open_kept(context: BrowserContext, path: str) -> Page:
    """Open ``path`` and wait until the service worker has kept it for offline reading."""
    page = context.new_page()
    page.goto(path)
    expect(page.locator("html")).to_have_attribute("data-offline-ready", "")
    return page


def lose_signal(context: BrowserContext, server: Server) -> None:
    context.set_offline(True)
    server.stop()


def regain_signal(context: BrowserContext, server: Server) -> None:
    server.start()
    context.set_offline(False)


def banner(page: Page):
    return page.locator("[data-offline-banner]")


@pytest.mark.parametrize(
    ("locale", "message", "empty_text"),
    [
        ("en-US", "Offline — last updated", "Add a work for this day"),
        ("ru-RU", "Нет сети — данные на", "Внести выполненную работу за этот день"),
    ],
)
def test_the_daily_page_reloads_offline_from_its_copy_with_the_banner_until_the_network_is_back(
    phone, server, foreman, locale, message, empty_text
):
    DailyWorkFactory(task=TaskFactory(code="2.1", name="Concrete works"))
    context = phone(foreman, locale=locale)
    page = open_kept(context, DAY)
    expect(banner(page)).to_be_hidden()

    lose_signal(context, server)
    page.reload()

    expect(banner(page)).to_be_visible()
    expect(banner(page)).to_contain_text(message)
    expect(banner(page)).to_contain_text("2026" if locale == "en-US" else "г.")
    expect(page.locator("tr[data-daily-work-id] .task-code")).to_have_text(["2.1"])
    expect(page.get_by_text(empty_text)).to_be_visible()
    expect(live_status(page)).to_have_attribute("data-state", "offline")
    screenshot(page, f"offline-daily-{locale}")

    regain_signal(context, server)

    expect(live_status(page)).to_have_attribute("data-state", "connected")
    expect(banner(page)).to_be_hidden()


def test_a_page_never_opened_shows_the_offline_page_instead_of_the_browsers_error(
    phone, server, foreman
):
    context = phone(foreman)
    page = open_kept(context, DAY)

    lose_signal(context, server)
    page.goto("/changes/")

    expect(page.locator("[data-offline-page]")).to_contain_text("No connection")
    expect(page.get_by_role("link", name="Try again")).to_be_visible()


def test_the_live_page_catches_up_with_what_changed_while_it_was_offline(phone, server, foreman):
    task = TaskFactory(code="2.1", name="Concrete works")
    context = phone(foreman)
    page = open_kept(context, DAY)
    lose_signal(context, server)
    page.reload()
    expect(banner(page)).to_be_visible()

    DailyWorkFactory(task=task, volume=7)
    regain_signal(context, server)

    expect(banner(page)).to_be_hidden()
    expect(page.locator("tr[data-daily-work-id] .task-code")).to_have_text(["2.1"])


def test_logging_out_forgets_the_pages_kept_on_the_device(phone, server, foreman):
    DailyWorkFactory(task=TaskFactory(code="2.1", name="Concrete works"))
    context = phone(foreman)
    page = open_kept(context, DAY)
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{server.url}/accounts/login/")

    lose_signal(context, server)
    page.goto(DAY)

    expect(page.locator("[data-offline-page]")).to_be_visible()
    expect(page.get_by_text("2.1")).to_have_count(0)


# Whose copies: a login's copies are never another's, and go when the login ends or changes.
PASSWORD = "correct-horse-battery"


def with_password(user: AbstractUser) -> AbstractUser:
    """Give ``user`` ``PASSWORD`` in a hash the server checks (this process's tests hash with
    MD5, which the server's settings do not list); few iterations: the server hashes it again."""
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt(), iterations=1000)
    user.save(update_fields=["password"])
    return user


NO_COPIES = """async () => {
    let copies = 0;
    for (const name of await caches.keys()) {
        if (name === "pages" || name.startsWith("pages-")) {
            copies += (await (await caches.open(name)).keys()).length;
        }
    }
    return copies === 0;
}"""


def forgotten(page: Page) -> None:
    """Wait until the worker has deleted every kept page and API read."""
    page.wait_for_function(NO_COPIES, polling=100)


def assert_no_copy_is_shown(context: BrowserContext, server: Server, page: Page) -> None:
    lose_signal(context, server)
    page.goto(DAY)
    expect(page.locator("[data-offline-page]")).to_be_visible()
    expect(page.get_by_text("2.1")).to_have_count(0)


@pytest.fixture
def boss(make_user) -> AbstractUser:
    """A planner who may use the admin site, with ``PASSWORD``."""
    return with_password(make_user(PLANNERS, username="boss", is_staff=True))


def test_logging_out_through_the_admin_forgets_the_pages_kept_on_the_device(phone, server, boss):
    DailyWorkFactory(task=TaskFactory(code="2.1", name="Concrete works"))
    context = phone(boss)
    page = open_kept(context, DAY)
    assert not page.evaluate(NO_COPIES)

    page.goto("/admin/")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{server.url}/accounts/login/")  # LOGOUT_REDIRECT_URL

    forgotten(page)
    assert_no_copy_is_shown(context, server, page)


def test_another_person_logging_in_through_the_admin_never_sees_the_copies_of_the_first(
    phone, server, foreman, boss
):
    DailyWorkFactory(task=TaskFactory(code="2.1", name="Concrete works"))
    context = phone(foreman)
    page = open_kept(context, DAY)

    # The admin offers the foreman, who may not use it, to sign in as someone else.
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Username:").fill("boss")
    page.get_by_label("Password:").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{server.url}/admin/")

    forgotten(page)
    assert_no_copy_is_shown(context, server, page)


def test_changing_the_password_forgets_the_pages_kept_on_the_device(phone, server, foreman):
    DailyWorkFactory(task=TaskFactory(code="2.1", name="Concrete works"))
    context = phone(with_password(foreman))
    page = open_kept(context, DAY)

    page.goto("/accounts/password_change/")
    page.locator("#id_old_password").fill(PASSWORD)
    page.locator("#id_new_password1").fill("another-horse-battery-9")
    page.locator("#id_new_password2").fill("another-horse-battery-9")
    page.get_by_role("button", name="Change my password").click()
    expect(page).to_have_url(f"{server.url}/accounts/password_change/done/")

    forgotten(page)
    assert_no_copy_is_shown(context, server, page)


def test_a_session_ended_on_the_server_forgets_the_pages_once_the_page_notices(
    phone, server, foreman
):
    task = TaskFactory(code="2.1", name="Concrete works")
    DailyWorkFactory(task=task)
    context = phone(foreman)
    page = open_kept(context, DAY)
    expect(live_status(page)).to_have_attribute("data-state", "connected")

    Session.objects.all().delete()  # e.g. an administrator ended it, or it expired
    DailyWorkFactory(task=task, volume=7)  # the server checks its sockets' logins with the log

    # The socket is refused (4401): the page goes to the login page.
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    forgotten(page)
    assert_no_copy_is_shown(context, server, page)
