import gettext as gettext_module
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.local import Local
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation
from django.utils.translation import trans_real

from schedule.tests.factories import TaskFactory

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "ru" / "LC_MESSAGES" / "django.po"


@pytest.fixture(scope="session")
def compiled_messages() -> None:
    """Compile the catalogues once (.mo files are build output, not in git).

    Translations loaded earlier in the session are dropped, as Django's autoreloader does when a
    .mo file changes, so the fresh catalogue is read.
    """
    call_command("compilemessages", ignore_patterns=[".venv", "staticfiles"], verbosity=0)
    gettext_module._translations = {}
    trans_real._translations = {}
    trans_real._default = None
    trans_real._active = Local()


def catalogue_entries(path: Path = CATALOGUE) -> list[dict[str, str]]:
    """The entries of a .po file (the Russian catalogue) after its header: keyword → joined
    string."""
    entries = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n")[1:]:
        entry: dict[str, str] = {}
        keyword = ""
        for line in block.splitlines():
            if line.startswith("#"):
                entry.setdefault("flags", "")
                entry["flags"] += line if line.startswith("#,") else ""
                continue
            if not line.startswith('"'):
                keyword, line = line.split(" ", 1)
                entry[keyword] = ""
            entry[keyword] += json.loads(line)
        if "msgid" in entry:  # not an obsolete (#~) entry
            entries.append(entry)
    return entries


def test_russian_catalogue_has_no_fuzzy_entries():
    assert [e["msgid"] for e in catalogue_entries() if "fuzzy" in e.get("flags", "")] == []


def test_russian_catalogue_translates_every_entry():
    entries = catalogue_entries()
    untranslated = [
        e["msgid"]
        for e in entries
        if not all(value for keyword, value in e.items() if keyword.startswith("msgstr"))
    ]

    assert len(entries) > 100
    assert untranslated == []


@pytest.mark.usefixtures("compiled_messages")
def test_every_string_marked_for_translation_is_shown_in_russian(tmp_path):
    """``makemessages`` run on a copy of the sources: each string it finds that the catalogue
    lacks (new, or only under another context or ``%`` escaping: a template's ``%(x)s`` is
    looked up as ``%%(x)s``) must be one Django or DRF translates."""
    sources = tmp_path / "src"
    shutil.copytree(
        settings.BASE_DIR,
        sources,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "artifacts", "staticfiles", "node_modules", "*.sqlite3*", "*.mo"
        ),
    )
    command = [sys.executable, "manage.py", "makemessages", "--locale=ru", "--verbosity=0"]
    ignored = ["--ignore=.venv", "--ignore=bench", "--ignore=e2e", "--ignore=*/tests/*"]
    subprocess.run([*command, *ignored], cwd=sources, check=True)

    missing = [
        (entry.get("msgctxt"), entry["msgid"])
        for entry in catalogue_entries(sources / "locale" / "ru" / "LC_MESSAGES" / "django.po")
        if "fuzzy" in entry.get("flags", "") or not entry.get("msgstr", entry.get("msgstr[0]"))
    ]
    with translation.override("ru"):
        english = [
            (context, msgid)
            for context, msgid in missing
            if (translation.pgettext(context, msgid) if context else translation.gettext(msgid))
            == msgid
        ]
    assert english == []


@pytest.mark.django_db
@pytest.mark.usefixtures("compiled_messages")
def test_accept_language_russian_renders_the_schedule_in_russian(client, planner):
    TaskFactory(code="1.1")
    client.force_login(planner)

    html = client.get(reverse("schedule:task_list"), headers={"accept-language": "ru"}).content
    html = html.decode()

    assert '<html lang="ru">' in html
    assert "<h1>График</h1>" in html
    assert ">МСГ</a>" in html
    assert ">Суточное задание</a>" in html
    assert "Новая работа" in html
    assert "Факт" in html


@pytest.mark.django_db
@pytest.mark.usefixtures("compiled_messages")
def test_language_switcher_overrides_the_browser_language(client, planner):
    client.force_login(planner)
    url = reverse("schedule:task_list")

    response = client.post(
        reverse("set_language"),
        {"language": "ru", "next": url},
        headers={"accept-language": "en"},
    )
    html = client.get(url, headers={"accept-language": "en"}).content.decode()

    assert response.status_code == 302
    assert response.url == url
    assert "<h1>График</h1>" in html
    assert '<button type="submit" name="language" value="ru" lang="ru"' in html


@pytest.mark.django_db
@pytest.mark.usefixtures("compiled_messages")
def test_switching_back_to_english(client, planner):
    client.force_login(planner)
    client.post(reverse("set_language"), {"language": "ru", "next": "/"})

    client.post(reverse("set_language"), {"language": "en", "next": "/"})

    assert (
        "<h1>Schedule</h1>" in client.get("/", headers={"accept-language": "ru"}).content.decode()
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("compiled_messages")
@pytest.mark.parametrize(
    ("url", "text"),
    [
        (reverse("monthly:order") + "?month=2026-11", "Месячно-суточный график"),
        (reverse("daily:day") + "?date=2026-11-25", "Суточное задание"),
        (reverse("schedule:task_create"), "Наименование"),
    ],
)
def test_every_page_renders_in_russian(client, planner, url, text):
    client.force_login(planner)

    response = client.get(url, headers={"accept-language": "ru"})

    assert response.status_code == 200
    assert text in response.content.decode()


@pytest.mark.django_db
@pytest.mark.usefixtures("compiled_messages")
def test_model_errors_are_translated(client, planner):
    client.force_login(planner)

    response = client.post(
        reverse("schedule:task_create"),
        {
            "code": "1",
            "name": "Excavation",
            "unit": "m³",
            "volume_plan": "1",
            "start_date": "2026-12-01",
            "end_date": "2026-11-01",
        },
        headers={"accept-language": "ru"},
    )

    assert "Дата окончания не может быть раньше даты начала." in response.content.decode()


@pytest.mark.django_db
@pytest.mark.usefixtures("compiled_messages")
def test_login_page_renders_in_russian(client):
    html = client.get(reverse("login"), headers={"accept-language": "ru"}).content.decode()

    assert "<h1>Войти</h1>" in html
    assert "График производства работ" in html
