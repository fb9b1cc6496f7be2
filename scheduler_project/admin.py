"""What the three apps' admin classes share: the version contract on change forms and inlines.

Each change form and inline row carries the version it was rendered from (a hidden ``version``
field) and, through ``show_hidden_initial``, the values the user saw. A save whose version is
stale is refused while the forms are validated, with a message naming the fields that changed
meanwhile (what the user saw against what is stored) and their current values: comparing with
the hidden initial values needs no event log, which may have been pruned, and covers exactly the
fields of the form. The write itself goes through the app's services, which compare the version
again under ``select_for_update``; a change that lands between the two checks raises
``VersionConflict``, the admin's transaction rolls back (inlines included) and the form is
validated again, which then refuses it.

The object's history page shows the history of changes (``realtime.models.Change``): every
change, whatever made it (pages, API, admin, scripts, imports), told as the history's pages tell
it (``scheduler_project.changes.describe_changes``); Django's own log entries cover only the
admin's.

Deleting from the change list ("delete selected") and the delete confirmation page carry no
version: they show the objects as stored at that moment and delete what is shown.

The admin also speaks as the pages do: titles and buttons name the model in the accusative where
it is the object of a verb (``AccusativeTitlesMixin``), dates are entered without Django's
time-zone note (``AdminDateOnlyWidget``) and volumes are shown as the pages show them
(``volume_display``).
"""

import json
from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import AdminDateWidget
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.forms.models import BaseInlineFormSet, model_to_dict
from django.http import HttpRequest, HttpResponse
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from realtime.history import object_changes
from realtime.models import Change

from .changes import describe, describe_changes
from .numbers import format_volume
from .pages import StrOrPromise, format_value
from .versioning import VersionConflict

VERSION = "version"


class VersionField(forms.IntegerField):
    """The version a form was rendered from: never a change the user made."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(label=gettext_lazy("version"), **kwargs)

    def has_changed(self, initial: Any, data: Any) -> bool:
        return False


class VersionedAdminForm(forms.ModelForm):
    """An admin form that carries the version and the values the user saw.

    New objects (the add form, extra inline rows) have no version and are not checked.
    """

    version = VersionField(required=False, min_value=1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields[VERSION].initial = self.instance.version
            for name, field in self.fields.items():
                if name != VERSION:
                    field.show_hidden_initial = True

    def stale_message(self) -> str | None:
        """Why the object may not be saved from this form, or None: it is still the stored one.

        On a stale form the hidden version and initial values are moved on to the stored ones,
        so that saving the form again (after reading the message) puts the user's entry over
        them deliberately.
        """
        if self.instance.pk is None or VERSION in self.errors:
            return None
        model = type(self.instance)
        if self.cleaned_data.get(VERSION) is None:
            return _(
                "This form came without the version of the %(object)s it was opened at; "
                "nothing was saved. Open it again."
            ) % {"object": model._meta.verbose_name}
        stored = model._default_manager.filter(pk=self.instance.pk).first()
        if stored is None:
            return _("This %(object)s was deleted meanwhile; nothing was saved.") % {
                "object": model._meta.verbose_name
            }
        if stored.version == self.cleaned_data[VERSION]:
            return None
        changed = self._changed_meanwhile(stored)
        self._move_on_to(stored)
        subject = _("Someone changed this %(object)s (“%(name)s”) while you were editing it")
        subject %= {"object": model._meta.verbose_name, "name": stored}
        if not changed:
            return _(
                "%(subject)s, though no field of this form changed; nothing was saved. "
                "Save again to apply your entry."
            ) % {"subject": subject}
        listed = "; ".join(f"{label}: {value}" for label, value in changed)
        return _(
            "%(subject)s; nothing was saved. Changed meanwhile: %(fields)s. "
            "Your entry is kept: save again to put it over these values."
        ) % {"subject": subject, "fields": listed}

    def _stored_initial(self, stored: models.Model, name: str) -> Any:
        return model_to_dict(stored, fields=[name]).get(name)

    def _changed_meanwhile(self, stored: models.Model) -> list[tuple[str, str]]:
        """(label, current value) of each field whose stored value differs from what the user
        saw (or, when the form came without the values seen, from what the user sent)."""
        changed = []
        for name, field in self.fields.items():
            if name == VERSION or not field.show_hidden_initial:
                continue
            seen_key = self.add_initial_prefix(name)
            if seen_key in self.data:
                seen = self._widget_data_value(field.hidden_widget(), seen_key)
            else:
                seen = self._widget_data_value(field.widget, self.add_prefix(name))
            if field.has_changed(self._stored_initial(stored, name), seen):
                label = field.label or capfirst(stored._meta.get_field(name).verbose_name)
                changed.append((str(label), format_value(getattr(stored, name))))
        return changed

    def _move_on_to(self, stored: models.Model) -> None:
        data = self.data.copy()
        data[self.add_prefix(VERSION)] = str(stored.version)
        for name, field in self.fields.items():
            if name != VERSION and field.show_hidden_initial:
                value = field.prepare_value(self._stored_initial(stored, name))
                data[self.add_initial_prefix(name)] = (
                    field.hidden_widget().format_value(value) or ""
                )
        self.data = data

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # A form the user left alone writes nothing, so its version does not matter: a task's
        # inline rows can be saved while a foreman's report moves the task's version on.
        if getattr(self, "check_version", True) and self.has_changed():
            message = self.stale_message()
            if message is not None:
                raise forms.ValidationError(message, code="version_conflict")
        return cleaned

    def service_data(self) -> dict[str, Any]:
        """The model fields of the form, for the app's update service."""
        fields = {field.name for field in self.instance._meta.concrete_fields}
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if name in fields and name != VERSION and name != self.instance._meta.pk.name
        }


class VersionedInlineFormSet(BaseInlineFormSet):
    """Inline rows written through the app's services, each with the version it showed.

    Only rows the user changed or marked for deletion are checked (and written): a row changed
    by someone else but left alone here is not overwritten. A row marked for deletion is not
    validated by Django, so its check raises a formset error instead of a row error.
    """

    update_service: Callable[..., models.Model]
    delete_service: Callable[..., None]
    service_object_name: str
    request: HttpRequest | None = None

    def _construct_form(self, i: int, **kwargs: Any) -> forms.Form:
        form = super()._construct_form(i, **kwargs)
        form.check_version = False  # checked in clean(), only where the row is written
        return form

    def clean(self) -> None:
        super().clean()
        messages = []
        for form in self.initial_forms:
            if not form.has_changed() or not hasattr(form, "cleaned_data"):
                continue
            message = form.stale_message()
            if message is None:
                continue
            if self._should_delete_form(form):
                messages.append(message)
            else:
                form.add_error(None, message)
        if messages:
            raise forms.ValidationError(messages, code="version_conflict")

    def _form_of(self, obj: models.Model) -> VersionedAdminForm:
        return next(form for form in self.initial_forms if form.instance is obj)

    def _actor(self) -> Any:
        return None if self.request is None else self.request.user

    def save_existing(self, form: forms.Form, obj: models.Model, commit: bool = True) -> Any:
        if not commit:
            return super().save_existing(form, obj, commit=commit)
        return type(self).update_service(
            **{self.service_object_name: obj},
            data=form.service_data(),
            version=form.cleaned_data.get(VERSION),
            actor=self._actor(),
        )

    def delete_existing(self, obj: models.Model, commit: bool = True) -> None:
        if commit:
            type(self).delete_service(
                **{self.service_object_name: obj},
                version=self._form_of(obj).cleaned_data.get(VERSION),
                actor=self._actor(),
            )


def _without_version(fields: Iterable[Any]) -> list[Any]:
    return [field for field in fields if field != VERSION]


def _form_fields(
    model_admin: admin.options.BaseModelAdmin,
    request: HttpRequest,
    obj: Any,
    kwargs: dict[str, Any],
) -> list[Any] | None:
    """The fields to build the form from: ``version`` is shown by the form, which declares it,
    since the model's field is not editable (a form factory refuses to build it)."""
    if "fields" in kwargs:
        fields = kwargs["fields"]
    else:
        fields = flatten_fieldsets(model_admin.get_fieldsets(request, obj))
    return None if fields is None else _without_version(fields)


def model_name_accusative(admin_site: admin.AdminSite, model: type[models.Model]) -> StrOrPromise:
    """The model's name as the object of a verb ("Add %s"), as its model admin gives it; its
    verbose name where the admin has no accusative."""
    try:
        model_admin = admin_site.get_model_admin(model)
    except NotRegistered:
        model_admin = None
    return getattr(model_admin, "accusative_name", None) or model._meta.verbose_name


class AccusativeInlineAdminFormSet(helpers.InlineAdminFormSet):
    """Django's, whose "Add another …" link names the inline's model in the accusative (and in
    lower case: Django capitalizes it in the middle of the sentence)."""

    def inline_formset_data(self) -> str:
        data = json.loads(super().inline_formset_data())
        name = model_name_accusative(self.opts.admin_site, self.opts.model)
        data["options"]["addText"] = _("Add another %(verbose_name)s") % {"verbose_name": name}
        return json.dumps(data)


class AccusativeTitlesMixin:
    """Titles and buttons that name the model as the object of a verb name it in the accusative.

    Django puts the nominative ``verbose_name`` into "Select %s to change", "Add %s", "Change
    %s", "Add another %(verbose_name)s" and the delete confirmation, where Russian needs the
    accusative: «Добавить работа» instead of «Добавить работу». A model admin declares the
    name in ``verbose_name_accusative`` with ``pgettext_lazy("accusative", name)``, so English
    keeps its one form. Django's titles are rebuilt here the way Django builds them; the
    buttons Django's templates build (the changelist's "Add", the add form's breadcrumb) read
    ``verbose_name_accusative`` from the context (``templates/admin/``).
    """

    verbose_name_accusative: StrOrPromise | None = None

    @property
    def accusative_name(self) -> StrOrPromise:
        return self.verbose_name_accusative or self.opts.verbose_name

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        changelist = super().get_changelist_instance(request)
        if changelist.is_popup:
            title = _("Select %s")
        elif self.has_change_permission(request):
            title = _("Select %s to change")
        else:
            title = _("Select %s to view")
        changelist.title = title % self.accusative_name
        return changelist

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {"verbose_name_accusative": self.accusative_name, **(extra_context or {})}
        return super().changelist_view(request, context)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        if add:
            title = _("Add %s")
        elif self.has_change_permission(request, obj):
            title = _("Change %s")
        else:
            title = _("View %s")
        context["title"] = title % self.accusative_name
        context["verbose_name_accusative"] = self.accusative_name
        return super().render_change_form(request, context, add, change, form_url, obj)

    def render_delete_form(self, request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
        context["object_name"] = str(self.accusative_name)
        if context["perms_lacking"] or context["protected"]:
            context["title"] = _("Cannot delete %(name)s") % {"name": self.accusative_name}
        return super().render_delete_form(request, context)

    def get_inline_formsets(
        self, request: HttpRequest, formsets: Any, inline_instances: Any, obj: Any = None
    ) -> list[helpers.InlineAdminFormSet]:
        inline_admin_formsets = super().get_inline_formsets(
            request, formsets, inline_instances, obj
        )
        for inline_admin_formset in inline_admin_formsets:
            # Django builds them with no hook for their class; the subclass only renames a link.
            inline_admin_formset.__class__ = AccusativeInlineAdminFormSet
        return inline_admin_formsets


class AdminDateOnlyWidget(AdminDateWidget):
    """Django's date widget without the time-zone note.

    DateTimeShortcuts.js puts "Note: you are 3 hours behind the server" beside date fields as
    well as times, but a date has no time of day to enter in the server's zone. The script adds
    no note to a field that already holds an element of class ``timezonewarning``: the widget
    gives its field an empty, hidden one.
    """

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"].pop("aria-describedby", None)  # names the note never added
        return context

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        widget = super().render(name, value, attrs, renderer)
        return format_html('{}<span class="timezonewarning" hidden></span>', widget)


DATE_ONLY = {models.DateField: {"widget": AdminDateOnlyWidget}}
"""``formfield_overrides`` for date fields (a ``DateTimeField`` keeps Django's own widget)."""


def volume_display(model: type[models.Model], name: str) -> Callable[[Any, Any], str]:
    """A changelist column or read-only field showing the volume field ``name`` as the pages do
    (``format_volume``: «12 500,5» in Russian, where Django shows «12500,500»), sorted by it.

    Declared on a model admin under a name of its own (``volume_plan_shown = volume_display(
    Task, "volume_plan")``): Django shows a field's own name with its own format.
    """

    def display(model_admin: admin.ModelAdmin, obj: models.Model) -> str:
        return format_volume(getattr(obj, name))

    description = model._meta.get_field(name).verbose_name
    return admin.display(display, description=description, ordering=name)


def boolean_display(model: type[models.Model], name: str) -> Callable[[Any, Any], SafeString]:
    """A changelist column of the boolean field ``name``: Django's yes/no icon, whose alt text
    Django writes in English ("True") in every language."""

    def display(model_admin: admin.ModelAdmin, obj: models.Model) -> SafeString:
        value = bool(getattr(obj, name))
        icon = static(f"admin/img/icon-{'yes' if value else 'no'}.svg")
        return format_html('<img src="{}" alt="{}">', icon, _("Yes") if value else _("No"))

    description = model._meta.get_field(name).verbose_name
    return admin.display(display, description=description, ordering=name)


class VersionedInline(admin.TabularInline):
    """An inline whose rows carry their versions; name the app's services on the subclass."""

    form = VersionedAdminForm
    formset = VersionedInlineFormSet
    formfield_overrides = DATE_ONLY
    update_service: Callable[..., models.Model]
    delete_service: Callable[..., None]
    service_object_name: str

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        kwargs["fields"] = _form_fields(self, request, obj, kwargs)
        formset = super().get_formset(request, obj, **kwargs)
        formset.update_service = staticmethod(type(self).update_service)
        formset.delete_service = staticmethod(type(self).delete_service)
        formset.service_object_name = self.service_object_name
        formset.request = request
        return formset


class VersionedModelAdmin(AccusativeTitlesMixin, admin.ModelAdmin):
    """A model admin whose change form carries the version and saves through the services."""

    form = VersionedAdminForm
    formfield_overrides = DATE_ONLY
    object_history_template = "admin/object_changes.html"
    update_service: Callable[..., models.Model]
    service_object_name: str

    CHANGES_PER_PAGE = 100
    CHANGES_PAGE_VAR = "page"

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        kwargs["fields"] = _form_fields(self, request, obj, kwargs)
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """The add form has no version to carry."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None:
            return fieldsets
        return [
            (name, {**options, "fields": _without_version(options["fields"])})
            for name, options in fieldsets
        ]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        if not form.has_changed():
            return  # nothing of the object itself to write (only its inline rows, maybe)
        saved = type(self).update_service(
            **{self.service_object_name: obj},
            data=form.service_data(),
            version=form.cleaned_data.get(VERSION),
            actor=request.user,
        )
        for field in obj._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Django's history page (its permission checks, its 404), listing the object's
        changes from the history."""
        # Imported here: realtime.signals serializes with the apps' API modules.
        from realtime.signals import PUBLISHED

        try:
            pk = self.model._meta.pk.to_python(object_id)
        except ValidationError:
            pk = None  # Django's view answers an unknown object
        changes: Any = Change.objects.none()
        if isinstance(pk, int):
            changes = object_changes(
                stream=PUBLISHED[self.model][0], object_id=pk, consequences=False
            ).select_related("actor")
        paginator = Paginator(changes, self.CHANGES_PER_PAGE)
        page = paginator.get_page(request.GET.get(self.CHANGES_PAGE_VAR))
        page.object_list = describe_changes(page.object_list)
        context = {
            "changes": page,
            "changes_page_range": paginator.get_elided_page_range(page.number),
            "changes_page_var": self.CHANGES_PAGE_VAR,
            **(extra_context or {}),
        }
        newest = changes.first()
        if newest is not None:  # the object as the history's sentence names it, not str(obj)
            context["title"] = _("Change history: %s") % describe(newest)
        return super().history_view(request, object_id, context)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except VersionConflict:
            # Changed between the forms' check and the locked write; the admin's transaction
            # rolled back. Validating again shows the form with what changed.
            return super().changeform_view(request, object_id, form_url, extra_context)
