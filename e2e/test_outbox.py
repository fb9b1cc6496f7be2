"""The daily page's outbox on a phone-sized screen: works entered with no network wait in the
browser (IndexedDB), survive closing it, and are sent exactly once when the network is back,
also when the server dies in the middle of sending them; a refused one stays on its row."""

import datetime
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from daily.models import DailyWork
from daily.services import daily_work_create, daily_work_update
from e2e.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    STARTUP_TIMEOUT,
    Server,
    accept_plausibility_questions,
    live_status,
    log_in,
    screenshot,
)
from realtime.models import Change
from schedule.models import Task
from schedule.roles import FOREMEN, PLANNERS
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
DAY = "2026-11-25"
DAY_URL = f"/daily/?date={DAY}"
WORKS_API = "**/api/daily-works/**"


@pytest.fixture
def phone(browser: Browser, server: Server, tmp_path: Path) -> Iterator[Callable[..., Page]]:
    """``phone(user)``: the daily page in a browser with a profile on disk, at 390×844; call it
    again after closing to reopen the same profile (the outbox is in its IndexedDB)."""
    profile = tmp_path / "profile"
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def open_(
        user, *, routes: dict[str, Callable[[Route], None]] | None = None, locale: str = "en-US"
    ) -> Page:
        context = browser.browser_type.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            base_url=server.url,
            viewport=PHONE,
            locale=locale,
        )
        contexts.append(context)
        log_in(context, user, server)
        for pattern, handler in (routes or {}).items():
            context.route(pattern, writes_only(handler))
        page = context.pages[0] if context.pages else context.new_page()
        accept_plausibility_questions(page)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(DAY_URL)
        expect(live_status(page)).to_have_attribute("data-state", "connected")
        return page

    yield open_
    for context in contexts:
        context.close()
    assert errors == []


def writes_only(handler: Callable[[Route], None]) -> Callable[[Route], None]:
    """``handler`` for the reports' writes; the question asked before one (``check/``, which
    writes nothing) goes through untouched."""

    def route(route: Route) -> None:
        if route.request.url.split("?")[0].rstrip("/").endswith("/check"):
            route.continue_()
        else:
            handler(route)

    return route


def add_work(page: Page, task: str, volume: str, description: str = "") -> None:
    page.get_by_label("Task").select_option(label=task)
    page.get_by_label("Volume").fill(volume)
    page.get_by_label("Description").fill(description)
    page.get_by_role("button", name="Add", exact=True).click()


def enter_three_reports_offline(page: Page) -> None:
    page.context.set_offline(True)
    page.wait_for_function("() => !navigator.onLine")
    add_work(page, "2.1 Concrete works", "1", "Morning")
    add_work(page, "2.1 Concrete works", "2", "Noon")
    add_work(page, "2.2 Reinforcement", "3", "Evening")
    pending = page.locator("tr.is-outbox")
    expect(pending.locator(".daily-work-description")).to_have_text(["Morning", "Noon", "Evening"])
    expect(pending.locator("[data-outbox-state]")).to_have_text(
        ["Not sent yet: saved in this browser"] * 3
    )
    expect(page.locator("[data-outbox-badge-count]")).to_have_text("3")


ROWS = "tr[data-daily-work-id]:not([hidden]), tr.outbox-row:not([hidden])"


def watch_row_count(page: Page) -> None:
    """Record the most rows the table ever shows (``most_rows``): one work, one row, always.
    Registered after the page's own observer, it counts after the page has reacted."""
    page.evaluate(
        """(selector) => {
            const tbody = document.querySelector("[data-live-rows] tbody");
            const count = () => (window.mostRows = Math.max(window.mostRows ?? 0,
                tbody.querySelectorAll(selector).length));
            count();
            new MutationObserver(count).observe(tbody, { childList: true, subtree: true });
        }""",
        ROWS,
    )


def most_rows(page: Page) -> int:
    return page.evaluate("window.mostRows")


def stored_works() -> list[tuple[str, str]]:
    return [
        (str(work.volume.normalize()), work.description)
        for work in DailyWork.objects.order_by("volume")
    ]


SENT = [("1", "Morning"), ("2", "Noon"), ("3", "Evening")]


def hold_first(held: list[Route]) -> Callable[[Route], None]:
    """A route handler that keeps the first request (in ``held``) and lets the others go."""

    def handle(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    return handle


@pytest.fixture
def tasks() -> None:
    TaskFactory(code="2.1", name="Concrete works", unit="m³")
    TaskFactory(code="2.2", name="Reinforcement", unit="t")


def test_three_reports_entered_offline_are_sent_once_after_the_browser_is_reopened(
    tasks, phone, open_page, make_user
):
    petr = make_user(FOREMEN, username="petr", first_name="Petr", last_name="Ivanov")
    olga = make_user(PLANNERS, username="olga")
    page = phone(petr)
    enter_three_reports_offline(page)
    # Entered by whom the server's rows name: the full name, not the login.
    expect(page.locator("tr.is-outbox .daily-work-created-by")).to_have_text(["Petr Ivanov"] * 3)
    page.context.close()
    assert DailyWork.objects.count() == 0

    # Reopened with the network back; the first send is held, to see the rows from IndexedDB.
    held: list[Route] = []
    page = phone(petr, routes={WORKS_API: hold_first(held)})
    expect(page.locator("tr.is-outbox")).to_have_count(3)
    watch_row_count(page)
    expect(page.locator("[data-outbox-badge-count]")).to_have_text("3")
    watcher = open_page(olga, DAY_URL)
    expect(watcher.locator("tr[data-daily-work-id]")).to_have_count(0)
    expect(page.locator("tr.is-outbox[data-outbox-state=sending]")).to_have_count(1)
    held[0].continue_()

    expect(watcher.locator("tr[data-daily-work-id] .daily-work-description")).to_have_text(
        ["Morning", "Noon", "Evening"]
    )
    expect(page.locator("[data-outbox-badge]")).to_be_hidden()
    expect(page.locator("tr.is-outbox")).to_have_count(0)
    expect(page.locator("tr[data-daily-work-id] .daily-work-description")).to_have_text(
        ["Morning", "Noon", "Evening"]
    )
    assert stored_works() == SENT  # committed: the other user's page shows them
    assert most_rows(page) == 3
    # The history tells the page that queued them (X-Source), not the API.
    reports = Change.objects.filter(stream="daily_works")
    assert list(reports.values_list("kind", "via")) == [("created", "daily")] * 3


def answer_lost(route: Route, server: Server) -> None:
    """The server does the write and answers, then dies before the browser hears it."""
    route.fetch()
    server.process.kill()
    server.process.wait()
    route.abort("connectionreset")


def request_lost(route: Route, server: Server) -> None:
    """The server dies while the request is on its way; it never arrives."""
    server.process.kill()
    server.process.wait()
    route.abort("connectionrefused")


@pytest.mark.parametrize("die", [answer_lost, request_lost], ids=["answer", "request"])
def test_a_server_killed_in_the_middle_of_sending_still_gets_each_report_once(
    tasks, phone, make_user, server, die
):
    petr = make_user(FOREMEN, username="petr")
    posts: list[Route] = []

    def second_post_kills_the_server(route: Route) -> None:
        if route.request.method == "POST":
            posts.append(route)
            if len(posts) == 2:
                die(route, server)
                return
        route.continue_()

    page = phone(petr, routes={WORKS_API: second_post_kills_the_server})
    watch_row_count(page)
    enter_three_reports_offline(page)
    # The route handler kills the server, then fails the second POST: await that failure.
    with page.expect_event(
        "requestfailed",
        predicate=lambda request: request.method == "POST",
        timeout=STARTUP_TIMEOUT * 1000,
    ):
        page.context.set_offline(False)
    assert server.process.poll() is not None
    server.start()  # the same port and database

    expect(page.locator("[data-outbox-badge]")).to_be_hidden()
    expect(page.locator("tr[data-daily-work-id] .daily-work-description")).to_have_text(
        ["Morning", "Noon", "Evening"]
    )
    assert stored_works() == SENT
    keys = [route.request.headers["idempotency-key"] for route in posts]
    assert len(set(keys)) == 3 and keys[1] == keys[2]  # the second one twice, with its key
    assert most_rows(page) == 3


def test_a_report_whose_task_was_deleted_meanwhile_shows_the_refusal_on_its_row(
    tasks, phone, make_user
):
    petr = make_user(FOREMEN, username="petr")
    page = phone(petr)
    page.context.set_offline(True)
    page.wait_for_function("() => !navigator.onLine")
    add_work(page, "2.2 Reinforcement", "1.5", "Mesh")
    add_work(page, "2.2 Reinforcement", "2.5", "Bars")
    deleted = Task.objects.get(code="2.2")
    deleted_id = deleted.pk
    deleted.delete()
    page.context.set_offline(False)

    refused = page.locator("tr.is-outbox[data-outbox-state=refused]")
    expect(refused).to_have_count(2)
    expect(refused.first.locator("[data-outbox-state]")).to_have_text("Refused by the server:")
    expect(refused.first.locator("[data-outbox-reason]")).to_have_text(
        f"There is no task {deleted_id}: it may have been deleted."
    )
    expect(page.locator("[data-outbox-badge-count]")).to_have_text("2")
    screenshot(page, "outbox-refused-phone")

    refused.filter(has_text="Mesh").get_by_role("button", name="Discard").click()
    expect(refused).to_have_count(1)
    refused.get_by_role("button", name="Fix and resend").click()
    expect(page.get_by_label("Volume")).to_have_value("2.5")
    page.get_by_label("Task").select_option(label="2.1 Concrete works")
    page.get_by_role("button", name="Save").click()

    expect(page.locator("[data-outbox-badge]")).to_be_hidden()
    expect(page.locator("tr.is-outbox")).to_have_count(0)
    expect(page.locator("tr[data-daily-work-id] .daily-work-description")).to_have_text(["Bars"])
    work = DailyWork.objects.get()
    assert (work.task.code, str(work.volume.normalize()), work.description) == (
        "2.1",
        "2.5",
        "Bars",
    )


def test_a_work_changed_and_one_deleted_offline_are_sent_when_online_in_russian(
    tasks, phone, make_user
):
    petr = make_user(FOREMEN, username="petr")
    concrete = Task.objects.get(code="2.1")
    for volume, description in [("5", "Morning"), ("6", "Noon")]:
        daily_work_create(
            data={
                "task": concrete,
                "date": datetime.date(2026, 11, 25),
                "volume": Decimal(volume),
                "description": description,
            },
            actor=petr,
        )
    page = phone(petr, locale="ru-RU")
    page.context.set_offline(True)
    page.wait_for_function("() => !navigator.onLine")
    rows = page.locator("tr[data-daily-work-id]")
    form = page.locator("[data-outbox-form]")

    rows.filter(has_text="Morning").locator("[data-outbox-action=edit]").click()
    expect(form.locator("[name=description]")).to_have_value("Morning")
    form.locator("[name=volume]").fill("7.5")
    expect(form.locator("[data-outbox-submit]")).to_have_text("Сохранить")
    form.locator("[data-outbox-submit]").click()
    page.once("dialog", lambda dialog: dialog.accept())
    rows.filter(has_text="Noon").locator("[data-outbox-action=delete]").click()

    expect(rows.locator("[data-outbox-state]")).to_have_text(
        ["Ещё не отправлено: сохранено в этом браузере", "Будет удалено"]
    )
    expect(rows.first.locator(".daily-work-volume")).to_have_text("7,5")  # as the server writes it
    expect(page.locator("[data-outbox-badge]")).to_have_text("Не отправлено 2")
    screenshot(page, "outbox-pending-phone-ru")
    assert stored_works() == [("5", "Morning"), ("6", "Noon")]

    page.context.set_offline(False)
    expect(page.locator("[data-outbox-badge]")).to_be_hidden()
    expect(rows.locator(".daily-work-description")).to_have_text(["Morning"])
    expect(rows.locator(".daily-work-volume")).to_have_text(["7,5"])
    assert stored_works() == [("7.5", "Morning")]
    notices = page.locator("[data-live-notices]")
    expect(notices).to_contain_text("Запись 2.1 за 25.11.2026 сохранена.")
    expect(notices).to_contain_text("Запись 2.1 за 25.11.2026 удалена.")
    sent = Change.objects.filter(stream="daily_works", kind__in=["updated", "deleted"])
    assert sorted(sent.values_list("kind", "via")) == [("deleted", "daily"), ("updated", "daily")]


def test_an_offline_change_of_a_work_changed_meanwhile_is_refused_and_resent_over_the_new_version(
    tasks, phone, make_user
):
    petr = make_user(FOREMEN, username="petr")
    olga = make_user(PLANNERS, username="olga")
    work = daily_work_create(
        data={
            "task": Task.objects.get(code="2.1"),
            "date": datetime.date(2026, 11, 25),
            "volume": Decimal("5"),
            "description": "Morning",
        },
        actor=petr,
    )
    page = phone(petr)
    page.context.set_offline(True)
    page.wait_for_function("() => !navigator.onLine")
    row = page.locator("tr[data-daily-work-id]")
    row.get_by_role("link", name="Edit").click()
    page.get_by_label("Volume").fill("7")
    page.get_by_role("button", name="Save").click()
    expect(row.locator(".daily-work-volume")).to_have_text("7")
    daily_work_update(daily_work=work, data={"volume": Decimal("9")}, version=1, actor=olga)
    page.context.set_offline(False)

    expect(row).to_have_attribute("data-outbox-state", "refused")
    expect(row.locator("[data-outbox-reason]")).to_contain_text("changed")
    expect(row.locator(".daily-work-volume")).to_have_text("7")  # the entry, not lost
    row.get_by_role("button", name="Fix and resend").click()
    expect(page.get_by_label("Volume")).to_have_value("7")
    page.get_by_role("button", name="Save").click()

    expect(page.locator("[data-outbox-badge]")).to_be_hidden()
    expect(row.locator(".daily-work-volume")).to_have_text("7")
    assert stored_works() == [("7", "Morning")]


def test_a_report_whose_answer_was_lost_online_is_sent_again_and_shown_and_stored_once(
    tasks, phone, make_user
):
    petr = make_user(FOREMEN, username="petr")
    lost = []

    def lose_the_first_answer(route: Route) -> None:
        if route.request.method == "POST" and not lost:
            lost.append(route.fetch().status)
            route.abort("connectionreset")
        else:
            route.continue_()

    page = phone(petr, routes={WORKS_API: lose_the_first_answer})
    watch_row_count(page)
    rows = page.locator(ROWS)
    add_work(page, "2.1 Concrete works", "4", "Online")

    expect(page.get_by_text("Work 2.1 on 11/25/2026 added.")).to_be_visible()
    expect(rows.locator(".daily-work-description")).to_have_text(["Online"])
    expect(page.locator("[data-outbox-badge]")).to_be_hidden()
    assert lost == [201]
    assert stored_works() == [("4", "Online")]
    assert most_rows(page) == 1


def test_a_report_answered_in_progress_is_asked_again_with_the_same_key(tasks, phone, make_user):
    petr = make_user(FOREMEN, username="petr")
    keys: list[str] = []

    def first_still_running(route: Route) -> None:
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) > 1:
            route.continue_()
            return
        route.fulfill(
            status=409,
            headers={"Retry-After": "1"},
            json={"detail": "Still running.", "code": "idempotency_in_progress"},
        )

    page = phone(petr, routes={WORKS_API: first_still_running})
    add_work(page, "2.1 Concrete works", "4", "Online")

    expect(page.locator("tr[data-daily-work-id] .daily-work-description")).to_have_text(["Online"])
    expect(page.locator("[data-outbox-badge]")).to_be_hidden()
    assert len(keys) == 2 and keys[0] == keys[1]
    assert stored_works() == [("4", "Online")]


def test_another_tab_shows_the_outbox_of_the_browser(tasks, phone, make_user):
    page = phone(make_user(FOREMEN, username="petr"))
    other = page.context.new_page()
    other.goto("/")
    page.context.set_offline(True)
    page.wait_for_function("() => !navigator.onLine")
    add_work(page, "2.1 Concrete works", "1", "Morning")

    expect(other.locator("[data-outbox-badge-count]")).to_have_text("1")
    page.context.set_offline(False)
    expect(other.locator("[data-outbox-badge]")).to_be_hidden()
    assert stored_works() == [("1", "Morning")]


PASSWORD = "correct-horse-battery"


def with_password(user):
    """Give ``user`` ``PASSWORD`` in a hash the server checks (this process's tests hash with
    MD5, which the server's settings do not list); few iterations: the server hashes it again."""
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt(), iterations=1000)
    user.save(update_fields=["password"])
    return user


def sign_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".user-menu__name")).to_have_text(username)


def test_an_outbox_left_open_waits_while_another_person_is_signed_in_until_its_user_is_back(
    tasks, phone, make_user
):
    petr = with_password(make_user(FOREMEN, username="petr"))
    with_password(make_user(FOREMEN, username="olga"))
    gate = {"open": False}
    writes: list[str] = []

    def through_the_gate(route: Route) -> None:
        if not gate["open"]:
            route.abort("internetdisconnected")
            return
        writes.append(route.request.method)
        route.continue_()

    page = phone(petr, routes={WORKS_API: through_the_gate})
    add_work(page, "2.1 Concrete works", "1", "Morning")
    expect(page.locator("tr.is-outbox [data-outbox-state]")).to_have_text(
        ["Not sent yet: saved in this browser"]
    )

    # Olga signs in to the same browser in another tab; Petr's page stays open.
    other = page.context.new_page()
    sign_in(other, "olga")
    gate["open"] = True

    # Petr's page asked to send (as when the network comes back): nothing goes with Olga's login.
    states = page.evaluate(
        """async () => {
            const outbox = await import("/static/js/outbox.js");
            await outbox.send();
            return (await outbox.operations()).map((operation) => operation.state);
        }"""
    )
    assert states == ["pending"]
    assert writes == []
    expect(page.locator("tr.is-outbox [data-outbox-state]")).to_have_text(
        ["Not sent yet: saved in this browser"]
    )

    # Petr is back: his report goes, once, as his. (His old page's socket, of the session
    # Olga's login ended, is refused then, and that page goes to the login page.)
    other.get_by_role("button", name="Log out").click()
    sign_in(other, "petr")
    other.goto(DAY_URL)

    expect(other.locator("tr[data-daily-work-id] .daily-work-description")).to_have_text(
        ["Morning"]
    )
    expect(other.locator("tr.is-outbox")).to_have_count(0)
    assert writes == ["POST"]
    assert [(work.description, work.created_by) for work in DailyWork.objects.all()] == [
        ("Morning", petr)
    ]
