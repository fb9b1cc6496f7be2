from django.contrib import admin
from django.http import HttpRequest
from django.template.defaultfilters import floatformat
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from scheduler_project.admin import (
    AccusativeTitlesMixin,
    VersionedModelAdmin,
    boolean_display,
    volume_display,
)

from .models import CalendarDay, Section, Task, Unit
from .services import calendar_day_update, task_update


@admin.register(Task)
class TaskAdmin(VersionedModelAdmin):
    list_display = [
        "code_in_order",
        "name",
        "unit",
        "volume_plan_shown",
        "volume_fact_shown",
        "progress",
        "start_date",
        "end_date",
        "updated_at",
    ]
    list_display_links = ["code_in_order", "name"]
    list_filter = ["unit", "start_date", "end_date"]
    search_fields = ["code", "name"]
    date_hierarchy = "start_date"
    readonly_fields = ["volume_fact_shown", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["code", "name", "unit"]}),
        (_("Volumes"), {"fields": ["volume_plan", "volume_fact_shown", "estimated_cost"]}),
        (_("Dates"), {"fields": ["start_date", "end_date"]}),
        (_("Record"), {"fields": ["version", "created_at", "updated_at"]}),
    ]
    # A task's plans and reports are edited inline: their apps add the inlines
    # (``add_task_inline``), so this app imports neither.
    inlines: list[type[admin.options.InlineModelAdmin]] = []
    update_service = task_update
    service_object_name = "task"
    verbose_name_accusative = pgettext_lazy("accusative", "task")

    volume_plan_shown = volume_display(Task, "volume_plan")
    volume_fact_shown = volume_display(Task, "volume_fact")

    @admin.display(description=Task._meta.get_field("code").verbose_name, ordering="code_key")
    def code_in_order(self, task: Task) -> str:
        """The code, sorted as people read codes (``task_code_key``): Django would sort the
        ``code`` column as text, 1.10 before 1.2."""
        return task.code

    @admin.display(description=_("progress, %"))
    def progress(self, task: Task) -> str:
        return floatformat(task.progress_percent, 1)  # as the pages show it: «12,5»

    def save_formset(self, request, form, formset, change) -> None:
        # New records entered inline (daily works) are recorded as made by the admin user.
        for inline_form in formset.forms:
            instance = inline_form.instance
            if instance.pk is None and hasattr(instance, "created_by_id"):
                instance.created_by = request.user
        super().save_formset(request, form, formset, change)


def add_task_inline(inline: type[admin.options.InlineModelAdmin]) -> None:
    """Edit ``inline``'s records on a task's admin page, after those added before (the apps'
    order in ``INSTALLED_APPS``)."""
    TaskAdmin.inlines = [*TaskAdmin.inlines, inline]


@admin.register(CalendarDay)
class CalendarDayAdmin(VersionedModelAdmin):
    list_display = ["date", "weekday", "is_working_shown", "note", "updated_at"]
    list_filter = ["is_working", "date"]
    search_fields = ["note"]
    date_hierarchy = "date"
    ordering = ["-date"]
    readonly_fields = ["created_at", "updated_at"]
    fields = ["date", "is_working", "note", "version", "created_at", "updated_at"]
    update_service = calendar_day_update
    service_object_name = "calendar_day"
    verbose_name_accusative = pgettext_lazy("accusative", "calendar exception")

    is_working_shown = boolean_display(CalendarDay, "is_working")

    @admin.display(description=_("weekday"))
    def weekday(self, day: CalendarDay) -> str:
        return date_format(day.date, "l")


@admin.register(Unit)
class UnitAdmin(AccusativeTitlesMixin, admin.ModelAdmin):
    """Units are a short list planners keep; a renamed unit does not rename tasks' units, so a
    unit tasks use cannot be renamed or deleted here (``has_delete_permission``)."""

    list_display = ["name", "decimals"]
    search_fields = ["name"]
    verbose_name_accusative = pgettext_lazy("accusative", "unit")

    def get_readonly_fields(self, request: HttpRequest, obj: Unit | None = None) -> list[str]:
        if obj is not None and Task.objects.filter(unit=obj.name).exists():
            return ["name"]
        return []

    def has_delete_permission(self, request: HttpRequest, obj: Unit | None = None) -> bool:
        if obj is not None and Task.objects.filter(unit=obj.name).exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Section)
class SectionAdmin(AccusativeTitlesMixin, admin.ModelAdmin):
    """A section's name, shown wherever its tasks are grouped (pages, files)."""

    list_display = ["code", "name"]
    search_fields = ["code", "name"]
    verbose_name_accusative = pgettext_lazy("accusative", "section")
