"""The monthly order page: the month's tasks with their plans, edited right in the table."""

import calendar
import datetime
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from realtime.protocol import MONTHLY_TASKS
from schedule.models import Task
from scheduler_project.pages import (
    GONE_MESSAGE,
    Conflict,
    DeleteForm,
    Submission,
    conflict_for,
    deletion_message,
    fragment_ids,
    is_fragment_request,
    submit,
    submit_delete,
)

from .fields import format_month, parse_month
from .forms import (
    MonthForm,
    MonthlyTaskCreateForm,
    MonthlyTaskUpdateForm,
    row_auto_id,
)
from .models import MonthlyTask, first_of_month
from .selectors import monthly_order
from .services import monthly_task_create, monthly_task_delete, monthly_task_update


def _this_month() -> datetime.date:
    return first_of_month(timezone.localdate())


def _shift(month: datetime.date, months: int) -> datetime.date | None:
    """The first of the month ``months`` away, or None past the calendar's ends."""
    index = month.year * 12 + month.month - 1 + months
    try:
        return datetime.date(index // 12, index % 12 + 1, 1)
    except ValueError:
        return None


def _order_url(month: datetime.date, task_id: int | None = None) -> str:
    url = f"{reverse('monthly:order')}?month={format_month(month)}"
    return f"{url}#task-{task_id}" if task_id is not None else url


def _optional_order_url(month: datetime.date | None) -> str | None:
    return _order_url(month) if month is not None else None


def _month_or_current(value: str | None) -> datetime.date:
    try:
        return parse_month(value or "")
    except ValueError:
        return _this_month()


def _order_rows(
    request: HttpRequest,
    month: datetime.date,
    *,
    task_id: int | None = None,
    submission: Submission | None = None,
    row_errors: list[str] | None = None,
    only: set[int] | None = None,
) -> tuple[list[dict[str, Any]], list[tuple[str, Decimal]]]:
    """The order's rows (those of the tasks in ``only`` if given) and its totals per unit;
    after a failed write, the row of ``task_id`` shows that outcome."""
    can_add = request.user.has_perm("monthly.add_monthlytask")
    can_change = request.user.has_perm("monthly.change_monthlytask")
    rows = []
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for task, plan in monthly_order(month=month):
        if plan is not None:
            totals[task.unit] += plan.volume_plan
        if only is not None and task.pk not in only:
            continue
        conflict: Conflict | None = None
        errors: list[str] = []
        form: Any = None
        if submission is not None and task.pk == task_id:
            form, conflict, errors = submission.form, submission.conflict, row_errors or []
        elif plan is not None and can_change:
            form = MonthlyTaskUpdateForm(instance=plan, auto_id=row_auto_id(task.pk))
        elif plan is None and can_add:
            form = MonthlyTaskCreateForm(
                initial={"task": task, "month": month}, auto_id=row_auto_id(task.pk)
            )
        # Errors of the volume show in its cell; the rest go to a message row under it.
        other_errors = form is not None and any(name != "volume_plan" for name in form.errors)
        rows.append(
            {
                "task": task,
                "plan": plan,
                "form": form,
                "conflict": conflict,
                "errors": errors,
                "has_problem": bool(conflict or errors or other_errors),
            }
        )
    return rows, sorted(totals.items())


def _render_order(
    request: HttpRequest,
    month: datetime.date,
    *,
    task_id: int | None = None,
    submission: Submission | None = None,
    row_errors: list[str] | None = None,
) -> HttpResponse:
    """The order page; after a failed write, the row of ``task_id`` shows that outcome."""
    rows, totals = _order_rows(
        request, month, task_id=task_id, submission=submission, row_errors=row_errors
    )
    this_month = _this_month()
    previous_month, next_month = _shift(month, -1), _shift(month, 1)
    context = {
        **_order_context(request, month),
        "month_form": MonthForm(initial={"month": format_month(month)}),
        "rows": rows,
        "totals": totals,
        "previous_month": previous_month,
        "next_month": next_month,
        "previous_url": _optional_order_url(previous_month),
        "next_url": _optional_order_url(next_month),
        "this_month_url": _order_url(this_month),
        "is_this_month": month == this_month,
        "page_url": _order_url(month),
    }
    status = submission.status if submission is not None else 200
    return render(request, "monthly/order.html", context, status=status)


def _order_context(request: HttpRequest, month: datetime.date) -> dict[str, Any]:
    """What the rows need besides themselves, on the page and in its fragments."""
    last = month.replace(day=calendar.monthrange(month.year, month.month)[1])
    return {
        "month": month,
        "month_key": format_month(month),
        "month_first": month.isoformat(),
        "month_last": last.isoformat(),
        "can_delete": request.user.has_perm("monthly.delete_monthlytask"),
    }


def _render_fragment(request: HttpRequest, month: datetime.date) -> HttpResponse:
    """The rows of the tasks asked for (those in the month) and the month's totals."""
    rows, totals = _order_rows(request, month, only=set(fragment_ids(request, "task")))
    context = {**_order_context(request, month), "rows": rows, "totals": totals}
    return render(request, "monthly/order_rows.html", context)


@require_GET
@permission_required("monthly.view_monthlytask", raise_exception=True)
def order_view(request: HttpRequest) -> HttpResponse:
    raw = request.GET.get("month", "").strip()
    if is_fragment_request(request):
        return _render_fragment(request, _month_or_current(raw))
    if not raw:
        return _render_order(request, _this_month())
    try:
        month = parse_month(raw)
    except ValueError:
        messages.warning(
            request,
            _("“%(value)s” is not a month (YYYY-MM); showing the current month instead.")
            % {"value": raw[:20]},
        )
        return redirect(_order_url(_this_month()))
    return _render_order(request, month)


def _saved_message(plan: MonthlyTask) -> str:
    return _("Plan of %(task)s for %(month)s saved.") % {
        "task": plan.task.code,
        "month": date_format(plan.month, "YEAR_MONTH_FORMAT"),
    }


@require_POST
@permission_required("monthly.add_monthlytask", raise_exception=True)
def monthly_task_create_view(request: HttpRequest) -> HttpResponse:
    task_id = request.POST.get("task", "")
    form = MonthlyTaskCreateForm(request.POST, auto_id=row_auto_id(task_id))
    submission = submit(
        form, lambda data, version: monthly_task_create(data=data, actor=request.user)
    )
    if submission.saved is not None:
        messages.success(request, _saved_message(submission.saved))
        return redirect(_order_url(submission.saved.month, submission.saved.task_id))
    month = form.cleaned_data.get("month") or _month_or_current(request.POST.get("month"))
    task = form.cleaned_data.get("task")
    if task is None:
        # The row is not on the page (its task was deleted meanwhile): tell it above the table.
        for error in form.errors.values():
            messages.error(request, " ".join(error))
        return redirect(_order_url(month))
    stored = MonthlyTask.objects.filter(task=task, month=month).select_related("task").first()
    if stored is not None:
        # Someone planned this task for the month meanwhile: show their plan, ready to edit.
        submission = Submission(
            form=MonthlyTaskUpdateForm(instance=stored, auto_id=row_auto_id(task.pk)),
            conflict=conflict_for(
                current=stored, form_class=MonthlyTaskUpdateForm, entered=form.cleaned_data
            ),
        )
        return _render_order(
            request,
            month,
            task_id=task.pk,
            submission=submission,
            row_errors=list(form.non_field_errors()),
        )
    return _render_order(request, month, task_id=task.pk, submission=submission)


def _deleted_while_editing(
    request: HttpRequest, pk: int, *, task_id: object, month: datetime.date
) -> HttpResponse:
    """The edit of a plan deleted meanwhile: say who deleted it and keep the entry in the task's
    row as a new plan (its form posts to the create view), so that nothing typed is lost.

    The row's form names its task in the URL (``?task=``) for this case: the plan is gone.
    """
    message = deletion_message(stream=MONTHLY_TASKS, object_id=pk, name=_("This plan"))
    raw = str(task_id)
    task = Task.objects.filter(pk=int(raw)).first() if raw.isascii() and raw.isdigit() else None
    if task is None or not request.user.has_perm("monthly.add_monthlytask"):
        messages.warning(request, message)
        return redirect(_order_url(month))
    form = MonthlyTaskCreateForm(
        {
            "task": task.pk,
            "month": format_month(month),
            "volume_plan": request.POST.get("volume_plan", ""),
        },
        auto_id=row_auto_id(task.pk),
    )
    hint = _("Your entry is kept in the row: add it to plan it again.")
    return _render_order(
        request,
        month,
        task_id=task.pk,
        submission=Submission(form=form, gone=True),
        row_errors=[f"{message} {hint}"],
    )


@require_POST
@permission_required("monthly.change_monthlytask", raise_exception=True)
def monthly_task_update_view(request: HttpRequest, pk: int) -> HttpResponse:
    plan = MonthlyTask.objects.select_related("task").filter(pk=pk).first()
    if plan is None:
        return _deleted_while_editing(
            request,
            pk,
            task_id=request.GET.get("task", ""),
            month=_month_or_current(request.GET.get("month")),
        )
    submission = submit(
        MonthlyTaskUpdateForm(request.POST, instance=plan, auto_id=row_auto_id(plan.task_id)),
        lambda data, version: monthly_task_update(
            monthly_task=plan, data=data, version=version, actor=request.user
        ),
    )
    if submission.gone:
        return _deleted_while_editing(request, pk, task_id=plan.task_id, month=plan.month)
    if submission.saved is not None:
        messages.success(request, _saved_message(submission.saved))
        return redirect(_order_url(plan.month, plan.task_id))
    return _render_order(request, plan.month, task_id=plan.task_id, submission=submission)


@require_http_methods(["GET", "POST"])
@permission_required("monthly.delete_monthlytask", raise_exception=True)
def monthly_task_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    plan = MonthlyTask.objects.select_related("task").filter(pk=pk).first()
    if plan is None:
        messages.warning(request, GONE_MESSAGE)
        return redirect(_order_url(_month_or_current(request.GET.get("month"))))
    submission = None
    if request.method != "POST":
        form = DeleteForm(initial={"version": plan.version})
    else:
        submission = submit_delete(
            DeleteForm(request.POST),
            instance=plan,
            form_class=MonthlyTaskUpdateForm,
            delete=lambda version: monthly_task_delete(
                monthly_task=plan, version=version, actor=request.user
            ),
        )
        if submission.gone:
            messages.warning(request, GONE_MESSAGE)
            return redirect(_order_url(plan.month))
        if submission.saved is not None:
            messages.success(
                request,
                _("Plan of %(task)s for %(month)s deleted.")
                % {"task": plan.task.code, "month": date_format(plan.month, "YEAR_MONTH_FORMAT")},
            )
            return redirect(_order_url(plan.month, plan.task_id))
        form = submission.form
        if submission.conflict is not None:
            # The stored row as the conflict found it: reading it again could find it deleted.
            plan = submission.conflict.current
    return render(
        request,
        "monthly/monthly_task_confirm_delete.html",
        {
            "form": form,
            "plan": plan,
            "order_url": _order_url(plan.month, plan.task_id),
            "conflict": submission.conflict if submission else None,
        },
        status=submission.status if submission else 200,
    )
