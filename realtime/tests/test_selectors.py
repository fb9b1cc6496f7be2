"""The stream permissions the hub and the consumer read (the same answers as ``has_perm``), and
whom a request's credentials log in."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from rest_framework.authtoken.models import Token

from realtime import selectors
from realtime.protocol import PRESENCE_PERMISSIONS, STAFF, STREAM_PERMISSIONS, STREAMS

pytestmark = pytest.mark.django_db


def permission(stream: str) -> Permission:
    app_label, codename = STREAM_PERMISSIONS[stream].split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def user_holding(name: str, *, direct=(), through_group=(), superuser=False, other=False):
    user = get_user_model().objects.create_user(name, is_superuser=superuser)
    user.user_permissions.add(*(permission(stream) for stream in direct))
    if through_group:
        group = Group.objects.create(name=f"group of {name}")
        group.permissions.add(*(permission(stream) for stream in through_group))
        user.groups.add(group)
    if other:  # a permission that is no stream's
        user.user_permissions.add(Permission.objects.get(codename="add_task"))
    return user


CASES = {
    "nothing": {},
    "a permission of no stream": {"other": True},
    "one stream directly": {"direct": ["tasks"]},
    "two streams through a group": {"through_group": ["daily_works", "monthly_tasks"]},
    "both ways, overlapping": {"direct": ["tasks"], "through_group": ["tasks", "calendar_days"]},
    "a superuser": {"superuser": True},
}


@pytest.mark.parametrize("case", CASES)
def test_the_streams_a_user_may_view_are_those_has_perm_allows(case):
    user = user_holding("ivan", **CASES[case])

    [read] = selectors.users_with_stream_permissions({user.pk})

    fresh = get_user_model().objects.get(pk=user.pk)
    expected = {stream for stream in STREAMS if fresh.has_perm(STREAM_PERMISSIONS[stream])}
    assert selectors.streams_of(read) == expected


def test_many_users_are_read_together_each_with_their_own_streams():
    users = [user_holding(f"user{i}", **kwargs) for i, kwargs in enumerate(CASES.values())]

    read = selectors.users_with_stream_permissions({user.pk for user in users})

    expected = {
        user.pk: {s for s in STREAMS if user.has_perm(STREAM_PERMISSIONS[s])} for user in users
    }
    assert {user.pk: selectors.streams_of(user) for user in read} == expected


def test_an_inactive_user_is_not_read():
    user = user_holding("ivan", direct=["tasks"])
    user.is_active = False
    user.save()

    assert selectors.users_with_stream_permissions({user.pk}) == []


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("staff", [False, True], ids=["not staff", "staff"])
def test_the_grants_presence_needs_are_those_has_perm_allows_and_staff_status(case, staff):
    user = user_holding("ivan", **CASES[case])
    user.is_staff = staff
    user.save()

    [read] = selectors.users_with_stream_permissions({user.pk})

    fresh = get_user_model().objects.get(pk=user.pk)
    expected = {permission for permission in PRESENCE_PERMISSIONS if fresh.has_perm(permission)}
    assert read.presence_grants == expected | ({STAFF} if staff else set())


@pytest.mark.parametrize(
    ("sent", "since", "found"),
    [
        ("session", None, True),
        ("token", None, True),
        ("token, and someone else's session", None, True),  # the token first, as the API
        ("session", "password changed", False),
        ("session", "deactivated", False),
        ("token", "deactivated", False),
        ("unknown session", None, False),
        ("unknown token", None, False),
        ("nothing", None, False),
    ],
)
def test_login_user_is_whom_a_requests_token_or_else_session_logs_in(client, sent, since, found):
    user = get_user_model().objects.create_user("site-engineer", password="first")
    token = Token.objects.create(user=user)
    other = Client()
    client.force_login(user)
    other.force_login(get_user_model().objects.create_user("someone-else"))
    session, others = (c.cookies[settings.SESSION_COOKIE_NAME].value for c in (client, other))
    if since == "password changed":
        user.set_password("second")
        user.save()
    elif since == "deactivated":
        user.is_active = False
        user.save()
    token_key, session_key = {
        "session": (None, session),
        "token": (token.key, None),
        "token, and someone else's session": (token.key, others),
        "unknown session": (None, "no-such-session"),
        "unknown token": ("no-such-token", None),
        "nothing": (None, None),
    }[sent]

    assert selectors.login_user(token_key=token_key, session_key=session_key) == (
        user if found else None
    )
