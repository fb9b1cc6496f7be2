"""What the three apps' pages share: versioned forms, service errors on forms and conflicts.

The pages write only through the services, exactly like the REST API (``api.py``). A service
validates with the model's own rules, so a ``ValidationError`` it raises is put back on the form;
a stale ``version`` raises ``VersionConflict``, which a page shows next to the stored values
instead of overwriting them.
"""

import copy
import datetime
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from django import forms
from django.contrib import messages
from django.contrib.auth import get_permission_codename
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import IntegrityError, models
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from realtime.context import person_name
from realtime.history import objects_changed_since
from realtime.models import Event
from realtime.protocol import DELETED, event_type
from realtime.services import page_visit_record

from .numbers import format_volume, plain_decimal
from .versioning import VersionConflict, VersionedModel

StrOrPromise = str | Promise

EMPTY_DISPLAY = "—"


def changed_since_last_visit(
    request: HttpRequest, *, page: str, streams: Collection[str]
) -> dict[str, set[int]]:
    """Per stream of ``streams``, the ids of its objects that others changed since the user
    last had ``page`` open (none on a first visit); the visit is recorded, so they are marked
    once."""
    previous = page_visit_record(user=request.user, page=page)
    if previous is None:
        return {stream: set() for stream in streams}
    return objects_changed_since(
        streams=streams, since=previous, excluding_actor_id=request.user.pk
    )


def format_person(user: AbstractBaseUser | None) -> str:
    """A person by full name, else login (``realtime.context.person_name``: notices too)."""
    return "" if user is None else person_name(user)


def format_value(value: Any) -> str:
    """A stored or entered value as the pages show it."""
    if value is None or value == "":
        return EMPTY_DISPLAY
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return format_volume(value)
    if isinstance(value, datetime.date):
        return date_format(value, "SHORT_DATE_FORMAT")
    return str(value)


class VersionedModelForm(forms.ModelForm):
    """A model form for the services: an edit form carries the object's ``version``.

    The form only validates (field rules and the model's ``full_clean``); the view hands
    ``service_data()`` and ``cleaned_data["version"]`` to the app's create or update service.
    """

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            del self.fields["version"]
        else:
            self.fields["version"].initial = self.instance.version
        for name, value in self.initial.items():
            if isinstance(value, Decimal):
                self.initial[name] = plain_decimal(value)
        self._add_choices()

    @property
    def html_id(self) -> str:
        """The ``id`` of the ``<form>`` element, which the choices of a conflict name (they
        may stand outside it, as under an МСГ row)."""
        return self.auto_id % "form" if "%s" in str(self.auto_id) else "form"

    def _add_choices(self) -> None:
        """After a conflict, a choice per conflicting field (``CONFLICTS`` lists them): keep
        the entry or take the stored value. The list travels with the form, so that the
        choices survive an invalid submission."""
        if self.is_bound:
            raw = self.data.get(self.add_prefix(CONFLICTS), "")
        else:
            raw = self.initial.get(CONFLICTS, "")
        names = [name for name in str(raw).split() if name in self.fields and name != "version"]
        if not names:
            return
        self.fields[CONFLICTS] = forms.CharField(
            widget=forms.HiddenInput, required=False, initial=" ".join(names)
        )
        for name in names:
            self.fields[choice_name(name)] = forms.ChoiceField(
                label=self.fields[name].label,
                choices=[(KEEP_MINE, _("Keep mine")), (TAKE_THEIRS, _("Take theirs"))],
                widget=forms.RadioSelect(attrs={"form": self.html_id}),
                error_messages={"required": _("Choose which value to keep.")},
            )

    @property
    def conflict_names(self) -> list[str]:
        return str(self[CONFLICTS].value() or "").split() if CONFLICTS in self.fields else []

    def service_data(self) -> dict[str, Any]:
        """The entry for the service; a field whose conflict was settled for the stored value
        is left out, so that it keeps that value (also if it changed again since)."""
        theirs = {
            name
            for name in self.conflict_names
            if self.cleaned_data.get(choice_name(name)) == TAKE_THEIRS
        }
        settled = {"version", CONFLICTS, *theirs, *map(choice_name, self.conflict_names)}
        return {name: value for name, value in self.cleaned_data.items() if name not in settled}


CONFLICTS = "conflicts"
KEEP_MINE = "mine"
TAKE_THEIRS = "theirs"


def choice_name(name: str) -> str:
    """The form field holding the choice for the conflicting field ``name``."""
    return f"choose_{name}"


class DeleteForm(forms.Form):
    """The confirmation of a delete: the version of the object the user saw."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


def form_add_service_error(form: forms.BaseForm, error: ValidationError) -> None:
    """Put a service's ``ValidationError`` on the form: on the field when the form shows it."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


@dataclass(frozen=True)
class ConflictField:
    label: str
    stored: str
    yours: str | None = None
    # Where the user chooses: the value the user's copy had (when the history knows it) and
    # the choice's radio buttons.
    base: str | None = None
    choice: forms.BoundField | None = None

    @property
    def differs(self) -> bool:
        return self.yours is not None and self.yours != self.stored


@dataclass(frozen=True)
class Conflict:
    """What a page shows when its copy was stale: the stored values, beside the user's entry;
    on a form the user can send again, a choice per conflicting field instead."""

    current: models.Model
    fields: list[ConflictField]

    @property
    def has_entries(self) -> bool:
        return any(item.yours is not None for item in self.fields)

    @property
    def has_choices(self) -> bool:
        return any(item.choice is not None for item in self.fields)

    @property
    def has_base(self) -> bool:
        return any(item.base is not None for item in self.fields)


def conflict_for(
    *,
    current: models.Model,
    form_class: type[forms.ModelForm],
    entered: Mapping[str, Any] | None = None,
) -> Conflict:
    """The fields of ``form_class`` as stored in ``current`` and, if given, as entered."""
    items = []
    for name, form_field in form_class.base_fields.items():
        if name == "version" or form_field.widget.is_hidden:
            continue
        label = form_field.label or capfirst(current._meta.get_field(name).verbose_name)
        yours = None if entered is None else format_value(entered.get(name))
        items.append(ConflictField(str(label), format_value(getattr(current, name)), yours))
    return Conflict(current=current, fields=items)


def choice_conflict(
    *, conflict: VersionConflict, form: VersionedModelForm, entered: Mapping[str, Any]
) -> Conflict:
    """The conflicting fields of ``form`` (a form that offers their choices), as they were in
    the user's copy (if known), as stored now and as entered."""
    current = conflict.current
    items = []
    for name in form.conflict_names:
        model_field = current._meta.get_field(name)
        label = form.fields[name].label or capfirst(model_field.verbose_name)
        known = conflict.fields.get(name)
        items.append(
            ConflictField(
                str(label),
                format_value(getattr(current, name)),
                format_value(entered.get(name)),
                base=None if known is None else format_represented(model_field, known.base),
                choice=form[choice_name(name)],
            )
        )
    return Conflict(current=current, fields=items)


def unsettled_conflict(form: VersionedModelForm) -> Conflict | None:
    """The choices of a conflict sent back invalid (one left unanswered, or an entry broke a
    rule), shown again with the values the form holds."""
    if not form.conflict_names:
        return None
    items = [
        ConflictField(
            str(form[name].label),
            format_value(form[name].initial),
            format_value(form[name].value()),
            choice=form[choice_name(name)],
        )
        for name in form.conflict_names
    ]
    return Conflict(current=form.instance, fields=items)


def format_represented(model_field: models.Field, value: Any) -> str:
    """A value in its REST representation (as the change history keeps it), as the pages show
    it: an object named by its id is shown by name."""
    if value is None:
        return format_value(None)
    if model_field.is_relation:
        related = model_field.related_model._default_manager.filter(pk=value).first()
        return str(related) if related is not None else str(value)
    try:
        return format_value(model_field.to_python(value))
    except ValidationError:
        return str(value)


def conflict_form(
    form: VersionedModelForm, conflict: VersionConflict
) -> tuple[VersionedModelForm, Conflict]:
    """The form to send again after ``conflict``: at the stored version, holding the stored
    values and the user's changes, with a choice for each field both changed.

    When the change history said what conflicts, those fields are the choices and the user's
    other changes are kept; when it could not (its version predates the history), every entered
    field that differs from the stored value is a choice."""
    current, entered = conflict.current, form.cleaned_data
    shown = [
        name
        for name, form_field in form.fields.items()
        if name in entered and name != "version" and not form_field.widget.is_hidden
    ]
    if conflict.fields:
        names = [name for name in shown if name in conflict.fields]
        kept = [name for name in conflict.changed if name in entered]
    else:
        names = [name for name in shown if entered[name] != getattr(current, name)]
        kept = [name for name in entered if name != "version"]
    initial = {name: entered[name] for name in kept} | {CONFLICTS: " ".join(names)}
    fresh = type(form)(instance=current, initial=initial, auto_id=form.auto_id)
    if not names:  # the entry matches what is stored: nothing to choose
        return fresh, conflict_for(current=current, form_class=type(form), entered=entered)
    return fresh, choice_conflict(conflict=conflict, form=fresh, entered=entered)


@dataclass
class Submission:
    """The outcome of a form sent to a write service.

    ``saved`` is the written object. Otherwise ``form`` holds the errors, or, on a conflict, is a
    fresh form bound to nothing but showing the stored values and their new version; ``gone`` says
    the object was deleted meanwhile, and ``deletion`` by whom and when once the page knows it;
    ``notes`` are errors of an entry that the fresh form no longer holds; ``warnings`` say why a
    valid entry looks wrong: it was not written, and the page asks to confirm it
    (``CONFIRM_FIELD``).
    """

    form: forms.BaseForm
    saved: Any = None
    conflict: Conflict | None = None
    gone: bool = False
    deletion: str = ""
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def status(self) -> int:
        if self.gone:
            return 410
        if self.form.is_bound and self.form.errors:
            return 400
        if self.conflict is not None:
            return 409
        return 200


CONFIRM_FIELD = "confirm_warnings"
"""Sent as ``1`` by the button that saves an entry despite its warnings."""


def submit(
    form: VersionedModelForm,
    write: Callable[[dict[str, Any], int | None], Any],
    *,
    warn: Callable[[dict[str, Any]], list[str]] | None = None,
) -> Submission:
    """Validate ``form`` and call ``write(data, version)``, a service call bound to its object;
    unless ``warn(data)`` (the entry not yet confirmed) finds something that looks wrong."""
    if not form.is_valid():
        return Submission(form=form, conflict=unsettled_conflict(form))
    if warn is not None and (warnings := warn(form.cleaned_data)):
        return Submission(form=form, warnings=warnings)
    try:
        saved = write(form.service_data(), form.cleaned_data.get("version"))
    except VersionConflict as conflict:
        fresh, shown = conflict_form(form, conflict)
        return Submission(form=fresh, conflict=shown)
    except ObjectDoesNotExist:
        return Submission(form=form, gone=True)
    except ValidationError as error:
        form_add_service_error(form, error)
        return Submission(form=form, conflict=unsettled_conflict(form))
    except IntegrityError:
        # A concurrent write slipped between full_clean and the insert (e.g. the same code).
        form.add_error(None, _("The change breaks a data rule."))
        return Submission(form=form, conflict=unsettled_conflict(form))
    return Submission(form=form, saved=saved)


def submit_delete(
    form: DeleteForm,
    *,
    instance: models.Model,
    form_class: type[forms.ModelForm],
    delete: Callable[[int], None],
) -> Submission:
    """Validate the confirmation and call ``delete(version)``; a stale version is a conflict."""
    if not form.is_valid():
        return Submission(form=form)
    try:
        delete(form.cleaned_data["version"])
    except VersionConflict as conflict:
        return Submission(
            form=DeleteForm(initial={"version": conflict.current.version}),
            conflict=conflict_for(current=conflict.current, form_class=form_class),
        )
    except ObjectDoesNotExist:
        return Submission(form=form, gone=True)
    return Submission(form=form, saved=instance)


GONE_MESSAGE = gettext_lazy("Someone else deleted this meanwhile.")


def deletion_message(*, stream: str, object_id: int, name: str) -> str:
    """Who deleted an object and when, from the newest ``*_deleted`` event of it in the log.

    The log may have been pruned since: then the message only says that it was deleted.
    """
    event = (
        Event.objects.filter(stream=stream, type=event_type(stream, DELETED), object_id=object_id)
        .select_related("actor")
        .order_by("-id")
        .first()
    )
    if event is None:
        return _("%(object)s was deleted meanwhile.") % {"object": name}
    when = date_format(timezone.localtime(event.created_at), "SHORT_DATETIME_FORMAT")
    actor = format_person(event.actor) or event.actor_username
    if not actor:
        return _("%(object)s was deleted meanwhile (at %(time)s).") % {"object": name, "time": when}
    return _("%(object)s was deleted at %(time)s by %(actor)s.") % {
        "object": name,
        "actor": actor,
        "time": when,
    }


Outcome = Literal["created", "saved", "deleted"]


class VersionedEditFlow[ModelT: VersionedModel]:
    """The create, edit and delete pages of one versioned model: the one flow every page form,
    inline row edit and cell goes through, so that all of them treat versions alike.

    A write goes to the app's service with the version the user saw. A stale version answers
    409 with the stored values beside the entry; an object deleted meanwhile (before the page
    read it, or under the write) answers 410 with who deleted it and the entry kept as a new
    object; a missing permission is 403. An app subclasses it in ``views.py`` and fills in the
    service calls, its URLs, messages and templates; a page rendered elsewhere (a table row)
    overrides ``render_form``.
    """

    form_class: type[VersionedModelForm]
    # The form of a new object when it differs from the edit form (other fields shown).
    create_form_class: type[VersionedModelForm] | None = None
    form_template = ""
    delete_template = ""
    context_object_name = "object"
    create_url_name = ""
    stream = ""
    # How a deletion message names the object: "This task".
    deleted_name: StrOrPromise = ""

    # The app's service calls and presentation.
    def create(self, *, data: dict[str, Any], actor: Any) -> ModelT:
        raise NotImplementedError

    def update(
        self, obj: ModelT, *, data: dict[str, Any], version: int | None, actor: Any
    ) -> ModelT:
        raise NotImplementedError

    def delete(self, obj: ModelT, *, version: int, actor: Any) -> None:
        raise NotImplementedError

    def message(self, obj: ModelT, outcome: Outcome) -> str:
        raise NotImplementedError

    def list_url(self, request: HttpRequest, obj: ModelT | None, *, anchor: bool = False) -> str:
        """The page listing ``obj`` (or the one the request names), at its row if ``anchor``."""
        raise NotImplementedError

    def deleted_url(self, request: HttpRequest, obj: ModelT) -> str:
        return self.list_url(request, obj)

    def form_context(
        self, request: HttpRequest, form: forms.BaseForm, obj: ModelT | None
    ) -> dict[str, Any]:
        return {}

    def delete_context(self, request: HttpRequest, obj: ModelT) -> dict[str, Any]:
        return {}

    def get_object(self, pk: int) -> ModelT | None:
        return self.form_class._meta.model._default_manager.filter(pk=pk).first()

    def build_form(
        self,
        request: HttpRequest,
        data: Mapping[str, Any] | None = None,
        *,
        instance: ModelT | None = None,
    ) -> VersionedModelForm:
        form_class = self.create_form_class if instance is None else None
        return (form_class or self.form_class)(data, instance=instance)

    def recreate_form(self, request: HttpRequest, obj: ModelT | None) -> forms.BaseForm | None:
        """The entry of an edit whose object is gone, as a form creating it again (None when
        it cannot be: what it belonged to is gone too)."""
        return self.build_form(request, request.POST)

    def created_meanwhile(self, form: forms.BaseForm) -> ModelT | None:
        """The object someone else created meanwhile in place of the one ``form`` creates."""
        return None

    # The flow.
    def warnings(self, data: dict[str, Any], obj: ModelT | None) -> list[str]:
        """Why an entry (its cleaned data; ``obj`` the stored object it changes) looks wrong
        though valid: the page asks to confirm it before writing (docs/msg.md, "Plausibility")."""
        return []

    def unconfirmed(
        self, request: HttpRequest, obj: ModelT | None
    ) -> Callable[[dict[str, Any]], list[str]] | None:
        """The check ``submit`` runs, unless the user confirmed the entry's warnings."""
        if request.POST.get(CONFIRM_FIELD) == "1":
            return None
        return lambda data: self.warnings(data, obj)

    def permission(self, action: str) -> str:
        opts = self.form_class._meta.model._meta
        return f"{opts.app_label}.{get_permission_codename(action, opts)}"

    def require(self, request: HttpRequest, action: str) -> None:
        if not request.user.has_perm(self.permission(action)):
            raise PermissionDenied

    def create_view(self, request: HttpRequest) -> HttpResponse:
        self.require(request, "add")
        if request.method != "POST":
            return self.render_form(request, Submission(form=self.build_form(request)), None)
        form = self.build_form(request, request.POST)
        submission = submit(
            form,
            lambda data, version: self.create(data=data, actor=request.user),
            warn=self.unconfirmed(request, None),
        )
        if submission.saved is not None:
            messages.success(request, self.message(submission.saved, "created"))
            return redirect(self.list_url(request, submission.saved, anchor=True))
        stored = self.created_meanwhile(form)
        if stored is None:
            return self.render_form(request, submission, None)
        # Show what the other user stored, ready to edit, with the rule the entry broke.
        submission = Submission(
            form=self.build_form(request, instance=stored),
            conflict=conflict_for(
                current=stored, form_class=self.form_class, entered=form.cleaned_data
            ),
            notes=list(form.non_field_errors()),
        )
        return self.render_form(request, submission, stored)

    def update_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self.require(request, "change")
        obj = self.get_object(pk)
        if obj is None:
            if request.method == "POST":
                return self.deleted_meanwhile(request, pk, None)
            return self.gone(request, None)
        if request.method != "POST":
            form = self.build_form(request, instance=obj)
            return self.render_form(request, Submission(form=form), obj)
        submission = submit(
            # The form validates a copy, so the page keeps showing the stored object.
            self.build_form(request, request.POST, instance=copy.copy(obj)),
            lambda data, version: self.update(obj, data=data, version=version, actor=request.user),
            warn=self.unconfirmed(request, obj),
        )
        if submission.gone:
            return self.deleted_meanwhile(request, pk, obj)
        if submission.saved is not None:
            messages.success(request, self.message(submission.saved, "saved"))
            return redirect(self.list_url(request, submission.saved, anchor=True))
        if submission.conflict is not None and not submission.form.is_bound:
            # The stored row as the conflict found it: reading it again could find it deleted.
            obj = submission.conflict.current
        return self.render_form(request, submission, obj)

    def delete_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self.require(request, "delete")
        obj = self.get_object(pk)
        if obj is None:
            return self.gone(request, None)
        if request.method != "POST":
            submission = Submission(form=DeleteForm(initial={"version": obj.version}))
        else:
            submission = submit_delete(
                DeleteForm(request.POST),
                instance=obj,
                form_class=self.form_class,
                delete=lambda version: self.delete(obj, version=version, actor=request.user),
            )
            if submission.gone:
                return self.gone(request, obj)
            if submission.saved is not None:
                messages.success(request, self.message(obj, "deleted"))
                return redirect(self.deleted_url(request, obj))
            if submission.conflict is not None:
                obj = submission.conflict.current
        context = {
            "form": submission.form,
            self.context_object_name: obj,
            "conflict": submission.conflict,
            "back_url": self.list_url(request, obj, anchor=True),
            **self.delete_context(request, obj),
        }
        return render(request, self.delete_template, context, status=submission.status)

    def render_form(
        self, request: HttpRequest, submission: Submission, obj: ModelT | None
    ) -> HttpResponse:
        """The form page: empty, with its errors, beside a conflict, or kept after a deletion."""
        context = {
            "form": submission.form,
            self.context_object_name: obj,
            "conflict": submission.conflict,
            "warnings": submission.warnings,
            "back_url": self.list_url(request, obj, anchor=obj is not None),
            **self.form_context(request, submission.form, obj),
        }
        if submission.gone:
            # The entry posts to the create page.
            context |= {
                "deletion": submission.deletion,
                "action_url": reverse(self.create_url_name),
            }
        return render(request, self.form_template, context, status=submission.status)

    def gone(self, request: HttpRequest, obj: ModelT | None) -> HttpResponse:
        messages.warning(request, GONE_MESSAGE)
        return redirect(self.list_url(request, obj))

    def deleted_meanwhile(self, request: HttpRequest, pk: int, obj: ModelT | None) -> HttpResponse:
        """An edit of an object deleted meanwhile: say who deleted it and when, and keep the entry
        to create it again, so that nothing typed is lost. A user who may not create it is only
        told that it is gone; where the entry cannot be created again, who deleted it."""
        if not request.user.has_perm(self.permission("add")):
            return self.gone(request, obj)
        deletion = deletion_message(stream=self.stream, object_id=pk, name=str(self.deleted_name))
        form = self.recreate_form(request, obj)
        if form is None:
            messages.warning(request, deletion)
            return redirect(self.list_url(request, obj))
        return self.render_form(request, Submission(form=form, gone=True, deletion=deletion), None)


FRAGMENT_IDS_MAX = 500


def is_fragment_request(request: HttpRequest) -> bool:
    """``?fragment=rows``: the page's live parts for some objects, for static/js/live.js."""
    return request.GET.get("fragment") == "rows"


OBJECT_ID_MAX = 2**63 - 1
"""The largest id a row can have (a 64-bit primary key): a larger one is no row's, and the
database refuses it as a query parameter."""


def fragment_ids(request: HttpRequest, name: str) -> list[int]:
    """The object ids a fragment request asks for (``?task=3&task=8``); junk (ids no row can
    have too) is ignored."""
    values = request.GET.getlist(name)[:FRAGMENT_IDS_MAX]
    ids = [int(value) for value in values if value.isascii() and value.isdigit()]
    return [pk for pk in ids if pk <= OBJECT_ID_MAX]
