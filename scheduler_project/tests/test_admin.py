"""The admin in Russian reads as the pages do: titles and buttons name the model in the
accusative, no English is left on its pages, dates come without a time-zone note."""

import datetime
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import django
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils.translation import trans_real

from daily.tests.factories import DailyWorkFactory
from monthly.tests.factories import MonthlyTaskFactory
from schedule.models import CalendarDay, Unit
from schedule.tests.factories import TaskFactory
from scheduler_project.tests.test_i18n import catalogue_entries

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-12345-x")
    client.force_login(admin)
    return client


@pytest.fixture
def objects():
    task = TaskFactory(code="2.1", name="Разработка грунта", unit="м³")
    return {
        "task": task,
        "monthlytask": MonthlyTaskFactory(task=task),
        "dailywork": DailyWorkFactory(task=task, description="Захватка 1"),
        "calendarday": CalendarDay.objects.create(
            date=datetime.date(2026, 1, 17), is_working=True, note="Перенос выходного"
        ),
        "unit": Unit.objects.create(name="рейс", decimals=0),
    }


ADMINS = {
    "task": "schedule",
    "monthlytask": "monthly",
    "dailywork": "daily",
    "calendarday": "schedule",
    "unit": "schedule",
}


def url(model: str, view: str, *args: int) -> str:
    return reverse(f"admin:{ADMINS[model]}_{model}_{view}", args=args)


def get(client, path: str, language: str = "ru", **query: str) -> str:
    response = client.get(path, query, headers={"accept-language": language})
    assert response.status_code == 200, path
    return response.content.decode()


# the add form and the date inputs it holds (a task's change form holds its inlines' too)
DATE_FIELDS = [
    ("task", "add", ["start_date", "end_date", "monthly_tasks-__prefix__-month",
                     "daily_works-__prefix__-date"]),
    ("task", "change", ["start_date", "end_date", "monthly_tasks-0-month",
                        "monthly_tasks-__prefix__-month", "daily_works-0-date",
                        "daily_works-__prefix__-date"]),
    ("monthlytask", "add", ["month"]),
    ("dailywork", "add", ["date"]),
    ("calendarday", "add", ["date"]),
]  # fmt: skip


@pytest.mark.parametrize(("model", "view", "names"), DATE_FIELDS)
def test_date_fields_come_without_a_time_zone_note(admin_client, objects, model, view, names):
    """Django's script adds "Note: you are 3 hours behind the server" beside a date field unless
    the field holds a ``timezonewarning`` already (the browser side: e2e/test_admin.py)."""
    args = [objects[model].pk] if view == "change" else []
    page = get(admin_client, url(model, view, *args))

    assert re.findall(r'<input type="text" name="([^"]+)"[^>]*class="vDateField"', page) == names
    assert "timezone_warning" not in page
    assert page.count('</p><span class="timezonewarning" hidden></span>') == len(names)


def test_a_date_and_time_keeps_djangos_time_zone_note(admin_client):
    """A time of day is entered in the server's zone: the user's last login keeps the note."""
    user = get_user_model().objects.get(username="boss")

    page = get(admin_client, reverse("admin:auth_user_change", args=[user.pk]))

    assert 'aria-describedby="id_last_login_timezone_warning_helptext"' in page


# the model, the language, and how the changelist, the add and change forms and the delete
# confirmation name it
TITLES = [
    ("task", "ru", "Выберите работу для изменения", "Добавить работу", "Изменить работу",
     "Вы уверены, что хотите удалить работу «2.1 Разработка грунта»?"),
    ("monthlytask", "ru", "Выберите месячное задание для изменения",
     "Добавить месячное задание", "Изменить месячное задание",
     "Вы уверены, что хотите удалить месячное задание «2026-11 2.1: 40.000»?"),
    ("dailywork", "ru", "Выберите ежедневную работу для изменения",
     "Добавить ежедневную работу", "Изменить ежедневную работу",
     "Вы уверены, что хотите удалить ежедневную работу «2026-11-25 2.1: 5.000»?"),
    ("calendarday", "ru", "Выберите исключение календаря для изменения",
     "Добавить исключение календаря", "Изменить исключение календаря",
     "Вы уверены, что хотите удалить исключение календаря «2026-01-17 рабочий день»?"),
    ("unit", "ru", "Выберите единицу измерения для изменения", "Добавить единицу измерения",
     "Изменить единицу измерения", "Вы уверены, что хотите удалить единицу измерения «рейс»?"),
    ("task", "en", "Select task to change", "Add task", "Change task",
     "Are you sure you want to delete the task “2.1 Разработка грунта”?"),
    ("dailywork", "en", "Select daily work to change", "Add daily work", "Change daily work",
     "Are you sure you want to delete the daily work “2026-11-25 2.1: 5.000”?"),
]  # fmt: skip


@pytest.mark.parametrize(("model", "language", "select", "add", "change", "delete"), TITLES)
def test_titles_and_buttons_name_the_model_as_their_object(
    admin_client, objects, model, language, select, add, change, delete
):
    pk = objects[model].pk

    changelist = get(admin_client, url(model, "changelist"), language)
    add_form = get(admin_client, url(model, "add"), language)
    change_form = get(admin_client, url(model, "change", pk), language)
    confirmation = get(admin_client, url(model, "delete", pk), language)

    assert f"<title>{select} |" in changelist
    assert f"<h1>{select}</h1>" in changelist
    assert re.search(rf'class="addlink">\s*{add}\s*</a>', changelist)
    assert f"<h1>{add}</h1>" in add_form
    assert f'<li aria-current="page">{add}</li>' in add_form
    assert f"<h1>{change}</h1>" in change_form
    assert delete in html.unescape(confirmation)


@pytest.mark.parametrize(
    ("language", "links"),
    [
        ("ru", ["Добавить ещё месячное задание", "Добавить ещё ежедневную работу"]),
        ("en", ["Add another monthly order", "Add another daily work"]),
    ],
)
def test_a_tasks_inlines_offer_to_add_another_plan_and_work(admin_client, objects, language, links):
    page = get(admin_client, url("task", "change", objects["task"].pk), language)

    inlines = re.findall(r'data-inline-formset="([^"]*)"', page)
    assert [json.loads(html.unescape(data))["options"]["addText"] for data in inlines] == links


def staff_user_who_may(*codenames: str):
    user = get_user_model().objects.create_user("clerk", password="pw-12345-x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def test_a_user_who_may_only_view_is_offered_a_task_to_view(client, objects):
    client.force_login(staff_user_who_may("view_task"))

    changelist = get(client, url("task", "changelist"))
    form = get(client, url("task", "change", objects["task"].pk))

    assert "<h1>Выберите работу для просмотра</h1>" in changelist
    assert "<h1>Просмотреть работу</h1>" in form


def test_a_user_who_may_not_delete_a_tasks_plans_is_told_why_the_task_cannot_go(client, objects):
    client.force_login(staff_user_who_may("view_task", "delete_task"))

    page = html.unescape(get(client, url("task", "delete", objects["task"].pk)))

    assert "<h1>Не удается удалить работу</h1>" in page
    assert (
        "Чтобы удалить работу «2.1 Разработка грунта», пришлось бы удалить и связанные "
        "объекты, но у вашей учётной записи нет прав на удаление объектов следующих типов:"
    ) in page


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (
            "calendarday",
            {"date": "2026-03-07", "is_working": "on", "note": "Перенос"},
            "Добавлено: исключение календаря «2026-03-07 рабочий день».",
        ),
        (
            "task",
            {
                "code": "3.1",
                "name": "Бетонирование",
                "unit": "м³",
                "volume_plan": "10",
                "start_date": "01.03.2026",
                "end_date": "31.03.2026",
                "monthly_tasks-TOTAL_FORMS": "0",
                "monthly_tasks-INITIAL_FORMS": "0",
                "daily_works-TOTAL_FORMS": "0",
                "daily_works-INITIAL_FORMS": "0",
            },
            "Добавлено: работа «3.1 Бетонирование».",
        ),
    ],
)
def test_the_message_after_adding_agrees_with_a_model_of_any_gender(
    admin_client, model, data, message
):
    response = admin_client.post(
        url(model, "add"), data, headers={"accept-language": "ru"}, follow=True
    )

    shown = [re.sub(r"<[^>]+>", "", str(m)) for m in response.context["messages"]]
    assert shown == [message]


def test_the_date_hierarchy_names_a_day_with_its_month_in_the_genitive(admin_client, objects):
    page = get(admin_client, url("calendarday", "changelist"))

    hierarchy = re.search(r'<nav class="toplinks".*?</nav>', page, re.S)[0]
    assert ">17 января</a>" in hierarchy


class PageText(HTMLParser):
    """What a reader sees or hears of a page: its text, the text of its buttons and the titles,
    alternative texts and labels of its elements (not its scripts)."""

    SPOKEN = {"title", "alt", "aria-label", "placeholder"}

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self.hidden += 1
        attributes = dict(attrs)
        for name, value in attributes.items():
            if value and (
                name in self.SPOKEN
                or (name == "value" and tag == "input" and attributes.get("type") == "submit")
            ):
                self.texts.append(value)  # fmt: skip

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden and data.strip():
            self.texts.append(data.strip())


ENGLISH_WORD = re.compile(r"\b[A-Za-z]{2,}\b")
NOT_ENGLISH = {"ID", "boss"}
"""Latin letters a Russian page may show: the field Django names "ID" (Russian sites say ID
too) and the admin user's name; and data, the units the tests keep ("km")."""


def english_words(page: str) -> set[str]:
    parser = PageText()
    parser.feed(page)
    words = {word for text in parser.texts for word in ENGLISH_WORD.findall(text)}
    units = {
        word
        for name in Unit.objects.values_list("name", flat=True)
        for word in ENGLISH_WORD.findall(name)
    }
    return words - NOT_ENGLISH - units


@pytest.mark.parametrize("model", ADMINS)
def test_no_english_is_left_on_the_admin_pages_in_russian(admin_client, objects, model):
    pk = objects[model].pk
    pages = {
        "index": get(admin_client, reverse("admin:index")),
        "changelist": get(admin_client, url(model, "changelist")),
        "search": get(admin_client, url(model, "changelist"), q="2"),
        "facets": get(admin_client, url(model, "changelist"), _facets="True"),
        "sorted": get(admin_client, url(model, "changelist"), o="-2.1"),
        "add": get(admin_client, url(model, "add")),
        "change": get(admin_client, url(model, "change", pk)),
        "delete": get(admin_client, url(model, "delete", pk)),
        "history": get(admin_client, url(model, "history", pk)),
    }
    delete_selected = admin_client.post(
        url(model, "changelist"),
        {"action": "delete_selected", "_selected_action": [pk]},
        headers={"accept-language": "ru"},
    )
    pages["delete selected"] = delete_selected.content.decode()

    assert {name: english_words(page) for name, page in pages.items()} == {
        name: set() for name in pages
    }


def djangos_catalogue(app: str, domain: str = "django") -> list[dict[str, str]]:
    root = Path(django.__file__).parent
    folder = root / "contrib" / app if app else root / "conf"
    return catalogue_entries(folder / "locale" / "en" / "LC_MESSAGES" / f"{domain}.po")


def catalogue_key(entry: dict[str, str]) -> str:
    return f"{entry['msgctxt']}\x04{entry['msgid']}" if "msgctxt" in entry else entry["msgid"]


@pytest.mark.parametrize("app", ["", "admin", "auth", "contenttypes"])
def test_every_string_of_djangos_admin_has_a_russian_translation(app):
    """Django 6.1's Russian catalogue lacks some of its strings; the project's completes it
    (a Django upgrade that brings new ones fails here)."""
    catalogue = trans_real.translation("ru")._catalog
    missing = []
    for entry in djangos_catalogue(app):
        key = catalogue_key(entry)
        if (key if "msgid_plural" not in entry else (key, 0)) not in catalogue:
            missing.append(entry["msgid"])

    assert missing == []


def test_every_string_of_the_admins_scripts_has_a_russian_translation(admin_client):
    script = get(admin_client, reverse("admin:jsi18n"))
    catalogue = json.loads(re.search(r"const newcatalog = (\{.*?\});", script, re.S)[1])

    missing = [
        entry["msgid"]
        for entry in djangos_catalogue("admin", "djangojs")
        if catalogue_key(entry) not in catalogue
    ]

    assert missing == []
    assert catalogue["Today (%(date)s)"] == "Сегодня (%(date)s)"


@pytest.mark.parametrize(
    ("role", "claims"), [("planners", True), ("viewers", False)], ids=["changer", "viewer"]
)
def test_a_change_form_claims_to_edit_its_object_only_for_a_user_who_may_change_it(
    client, make_user, role, claims
):
    task = TaskFactory(code="2.1")
    client.force_login(make_user(role, is_staff=True))

    page = client.get(url("task", "change", task.pk)).content.decode()

    assert f'data-presence-page="admin:schedule.task:{task.pk}"' in page
    assert ('data-presence-stream="tasks"' in page) is claims
