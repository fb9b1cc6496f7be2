import datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from daily.models import DailyWork
from daily.tests.factories import DailyWorkFactory
from monthly.tests.factories import MonthlyTaskFactory
from schedule.models import CalendarDay, Task
from schedule.tests.factories import TaskFactory
from schedule.working_days import is_working_day

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
    }


MODELS = [("schedule", "task"), ("monthly", "monthlytask"), ("daily", "dailywork")]


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


def test_task_change_page_shows_volume_fact_and_version_read_only_and_both_inlines(
    admin_client, objects
):
    response = admin_client.get(reverse("admin:schedule_task_change", args=[objects["task"].pk]))

    form = response.context["adminform"].form
    assert "volume_fact" not in form.fields
    assert "version" not in form.fields
    assert {"volume_fact", "version"} <= set(response.context["adminform"].readonly_fields)
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


@pytest.mark.parametrize(("app_label", "model"), MODELS)
def test_changelists_list_codes_in_natural_order(admin_client, app_label, model):
    for code in ["10.1", "2.1", "1.10", "1.2"]:
        task = TaskFactory(code=code)
        MonthlyTaskFactory(task=task)
        DailyWorkFactory(task=task)

    response = admin_client.get(reverse(f"admin:{app_label}_{model}_changelist"))

    rows = response.context["cl"].result_list
    codes = [getattr(row, "task", row).code for row in rows]
    assert codes == ["1.2", "1.10", "2.1", "10.1"]


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
