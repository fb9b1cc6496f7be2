from django.contrib import admin
from django.utils.translation import pgettext_lazy

from schedule.admin import add_task_inline
from scheduler_project.admin import VersionedInline, VersionedModelAdmin, volume_display

from .fields import format_month
from .models import MonthlyTask
from .services import monthly_task_delete, monthly_task_update


class MonthlyTaskInline(VersionedInline):
    model = MonthlyTask
    extra = 0
    fields = ["month", "volume_plan", "version"]
    ordering = ["month"]
    update_service = monthly_task_update
    delete_service = monthly_task_delete
    service_object_name = "monthly_task"


add_task_inline(MonthlyTaskInline)


@admin.register(MonthlyTask)
class MonthlyTaskAdmin(VersionedModelAdmin):
    list_display = ["month_label", "task", "volume_plan_shown", "updated_at"]
    list_filter = ["month", "task__unit"]
    search_fields = ["task__code", "task__name"]
    date_hierarchy = "month"
    ordering = ["-month", "task"]
    autocomplete_fields = ["task"]
    list_select_related = ["task"]
    readonly_fields = ["created_at", "updated_at"]
    update_service = monthly_task_update
    service_object_name = "monthly_task"
    verbose_name_accusative = pgettext_lazy("accusative", "monthly order")

    volume_plan_shown = volume_display(MonthlyTask, "volume_plan")

    @admin.display(description=MonthlyTask._meta.get_field("month").verbose_name, ordering="month")
    def month_label(self, monthly_task: MonthlyTask) -> str:
        return format_month(monthly_task.month)
