"""Every kind of page works under the Content-Security-Policy (``SECURE_CSP``): no violation is
reported, and the page still does its job (the live badge connects, the API docs render)."""

from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from playwright.sync_api import Browser, BrowserContext, Page, expect

from daily.tests.factories import DailyWorkFactory
from e2e.conftest import Server, live_status, log_in
from schedule.roles import PLANNERS
from schedule.tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

# Runs before the page's own scripts; collects what the browser refused.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sample}`);
});
"""


@pytest.fixture
def visit(browser: Browser, server: Server) -> Iterator[Callable[..., Page]]:
    """``visit(user, path)``: the page in a fresh context logged in as ``user`` (or anonymous
    for ``None``), violations recorded from the start; fails the test on any of them, on a
    console message about the policy and on an uncaught error."""
    contexts: list[BrowserContext] = []
    pages: list[Page] = []
    console: list[str] = []

    def open_(user, path: str) -> Page:
        context = browser.new_context(base_url=server.url)
        contexts.append(context)
        context.add_init_script(RECORD_VIOLATIONS)
        if user is not None:
            log_in(context, user, server)
        page = context.new_page()
        page.on("console", lambda message: console.append(message.text))
        pages.append(page)
        response = page.goto(path)
        assert response is not None and response.status == 200
        assert "'unsafe-inline'" not in response.headers["content-security-policy"]
        return page

    yield open_
    violations = [text for page in pages for text in page.evaluate("window.cspViolations")]
    errors = [str(error) for page in pages for error in page.page_errors()]
    for context in contexts:
        context.close()
    assert violations == []
    assert [text for text in console if "Content Security Policy" in text] == []
    assert errors == []


@pytest.mark.parametrize("path", ["/", "/monthly/?month=2026-11", "/daily/?date=2026-11-05"])
def test_the_live_pages_connect_under_the_policy(visit, make_user, path):
    DailyWorkFactory(task=TaskFactory(code="1.1"), date="2026-11-05")
    page = visit(make_user(PLANNERS), path)

    expect(live_status(page)).to_have_attribute("data-state", "connected")
    expect(page.get_by_role("cell", name="1.1", exact=True).first).to_be_visible()


def test_the_login_page_logs_in_under_the_policy(visit, make_user):
    user = make_user(PLANNERS, username="maria")
    # A hash the server process can check (its default hashers; this process uses MD5).
    user.password = make_password("a-long-planner-password", hasher=PBKDF2PasswordHasher())
    user.save(update_fields=["password"])
    page = visit(None, "/accounts/login/")

    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill("a-long-planner-password")
    page.get_by_role("button", name="Sign in").click()

    expect(live_status(page)).to_have_attribute("data-state", "connected")


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/admin/", "Site administration"),
        ("/admin/schedule/task/", "Select task to change"),
        ("/admin/schedule/task/add/", "Add task"),
        ("/admin/auth/user/", "Select user to change"),
    ],
)
def test_django_admin_works_under_the_policy(visit, path, text):
    TaskFactory(code="1.1")
    page = visit(UserFactory(username="boss", is_staff=True, is_superuser=True), path)

    expect(page.get_by_text(text).first).to_be_visible()


def test_the_api_docs_render_under_the_policy(visit, make_user):
    page = visit(make_user(PLANNERS), "/api/docs/")

    expect(page.get_by_text("Works schedule API").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/tasks/").first).to_be_visible()
