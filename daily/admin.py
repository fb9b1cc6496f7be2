from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from schedule.admin import add_task_inline
from scheduler_project.admin import VersionedInline, VersionedModelAdmin, volume_display

from .models import DailyWork
from .services import daily_work_delete, daily_work_update


class DailyWorkInline(VersionedInline):
    model = DailyWork
    extra = 0
    fields = ["date", "volume", "description", "created_by", "version"]
    readonly_fields = ["created_by"]
    ordering = ["-date", "-id"]
    update_service = daily_work_update
    delete_service = daily_work_delete
    service_object_name = "daily_work"


add_task_inline(DailyWorkInline)


@admin.register(DailyWork)
class DailyWorkAdmin(VersionedModelAdmin):
    list_display = [
        "date",
        "task",
        "volume_shown",
        "unit",
        "description",
        "created_by",
        "updated_at",
    ]
    list_filter = ["date", "task__unit", "created_by"]
    search_fields = ["task__code", "task__name", "description"]
    date_hierarchy = "date"
    ordering = ["-date", "task"]
    autocomplete_fields = ["task"]
    list_select_related = ["task", "created_by"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    update_service = daily_work_update
    service_object_name = "daily_work"
    verbose_name_accusative = pgettext_lazy("accusative", "daily work")

    volume_shown = volume_display(DailyWork, "volume")

    @admin.display(description=_("unit"), ordering="task__unit")
    def unit(self, daily_work: DailyWork) -> str:
        return daily_work.task.unit

    def save_model(self, request, obj: DailyWork, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
