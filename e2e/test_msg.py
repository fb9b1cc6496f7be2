"""The МСГ (month-by-day schedule), live, in a real browser: a foreman's report reaches the
planner's open grid (its cell, the row's figures, the needed rate, the section subtotal and the
month's totals) with one fragment request; a foreman enters, corrects and deletes a day's work in
its cell's dialog, through the outbox (offline too), the row following in place; the Russian
grid on a laptop and a phone.

With ``E2E_UPDATE_DOCS=1`` the laptop screenshot is written to ``docs/screenshot-msg.png``
(otherwise only to ``artifacts/``).
"""

import os
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone, translation
from django.utils.formats import date_format
from playwright.sync_api import Page, expect

from daily.models import DailyWork
from daily.services import daily_work_create, daily_work_update
from demo.data import demo_seed
from e2e.conftest import assert_not_reloaded, mark_document, notices, screenshot
from monthly.tests.factories import MonthlyTaskFactory
from progress.selectors import month_grid
from realtime.models import Change
from schedule.roles import FOREMEN, PLANNERS
from schedule.tests.factories import TaskFactory
from scheduler_project.months import first_of_month, month_last_day
from scheduler_project.numbers import format_volume

pytestmark = pytest.mark.django_db(transaction=True)

README_SCREENSHOT = Path(settings.BASE_DIR) / "docs" / "screenshot-msg.png"


def month_tasks() -> tuple[object, object]:
    """Two tasks of section 3 over this whole month; the first planned at 100 for it."""
    today = timezone.localdate()
    dates = {"start_date": first_of_month(today), "end_date": month_last_day(today)}
    brickwork = TaskFactory(code="3.1", name="Brickwork", unit="m³", volume_plan=200, **dates)
    plaster = TaskFactory(code="3.2", name="Plaster", unit="m²", volume_plan=50, **dates)
    MonthlyTaskFactory(task=brickwork, month=first_of_month(today), volume_plan=Decimal(100))
    return brickwork, plaster


def needed_per_day(task) -> str:
    """The needed rate the grid computes for the task now (today is the server's today)."""
    today = timezone.localdate()
    grid = month_grid(month=today, today=today)
    row = next(row for section in grid.sections for row in section.rows if row.task == task)
    return format_volume(row.needed_per_day) if row.needed_per_day is not None else "—"


def count_fragment_requests(page: Page) -> list[str]:
    requests: list[str] = []
    page.on(
        "request", lambda request: "fragment=rows" in request.url and requests.append(request.url)
    )
    return requests


def test_a_report_on_the_daily_page_reaches_the_planners_grid_with_one_request(
    open_page, make_user
):
    brickwork, _plaster = month_tasks()
    today = timezone.localdate().isoformat()
    planner = open_page(make_user(PLANNERS, username="maria"), "/monthly/")
    mark_document(planner)
    fragments = count_fragment_requests(planner)
    row = planner.locator(f"#task-{brickwork.pk}")
    cell = row.locator(f'td[data-date="{today}"]')
    section = planner.locator('[data-live-part="msg-section-3"]')
    totals = planner.locator('[data-live-part="monthly-totals"] .msg-total')
    expect(row.locator(".msg-fact")).to_have_text("0")
    expect(section).to_contain_text("2 tasks")
    expect(section).to_contain_text("0.0% of the month's plan")
    needed_before = row.locator(".msg-needed").inner_text()

    foreman = open_page(make_user(FOREMEN, username="petr"), "/daily/")
    foreman.get_by_label("Task").select_option(label="3.1 Brickwork")
    foreman.get_by_label("Volume").fill("7")
    foreman.get_by_role("button", name="Add", exact=True).click()
    expect(foreman.get_by_text(re.compile(r"Work 3\.1 on .* added\."))).to_be_visible()

    expect(cell.locator(".msg-cell__fact")).to_have_text("7")
    expect(row.locator(".msg-fact")).to_have_text("7")
    expect(row.locator(".msg-percent")).to_have_text("7.0%")
    expect(row.locator(".msg-remaining")).to_have_text("93")
    expect(row.locator(".msg-needed")).to_have_text(needed_per_day(brickwork))
    assert needed_per_day(brickwork) != needed_before or needed_before == "—"
    expect(section).to_contain_text("3.5% of the month's plan")  # 7 % and 0 %, equal weights
    expect(totals).to_contain_text("3.5% of the month's plan")
    expect(row).to_have_class(re.compile(r"\bis-live-changed\b"))
    day = timezone.localdate().strftime("%m/%d")
    expect(notices(planner)).to_have_text([f"petr: 7 m³ of 3.1 on {day}"])
    # The work's event and its task's (volume done) touch one row: fetched once.
    assert len(fragments) == 1, fragments
    assert_not_reloaded(planner)


def count_work_writes(page: Page) -> list[str]:
    """The daily works' API writes the page sends (``POST /api/daily-works/``, ``PATCH …``),
    not its questions (``POST …/check/``, which write nothing)."""
    writes: list[str] = []
    page.on(
        "request",
        lambda request: (
            "/api/daily-works/" in request.url
            and "/check/" not in request.url
            and request.method != "GET"
            and writes.append(f"{request.method} {request.url}")
        ),
    )
    return writes


def test_on_a_laptop_a_days_work_entered_and_corrected_in_its_cell_updates_the_row_in_place(
    open_page, make_user
):
    brickwork, _plaster = month_tasks()
    today = timezone.localdate().isoformat()
    watcher = open_page(make_user(PLANNERS, username="maria"), "/monthly/")
    mark_document(watcher)
    foreman = open_page(make_user(FOREMEN, username="petr"), "/monthly/")
    mark_document(foreman)
    writes = count_work_writes(foreman)
    row = foreman.locator(f"#task-{brickwork.pk}")
    foreman_cell = row.locator(f'td[data-date="{today}"]')
    watched_cell = watcher.locator(f'#task-{brickwork.pk} td[data-date="{today}"]')
    dialog = foreman.locator("[data-cell-dialog]")

    foreman_cell.get_by_role("link").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("3.1 Brickwork")
    expect(dialog.locator("[data-cell-left]")).to_have_text("200 m³")
    dialog.get_by_label("Volume").fill("5.5")
    dialog.get_by_label("Description").fill("Two crews")
    screenshot(foreman, "msg-cell-dialog")
    dialog.get_by_role("button", name="Add").click()

    expect(dialog).to_be_hidden()
    expect(foreman.get_by_text(re.compile(r"Work 3\.1 on .* added\."))).to_be_visible()
    expect(foreman_cell.locator(".msg-cell__fact")).to_have_text("5.5")
    expect(row.locator(".msg-fact")).to_have_text("5.5")
    expect(row.locator(".msg-percent")).to_have_text("5.5%")
    expect(row.locator(".msg-remaining")).to_have_text("94.5")
    expect(row).to_have_attribute("data-left", "194.5")
    expect(watched_cell.locator(".msg-cell__fact")).to_have_text("5.5")
    assert len(writes) == 1 and writes[0].startswith("POST"), writes

    foreman_cell.get_by_role("link").click()
    expect(dialog.get_by_label("Volume")).to_have_value("5.5")
    expect(dialog.get_by_label("Description")).to_have_value("Two crews")
    dialog.get_by_label("Volume").fill("6")
    dialog.get_by_role("button", name="Save").click()

    expect(foreman.get_by_text(re.compile(r"Work 3\.1 on .* saved\."))).to_be_visible()
    expect(row.locator(".msg-fact")).to_have_text("6")
    expect(watched_cell.locator(".msg-cell__fact")).to_have_text("6")
    expect(watcher.locator(f"#task-{brickwork.pk} .msg-fact")).to_have_text("6")
    day = timezone.localdate().strftime("%m/%d")
    expect(notices(watcher)).to_have_text(
        [f"petr: 5.5 m³ of 3.1 on {day}", f"petr: now 6 m³ of 3.1 on {day}"]
    )
    # The writer's own page says what it did, once, not the events it caused as well.
    expect(notices(foreman)).to_have_text(
        [re.compile(r"Work 3\.1 on .* added\."), re.compile(r"Work 3\.1 on .* saved\.")]
    )
    assert [write.split()[0] for write in writes] == ["POST", "PATCH"]
    assert [str(work.volume.normalize()) for work in DailyWork.objects.all()] == ["6"]
    # The history tells the page the outbox sent them from (X-Source), not the API.
    reports = Change.objects.filter(stream="daily_works").order_by("id")
    assert list(reports.values_list("kind", "via")) == [("created", "msg"), ("updated", "msg")]
    assert_not_reloaded(watcher)
    assert_not_reloaded(foreman)


def test_a_refused_cell_entry_shows_the_servers_reason_in_its_dialog_to_fix_and_resend(
    open_page, make_user
):
    brickwork, _plaster = month_tasks()
    today = timezone.localdate()
    petr = make_user(FOREMEN, username="petr")
    work = daily_work_create(
        data={"task": brickwork, "date": today, "volume": Decimal(4)}, actor=petr
    )
    page = open_page(petr, "/monthly/")
    cell = page.locator(f'#task-{brickwork.pk} td[data-date="{today.isoformat()}"]')
    dialog = page.locator("[data-cell-dialog]")
    status = dialog.locator("[data-cell-status]")

    cell.get_by_role("link").click()
    dialog.get_by_label("Volume").fill("7,5")  # a Russian page's number, on an English one
    dialog.get_by_role("button", name="Save").click()
    expect(status).to_contain_text("Refused by the server:")
    expect(status).to_contain_text(
        "“7,5” is not a number. Write numbers like 1,905.5, decimals after a point."
    )
    expect(cell).to_have_attribute("data-outbox-state", "refused")

    # Meanwhile someone else corrects the volume too, and the page shows it under the entry: the
    # fixed entry is still made over the version the user opened, and refused.
    daily_work_update(daily_work=work, data={"volume": Decimal(9)}, version=1)
    expect(cell.locator(".msg-cell__fact")).to_have_text("9")
    dialog.get_by_label("Volume").fill("7.5")
    dialog.get_by_role("button", name="Fix and resend").click()
    expect(status).to_contain_text("was changed by someone else")
    screenshot(page, "msg-cell-refused")

    dialog.get_by_role("button", name="Fix and resend").click()  # over the version shown now
    expect(dialog).to_be_hidden()
    expect(cell.locator(".msg-cell__fact")).to_have_text("7.5")
    expect(page.locator("[data-outbox-badge]")).to_be_hidden()
    work.refresh_from_db()
    assert (work.volume, work.version) == (Decimal("7.5"), 3)


def test_an_implausible_cell_entry_is_questioned_in_its_dialog_before_anything_is_sent(
    open_page, make_user
):
    brickwork, _plaster = month_tasks()
    today = timezone.localdate().isoformat()
    page = open_page(make_user(FOREMEN, username="petr"), "/monthly/")
    writes = count_work_writes(page)
    cell = page.locator(f'#task-{brickwork.pk} td[data-date="{today}"]')
    dialog = page.locator("[data-cell-dialog]")
    warnings = dialog.locator("[data-cell-warnings]")

    cell.get_by_role("link").click()
    dialog.get_by_label("Volume").fill("500")
    dialog.get_by_role("button", name="Add").click()

    expect(warnings).to_contain_text("Please check: nothing is saved yet.")
    expect(warnings).to_contain_text("500 m³ is more than the 200 m³ left of 3.1.")
    expect(page.locator("[data-outbox-badge]")).to_be_hidden()
    assert writes == [] and not DailyWork.objects.exists()
    dialog.get_by_label("Volume").fill("50")  # another volume, another question
    expect(warnings).to_be_hidden()
    dialog.get_by_label("Volume").fill("500")  # the one asked about: the question again
    expect(warnings).to_be_visible()
    dialog.get_by_role("button", name="Save anyway").click()

    expect(dialog).to_be_hidden()
    expect(cell.locator(".msg-cell__fact")).to_have_text("500")
    assert len(writes) == 1 and writes[0].startswith("POST"), writes
    assert DailyWork.objects.get().volume == Decimal(500)


PHONE = {"width": 390, "height": 844}


def russian(value: Decimal | None) -> str:
    with translation.override("ru"):
        return format_volume(value) if value is not None else ""


def test_on_a_phone_in_russian_the_cards_show_their_unit_and_the_day_dialog_its_plan_and_whats_left(
    open_page, make_user
):
    brickwork, plaster = month_tasks()
    today = timezone.localdate()
    grid = month_grid(month=today, today=today)
    row_of = {row.task: row for section in grid.sections for row in section.rows}
    plan = next(cell.plan for cell in row_of[brickwork].cells if cell.date == today)
    page = open_page(make_user(FOREMEN, username="petr"), "/monthly/", locale="ru-RU")
    page.set_viewport_size(PHONE)
    card = page.locator(f"#task-{brickwork.pk}")
    dialog = page.locator("[data-cell-dialog]")

    expect(card.locator(".task-unit")).to_be_visible()
    expect(card.locator(".task-unit")).to_have_text("m³")
    expect(page.locator(f"#task-{plaster.pk} .task-unit")).to_have_text("m²")
    card.locator(f'td[data-date="{today.isoformat()}"]').get_by_role("link").click()

    expect(dialog).to_contain_text("3.1 Brickwork")
    expect(dialog.locator(".msg-cell-facts")).to_contain_text("План на день")
    expect(dialog.locator("[data-cell-plan]")).to_have_text(
        f"{russian(plan)} m³" if plan is not None else "—"
    )
    expect(dialog.locator(".msg-cell-facts")).to_contain_text("Осталось по работе")
    expect(dialog.locator("[data-cell-left]")).to_have_text(
        f"{russian(row_of[brickwork].remaining_total)} m³"
    )
    expect(dialog.get_by_label("Объём")).to_be_visible()
    expect(dialog.locator("label", has_text="Объём")).to_contain_text("m³")
    assert dialog.bounding_box()["width"] <= PHONE["width"]
    screenshot(page, "msg-cell-dialog-phone-ru")


def test_on_a_phone_every_day_chip_is_tapped_whole_and_the_cards_marks_are_said_in_words(
    open_page,
):
    demo_seed()
    foreman = get_user_model().objects.get(username="foreman")
    page = open_page(foreman, "/monthly/", locale="ru-RU")
    page.set_viewport_size(PHONE)
    dialog = page.locator("[data-cell-dialog]")

    chips = page.evaluate(
        """() => [...document.querySelectorAll("tr.msg-row > td.msg-day")]
            .filter((chip) => chip.getClientRects().length)
            .map((chip) => {
              const box = chip.getBoundingClientRect();
              const link = chip.querySelector("a.msg-cell")?.getBoundingClientRect();
              return {chip: [box.width, box.height], link: link && [link.width, link.height]};
            })"""
    )
    assert len(chips) > 20
    assert all(chip["link"] is not None for chip in chips)
    small = [chip for chip in chips if min(chip["link"]) < 44]
    assert small == []
    # The link is the whole chip (within its 1 px border), the day's label included.
    assert all(chip["chip"][1] - chip["link"][1] <= 2 for chip in chips)
    chip = page.locator("tr.msg-row > td.msg-day:not(.is-empty):has(a[data-cell])").first
    chip.scroll_into_view_if_needed()
    box = chip.bounding_box()
    page.mouse.click(box["x"] + 6, box["y"] + 6)  # on the day's label, at the top left
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Закрыть").click()

    # The demo's 7.2 ended a week ago with a fifth of it undone.
    card = page.locator("tr.msg-row", has=page.locator(".task-code", has_text="7.2"))
    flags = card.locator(".msg-flag")
    expect(flags.first).to_be_visible()
    expect(flags).to_contain_text(["Отстаёт от плана", "Опаздывает:"])
    expect(card.locator(".msg-overdue")).to_contain_text("просрочено с")
    card.scroll_into_view_if_needed()
    screenshot(page, "msg-phone-ru")
    page.set_viewport_size({"width": 1280, "height": 800})  # the wide grid says it otherwise
    expect(flags.first).to_be_hidden()


def test_a_cell_entry_made_offline_on_a_phone_waits_in_the_outbox_and_is_sent_once_when_online(
    open_page, make_user
):
    brickwork, _plaster = month_tasks()
    today = timezone.localdate()
    page = open_page(make_user(FOREMEN, username="petr"), "/monthly/", locale="ru-RU")
    page.set_viewport_size(PHONE)
    mark_document(page)
    writes = count_work_writes(page)
    row = page.locator(f"#task-{brickwork.pk}")
    cell = row.locator(f'td[data-date="{today.isoformat()}"]')
    dialog = page.locator("[data-cell-dialog]")
    badge = page.locator("[data-outbox-badge]")

    page.context.set_offline(True)
    page.wait_for_function("() => !navigator.onLine")
    cell.get_by_role("link").click()
    dialog.get_by_label("Объём").fill("7,5")
    dialog.get_by_label("Описание").fill("Две бригады")
    dialog.get_by_role("button", name="Добавить").click()

    expect(dialog).to_be_hidden()
    expect(cell).to_have_attribute("data-outbox-state", "pending")
    expect(cell.locator(".msg-cell__entry")).to_have_text("7,5")
    expect(badge).to_have_text("Не отправлено 1")
    cell.get_by_role("link").click()
    expect(dialog.locator("[data-cell-status]")).to_have_text(
        "Ещё не отправлено: сохранено в этом браузере"
    )
    expect(dialog.get_by_label("Объём")).to_have_value("7,5")
    screenshot(page, "msg-cell-pending-phone-ru")
    dialog.get_by_role("button", name="Закрыть").click()
    expect(row.locator(".msg-fact")).to_have_text("0")  # the server has nothing yet
    assert writes == [] and DailyWork.objects.count() == 0

    page.context.set_offline(False)

    expect(badge).to_be_hidden()
    expect(cell).not_to_have_attribute("data-outbox-state", re.compile(".*"))
    expect(cell.locator(".msg-cell__fact")).to_have_text("7,5")
    expect(row.locator(".msg-fact")).to_have_text("7,5")
    expect(row.locator(".msg-percent")).to_have_text("7,5%")
    expect(row.locator(".msg-remaining")).to_have_text("92,5")
    with translation.override("ru"):
        day = date_format(today, "SHORT_DATE_FORMAT")
    expect(notices(page)).to_have_text([f"Запись 3.1 за {day} добавлена."])
    # The network coming and going again sends nothing more.
    page.context.set_offline(True)
    page.context.set_offline(False)
    expect(page.locator("[data-live-status]")).to_have_attribute("data-state", "connected")
    work = DailyWork.objects.get()
    assert (work.volume, work.description) == (Decimal("7.5"), "Две бригады")
    assert len(writes) == 1 and writes[0].startswith("POST"), writes
    assert_not_reloaded(page)


def test_a_days_work_is_deleted_from_its_dialog_on_a_phone(open_page, make_user):
    brickwork, _plaster = month_tasks()
    today = timezone.localdate()
    petr = make_user(FOREMEN, username="petr")
    daily_work_create(data={"task": brickwork, "date": today, "volume": Decimal(4)}, actor=petr)
    page = open_page(petr, "/monthly/", locale="ru-RU")
    page.set_viewport_size(PHONE)
    mark_document(page)
    row = page.locator(f"#task-{brickwork.pk}")
    cell = row.locator(f'td[data-date="{today.isoformat()}"]')
    dialog = page.locator("[data-cell-dialog]")

    cell.get_by_role("link").click()
    expect(dialog.get_by_label("Объём")).to_have_value("4")
    page.once("dialog", lambda question: question.accept())
    dialog.get_by_role("button", name="Удалить").click()

    expect(dialog).to_be_hidden()
    expect(cell.locator(".msg-cell__fact")).to_have_text("")
    expect(row.locator(".msg-fact")).to_have_text("0")
    expect(notices(page)).to_contain_text([re.compile(r"Запись 3\.1 за .* удалена\.")])
    assert not DailyWork.objects.exists()
    assert_not_reloaded(page)


def test_the_russian_grid_on_a_laptop_and_a_phone(open_page):
    demo_seed()
    users = {user.username: user for user in get_user_model().objects.all()}
    page = open_page(users["planner"], "/monthly/", locale="ru-RU")

    expect(page.locator("h1")).to_have_text("Месячно-суточный график")
    expect(page.locator(".msg-table thead")).to_contain_text("Нужно в день")
    expect(page.locator(".msg-section").first).to_contain_text(re.compile(r"Раздел \d+"))
    path = screenshot(page, "ru-msg")
    page.screenshot(path=path.with_name("readme-msg.png"))  # the viewport, as a user sees it
    if os.environ.get("E2E_UPDATE_DOCS") == "1":
        shutil.copyfile(path.with_name("readme-msg.png"), README_SCREENSHOT)

    page.set_viewport_size({"width": 390, "height": 844})  # a phone: a task's month as a list
    # Days that plan and report nothing leave the list; the card fits the screen.
    expect(page.locator("tr.msg-row td.msg-day.is-empty").first).to_be_hidden()
    assert page.locator("tr.msg-row").first.bounding_box()["width"] <= 390
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=path.with_name("ru-msg-phone.png"))


@pytest.mark.parametrize("width", [1280, 1366])
@pytest.mark.parametrize(
    ("locale", "overdue", "month_label"),
    [("ru-RU", "просрочено с", "Итого за месяц"), ("en-US", "overdue since", "The month")],
)
def test_on_a_laptop_no_heading_is_cut_off_and_the_footer_and_overdue_works_read_right(
    open_page, width, locale, overdue, month_label
):
    demo_seed()
    planner = get_user_model().objects.get(username="planner")
    page = open_page(planner, "/monthly/", locale=locale)
    page.set_viewport_size({"width": width, "height": 800})

    cut = page.evaluate(
        """() => [...document.querySelectorAll('.msg-table thead th')]
            .filter((th) => th.scrollWidth > th.clientWidth + 1)
            .map((th) => th.textContent.trim())"""
    )
    assert cut == []
    # The demo's 7.2 ended a week ago with a fifth of it undone: overdue, and behind by a sign
    # and a word, not only a colour.
    row = page.locator("tr.msg-row", has=page.locator(".task-code", has_text="7.2"))
    expect(row.locator(".msg-overdue")).to_contain_text(overdue)
    expect(row.locator(".msg-deviation")).to_contain_text("▼ −")
    # What is drawn over the footer's label is the month's own label, not a unit's row.
    label = page.locator("tfoot tr.msg-total th")
    label.scroll_into_view_if_needed()
    box = label.bounding_box()
    on_top = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('th')?.textContent.trim()",
        [box["x"] + 10, box["y"] + box["height"] / 2],
    )
    assert on_top.startswith(month_label)


@pytest.mark.parametrize("locale", ["ru-RU", "en-US"])
def test_on_a_laptop_the_key_figures_stay_beside_the_days_and_today_is_in_view(open_page, locale):
    demo_seed()
    planner = get_user_model().objects.get(username="planner")
    page = open_page(planner, "/monthly/", locale=locale)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.reload()  # the scroll to today is made on load, at the page's width
    card = page.locator(".msg-card")
    row = page.locator("tr.msg-row", has=page.locator(".task-code", has_text="4.1"))
    key = [".msg-fact", ".msg-deviation", ".msg-needed", ".msg-to-finish"]

    def in_view(locator) -> bool:
        box, frame = locator.bounding_box(), card.bounding_box()
        return (
            box is not None
            and frame["x"] <= box["x"]
            and box["x"] + box["width"] <= (frame["x"] + frame["width"])
        )

    today = page.locator("thead th.is-today")
    assert in_view(today)
    sticky_right = max(
        page.locator(f"thead th.msg-sticky--{name}").bounding_box()["x"]
        + page.locator(f"thead th.msg-sticky--{name}").bounding_box()["width"]
        for name in ["code", "name", "unit", "plan", "fact", "deviation", "needed", "finish"]
    )
    assert today.bounding_box()["x"] >= sticky_right - 1  # not under the sticky figures
    # %, remaining and the forecast wait behind "All figures".
    expect(row.locator(".msg-percent")).to_be_hidden()
    page.locator(".msg-figures-toggle-label").click()
    expect(row.locator(".msg-percent")).to_be_visible()
    expect(row.locator(".msg-forecast")).to_be_visible()
    page.locator(".msg-figures-toggle-label").click()

    card.evaluate("(element) => { element.scrollLeft = element.scrollWidth; }")

    for selector in key:
        assert in_view(row.locator(selector)), selector
    assert in_view(row.locator(".task-code"))
    assert in_view(page.locator("thead th.msg-day-head").last)
