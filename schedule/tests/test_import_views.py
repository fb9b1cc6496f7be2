"""The import page: upload → preview → apply, in both steps' failures too."""

import datetime
import io
import re
import secrets
from unittest import mock

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import Workbook, load_workbook

from monthly.models import MonthlyTask
from realtime.models import Event
from schedule.models import ImportPlan, Task
from schedule.services import task_update
from schedule.tests import xlsx_files
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

URL = "/import/"
HEADINGS = ["Code", "Name", "Unit", "Planned volume", "Start", "End", "Version"]


def upload(*rows: list, headings: list[str] = HEADINGS) -> io.BytesIO:
    workbook = Workbook()
    workbook.active.append(headings)
    for row in rows:
        workbook.active.append(row)
    file = io.BytesIO()
    workbook.save(file)
    file.seek(0)
    file.name = "schedule.xlsx"
    return file


def row_of(task: Task, **changes) -> list:
    return list(
        (
            {
                "code": task.code,
                "name": task.name,
                "unit": task.unit,
                "volume_plan": float(task.volume_plan),
                "start": task.start_date,
                "end": task.end_date,
                "version": task.version,
            }
            | changes
        ).values()
    )


def plan_of(response) -> str:
    return re.search(r'name="plan" value="([^"]+)"', response.content.decode())[1]


@pytest.fixture
def planner_client(client, planner):
    client.force_login(planner)
    return client


def test_the_url_is_the_one_named():
    assert reverse("schedule:import") == URL


def test_a_planner_previews_then_applies_and_returns_to_the_schedule(planner_client, planner):
    task = TaskFactory(code="1.1")
    file = upload(row_of(task, name="Renamed"), ["2.1", "New", "t", 5, "01.11.2026", "30.11.2026"])

    preview = planner_client.post(URL, {"file": file})

    assert preview.status_code == 200
    page = preview.content.decode()
    assert "1 new, 1 changed, 0 unchanged, 0 in error, 0 in conflict." in page
    assert "<del>" + task.name + "</del> → <ins>Renamed</ins>" in page
    assert Task.objects.get(pk=task.pk).name == task.name  # nothing written yet

    before = Event.objects.latest_id()
    applied = planner_client.post(URL, {"plan": plan_of(preview)}, follow=True)

    assert applied.redirect_chain == [(reverse("schedule:task_list"), 302)]
    assert "Schedule imported: 1 tasks created, 1 changed, 0 deleted" in applied.content.decode()
    assert set(Task.objects.values_list("code", "name")) == {("1.1", "Renamed"), ("2.1", "New")}
    assert set(Event.objects.filter(id__gt=before).values_list("actor", flat=True)) == {planner.pk}


def test_the_schedule_page_links_to_the_import_for_those_who_may(client, planner, foreman):
    client.force_login(planner)
    assert f'href="{URL}"' in client.get("/").content.decode()
    client.force_login(foreman)
    assert f'href="{URL}"' not in client.get("/").content.decode()


@pytest.mark.parametrize("method", ["get", "post"])
def test_users_without_add_and_change_task_get_403(client, foreman, method):
    client.force_login(foreman)

    assert getattr(client, method)(URL).status_code == 403
    assert client.get(reverse("schedule:import_template")).status_code == 403


def test_a_bad_file_shows_the_readers_message_with_400_and_writes_nothing(planner_client):
    file = io.BytesIO(b"code,name\n1.1,x\n")
    file.name = "schedule.xlsx"

    response = planner_client.post(URL, {"file": file})

    assert response.status_code == 400
    assert "Nothing was imported." in response.content.decode()
    assert "xlsx" in response.content.decode()
    assert not Task.objects.exists()


def test_rows_in_error_are_shown_with_their_cells_and_cannot_be_applied(planner_client):
    file = upload(["2.1", "New", "t", "lots", "01.11.2026", "30.11.2026"])

    response = planner_client.post(URL, {"file": file})

    page = response.content.decode()
    assert "D2: " in page
    assert ">Apply<" not in page


def test_a_change_between_preview_and_apply_shows_the_conflict_and_the_users_choice_applies(
    planner_client,
):
    task = TaskFactory(code="1.1")
    preview = planner_client.post(URL, {"file": upload(row_of(task, name="From the file"))})
    task_update(task=task, data={"name": "Another user's"}, version=None)

    refused = planner_client.post(URL, {"plan": plan_of(preview)})

    assert refused.status_code == 409
    page = refused.content.decode()
    assert "changed in the app since the preview" in page
    assert 'name="decision-2" value="file"' in page
    assert Task.objects.get().name == "Another user's"

    applied = planner_client.post(URL, {"plan": plan_of(refused), "decision-2": "file"})

    assert applied.status_code == 302
    assert Task.objects.get().name == "From the file"


def test_missing_tasks_are_kept_unless_the_box_is_ticked(planner_client):
    kept, missing = TaskFactory.create_batch(2)
    preview = planner_client.post(URL, {"file": upload(row_of(kept))})
    page = preview.content.decode()
    assert f"{missing.code} {missing.name}" in page
    assert 'type="checkbox" name="delete_missing">' in page  # not ticked

    planner_client.post(URL, {"plan": plan_of(preview)})
    assert Task.objects.count() == 2

    again = planner_client.post(URL, {"file": upload(row_of(kept))})
    planner_client.post(URL, {"plan": plan_of(again), "delete_missing": "on"})
    assert list(Task.objects.all()) == [kept]


def test_deleting_missing_tasks_needs_the_delete_permission(client, make_user):
    user = make_user(None, username="importer")
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_task", "add_task", "change_task"])
    )
    client.force_login(user)
    TaskFactory.create_batch(2)
    preview = client.post(URL, {"file": upload()})
    assert "delete_missing" not in preview.content.decode()

    response = client.post(URL, {"plan": plan_of(preview), "delete_missing": "on"})

    assert response.status_code == 403
    assert Task.objects.count() == 2


def test_monthly_plans_need_the_monthly_permissions(client, make_user):
    user = make_user(None, username="importer")
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_task", "add_task", "change_task"])
    )
    client.force_login(user)
    file = upload(
        ["2.1", "New", "t", 5, "01.11.2026", "30.11.2026", None, 3],
        headings=[*HEADINGS, "2026-11"],
    )
    preview = client.post(URL, {"file": file})

    assert client.post(URL, {"plan": plan_of(preview)}).status_code == 403
    assert not Task.objects.exists()
    assert not MonthlyTask.objects.exists()


def test_a_plan_signed_for_another_user_or_tampered_with_is_refused(
    client, planner_client, make_user
):
    preview = planner_client.post(
        URL, {"file": upload(["2.1", "N", "t", 5, "01.11.2026", "30.11.2026"])}
    )
    other = make_user("planners", username="other")
    client.force_login(other)

    for plan in [plan_of(preview), plan_of(preview)[:-2] + "xx"]:
        response = client.post(URL, {"plan": plan})
        assert response.status_code == 400
        assert "upload the file again" in response.content.decode()
    assert not Task.objects.exists()


def test_the_template_downloads_as_an_xlsx_the_import_reads(planner_client):
    response = planner_client.get(reverse("schedule:import_template"))

    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert [cell.value for cell in workbook.active[1]][:6] == HEADINGS[:6]


def test_the_page_speaks_russian(planner_client):
    with translation.override("ru"):  # restores the language the middleware activates
        response = planner_client.get(URL, HTTP_ACCEPT_LANGUAGE="ru")

    assert "Импорт графика" in response.content.decode()


# The plan kept on the server: the apply's request carries its token only.


def test_a_preview_larger_than_the_request_limit_is_applied_by_its_token(planner_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 20_000
    rows = [
        [f"1.{number}", secrets.token_hex(100), "м³", 5, "01.11.2026", "30.11.2026"]
        for number in range(1, 201)
    ]
    file = upload(*rows)
    assert len(file.getvalue()) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    preview = planner_client.post(URL, {"file": file})
    token = plan_of(preview)
    applied = planner_client.post(URL, {"plan": token})

    assert applied.status_code == 302
    assert Task.objects.count() == 200
    assert len(token) < 100


def test_a_plan_is_applied_once(planner_client):
    preview = planner_client.post(
        URL, {"file": upload(["2.1", "N", "t", 5, "01.11.2026", "30.11.2026"])}
    )
    assert planner_client.post(URL, {"plan": plan_of(preview)}).status_code == 302
    Task.objects.all().delete()

    again = planner_client.post(URL, {"plan": plan_of(preview)})

    assert again.status_code == 400
    assert "upload the file again" in again.content.decode()
    assert not Task.objects.exists()


def test_an_expired_plan_is_refused_and_deleted_by_the_next_preview(planner_client, settings):
    file = upload(["2.1", "N", "t", 5, "01.11.2026", "30.11.2026"])
    settings.SPREADSHEET_IMPORT_PLAN_MAX_AGE_SECONDS = 60
    preview = planner_client.post(URL, {"file": file})
    later = timezone.now() + datetime.timedelta(seconds=61)

    with mock.patch("django.utils.timezone.now", return_value=later):
        refused = planner_client.post(URL, {"plan": plan_of(preview)})
        file.seek(0)
        planner_client.post(URL, {"file": file})

    assert refused.status_code == 400
    assert "This preview has expired or is not yours" in refused.content.decode()
    assert ImportPlan.objects.count() == 1
    assert not Task.objects.exists()


def test_a_user_keeps_the_newest_plans_only(planner_client, settings):
    settings.SPREADSHEET_IMPORT_PLANS_PER_USER = 2
    file = upload(["2.1", "N", "t", 5, "01.11.2026", "30.11.2026"])
    tokens = []
    for _ in range(3):
        file.seek(0)
        tokens.append(plan_of(planner_client.post(URL, {"file": file})))

    assert planner_client.post(URL, {"plan": tokens[0]}).status_code == 400
    assert planner_client.post(URL, {"plan": tokens[2]}).status_code == 302
    assert ImportPlan.objects.count() == 1


# Bounded pages, whatever the file.


def test_six_thousand_rows_of_one_code_make_a_small_page_naming_the_code_once(planner_client):
    file = io.BytesIO(xlsx_files.one_code_in_every_row(6000))
    file.name = "schedule.xlsx"

    response = planner_client.post(URL, {"file": file})

    page = response.content.decode()
    assert "0 new, 0 changed, 0 unchanged, 6000 in error, 0 in conflict." in page
    assert page.count("the code 1.1 is also in rows") == 1
    assert "3, 4, 5, 6, 7, 8, 9, 10, 11, 12 and 5,989 more" in page
    assert len(response.content) < 100_000


def test_at_most_a_hundred_rows_in_error_are_listed(planner_client):
    rows = [[f"1.{n}", "N", "t", "lots", "01.11.2026", "30.11.2026"] for n in range(1, 151)]

    page = planner_client.post(URL, {"file": upload(*rows)}).content.decode()

    assert page.count('data-kind="error"') == 100
    assert "And 50 more rows in error" in page


def test_a_heading_of_a_megabyte_makes_a_small_page(planner_client, settings):
    settings.SPREADSHEET_IMPORT_MAX_COLUMNS = 1000
    file = io.BytesIO(xlsx_files.long_string_headings(length=1_000_000, count=300))
    file.name = "schedule.xlsx"

    response = planner_client.post(URL, {"file": file})

    assert response.status_code == 400
    assert "and 200 more (rename them" in response.content.decode()
    assert len(response.content) < 30_000


def test_a_version_of_thousands_of_digits_is_shown_as_the_cells_error(planner_client):
    file = io.BytesIO(xlsx_files.version_of_digits(5000))
    file.name = "schedule.xlsx"

    response = planner_client.post(URL, {"file": file})

    assert response.status_code == 200
    assert "G2: not a version: a whole number from 1 up" in response.content.decode()


def test_the_rows_left_out_are_counted_in_russian(planner_client):
    rows = [[f"1.{n}", "N", "t", "lots", "01.11.2026", "30.11.2026"] for n in range(1, 103)]

    with translation.override("ru"):
        page = planner_client.post(
            URL, {"file": upload(*rows)}, HTTP_ACCEPT_LANGUAGE="ru"
        ).content.decode()

    assert "И ещё 2 строки с ошибками: исправьте те, что выше" in page


def test_a_preview_too_large_to_apply_at_once_says_so_instead_of_offering_to_apply(
    planner_client, settings
):
    settings.SPREADSHEET_IMPORT_MAX_WRITES = 1
    file = upload(*[[f"2.{n}", "N", "t", 5, "01.11.2026", "30.11.2026"] for n in (1, 2)])

    page = planner_client.post(URL, {"file": file}).content.decode()

    assert "Applying this file would write 2 tasks and monthly plans, more than the 1" in page
    assert ">Apply<" not in page


def test_at_most_a_hundred_new_or_changed_rows_are_listed_and_all_are_applied(planner_client):
    rows = [[f"1.{n}", "N", "м³", 5, "01.11.2026", "30.11.2026"] for n in range(1, 131)]

    preview = planner_client.post(URL, {"file": upload(*rows)})
    page = preview.content.decode()

    assert "130 new, 0 changed" in page
    assert page.count('data-kind="new"') == 100
    assert "And 30 more new or changed rows, applied as the file has them." in page
    assert planner_client.post(URL, {"plan": plan_of(preview)}).status_code == 302
    assert Task.objects.count() == 130
