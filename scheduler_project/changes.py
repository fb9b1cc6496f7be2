"""The history's pages: the recent changes of everything a user may see, filterable by person,
day and kind, and one object's changes (the "History" link of each row). What is recorded, and
how, is ``realtime.history``'s."""

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from realtime.history import (
    change_fields,
    object_changes,
    recent_changes,
    stream_model,
)
from realtime.models import Change
from realtime.protocol import STREAM_PERMISSIONS

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
        users = get_user_model().objects.filter(is_active=True).order_by("first_name", "username")
        self.fields["person"].queryset = users
        self.fields["person"].label_from_instance = lambda user: (
            user.get_full_name() or user.get_username()
        )
        self.fields["stream"].choices = [("", _("Everything"))] + [
            (stream, stream_label(stream)) for stream in streams
        ]
        self.fields["kind"].choices = [("", _("Any")), *Change.KINDS]


def _with_fields(changes: Any) -> list[Change]:
    """The page's changes, each with its labelled ``field_changes`` and its ``task_codes``
    (one query for the codes of the tasks the page's rows point at)."""
    changes = list(changes)
    task_ids = set()
    for change in changes:
        change.field_changes = change_fields(change)
        for field in change.field_changes:
            if field.name == "task":
                task_ids.update(v for v in (field.old, field.new) if isinstance(v, int))
    codes = dict(stream_model("tasks").objects.filter(pk__in=task_ids).values_list("pk", "code"))
    for change in changes:
        for index, field in enumerate(change.field_changes):
            if field.name == "task":
                change.field_changes[index] = type(field)(
                    name=field.name,
                    label=field.label,
                    old=codes.get(field.old, field.old),
                    new=codes.get(field.new, field.new),
                )
    return changes


def _page(request: HttpRequest, changes: Any) -> tuple[Any, list[Change]]:
    page = Paginator(changes, CHANGES_PER_PAGE).get_page(request.GET.get("page"))
    return page, _with_fields(page.object_list)


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
        "stream_labels": {stream: stream_label(stream) for stream in streams},
    }
    return render(request, "changes/list.html", context, status=status)


@require_GET
def object_changes_view(request: HttpRequest, stream: str, object_id: int) -> HttpResponse:
    """One object's changes, newest first (a deleted object's too)."""
    if stream not in STREAM_PERMISSIONS:
        raise Http404
    if not request.user.has_perm(STREAM_PERMISSIONS[stream]):
        raise PermissionDenied
    page, changes = _page(request, object_changes(stream=stream, object_id=object_id))
    model = stream_model(stream)
    current = model._default_manager.filter(pk=object_id).first()
    title = str(current) if current is not None else (changes[0].object_repr if changes else "")
    context = {
        "page": page,
        "changes": changes,
        "title": title,
        "deleted": current is None,
        "stream_label": stream_label(stream),
        "query": "",
    }
    return render(request, "changes/object.html", context)
