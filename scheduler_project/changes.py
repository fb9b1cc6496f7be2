"""The history's pages: the recent changes of everything a user may see, filterable by person,
day and kind, and one object's changes (the "History" link of each row). What is recorded, and
how, is ``realtime.history``'s.

Each change is told in the pages' words (``describe_changes``, the admin's history too): the
object as a sentence — «4.4 «Кладка стен»: 23,7 м³ за 07.12.2026» — from the values that named
it then (``Change.subject``), the person by name, the page it came from, and the fields people
set, old → new, formatted as the pages format them. Ids, logins of people with a name and
bookkeeping fields (times, versions, who created a row: the entry's own columns) are not shown.
A report's entry also tells what it moved on its task (the recalculated volume done), which is
therefore not listed as a change of the task.
"""

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import InvalidOperation
from typing import Any

from django import forms
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.formats import date_format
from django.utils.text import capfirst
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from realtime.history import (
    change_actors,
    consequences_of,
    object_changes,
    recent_changes,
    stream_model,
)
from realtime.models import Change
from realtime.protocol import CALENDAR_DAYS, DAILY_WORKS, MONTHLY_TASKS, STREAM_PERMISSIONS, TASKS

from .numbers import format_volume
from .pages import EMPTY_DISPLAY, format_person

CHANGES_PER_PAGE = 50


def viewable_streams(user: Any) -> list[str]:
    return [stream for stream, perm in STREAM_PERMISSIONS.items() if user.has_perm(perm)]


def stream_label(stream: str) -> str:
    return str(stream_model(stream)._meta.verbose_name_plural).capitalize()


class ChangeFilterForm(forms.Form):
    person = forms.ModelChoiceField(
        label=_("Person"),
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label=_("Anyone"),
    )
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    stream = forms.ChoiceField(label=_("What"), required=False)
    kind = forms.ChoiceField(label=_("Change"), required=False)

    def __init__(self, *args: Any, streams: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = change_actors(streams=streams)
        self.fields["person"].label_from_instance = lambda user: (
            user.get_full_name() or user.get_username()
        )
        self.fields["stream"].choices = [("", _("Everything"))] + [
            (stream, stream_label(stream)) for stream in streams
        ]
        self.fields["kind"].choices = [("", _("Any")), *Change.KINDS]


def _page(request: HttpRequest, changes: Any) -> tuple[Any, list[Change]]:
    page = Paginator(changes.select_related("actor"), CHANGES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return page, describe_changes(page.object_list)


@require_GET
def change_list_view(request: HttpRequest) -> HttpResponse:
    """Recent changes of everything the user may view, newest first."""
    streams = viewable_streams(request.user)
    if not streams:
        raise PermissionDenied
    form = ChangeFilterForm(request.GET or None, streams=streams)
    filters: dict[str, Any] = {"streams": streams}
    status = 200
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters.update(
            actor_id=data["person"].pk if data["person"] else None,
            since=data["since"],
            until=data["until"],
            streams=[data["stream"]] if data["stream"] else streams,
            kinds=[data["kind"]] if data["kind"] else None,
        )
    elif form.is_bound:
        status = 400
    page, changes = _page(request, recent_changes(**filters))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "changes": changes,
        "query": query.urlencode(),
    }
    return render(request, "changes/list.html", context, status=status)


@require_GET
def object_changes_view(request: HttpRequest, stream: str, object_id: int) -> HttpResponse:
    """One object's changes, newest first (a deleted object's too)."""
    if stream not in STREAM_PERMISSIONS:
        raise Http404
    if not request.user.has_perm(STREAM_PERMISSIONS[stream]):
        raise PermissionDenied
    model = stream_model(stream)
    current = model._default_manager.filter(pk=object_id).first()
    # The newest change names the object as it is now (or was, when deleted).
    newest = object_changes(stream=stream, object_id=object_id, consequences=False).first()
    if current is None and newest is None:
        raise Http404  # as the API's history: no such object, nor any history of it
    page, changes = _page(
        request, object_changes(stream=stream, object_id=object_id, consequences=False)
    )
    title = describe(newest) if newest is not None else str(current or "")
    context = {
        "page": page,
        "changes": changes,
        "title": title,
        "deleted": current is None,
        "stream_label": stream_label(stream),
        "query": "",
    }
    return render(request, "changes/object.html", context)


# Telling a change.

MONTHS_IN_SENTENCE = {
    1: pgettext_lazy("month in a sentence", "January"),
    2: pgettext_lazy("month in a sentence", "February"),
    3: pgettext_lazy("month in a sentence", "March"),
    4: pgettext_lazy("month in a sentence", "April"),
    5: pgettext_lazy("month in a sentence", "May"),
    6: pgettext_lazy("month in a sentence", "June"),
    7: pgettext_lazy("month in a sentence", "July"),
    8: pgettext_lazy("month in a sentence", "August"),
    9: pgettext_lazy("month in a sentence", "September"),
    10: pgettext_lazy("month in a sentence", "October"),
    11: pgettext_lazy("month in a sentence", "November"),
    12: pgettext_lazy("month in a sentence", "December"),
}
"""A month's name inside a sentence: «план на декабрь 2026» (Django's month names are
capitalized in Russian, as they stand alone)."""

# The fields an entry lists, in the forms' order: those people set. Ids, times, versions and
# who created a row are bookkeeping (the entry's own columns say who and when); a daily work's
# ``task_code`` and ``task_unit`` and a task's ``progress_percent`` follow from other fields.
LISTED_FIELDS: dict[str, tuple[str, ...]] = {
    TASKS: (
        "code",
        "name",
        "unit",
        "volume_plan",
        "start_date",
        "end_date",
        "estimated_cost",
        "volume_fact",
    ),
    DAILY_WORKS: ("task", "date", "volume", "description", "created_by"),
    MONTHLY_TASKS: ("task", "month", "volume_plan"),
    CALENDAR_DAYS: ("date", "is_working", "note"),
}
# What the sentence of a new object says already (a task's unit goes with its volumes), or
# what it starts with and is not news (a new task's volume done, a work's author: its actor).
NAMED_FIELDS: dict[str, frozenset[str]] = {
    TASKS: frozenset({"code", "name", "unit", "volume_fact"}),
    DAILY_WORKS: frozenset({"task", "date", "volume", "created_by"}),
    MONTHLY_TASKS: frozenset({"task", "month", "volume_plan"}),
    CALENDAR_DAYS: frozenset({"date", "is_working"}),
}
VOLUME_FIELDS = frozenset({"volume", "volume_plan", "volume_fact"})
DATE_FIELDS = frozenset({"date", "start_date", "end_date"})


@dataclass(frozen=True, slots=True)
class FieldLine:
    """One line of an entry: a field's label and its values as the pages show them (``old`` is
    empty for a new object's field)."""

    label: str
    old: str
    new: str


def task_phrase(code: str, name: str) -> str:
    """A task by its code and name: «4.4 «Кладка стен»»."""
    if not name:
        return code
    return gettext("%(code)s “%(name)s”") % {"code": code, "name": name}


def _unit_decimals() -> dict[str, int]:
    """Each unit's decimals by name (the schedule's ``Unit``, looked up by name as the streams'
    models are: this module serves every app)."""
    return apps.get_model("schedule", "Unit").objects.decimals()


def volume_phrase(value: Any, unit: str, decimals: Mapping[str, int] | None = None) -> str:
    """A volume as the pages show it, with its unit and its unit's decimals (``decimals``, by
    unit name; looked up when not given): «23,7 м³»."""
    if decimals is None:
        decimals = _unit_decimals() if unit else {}
    try:
        text = format_volume(value, decimals.get(unit))
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    return f"{text} {unit}" if unit else text


def date_phrase(value: Any) -> str:
    try:
        day = value if isinstance(value, datetime.date) else datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value)
    return date_format(day, "SHORT_DATE_FORMAT")


def month_phrase(value: Any) -> str:
    """``2026-12`` as «декабрь 2026» / "December 2026"."""
    try:
        year, month = (int(part) for part in str(value).split("-")[:2])
        return f"{MONTHS_IN_SENTENCE[month]} {year}"
    except (KeyError, ValueError):
        return str(value)


def day_kind_phrase(is_working: Any) -> str:
    return gettext("working day") if is_working else gettext("day off")


def describe_subject(
    stream: str, subject: Mapping[str, Any], decimals: Mapping[str, int] | None = None
) -> str:
    """The sentence naming an object from the values its change recorded (``Change.subject``);
    ``decimals``: each unit's (looked up when not given)."""
    if stream == CALENDAR_DAYS:
        return f"{date_phrase(subject['date'])}: {day_kind_phrase(subject['is_working'])}"
    task = task_phrase(subject["code"], subject["name"])
    if stream == DAILY_WORKS:
        return gettext("%(task)s: %(volume)s on %(date)s") % {
            "task": task,
            "volume": volume_phrase(subject["volume"], subject["unit"], decimals),
            "date": date_phrase(subject["date"]),
        }
    if stream == MONTHLY_TASKS:
        return gettext("%(task)s: plan for %(month)s — %(volume)s") % {
            "task": task,
            "month": month_phrase(subject["month"]),
            "volume": volume_phrase(subject["volume_plan"], subject["unit"], decimals),
        }
    return task


def describe(change: Change, decimals: Mapping[str, int] | None = None) -> str:
    """The sentence naming the object of ``change``; a row recorded before the history kept
    its subject is named as it was then (``object_repr``)."""
    if not change.subject:
        return change.object_repr
    try:
        return describe_subject(change.stream, change.subject, decimals)
    except KeyError:
        return change.object_repr


def field_label(stream: str, name: str) -> str:
    """A field's name as the pages and admin show it (its verbose name)."""
    try:
        return capfirst(stream_model(stream)._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name


@dataclass(frozen=True, slots=True)
class _Names:
    """What the values of a page of changes point at: tasks and people by id."""

    tasks: Mapping[int, tuple[str, str]]
    people: Mapping[int, str]
    decimals: Mapping[str, int]
    """Each unit's decimals (``Unit.decimals``)."""


def shown_value(change: Change, name: str, side: int, names: _Names) -> str:
    """The old (``side`` 0) or new (1) value of a recorded field (its REST representation) as
    the pages show it."""
    value = change.fields[name][side]
    if value is None or value == "":
        return EMPTY_DISPLAY
    if name == "task":
        code, task_name = names.tasks.get(value, (None, ""))
        if code is None:  # the task is gone: the code recorded beside it
            code = change.fields.get("task_code", [None, None])[side]
            code = code or change.subject.get("code", EMPTY_DISPLAY)
        return task_phrase(str(code), task_name)
    if name == "created_by":
        return names.people.get(value, EMPTY_DISPLAY)
    if name in VOLUME_FIELDS:
        return volume_phrase(value, change.subject.get("unit", ""), names.decimals)
    if name == "estimated_cost":
        return volume_phrase(value, "", names.decimals)
    if name in DATE_FIELDS:
        return date_phrase(value)
    if name == "month":
        return month_phrase(value)
    if name == "is_working":
        return day_kind_phrase(value)
    return str(value)


def field_lines(change: Change, names: _Names) -> list[FieldLine]:
    """The fields an entry lists: a new object's that its sentence does not say, a change's
    that moved (old → new); a deletion's sentence says what was deleted."""
    if change.kind == Change.DELETED:
        return []
    listed = LISTED_FIELDS.get(change.stream, ())
    if change.kind == Change.CREATED:
        listed = [name for name in listed if name not in NAMED_FIELDS[change.stream]]
    lines = []
    for name in listed:
        if name not in change.fields:
            continue
        if change.kind == Change.CREATED and change.fields[name][1] in (None, ""):
            continue
        created = change.kind == Change.CREATED
        lines.append(
            FieldLine(
                label=field_label(change.stream, name),
                old="" if created else shown_value(change, name, 0, names),
                new=shown_value(change, name, 1, names),
            )
        )
    return lines


def consequence_line(consequence: Change, decimals: Mapping[str, int]) -> FieldLine | None:
    """What a report moved on its task: «Выполнено по 4.4: 100 → 123,7 м³»."""
    if "volume_fact" not in consequence.fields:
        return None
    old, new = consequence.fields["volume_fact"]
    unit = consequence.subject.get("unit", "")
    code = consequence.subject.get("code") or consequence.object_repr
    return FieldLine(
        label=gettext("Volume done of %(task)s") % {"task": code},
        old=volume_phrase(old, unit, decimals),
        new=volume_phrase(new, unit, decimals),
    )


def _names(changes: Iterable[Change]) -> _Names:
    """The tasks and people the changes' fields point at (a query for each kind there is)."""
    task_ids: set[int] = set()
    user_ids: set[int] = set()
    for change in changes:
        for name, ids in (("task", task_ids), ("created_by", user_ids)):
            ids.update(v for v in change.fields.get(name, ()) if isinstance(v, int))
    tasks = {}
    if task_ids:
        tasks = {
            pk: (code, name)
            for pk, code, name in stream_model(TASKS)
            .objects.filter(pk__in=task_ids)
            .values_list("pk", "code", "name")
        }
    people = {}
    if user_ids:
        people = {
            user.pk: format_person(user)
            for user in get_user_model().objects.filter(pk__in=user_ids)
        }
    return _Names(tasks=tasks, people=people, decimals=_unit_decimals())


def describe_changes(changes: Iterable[Change]) -> list[Change]:
    """A page of changes, each told in the pages' words: ``description`` (the object's
    sentence), ``who`` (full name, else login; empty for a script), ``lines`` (its fields and
    what it moved on its tasks). Its actors should be selected with it; a few queries for the
    whole page (consequences, tasks, people)."""
    changes = list(changes)
    consequences = consequences_of([change.pk for change in changes])
    names = _names(changes)
    for change in changes:
        change.description = describe(change, names.decimals)
        change.who = format_person(change.actor) or change.actor_username
        change.lines = field_lines(change, names)
        for consequence in consequences.get(change.pk, ()):
            line = consequence_line(consequence, names.decimals)
            if line is not None:
                change.lines.append(line)
    return changes
