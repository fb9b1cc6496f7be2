import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from schedule.roles import ROLE_PERMISSIONS, roles_ensure

pytestmark = pytest.mark.django_db


def test_roles_get_exactly_their_permissions():
    roles_ensure()

    for name, specs in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=name)
        codenames = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        expected = set()
        for spec in specs:
            app_label, model, action = spec.split(".")
            expected.add(f"{app_label}.{action}_{model}")
        assert codenames == expected


def test_setup_roles_command_is_idempotent_and_repairs_drift():
    call_command("setup_roles")
    planners = Group.objects.get(name="planners")
    planners.permissions.clear()

    call_command("setup_roles")

    assert Group.objects.filter(name__in=ROLE_PERMISSIONS).count() == 3
    assert planners.permissions.count() == 24  # four models, units, sections: four actions each


def test_foremen_may_change_daily_works_but_only_view_tasks(foreman):
    assert foreman.has_perm("daily.change_dailywork")
    assert foreman.has_perm("schedule.view_task")
    assert not foreman.has_perm("schedule.change_task")
    assert not foreman.has_perm("monthly.add_monthlytask")


def test_viewers_may_only_view(viewer):
    assert viewer.has_perm("monthly.view_monthlytask")
    assert not viewer.has_perm("daily.add_dailywork")


@pytest.mark.parametrize("role_user", ["planner", "foreman", "viewer"])
def test_every_role_sees_the_working_calendar_and_only_planners_keep_it(role_user, request):
    user = request.getfixturevalue(role_user)

    assert user.has_perm("schedule.view_calendarday")
    assert user.has_perm("schedule.change_calendarday") is (role_user == "planner")
