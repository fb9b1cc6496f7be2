"""The history's pages: recent changes with their filters, one object's history, the rows'
"History" links and the "since your last visit" markers."""

import datetime
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.utils import timezone, translation

from daily.services import daily_work_create, daily_work_delete, daily_work_update
from monthly.services import monthly_task_create, monthly_task_delete, monthly_task_update
from monthly.tests.factories import MonthlyTaskFactory
from realtime.context import writing_via
from realtime.models import Change
from schedule.services import task_create, task_delete, task_update
from schedule.tests.factories import TaskFactory
from scheduler_project.changes import describe_subject, volume_phrase

pytestmark = pytest.mark.django_db

CHANGES_URL = "/changes/"


def history_url(stream: str, object_id: int) -> str:
    return f"/changes/{stream}/{object_id}/"


@pytest.fixture
def renamed(planner):
    task = TaskFactory(code="4.2", name="Old name", volume_plan=Decimal("12.5"))
    return task_update(task=task, data={"name": "New name"}, version=None, actor=planner)


def test_recent_changes_list_who_changed_what_from_what_newest_first(client, viewer, renamed):
    client.force_login(viewer)
    page = client.get(CHANGES_URL).content.decode()

    assert "New name" in page and "Old name" in page
    renaming = page.index("<del>Old name</del> → <ins>New name</ins>")
    assert renaming < page.index("<ins>12.5 m³</ins>")  # the creation, older
    assert f'href="{history_url("tasks", renamed.pk)}"' in page


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({}, {"Renamed", "Planned"}),
        ({"stream": "monthly_tasks"}, {"Planned"}),
        ({"kind": "updated"}, {"Renamed"}),
        ({"person": "foreman"}, set()),
        ({"since": "2000-01-01", "until": "2000-01-02"}, set()),
        ({"since": "today"}, {"Renamed", "Planned"}),
    ],
)
def test_recent_changes_are_filtered_by_what_kind_person_and_day(
    client, planner, foreman, query, shown
):
    task = TaskFactory(name="Before")
    task_update(task=task, data={"name": "Renamed"}, version=None, actor=planner)
    MonthlyTaskFactory(task=task, volume_plan=Decimal("7"))
    # The foreman changed something too (the filter lists only people who did).
    work = {"task": task, "date": datetime.date(2026, 3, 5), "volume": Decimal("2")}
    daily_work_create(data=work, actor=foreman)
    told = {"Renamed": "<ins>Renamed</ins>", "Planned": "plan for November 2026 — 7 m³"}
    query = {
        key: foreman.pk
        if value == "foreman"
        else timezone.localdate().isoformat()
        if value == "today"
        else value
        for key, value in query.items()
    }
    client.force_login(planner)
    page = client.get(CHANGES_URL, query).content.decode()

    assert {word for word, text in told.items() if text in page} == shown


def test_a_user_sees_only_the_changes_of_what_they_may_view(client, make_user, renamed):
    MonthlyTaskFactory(task=renamed)
    client.force_login(make_user("foremen"))
    assert client.get(CHANGES_URL, {"stream": "monthly_tasks"}).status_code == 200

    only_tasks = make_user(None)
    only_tasks.user_permissions.add(*_permissions("view_task"))
    client.force_login(only_tasks)
    page = client.get(CHANGES_URL).content.decode()
    assert "New name" in page
    assert "/changes/monthly_tasks/" not in page
    assert client.get(CHANGES_URL, {"stream": "monthly_tasks"}).status_code == 400


def _permissions(*codenames: str):
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(codename__in=codenames)


def test_without_any_view_permission_the_changes_are_refused(client, make_user):
    client.force_login(make_user(None))
    assert client.get(CHANGES_URL).status_code == 403


def test_an_anonymous_user_is_sent_to_log_in(client):
    response = client.get(CHANGES_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_person_filter_lists_those_who_changed_something_the_user_may_view(
    client, make_user, planner, foreman, renamed
):
    make_user("viewers", username="idle", first_name="Idle")
    work = {"task": renamed, "date": datetime.date(2026, 3, 5), "volume": Decimal("2")}
    daily_work_create(data=work, actor=foreman)
    gone = make_user("planners", username="gone", first_name="Gone", is_active=False)
    task_update(task=renamed, data={"name": "Again"}, version=None, actor=gone)
    only_tasks = make_user(None, username="only-tasks")
    only_tasks.user_permissions.add(*_permissions("view_task"))

    def people(user) -> list[str]:
        client.force_login(user)
        form = client.get(CHANGES_URL).context["form"]
        return [label for _value, label in form.fields["person"].choices][1:]

    # The planner renamed the task (the fixture), the foreman reported on it, Gone (no longer
    # active) renamed it again; Idle changed nothing. By first name, then login.
    assert people(planner) == ["foremen", "planners", "Gone"]
    assert people(only_tasks) == ["planners", "Gone"]


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
@pytest.mark.parametrize("bound", ["since", "until"])
def test_a_filter_day_at_the_end_of_the_calendar_is_a_day_like_any(
    client, planner, renamed, bound, day
):
    client.force_login(planner)
    response = client.get(CHANGES_URL, {bound: day})

    assert response.status_code == 200
    listed = "<ins>New name</ins>" in response.content.decode()
    assert listed == ((bound, day) in {("since", "0001-01-01"), ("until", "9999-12-31")})


def test_the_history_of_an_object_that_never_was_is_not_found(client, planner, renamed):
    client.force_login(planner)
    assert client.get(history_url("tasks", renamed.pk + 1000)).status_code == 404


def test_a_malformed_filter_says_what_is_wrong(client, planner):
    client.force_login(planner)
    response = client.get(CHANGES_URL, {"since": "yesterday"})
    assert response.status_code == 400
    assert "Enter a valid date." in response.content.decode()


def test_an_objects_history_shows_its_changes_with_values_as_the_pages_show_them(
    client, viewer, renamed
):
    client.force_login(viewer)
    page = client.get(history_url("tasks", renamed.pk)).content.decode()

    assert "History: 4.2 “New name”" in page
    assert "<del>Old name</del> → <ins>New name</ins>" in page
    assert "<ins>12.5 m³</ins>" in page  # created: 12.500 shown as on the pages
    assert "Progress, %" not in page  # derived from the volumes: not listed


def test_a_deleted_objects_history_is_still_shown(client, planner, renamed):
    task_delete(task=renamed, actor=planner)
    client.force_login(planner)
    page = client.get(history_url("tasks", renamed.pk)).content.decode()
    assert "deleted" in page and "New name" in page


def test_a_daily_works_history_names_its_task_by_code(client, foreman, renamed):
    work = daily_work_create(
        data={"task": renamed, "date": datetime.date(2026, 3, 5), "volume": Decimal("2")},
        actor=foreman,
    )
    client.force_login(foreman)
    page = client.get(history_url("daily_works", work.pk)).content.decode()
    assert "4.2 “New name”: 2 m³ on 03/05/2026" in page


@pytest.mark.parametrize(
    ("url", "status"),
    [(history_url("nothing", 1), 404), (history_url("monthly_tasks", 1), 403)],
)
def test_an_objects_history_needs_a_known_stream_and_its_view_permission(
    client, make_user, url, status
):
    user = make_user(None)
    user.user_permissions.add(*_permissions("view_task"))
    client.force_login(user)
    assert client.get(url).status_code == status


def test_every_row_of_the_schedule_and_the_daily_page_links_its_history(client, viewer, renamed):
    client.force_login(viewer)
    assert f'href="{history_url("tasks", renamed.pk)}"' in client.get("/").content.decode()


def test_rows_changed_by_others_since_the_last_visit_are_marked_once(client, planner, foreman):
    mine, theirs, _untouched = TaskFactory.create_batch(3)
    client.force_login(planner)
    assert "is-changed-since" not in client.get("/").content.decode()  # the first visit

    task_update(task=mine, data={"name": "Mine"}, version=None, actor=planner)
    task_update(task=theirs, data={"name": "Theirs"}, version=None, actor=foreman)
    page = client.get("/").content.decode()

    assert page.count('class="changed-since-marker"') == 1
    row = page[page.index(f'id="task-{theirs.pk}"') :].split("</tr>")[0]
    assert "is-changed-since" in row
    assert "is-changed-since" not in client.get("/").content.decode()  # seen


def test_works_changed_by_others_since_the_last_visit_of_the_day_are_marked(
    client, planner, foreman
):
    task = TaskFactory(start_date=datetime.date(2026, 3, 1), end_date=datetime.date(2026, 3, 31))
    day = datetime.date(2026, 3, 5)
    client.force_login(planner)
    client.get("/daily/", {"date": day.isoformat()})
    work = daily_work_create(data={"task": task, "date": day, "volume": Decimal(3)}, actor=foreman)

    page = client.get("/daily/", {"date": day.isoformat()}).content.decode()

    row = page[page.index(f'id="work-{work.pk}"') :].split("</tr>")[0]
    assert "is-changed-since" in row and "changed-since-marker" in row
    assert f'href="{history_url("daily_works", work.pk)}"' in row


# The entries in the pages' words.


class _Entries(HTMLParser):
    """The cells of each entry (``tr.change``) of a page, as text with spaces collapsed."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "tr" and "change" in classes:
            self.entries.append([])
        elif tag == "td" and self.entries:
            self.cell = []
        elif tag == "li" and self.cell:
            self.cell.append("; ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.cell is not None:
            text = re.sub(r"\s+", " ", "".join(self.cell)).strip(" ;")
            self.entries[-1].append(text.replace(" ; ", "; "))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def entries(client, url: str, language: str) -> list[tuple[str, ...]]:
    """Each entry of the page in ``language`` without its time: who, through, what, the kind
    of change, its lines."""
    page = client.get(url, headers={"accept-language": language}).content.decode()
    parser = _Entries()
    parser.feed(page)
    return [tuple(cells[1:]) for cells in parser.entries]


@pytest.fixture
def ivan(make_user):
    return make_user("foremen", first_name="Иван", last_name="Петров")


@pytest.fixture
def maria(make_user):
    return make_user("planners", first_name="Мария", last_name="Кузнецова")


@pytest.fixture
def masonry():
    return TaskFactory(code="4.4", name="Кладка стен", unit="м³", volume_plan=Decimal("1200"))


def a_daily_works_life(ivan, masonry) -> tuple[str, int]:
    """Reported on the daily page, corrected, deleted."""
    with writing_via("daily"):
        work = daily_work_create(
            data={"task": masonry, "date": datetime.date(2026, 12, 7), "volume": Decimal("23.7")},
            actor=ivan,
        )
        work = daily_work_update(
            daily_work=work,
            data={"volume": Decimal("25"), "description": "Вторая смена"},
            version=work.version,
            actor=ivan,
        )
        daily_work_delete(daily_work=work, version=work.version, actor=ivan)
    return "daily_works", work.pk


def a_plans_life(maria, masonry) -> tuple[str, int]:
    """Planned on the МСГ, changed, deleted."""
    with writing_via("msg"):
        plan = monthly_task_create(
            data={
                "task": masonry,
                "month": datetime.date(2026, 12, 1),
                "volume_plan": Decimal("505"),
            },
            actor=maria,
        )
        plan = monthly_task_update(
            monthly_task=plan, data={"volume_plan": Decimal("510.5")}, version=1, actor=maria
        )
        monthly_task_delete(monthly_task=plan, version=plan.version, actor=maria)
    return "monthly_tasks", plan.pk


def a_tasks_life(maria, masonry) -> tuple[str, int]:
    """Added on the schedule, renamed and replanned, deleted."""
    with writing_via("schedule"):
        task = task_create(
            data={
                "code": "4.5",
                "name": "Штукатурка",
                "unit": "м²",
                "volume_plan": Decimal("1500.5"),
                "start_date": datetime.date(2026, 12, 1),
                "end_date": datetime.date(2026, 12, 31),
            },
            actor=maria,
        )
        task = task_update(
            task=task,
            data={"name": "Штукатурка стен", "volume_plan": Decimal("1600")},
            version=1,
            actor=maria,
        )
        task_delete(task=task, version=task.version, actor=maria)
    return "tasks", task.pk


LIVES = {
    "daily work": (
        a_daily_works_life,
        {
            "ru": [
                (
                    "Иван Петров",
                    "суточное задание",
                    "4.4 «Кладка стен»: 25 м³ за 07.12.2026",
                    "удалено",
                    "Выполнено по 4.4: 25 м³ → 0 м³",
                ),
                (
                    "Иван Петров",
                    "суточное задание",
                    "4.4 «Кладка стен»: 25 м³ за 07.12.2026",
                    "изменено",
                    "Объём: 23,7 м³ → 25 м³; Описание: — → Вторая смена; "
                    "Выполнено по 4.4: 23,7 м³ → 25 м³",
                ),
                (
                    "Иван Петров",
                    "суточное задание",
                    "4.4 «Кладка стен»: 23,7 м³ за 07.12.2026",
                    "создано",
                    "Выполнено по 4.4: 0 м³ → 23,7 м³",
                ),
            ],
            "en": [
                (
                    "Иван Петров",
                    "daily order",
                    "4.4 “Кладка стен”: 25 м³ on 12/07/2026",
                    "deleted",
                    "Volume done of 4.4: 25 м³ → 0 м³",
                ),
                (
                    "Иван Петров",
                    "daily order",
                    "4.4 “Кладка стен”: 25 м³ on 12/07/2026",
                    "updated",
                    "Volume: 23.7 м³ → 25 м³; Description: — → Вторая смена; "
                    "Volume done of 4.4: 23.7 м³ → 25 м³",
                ),
                (
                    "Иван Петров",
                    "daily order",
                    "4.4 “Кладка стен”: 23.7 м³ on 12/07/2026",
                    "created",
                    "Volume done of 4.4: 0 м³ → 23.7 м³",
                ),
            ],
        },
    ),
    "plan": (
        a_plans_life,
        {
            "ru": [
                (
                    "Мария Кузнецова",
                    "МСГ",
                    "4.4 «Кладка стен»: план на декабрь 2026 — 510,5 м³",
                    "удалено",
                    "",
                ),
                (
                    "Мария Кузнецова",
                    "МСГ",
                    "4.4 «Кладка стен»: план на декабрь 2026 — 510,5 м³",
                    "изменено",
                    "Плановый объём: 505 м³ → 510,5 м³",
                ),
                (
                    "Мария Кузнецова",
                    "МСГ",
                    "4.4 «Кладка стен»: план на декабрь 2026 — 505 м³",
                    "создано",
                    "",
                ),
            ],
            "en": [
                (
                    "Мария Кузнецова",
                    "МСГ",
                    "4.4 “Кладка стен”: plan for December 2026 — 510.5 м³",
                    "deleted",
                    "",
                ),
                (
                    "Мария Кузнецова",
                    "МСГ",
                    "4.4 “Кладка стен”: plan for December 2026 — 510.5 м³",
                    "updated",
                    "Planned volume: 505 м³ → 510.5 м³",
                ),
                (
                    "Мария Кузнецова",
                    "МСГ",
                    "4.4 “Кладка стен”: plan for December 2026 — 505 м³",
                    "created",
                    "",
                ),
            ],
        },
    ),
    "task": (
        a_tasks_life,
        {
            "ru": [
                ("Мария Кузнецова", "график", "4.5 «Штукатурка стен»", "удалено", ""),
                (
                    "Мария Кузнецова",
                    "график",
                    "4.5 «Штукатурка стен»",
                    "изменено",
                    "Наименование: Штукатурка → Штукатурка стен; "
                    "Плановый объём: 1 500,5 м² → 1 600 м²",
                ),
                (
                    "Мария Кузнецова",
                    "график",
                    "4.5 «Штукатурка»",
                    "создано",
                    "Плановый объём: 1 500,5 м²; Дата начала: 01.12.2026; "
                    "Дата окончания: 31.12.2026",
                ),
            ],
            "en": [
                ("Мария Кузнецова", "schedule", "4.5 “Штукатурка стен”", "deleted", ""),
                (
                    "Мария Кузнецова",
                    "schedule",
                    "4.5 “Штукатурка стен”",
                    "updated",
                    "Name: Штукатурка → Штукатурка стен; Planned volume: 1,500.5 м² → 1,600 м²",
                ),
                (
                    "Мария Кузнецова",
                    "schedule",
                    "4.5 “Штукатурка”",
                    "created",
                    "Planned volume: 1,500.5 м²; Start date: 12/01/2026; End date: 12/31/2026",
                ),
            ],
        },
    ),
}


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("life", LIVES)
def test_an_objects_history_tells_its_changes_in_the_pages_words(
    client, ivan, maria, masonry, life, language
):
    live, expected = LIVES[life]
    stream, object_id = live(ivan if life == "daily work" else maria, masonry)
    client.force_login(maria)

    assert entries(client, history_url(stream, object_id), language) == expected[language]


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("life", LIVES)
def test_recent_changes_tell_the_same_entries_linking_each_objects_history(
    client, ivan, maria, masonry, life, language
):
    live, expected = LIVES[life]
    stream, object_id = live(ivan if life == "daily work" else maria, masonry)
    client.force_login(maria)

    shown = entries(client, CHANGES_URL, language)

    assert shown[:3] == expected[language]
    page = client.get(CHANGES_URL).content.decode()
    assert page.count(f'href="{history_url(stream, object_id)}"') == 3


def test_a_reports_recalculation_of_its_task_is_told_with_the_report_not_as_the_foremans_edit(
    client, ivan, maria, masonry
):
    with writing_via("daily"):
        daily_work_create(
            data={"task": masonry, "date": datetime.date(2026, 12, 7), "volume": Decimal("7.5")},
            actor=ivan,
        )
    client.force_login(maria)

    listed = entries(client, CHANGES_URL, "ru")
    task_history = entries(client, history_url("tasks", masonry.pk), "ru")

    assert [entry[:4] for entry in listed] == [
        ("Иван Петров", "суточное задание", "4.4 «Кладка стен»: 7,5 м³ за 07.12.2026", "создано"),
        ("—", "скрипт", "4.4 «Кладка стен»", "создано"),
    ]
    assert listed[0][4] == "Выполнено по 4.4: 0 м³ → 7,5 м³"
    assert [entry[:2] for entry in task_history] == [("—", "скрипт")]  # only its creation
    assert Change.objects.filter(stream="tasks", object_id=masonry.pk).count() == 2


def test_a_person_without_a_full_name_is_shown_by_login_and_a_task_by_its_code_and_name(
    client, planner
):
    task = TaskFactory(code="1.1", name="Walls")
    with writing_via("daily"):
        work = daily_work_create(
            data={"task": task, "date": datetime.date(2026, 12, 7), "volume": Decimal("2")},
            actor=planner,
        )
    other = TaskFactory(code="1.2", name="Roof")
    with writing_via("admin"):
        daily_work_update(
            daily_work=work,
            data={"task": other, "created_by": None},
            version=work.version,
            actor=planner,
        )
    client.force_login(planner)

    assert entries(client, history_url("daily_works", work.pk), "en") == [
        (
            "planners",
            "admin",
            "1.2 “Roof”: 2 m³ on 12/07/2026",
            "updated",
            "Task: 1.1 “Walls” → 1.2 “Roof”; Created by: planners → —; "
            "Volume done of 1.1: 2 m³ → 0 m³; Volume done of 1.2: 0 m³ → 2 m³",
        ),
        (
            "planners",
            "daily order",
            "1.1 “Walls”: 2 m³ on 12/07/2026",
            "created",
            "Volume done of 1.1: 0 m³ → 2 m³",
        ),
    ]


@pytest.mark.parametrize(
    ("language", "is_working", "told"),
    [
        ("ru", True, "09.01.2027: рабочий день"),
        ("ru", False, "04.01.2027: выходной"),
        ("en", True, "01/09/2027: working day"),
    ],
)
def test_a_calendar_exception_is_told_by_its_date_and_kind(language, is_working, told):
    day = "2027-01-09" if is_working else "2027-01-04"
    with translation.override(language):
        assert describe_subject("calendar_days", {"date": day, "is_working": is_working}) == told


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("volume", "unit", "told"),
    [
        ("23.75", "м³", "23,8 м³"),  # one decimal, half up, as the pages show it
        ("7.125", "т", "7,13 т"),
        ("12.000", "шт", "12 шт"),
        ("1.25", "m³", "1,25 m³"),  # the tests' unit: every stored decimal
    ],
)
def test_a_volume_in_the_history_has_its_unit_s_decimals(volume, unit, told):
    with translation.override("ru"):
        assert volume_phrase(Decimal(volume), unit) == told
        subject = {"code": "4.4", "name": "Кладка", "unit": unit, "date": "2026-12-07"}
        sentence = describe_subject("daily_works", {**subject, "volume": volume})
        assert sentence == f"4.4 «Кладка»: {told} за 07.12.2026"
