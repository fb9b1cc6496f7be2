"""The schedule pages: the task table and the forms that create, edit and delete tasks."""

from typing import Any

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from realtime.protocol import TASKS
from scheduler_project.pages import (
    Outcome,
    VersionedEditFlow,
    fragment_ids,
    is_fragment_request,
)

from .forms import TaskForm
from .models import Task
from .selectors import task_list
from .services import task_create, task_delete, task_update


def _units() -> list[str]:
    return list(Task.objects.order_by("unit").values_list("unit", flat=True).distinct())


class TaskPages(VersionedEditFlow[Task]):
    form_class = TaskForm
    form_template = "schedule/task_form.html"
    delete_template = "schedule/task_confirm_delete.html"
    context_object_name = "task"
    create_url_name = "schedule:task_create"
    stream = TASKS
    deleted_name = gettext_lazy("This task")

    def create(self, *, data: dict[str, Any], actor: Any) -> Task:
        return task_create(data=data, actor=actor)

    def update(self, obj: Task, *, data: dict[str, Any], version: int | None, actor: Any) -> Task:
        return task_update(task=obj, data=data, version=version, actor=actor)

    def delete(self, obj: Task, *, version: int, actor: Any) -> None:
        task_delete(task=obj, version=version, actor=actor)

    def message(self, obj: Task, outcome: Outcome) -> str:
        messages = {
            "created": _("Task %(task)s created."),
            "saved": _("Task %(task)s saved."),
            "deleted": _("Task %(task)s deleted."),
        }
        return messages[outcome] % {"task": obj}

    def list_url(self, request: HttpRequest, obj: Task | None, *, anchor: bool = False) -> str:
        url = reverse("schedule:task_list")
        return f"{url}#task-{obj.pk}" if obj is not None and anchor else url

    def form_context(self, request: HttpRequest, form: Any, obj: Task | None) -> dict[str, Any]:
        return {"units": _units()}

    def delete_context(self, request: HttpRequest, obj: Task) -> dict[str, Any]:
        return {
            "monthly_task_count": obj.monthly_tasks.count(),
            "daily_work_count": obj.daily_works.count(),
        }


pages = TaskPages()


@require_GET
@permission_required("schedule.view_task", raise_exception=True)
def task_list_view(request: HttpRequest) -> HttpResponse:
    if is_fragment_request(request):
        tasks = list(task_list().filter(pk__in=fragment_ids(request, "task")))
        context = {"tasks": tasks, "task_count": Task.objects.count()}
        return render(request, "schedule/task_rows.html", context)
    tasks = list(task_list())
    return render(request, "schedule/task_list.html", {"tasks": tasks, "task_count": len(tasks)})


task_create_view = require_http_methods(["GET", "POST"])(pages.create_view)
task_update_view = require_http_methods(["GET", "POST"])(pages.update_view)
task_delete_view = require_http_methods(["GET", "POST"])(pages.delete_view)
