import datetime
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from types import ModuleType

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import translation

from daily import views as daily_views
from daily.services import daily_work_delete
from daily.tests.factories import DailyWorkFactory
from monthly.models import MonthlyTask
from monthly.services import monthly_task_delete
from monthly.tests.factories import MonthlyTaskFactory
from progress import msg_views
from schedule import views as schedule_views
from schedule.roles import FOREMEN, PLANNERS
from schedule.services import task_delete
from schedule.tests.factories import TaskFactory
from scheduler_project.numbers import volume_formatter
from scheduler_project.pages import (
    GONE_MESSAGE,
    VersionedEditFlow,
    format_value,
    format_volume,
)
from scheduler_project.versioning import VersionedModel


@pytest.mark.parametrize(
    ("value", "english", "russian"),
    [
        (Decimal("100.000"), "100", "100"),
        (Decimal("12.500"), "12.5", "12,5"),
        (Decimal("12345.678"), "12,345.678", "12\xa0345,678"),
        (Decimal("0.000"), "0", "0"),
        (Decimal("-1234567.5"), "−1,234,567.5", "−1\xa0234\xa0567,5"),  # the minus sign
        ("2500", "2,500", "2\xa0500"),
        (None, "", ""),
    ],
)
def test_volumes_lose_trailing_zeros_and_follow_the_language(value, english, russian):
    with translation.override("en"):
        assert format_volume(value) == english
    with translation.override("ru"):
        assert format_volume(value) == russian


def test_a_pages_volume_formatter_shows_repeated_and_signed_values_as_format_volume_does():
    values = [Decimal("12.500"), Decimal("12.5"), Decimal("-0"), Decimal(0), Decimal("-0.000")]
    for language, twelve in (("en", "12.5"), ("ru", "12,5")):
        with translation.override(language):
            formatter = volume_formatter()
            shown = [formatter(value) for value in values * 2]
            assert shown == [format_volume(value) for value in values * 2]
            assert shown == [twelve, twelve, "0", "0", "0"] * 2  # never «−0»


@pytest.mark.parametrize(("value", "shown"), [("", "—"), (None, "—"), ("Pit", "Pit")])
def test_empty_values_show_as_a_dash(value, shown):
    assert format_value(value) == shown


@dataclass(frozen=True)
class App:
    """One app's page forms, as the edit flow tests drive them."""

    views: ModuleType
    make: Callable[[], VersionedModel]
    entity: str  # the service's keyword for its object
    update_service: str
    delete_service: str
    delete: Callable[..., None]
    update_url: Callable[[VersionedModel], str]
    delete_url: Callable[[VersionedModel], str]
    entry: Callable[[VersionedModel], dict[str, object]]
    entered: str  # how the entry shows in a form
    list_url: Callable[[VersionedModel], str]
    create_url: str
    deleted_name: str
    role: str

    def __str__(self) -> str:
        return self.views.__name__.split(".")[0]

    def permission(self, action: str) -> Permission:
        model = self.views.pages.form_class._meta.model
        return Permission.objects.get(
            content_type__app_label=model._meta.app_label,
            codename=f"{action}_{model._meta.model_name}",
        )


def _monthly_update_url(plan: MonthlyTask) -> str:
    url = reverse("monthly:monthly_task_update", args=[plan.pk])
    return f"{url}?month={plan.month:%Y-%m}&task={plan.task_id}"


APPS = [
    App(
        views=schedule_views,
        make=lambda: TaskFactory(code="2.1"),
        entity="task",
        update_service="task_update",
        delete_service="task_delete",
        delete=task_delete,
        update_url=lambda task: reverse("schedule:task_update", args=[task.pk]),
        delete_url=lambda task: reverse("schedule:task_delete", args=[task.pk]),
        entry=lambda task: {
            "code": "2.1",
            "name": "Mine",
            "unit": "m³",
            "volume_plan": "120.5",
            "start_date": "2026-11-02",
            "end_date": "2026-11-30",
            "version": 1,
        },
        entered='value="Mine"',
        list_url=lambda task: reverse("schedule:task_list"),
        create_url=reverse("schedule:task_create"),
        deleted_name="This task",
        role=PLANNERS,
    ),
    App(
        views=daily_views,
        make=lambda: DailyWorkFactory(date=datetime.date(2026, 11, 25)),
        entity="daily_work",
        update_service="daily_work_update",
        delete_service="daily_work_delete",
        delete=daily_work_delete,
        # As the day's rows link them: naming the day to return to.
        update_url=lambda work: (
            f"{reverse('daily:daily_work_update', args=[work.pk])}?date=2026-11-25"
        ),
        delete_url=lambda work: (
            f"{reverse('daily:daily_work_delete', args=[work.pk])}?date=2026-11-25"
        ),
        entry=lambda work: {
            "task": work.task_id,
            "date": "2026-11-25",
            "volume": "5.25",
            "description": "",
            "version": 1,
        },
        entered='value="5.25"',
        list_url=lambda work: f"{reverse('daily:day')}?date=2026-11-25",
        create_url=reverse("daily:daily_work_create"),
        deleted_name="This work",
        role=FOREMEN,
    ),
    App(
        views=msg_views,
        make=lambda: MonthlyTaskFactory(month=datetime.date(2026, 11, 1)),
        entity="monthly_task",
        update_service="monthly_task_update",
        delete_service="monthly_task_delete",
        delete=monthly_task_delete,
        update_url=_monthly_update_url,
        delete_url=lambda plan: reverse("monthly:monthly_task_delete", args=[plan.pk]),
        entry=lambda plan: {"volume_plan": "50.5", "version": 1},
        entered='value="50.5"',
        list_url=lambda plan: f"{reverse('monthly:order')}?month=2026-11",
        create_url=reverse("monthly:monthly_task_create"),
        deleted_name="This plan",
        role=PLANNERS,
    ),
]
apps = pytest.mark.parametrize("app", APPS, ids=str)


@apps
def test_every_page_form_of_the_app_goes_through_the_one_edit_flow(app):
    assert isinstance(app.views.pages, VersionedEditFlow)
    for action in ("create", "update", "delete"):
        view = getattr(app.views, f"{app.views.pages.context_object_name}_{action}_view", None)
        view = view or getattr(app.views, f"{app.entity}_{action}_view")
        assert view.__wrapped__ == getattr(app.views.pages, f"{action}_view")


@apps
@pytest.mark.django_db
def test_an_edit_whose_object_is_deleted_under_the_write_keeps_the_entry_and_says_who_deleted_it(
    client, make_user, monkeypatch, app
):
    obj = app.make()
    olga = make_user(app.role, username="olga", first_name="Olga", last_name="Petrova")
    real = getattr(app.views, app.update_service)

    def deleted_first(**kwargs):
        app.delete(**{app.entity: obj, "actor": olga})
        return real(**kwargs)

    monkeypatch.setattr(app.views, app.update_service, deleted_first)
    client.force_login(make_user(app.role))

    response = client.post(app.update_url(obj), app.entry(obj))
    html = response.content.decode()

    assert response.status_code == 410
    assert f"{app.deleted_name} was deleted at " in html and " by Olga Petrova." in html
    assert f'action="{app.create_url}"' in html
    assert app.entered in html
    assert not type(obj).objects.exists()


@apps
@pytest.mark.django_db
def test_a_user_who_may_not_create_the_object_is_only_told_that_the_edited_one_is_gone(
    client, make_user, app
):
    obj = app.make()
    url, data = app.update_url(obj), app.entry(obj)
    app.delete(**{app.entity: obj})
    editor = make_user(None, username="editor")
    editor.user_permissions.add(app.permission("view"), app.permission("change"))
    client.force_login(editor)

    response = client.post(url, data, follow=True)

    assert response.redirect_chain == [(app.list_url(obj), 302)]
    assert str(GONE_MESSAGE) in response.content.decode()


@apps
@pytest.mark.django_db
def test_a_delete_whose_object_is_deleted_under_the_write_leads_back_to_the_list(
    client, make_user, monkeypatch, app
):
    obj = app.make()
    real = getattr(app.views, app.delete_service)

    def deleted_first(**kwargs):
        app.delete(**{app.entity: obj})
        return real(**kwargs)

    monkeypatch.setattr(app.views, app.delete_service, deleted_first)
    client.force_login(make_user(app.role))

    response = client.post(app.delete_url(obj), {"version": 1}, follow=True)

    assert response.redirect_chain == [(app.list_url(obj), 302)]
    assert str(GONE_MESSAGE) in response.content.decode()


@apps
@pytest.mark.django_db
def test_the_delete_page_leads_back_to_the_objects_row(client, make_user, app):
    obj = app.make()
    client.force_login(make_user(app.role))

    html = client.get(app.delete_url(obj)).content.decode()

    row = "task" if app.entity != "daily_work" else "work"
    anchor = obj.pk if row == "work" else getattr(obj, "task_id", obj.pk)
    assert f'href="{app.list_url(obj)}#{row}-{anchor}"'.replace("&", "&amp;") in html


@apps
@pytest.mark.parametrize(
    ("action", "method", "page"),
    [
        ("add", "post", lambda app, obj: app.create_url),
        ("change", "post", lambda app, obj: app.update_url(obj)),
        ("delete", "get", lambda app, obj: app.delete_url(obj)),
        ("delete", "post", lambda app, obj: app.delete_url(obj)),
    ],
)
@pytest.mark.django_db
def test_each_write_needs_its_permission_on_the_model(client, make_user, app, action, method, page):
    obj = app.make()
    user = make_user(None, username="almost")
    others = {"add", "change", "delete", "view"} - {action}
    user.user_permissions.add(*(app.permission(other) for other in others))
    client.force_login(user)

    response = getattr(client, method)(page(app, obj), app.entry(obj))

    assert response.status_code == 403
    assert type(obj).objects.get().version == 1


@pytest.mark.django_db
def test_every_page_names_the_sites_icon_so_browsers_do_not_ask_for_a_missing_favicon(client):
    html = client.get(reverse("login")).content.decode()

    href = html.split('<link rel="icon" href="', 1)[1].split('"', 1)[0]
    assert finders.find(href.removeprefix(settings.STATIC_URL)) is not None
