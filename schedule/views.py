"""The schedule pages: the task table and the forms that create, edit and delete tasks."""

import copy

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from realtime.protocol import TASKS
from scheduler_project.pages import (
    GONE_MESSAGE,
    DeleteForm,
    deletion_message,
    fragment_ids,
    is_fragment_request,
    submit,
    submit_delete,
)

from .forms import TaskForm
from .models import Task
from .selectors import task_list
from .services import task_create, task_delete, task_update


def _list_url(task: Task | None = None) -> str:
    url = reverse("schedule:task_list")
    return f"{url}#task-{task.pk}" if task is not None else url


def _units() -> list[str]:
    return list(Task.objects.order_by("unit").values_list("unit", flat=True).distinct())


def _gone(request: HttpRequest) -> HttpResponse:
    messages.warning(request, GONE_MESSAGE)
    return redirect(_list_url())


def _deleted_while_editing(request: HttpRequest, pk: int) -> HttpResponse:
    """The edit of a task deleted meanwhile: say who deleted it and offer the entry as a new
    task (the form posts to the create view), so that nothing typed is lost."""
    if not request.user.has_perm("schedule.add_task"):
        return _gone(request)
    return render(
        request,
        "schedule/task_form.html",
        {
            "form": TaskForm(request.POST),
            "units": _units(),
            "deletion": deletion_message(stream=TASKS, object_id=pk, name=_("This task")),
            "action_url": reverse("schedule:task_create"),
        },
        status=410,
    )


@require_GET
@permission_required("schedule.view_task", raise_exception=True)
def task_list_view(request: HttpRequest) -> HttpResponse:
    if is_fragment_request(request):
        tasks = list(task_list().filter(pk__in=fragment_ids(request, "task")))
        context = {"tasks": tasks, "task_count": Task.objects.count()}
        return render(request, "schedule/task_rows.html", context)
    tasks = list(task_list())
    return render(request, "schedule/task_list.html", {"tasks": tasks, "task_count": len(tasks)})


@require_http_methods(["GET", "POST"])
@permission_required("schedule.add_task", raise_exception=True)
def task_create_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        submission = None
        form = TaskForm()
    else:
        submission = submit(
            TaskForm(request.POST),
            lambda data, version: task_create(data=data, actor=request.user),
        )
        if submission.saved is not None:
            messages.success(request, _("Task %(task)s created.") % {"task": submission.saved})
            return redirect(_list_url(submission.saved))
        form = submission.form
    return render(
        request,
        "schedule/task_form.html",
        {"form": form, "units": _units()},
        status=submission.status if submission else 200,
    )


@require_http_methods(["GET", "POST"])
@permission_required("schedule.change_task", raise_exception=True)
def task_update_view(request: HttpRequest, pk: int) -> HttpResponse:
    task = Task.objects.filter(pk=pk).first()
    if task is None:
        if request.method == "POST":
            return _deleted_while_editing(request, pk)
        return _gone(request)
    submission = None
    if request.method != "POST":
        form = TaskForm(instance=task)
    else:
        submission = submit(
            # The form validates a copy, so the page title keeps showing the stored task.
            TaskForm(request.POST, instance=copy.copy(task)),
            lambda data, version: task_update(
                task=task, data=data, version=version, actor=request.user
            ),
        )
        if submission.gone:
            return _deleted_while_editing(request, pk)
        if submission.saved is not None:
            messages.success(request, _("Task %(task)s saved.") % {"task": submission.saved})
            return redirect(_list_url(submission.saved))
        form = submission.form
        if submission.conflict is not None:
            task = submission.conflict.current
    return render(
        request,
        "schedule/task_form.html",
        {
            "form": form,
            "task": task,
            "units": _units(),
            "conflict": submission.conflict if submission else None,
        },
        status=submission.status if submission else 200,
    )


@require_http_methods(["GET", "POST"])
@permission_required("schedule.delete_task", raise_exception=True)
def task_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    task = Task.objects.filter(pk=pk).first()
    if task is None:
        return _gone(request)
    submission = None
    if request.method != "POST":
        form = DeleteForm(initial={"version": task.version})
    else:
        submission = submit_delete(
            DeleteForm(request.POST),
            instance=task,
            form_class=TaskForm,
            delete=lambda version: task_delete(task=task, version=version, actor=request.user),
        )
        if submission.gone:
            return _gone(request)
        if submission.saved is not None:
            messages.success(request, _("Task %(task)s deleted.") % {"task": task})
            return redirect(_list_url())
        form = submission.form
        if submission.conflict is not None:
            task = submission.conflict.current
    return render(
        request,
        "schedule/task_confirm_delete.html",
        {
            "form": form,
            "task": task,
            "monthly_task_count": task.monthly_tasks.count(),
            "daily_work_count": task.daily_works.count(),
            "conflict": submission.conflict if submission else None,
        },
        status=submission.status if submission else 200,
    )
