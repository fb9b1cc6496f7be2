import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.admin.templatetags.admin_list import result_headers
from django.contrib.auth import get_user_model
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils.text import capfirst

from daily.models import DailyWork
from daily.tests.factories import DailyWorkFactory
from monthly.tests.factories import MonthlyTaskFactory
from schedule.models import CalendarDay, Task
from schedule.tests.factories import TaskFactory
from schedule.working_days import is_working_day
from scheduler_project.admin import VersionedAdminForm
from scheduler_project.versioning import versioned_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-12345-x")
    client.force_login(admin)
    client.admin_user = admin
    return client


@pytest.fixture
def objects():
    task = TaskFactory(code="2.1", name="Разработка грунта")
    return {
        "task": task,
        "monthlytask": MonthlyTaskFactory(task=task),
        "dailywork": DailyWorkFactory(task=task, volume=Decimal("12.5")),
        "calendarday": CalendarDay.objects.create(
            date=datetime.date(2026, 1, 17), is_working=False, note="Frost"
        ),
    }


MODELS = [
    ("schedule", "task"),
    ("monthly", "monthlytask"),
    ("daily", "dailywork"),
    ("schedule", "calendarday"),
]


@pytest.mark.parametrize(("app_label", "model"), MODELS)
def test_changelist_add_and_change_pages_load(admin_client, objects, app_label, model):
    pk = objects[model].pk

    for url in [
        reverse(f"admin:{app_label}_{model}_changelist"),
        reverse(f"admin:{app_label}_{model}_changelist") + "?q=2.1",
        reverse(f"admin:{app_label}_{model}_add"),
        reverse(f"admin:{app_label}_{model}_change", args=[pk]),
    ]:
        assert admin_client.get(url).status_code == 200, url


def test_task_change_page_shows_volume_fact_read_only_carries_the_version_and_both_inlines(
    admin_client, objects
):
    response = admin_client.get(reverse("admin:schedule_task_change", args=[objects["task"].pk]))

    form = response.context["adminform"].form
    assert "volume_fact" not in form.fields
    assert form.fields["version"].widget.is_hidden
    assert "volume_fact_shown" in response.context["adminform"].readonly_fields
    inline_models = {formset.formset.model for formset in response.context["inline_admin_formsets"]}
    assert inline_models == {DailyWork, objects["monthlytask"].__class__}


def test_adding_a_daily_work_in_admin_records_the_user_and_updates_the_task(admin_client):
    task = TaskFactory()

    response = admin_client.post(
        reverse("admin:daily_dailywork_add"),
        {"task": task.pk, "date": "2026-11-20", "volume": "7.5", "description": "Admin entry"},
    )

    assert response.status_code == 302
    work = DailyWork.objects.get()
    assert work.created_by == admin_client.admin_user
    task.refresh_from_db()
    assert task.volume_fact == Decimal("7.5")


def test_admin_refuses_a_task_that_ends_before_it_starts(admin_client):
    response = admin_client.post(
        reverse("admin:schedule_task_add"),
        {
            "code": "9.9",
            "name": "Backwards",
            "unit": "m",
            "volume_plan": "1",
            "start_date": "2026-11-10",
            "end_date": "2026-11-01",
            "monthly_tasks-TOTAL_FORMS": "0",
            "monthly_tasks-INITIAL_FORMS": "0",
            "daily_works-TOTAL_FORMS": "0",
            "daily_works-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "The end date cannot be before the start date." in response.content.decode()
    assert not Task.objects.filter(code="9.9").exists()


def test_bulk_delete_action_in_admin_keeps_volume_fact_right(admin_client):
    task = TaskFactory()
    first, second = DailyWorkFactory.create_batch(2, task=task, volume=Decimal("3"))

    response = admin_client.post(
        reverse("admin:daily_dailywork_changelist"),
        {"action": "delete_selected", "_selected_action": [first.pk], "post": "yes"},
    )

    assert response.status_code == 302
    task.refresh_from_db()
    assert task.volume_fact == Decimal("3")
    assert list(DailyWork.objects.all()) == [second]


def test_inline_daily_work_added_on_a_task_counts_in_volume_fact(admin_client):
    task = TaskFactory(volume_plan=Decimal("50"))
    data = {
        "code": task.code,
        "name": task.name,
        "unit": task.unit,
        "volume_plan": "50",
        "start_date": task.start_date.isoformat(),
        "end_date": task.end_date.isoformat(),
        "version": task.version,
        "monthly_tasks-TOTAL_FORMS": "0",
        "monthly_tasks-INITIAL_FORMS": "0",
        "daily_works-TOTAL_FORMS": "1",
        "daily_works-INITIAL_FORMS": "0",
        "daily_works-0-date": datetime.date(2026, 11, 24).isoformat(),
        "daily_works-0-volume": "4.25",
        "daily_works-0-description": "",
    }

    response = admin_client.post(reverse("admin:schedule_task_change", args=[task.pk]), data)

    assert response.status_code == 302, response.context and response.context["errors"]
    task.refresh_from_db()
    assert task.volume_fact == Decimal("4.25")
    assert DailyWork.objects.get().created_by == admin_client.admin_user


NATURAL_ORDER = ["1.2", "1.10", "2.1", "10.1"]


@pytest.fixture
def tasks_coded_out_of_order() -> None:
    for code in ["10.1", "2.1", "1.10", "1.2"]:
        task = TaskFactory(code=code)
        MonthlyTaskFactory(task=task)
        DailyWorkFactory(task=task)


def listed_codes(response) -> list[str]:
    return [getattr(row, "task", row).code for row in response.context["cl"].result_list]


@pytest.mark.usefixtures("tasks_coded_out_of_order")
@pytest.mark.parametrize(("app_label", "model"), MODELS[:3])
def test_changelists_list_codes_in_natural_order(admin_client, app_label, model):
    response = admin_client.get(reverse(f"admin:{app_label}_{model}_changelist"))

    assert listed_codes(response) == NATURAL_ORDER


@pytest.mark.usefixtures("tasks_coded_out_of_order")
@pytest.mark.parametrize(
    ("app_label", "model", "column"),
    [
        ("schedule", "task", "code"),
        ("monthly", "monthlytask", "task"),
        ("daily", "dailywork", "task"),
    ],
)
def test_clicking_the_code_column_header_sorts_codes_naturally_both_ways(
    admin_client, app_label, model, column
):
    url = reverse(f"admin:{app_label}_{model}_changelist")
    response = admin_client.get(url)
    orders = []

    for _click in range(2):
        headers = result_headers(response.context["cl"])
        header = next(header for header in headers if header["text"].lower() == column)
        response = admin_client.get(url + header["url_primary"])
        orders.append(listed_codes(response))

    # The column starts sorted ascending, so the first click turns it round.
    assert orders == [NATURAL_ORDER[::-1], NATURAL_ORDER]


@pytest.mark.usefixtures("tasks_coded_out_of_order")
@pytest.mark.parametrize(("app_label", "model"), MODELS[1:3])
def test_the_task_autocomplete_lists_codes_in_natural_order(admin_client, app_label, model):
    query = {"app_label": app_label, "model_name": model, "field_name": "task"}

    results = admin_client.get(reverse("admin:autocomplete"), query).json()["results"]

    assert [result["text"].split()[0] for result in results] == NATURAL_ORDER


@pytest.mark.parametrize(
    ("language", "planned", "done", "progress"),
    [("ru", "12\u00a0500,5", "1\u00a0250,25", "10,0"), ("en", "12,500.5", "1,250.25", "10.0")],
)
def test_volumes_are_shown_as_the_pages_show_them(admin_client, language, planned, done, progress):
    task = TaskFactory(code="2.1", volume_plan=Decimal("12500.500"))
    MonthlyTaskFactory(task=task, volume_plan=Decimal("12500.500"))
    DailyWorkFactory(task=task, volume=Decimal("1250.250"))

    def page(name: str, *args: int) -> str:
        response = admin_client.get(reverse(name, args=args), headers={"accept-language": language})
        return response.content.decode()

    def cells(html: str) -> list[str]:
        return re.findall(r'<td class="field-[a-z_]*(?:volume|progress)[a-z_]*">([^<]*)</td>', html)

    assert cells(page("admin:schedule_task_changelist")) == [planned, done, progress]
    assert cells(page("admin:monthly_monthlytask_changelist")) == [planned]
    assert cells(page("admin:daily_dailywork_changelist")) == [done]
    assert f'<div class="readonly">{done}</div>' in page("admin:schedule_task_change", task.pk)


def test_a_calendar_exception_added_in_admin_changes_the_working_days(admin_client, settings):
    settings.WORK_WEEKDAYS = (1, 2, 3, 4, 5)
    settings.HOLIDAYS_COUNTRY = "RU"
    saturday = datetime.date(2026, 1, 17)
    assert not is_working_day(saturday)

    response = admin_client.post(
        reverse("admin:schedule_calendarday_add"),
        {"date": "2026-01-17", "is_working": "on", "note": "Transferred working Saturday"},
    )

    assert response.status_code == 302
    assert is_working_day(saturday)
    day = CalendarDay.objects.get()
    for url in [
        reverse("admin:schedule_calendarday_changelist"),
        reverse("admin:schedule_calendarday_change", args=[day.pk]),
    ]:
        assert admin_client.get(url).status_code == 200, url


def test_admin_refuses_a_second_exception_for_the_same_date(admin_client):
    CalendarDay.objects.create(date=datetime.date(2026, 1, 17), is_working=True)

    response = admin_client.post(
        reverse("admin:schedule_calendarday_add"), {"date": "2026-01-17", "note": "Day off"}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "date": ["Calendar exception with this Date already exists."]
    }
    assert CalendarDay.objects.get().is_working


def submitted(response) -> dict[str, str]:
    """What a browser sends for the admin change form as rendered (hidden values included)."""
    forms = [response.context["adminform"].form]
    for inline in response.context.get("inline_admin_formsets", []):
        forms.extend([inline.formset.management_form, *inline.formset.forms])
    data: dict[str, str] = {}
    for form in forms:
        for field in form:
            value = field.value()
            if value is False:
                continue
            data[field.html_name] = "" if value is None else str(value)
            if field.field.show_hidden_initial:
                seen = form.data.get(field.html_initial_name, data[field.html_name])
                data[field.html_initial_name] = seen
    return data


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


# the model, the field someone else changes (and its new value, as the message shows it), and
# the field the admin user changes
STALE_CASES = [
    pytest.param("task", ("name", "Changed by the API", "Changed by the API"), "unit", id="task"),
    pytest.param("monthlytask", ("volume_plan", Decimal("44"), "44"), "volume_plan", id="plan"),
    pytest.param("dailywork", ("description", "Axis D", "Axis D"), "volume", id="work"),
    pytest.param("calendarday", ("is_working", True, "Yes"), "note", id="calendar"),
]
ADMIN_ENTRY = {"unit": "km", "volume_plan": "50", "volume": "3", "note": "Thaw"}


@pytest.mark.parametrize(("model", "theirs", "mine"), STALE_CASES)
def test_a_stale_admin_save_is_shown_again_naming_what_changed_and_writes_nothing(
    admin_client, objects, capture_events, model, theirs, mine
):
    obj = objects[model]
    data = submitted(admin_client.get(change_url(obj)))
    name, value, shown = theirs
    versioned_update(instance=obj, data={name: value}, version=None)
    obj.refresh_from_db()
    before = model_to_dict(obj)

    with capture_events(expected=0):
        response = admin_client.post(change_url(obj), data | {mine: ADMIN_ENTRY[mine]})

    label = capfirst(obj._meta.get_field(name).verbose_name)
    assert response.status_code == 200
    assert f"Changed meanwhile: {label}: {shown}." in response.content.decode()
    obj.refresh_from_db()
    assert model_to_dict(obj) == before
    assert response.context["adminform"].form["version"].value() == str(obj.version)

    stored_version = obj.version

    again = admin_client.post(change_url(obj), submitted(response))

    assert again.status_code == 302
    obj.refresh_from_db()
    assert str(getattr(obj, mine)).rstrip("0").rstrip(".") == ADMIN_ENTRY[mine]
    assert obj.version == stored_version + 1


@pytest.mark.parametrize(("model", "theirs", "mine"), STALE_CASES)
def test_a_fresh_admin_save_applies_and_moves_the_version_on(
    admin_client, objects, model, theirs, mine
):
    obj = objects[model]
    obj.refresh_from_db()
    data = submitted(admin_client.get(change_url(obj)))

    response = admin_client.post(change_url(obj), data | {mine: ADMIN_ENTRY[mine]})

    assert response.status_code == 302
    version = obj.version
    obj.refresh_from_db()
    assert str(getattr(obj, mine)).rstrip("0").rstrip(".") == ADMIN_ENTRY[mine]
    assert obj.version == version + 1


def test_a_stale_inline_row_is_shown_again_naming_what_changed_and_nothing_is_written(
    admin_client, objects, capture_events
):
    task, plan = objects["task"], objects["monthlytask"]
    task.refresh_from_db()
    data = submitted(admin_client.get(change_url(task)))
    versioned_update(instance=plan, data={"volume_plan": Decimal("44")}, version=None)

    with capture_events(expected=0):
        response = admin_client.post(
            change_url(task),
            data | {"name": "Renamed in admin", "monthly_tasks-0-volume_plan": "60"},
        )
    version = task.version

    assert response.status_code == 200
    assert "Changed meanwhile: Planned volume: 44." in response.content.decode()
    task.refresh_from_db()
    plan.refresh_from_db()
    assert (task.name, task.version) == ("Разработка грунта", version)
    assert plan.volume_plan == Decimal("44")

    again = admin_client.post(change_url(task), submitted(response))

    assert again.status_code == 302
    plan.refresh_from_db()
    assert plan.volume_plan == Decimal("60")


def test_deleting_a_stale_inline_row_is_refused_with_what_changed(admin_client, objects):
    task, work = objects["task"], objects["dailywork"]
    data = submitted(admin_client.get(change_url(task)))
    versioned_update(instance=work, data={"description": "Axis D"}, version=None)

    response = admin_client.post(change_url(task), data | {"daily_works-0-DELETE": "on"})

    assert response.status_code == 200
    assert "Changed meanwhile: Description: Axis D." in response.content.decode()
    assert DailyWork.objects.filter(pk=work.pk).exists()


def test_an_inline_row_changed_meanwhile_but_left_alone_is_not_overwritten(admin_client, objects):
    task, work = objects["task"], objects["dailywork"]
    data = submitted(admin_client.get(change_url(task)))
    versioned_update(instance=work, data={"description": "Axis D"}, version=None)

    response = admin_client.post(change_url(task), data | {"name": "Renamed in admin"})

    assert response.status_code == 302
    task.refresh_from_db()
    work.refresh_from_db()
    assert (task.name, work.description) == ("Renamed in admin", "Axis D")


def test_a_task_left_alone_saves_its_inline_rows_though_a_report_moved_its_version_on(
    admin_client, objects, capture_events
):
    """A foreman's report recalculates the task (its version moves on) while a planner edits a
    monthly plan on the task's page: the plan is saved, the task is not written."""
    task, plan = objects["task"], objects["monthlytask"]
    data = submitted(admin_client.get(change_url(task)))
    DailyWorkFactory(task=task, date=task.start_date, volume=Decimal("2"))
    task.refresh_from_db()
    version, volume_fact = task.version, task.volume_fact

    with capture_events(expected=1) as events:
        response = admin_client.post(change_url(task), data | {"monthly_tasks-0-volume_plan": "60"})

    assert response.status_code == 302
    assert [event.type for event in events] == ["monthly_task_updated"]
    plan.refresh_from_db()
    task.refresh_from_db()
    assert plan.volume_plan == Decimal("60")
    assert (task.version, task.volume_fact) == (version, volume_fact)


def test_a_change_landing_between_the_check_and_the_write_writes_nothing(
    admin_client, objects, capture_events, monkeypatch
):
    """The forms' check runs before the write; the services compare again under a row lock.

    The first check is made to miss the change (as if it landed right after it); the write
    then refuses it, the whole save (inlines too) rolls back and the form is shown again.
    """
    task, plan = objects["task"], objects["monthlytask"]
    planned = plan.volume_plan
    data = submitted(admin_client.get(change_url(task)))
    # The same field as the form changes: a change of another field would be merged.
    task = versioned_update(instance=task, data={"unit": "t"}, version=None)
    stored = (task.name, task.unit, task.version)
    real = VersionedAdminForm.stale_message
    calls = []

    def misses_it_once(form):
        calls.append(form)
        return None if len(calls) == 1 else real(form)

    monkeypatch.setattr(VersionedAdminForm, "stale_message", misses_it_once)

    with capture_events(expected=0):
        response = admin_client.post(
            change_url(task), data | {"unit": "km", "monthly_tasks-0-volume_plan": "60"}
        )

    assert response.status_code == 200
    assert "Changed meanwhile: Unit: t." in response.content.decode()
    task.refresh_from_db()
    plan.refresh_from_db()
    assert (task.name, task.unit, task.version) == stored
    assert (plan.volume_plan, plan.version) == (planned, 1)


def test_a_change_form_sent_without_its_version_is_refused(admin_client, objects):
    task = objects["task"]
    data = submitted(admin_client.get(change_url(task)))
    del data["version"]

    response = admin_client.post(change_url(task), data | {"name": "No version"})

    assert response.status_code == 200
    assert "This form came without the version of the task" in response.content.decode()
    task.refresh_from_db()
    assert task.name == "Разработка грунта"
