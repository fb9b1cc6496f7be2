"""Every page of the project (``urls.py``), fuzzed: no query parameter, whatever its value, is a
server error. The pages are found by walking the URL configuration, so a new page is fuzzed
as soon as it has a route."""

import datetime
from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from daily.tests.factories import DailyWorkFactory
from monthly.tests.factories import MonthlyTaskFactory
from schedule.services import task_update
from schedule.tests.factories import TaskFactory, UserFactory

PAGE_NAMESPACES = ("schedule", "monthly", "daily", "changes", "progress", "pwa")
"""The project's own pages; the admin is Django's, the API is fuzzed by its schema
(``test_schema.py``)."""


def page_routes() -> dict[str, set[str]]:
    """The project's page routes: each one's name (``namespace:name``) and the names of its
    path arguments."""
    routes: dict[str, set[str]] = {}

    def walk(patterns: list, namespace: str | None) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and namespace in PAGE_NAMESPACES:
                routes[f"{namespace}:{pattern.name}"] = set(pattern.pattern.converters)

    walk(get_resolver().url_patterns, None)
    return routes


ROUTES = page_routes()
PAGES = sorted(ROUTES)

# What a route's path arguments name: an object the seeded data has (``seeded``'s keys).
PATH_ARGUMENTS = {
    "schedule:task_update": {"pk": "task"},
    "schedule:task_delete": {"pk": "task"},
    "monthly:monthly_task_update": {"pk": "plan"},
    "monthly:monthly_task_delete": {"pk": "plan"},
    "monthly:cell_update": {"pk": "work"},
    "daily:daily_work_update": {"pk": "work"},
    "daily:daily_work_delete": {"pk": "work"},
    "changes:object": {"stream": "tasks", "object_id": "task"},
}

# The parameters some page reads, and a few no page does.
PARAMETER_NAMES = [
    "date",
    "month",
    "section",
    "view",
    "fragment",
    "task",
    "page",
    "person",
    "since",
    "until",
    "stream",
    "kind",
    "version",
    "next",
    "limit",
    "offset",
    "q",
]

dates = st.one_of(
    st.dates().map(datetime.date.isoformat),
    st.sampled_from(["0001-01-01", "9999-12-31", "2026-02-29", "2026-13-01", "2026-00-10"]),
)
months = st.builds(
    "{}-{:02d}".format, st.integers(min_value=0, max_value=99999), st.integers(0, 99)
)
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["0", "-1", "1e308", "9" * 400, "NaN", "Infinity", "1.5", "٣", "²"]),
)
known_values = st.sampled_from(
    [
        "rows",
        "timeline",
        "table",
        "tables",
        "tasks",
        "daily_works",
        "monthly_tasks",
        "calendar_days",
        "created",
        "updated",
        "deleted",
        "1",
        "1.",
        ".",
        "/",
        "//evil.example",
        "\x00",
        "1\x00",
    ]
)
values = st.one_of(dates, months, numbers, known_values, st.text(max_size=40))
# A page's fragments are asked for by ``fragment`` (and the timeline's by ``view`` too).
FRAGMENTS = [
    [],
    [("fragment", "rows")],
    [("fragment", "tables")],
    [("view", "timeline"), ("fragment", "timeline")],
]
parameters = st.builds(
    list.__add__,
    st.sampled_from(FRAGMENTS),
    st.lists(
        st.tuples(st.one_of(st.sampled_from(PARAMETER_NAMES), st.text(max_size=10)), values),
        max_size=6,
    ),
)


@pytest.fixture
def seeded(db, client) -> dict[str, int]:
    """A little of everything, changed once, and the ids the routes' arguments name; the
    client is logged in as a superuser, who may open every page."""
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    task = TaskFactory(code="1.1", volume_plan=Decimal("100"))
    task = task_update(task=task, data={"name": "Renamed"}, version=None, actor=admin)
    plan = MonthlyTaskFactory(task=task, volume_plan=Decimal("10"))
    work = DailyWorkFactory(task=task, volume=Decimal("2.5"), created_by=admin)
    return {"task": task.pk, "plan": plan.pk, "work": work.pk}


def page_url(name: str, seeded: dict[str, int]) -> str:
    arguments = {
        key: seeded.get(value, value) for key, value in PATH_ARGUMENTS.get(name, {}).items()
    }
    return reverse(name, kwargs=arguments)


def test_the_walk_finds_the_pages_and_knows_every_routes_arguments():
    assert {
        "schedule:task_list",
        "schedule:import",
        "monthly:order",
        "monthly:order_export",
    } <= set(PAGES)
    assert {"daily:day", "daily:day_export", "changes:list", "progress:page"} <= set(PAGES)
    assert {name: set(PATH_ARGUMENTS.get(name, {})) for name in PAGES} == ROUTES


@pytest.mark.parametrize("name", PAGES)
@given(query=parameters)
@example(query=[("until", "9999-12-31")])
@example(query=[("since", "0001-01-01")])
@example(query=[("date", "9999-12-31")])
@example(query=[("task", "9" * 30), ("fragment", "rows")])
@example(query=[("month", "9999-12")])
@example(query=[("section", "1\x00")])
@hypothesis_settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_query_parameter_is_a_server_error(client, seeded, name, query):
    response = client.get(page_url(name, seeded), query)

    assert response.status_code < 500, (name, query)
