"""The notices of changes someone else made, on open Russian pages: the person by full name,
then what, written as the page writes it (decimal comma, the task's unit, the day), and a
report's recalculation of its task's volume done told as the report, not as a task's change."""

import datetime
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from daily.models import DailyWork
from daily.services import daily_work_delete, daily_work_update
from e2e.conftest import assert_not_reloaded, mark_document, notices
from monthly.services import monthly_task_create
from realtime.models import Change
from schedule.roles import FOREMEN, PLANNERS
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)

DAY = "2026-11-25"


@pytest.fixture
def masonry():
    return TaskFactory(
        code="4.4",
        name="Кладка стен",
        unit="м³",
        start_date=datetime.date(2026, 11, 1),
        end_date=datetime.date(2026, 12, 31),
    )


def test_a_report_by_another_user_is_told_by_full_name_volume_task_and_day(
    open_page, make_user, masonry
):
    ivan = make_user(FOREMEN, username="ivan", first_name="Иван", last_name="Петров")
    olga = make_user(PLANNERS, username="olga", first_name="Ольга", last_name="Соколова")
    daily = open_page(olga, f"/daily/?date={DAY}", locale="ru-RU")
    schedule = open_page(olga, "/", locale="ru-RU")
    for page in (daily, schedule):
        mark_document(page)
    author = open_page(ivan, f"/daily/?date={DAY}", locale="ru-RU")

    author.locator("select[name=task]").select_option(value=str(masonry.pk))
    author.locator("input[name=volume]").fill("7,5")
    author.get_by_role("button", name="Добавить", exact=True).click()

    told = "Иван Петров: 7,5 м³ по 4.4 за 25.11"
    expect(notices(daily)).to_have_text([told])
    # The schedule tells the report; its task's recalculated volume done is no change of his.
    expect(schedule.locator(f"#task-{masonry.pk} .task-volume-fact")).to_have_text("7,5")
    expect(notices(schedule)).to_have_text([told])
    assert Change.objects.get(stream="daily_works").via == "daily"  # sent by the page's outbox

    work = DailyWork.objects.get()
    work = daily_work_update(
        daily_work=work, data={"volume": Decimal("8.25")}, version=work.version, actor=ivan
    )
    # м³ are shown with one decimal (Unit.decimals), the notice's volume too: 8.25 is «8,3».
    expect(notices(daily).last).to_have_text("Иван Петров: теперь 8,3 м³ по 4.4 за 25.11")
    daily_work_delete(daily_work=work, version=work.version, actor=ivan)
    # Told on the daily page even when its task's refresh took the row away first.
    expect(daily.locator(f"#work-{work.pk}")).to_have_count(0)
    expect(notices(daily).last).to_have_text("Иван Петров: удалено 8,3 м³ по 4.4 за 25.11")
    expect(notices(schedule)).to_have_text(
        [
            told,
            "Иван Петров: теперь 8,3 м³ по 4.4 за 25.11",
            "Иван Петров: удалено 8,3 м³ по 4.4 за 25.11",
        ]
    )
    for page in (daily, schedule):
        assert_not_reloaded(page)


def test_a_plan_and_a_task_changed_by_another_user_are_told_on_the_msg(
    open_page, make_user, masonry
):
    maria = make_user(PLANNERS, username="maria", first_name="Мария", last_name="Кузнецова")
    watcher = open_page(
        make_user(PLANNERS, username="olga"), "/monthly/?month=2026-11", locale="ru-RU"
    )
    mark_document(watcher)

    monthly_task_create(
        data={
            "task": masonry,
            "month": datetime.date(2026, 11, 1),
            "volume_plan": Decimal("1505.5"),
        },
        actor=maria,
    )
    expect(notices(watcher)).to_have_text(
        ["Мария Кузнецова: план по 4.4 на ноябрь 2026 — 1\u00a0505,5 м³"]
    )

    author = open_page(maria, f"/tasks/{masonry.pk}/edit/", locale="ru-RU")
    author.locator("input[name=name]").fill("Кладка наружных стен")
    author.get_by_role("button", name="Сохранить").click()
    expect(notices(watcher).last).to_have_text(
        "Мария Кузнецова: изменена работа 4.4 «Кладка наружных стен»"
    )
    assert_not_reloaded(watcher)
