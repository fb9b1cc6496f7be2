"""The installable app offline, on a phone-sized screen: a page opened online reloads from the
service worker's copy with the "Offline — last updated" banner (in English and Russian), a page
never opened shows the offline page, the banner goes when the network is back, and logging out
forgets the copies.

"No signal" is both ``context.set_offline(True)`` (the page's ``navigator.onLine``, its socket)
and the server stopped: Chromium's offline emulation does not reach the service worker's own
fetches (microsoft/playwright#2311), while a stopped server refuses every one of them.
"""

from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth.models import AbstractUser
from playwright.sync_api import Browser, BrowserContext, Page, expect

from daily.tests.factories import DailyWorkFactory
from e2e.conftest import Server, live_status, log_in, screenshot
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
