"""The monthly order page: the month's tasks with their plans, edited right in the table."""

import calendar
import datetime
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from realtime.protocol import MONTHLY_TASKS
from schedule.models import Task
from scheduler_project.pages import (
    Conflict,
    Outcome,
    Submission,
    VersionedEditFlow,
    VersionedModelForm,
    fragment_ids,
    is_fragment_request,
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
            form, conflict, errors = submission.form, submission.conflict, submission.notes
            if submission.deletion:
                hint = _("Your entry is kept in the row: add it to plan it again.")
                errors = [*errors, f"{submission.deletion} {hint}"]
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
) -> HttpResponse:
    """The order page; after a failed write, the row of ``task_id`` shows that outcome."""
    rows, totals = _order_rows(request, month, task_id=task_id, submission=submission)
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


class MonthlyTaskPages(VersionedEditFlow[MonthlyTask]):
    """A plan is edited in its task's row of the order page, which the flow renders."""

    form_class = MonthlyTaskUpdateForm
    create_form_class = MonthlyTaskCreateForm
    delete_template = "monthly/monthly_task_confirm_delete.html"
    context_object_name = "plan"
    stream = MONTHLY_TASKS
    deleted_name = gettext_lazy("This plan")

    def create(self, *, data: dict[str, Any], actor: Any) -> MonthlyTask:
        return monthly_task_create(data=data, actor=actor)

    def update(
        self, obj: MonthlyTask, *, data: dict[str, Any], version: int | None, actor: Any
    ) -> MonthlyTask:
        return monthly_task_update(monthly_task=obj, data=data, version=version, actor=actor)

    def delete(self, obj: MonthlyTask, *, version: int, actor: Any) -> None:
        monthly_task_delete(monthly_task=obj, version=version, actor=actor)

    def message(self, obj: MonthlyTask, outcome: Outcome) -> str:
        text = (
            _("Plan of %(task)s for %(month)s deleted.")
            if outcome == "deleted"
            else _("Plan of %(task)s for %(month)s saved.")
        )
        return text % {"task": obj.task.code, "month": date_format(obj.month, "YEAR_MONTH_FORMAT")}

    def list_url(
        self, request: HttpRequest, obj: MonthlyTask | None, *, anchor: bool = False
    ) -> str:
        if obj is None:
            return _order_url(_month_or_current(request.GET.get("month")))
        return _order_url(obj.month, obj.task_id if anchor else None)

    def deleted_url(self, request: HttpRequest, obj: MonthlyTask) -> str:
        return self.list_url(request, obj, anchor=True)  # the task's row stays

    def get_object(self, pk: int) -> MonthlyTask | None:
        return MonthlyTask.objects.select_related("task").filter(pk=pk).first()

    def build_form(
        self,
        request: HttpRequest,
        data: Mapping[str, Any] | None = None,
        *,
        instance: MonthlyTask | None = None,
    ) -> VersionedModelForm:
        if instance is not None:
            return MonthlyTaskUpdateForm(
                data, instance=instance, auto_id=row_auto_id(instance.task_id)
            )
        task_id = data.get("task", "") if data is not None else ""
        return MonthlyTaskCreateForm(data, auto_id=row_auto_id(task_id))

    def recreate_form(
        self, request: HttpRequest, obj: MonthlyTask | None
    ) -> VersionedModelForm | None:
        """The row's form names its task in the URL (``?task=``) for this case: the plan is gone."""
        raw = str(obj.task_id if obj is not None else request.GET.get("task", ""))
        task = Task.objects.filter(pk=int(raw)).first() if raw.isascii() and raw.isdigit() else None
        if task is None:
            return None
        month = obj.month if obj is not None else _month_or_current(request.GET.get("month"))
        data = {
            "task": task.pk,
            "month": format_month(month),
            "volume_plan": request.POST.get("volume_plan", ""),
        }
        return self.build_form(request, data)

    def created_meanwhile(self, form: forms.BaseForm) -> MonthlyTask | None:
        task, month = form.cleaned_data.get("task"), form.cleaned_data.get("month")
        if task is None or month is None:
            return None
        return MonthlyTask.objects.filter(task=task, month=month).select_related("task").first()

    def render_form(
        self, request: HttpRequest, submission: Submission, obj: MonthlyTask | None
    ) -> HttpResponse:
        """The order page with the plan's row showing the outcome."""
        if obj is not None:
            return _render_order(request, obj.month, task_id=obj.task_id, submission=submission)
        form = submission.form
        form.is_valid()  # a new plan's task and month are in its cleaned data
        month = form.cleaned_data.get("month") or _month_or_current(request.POST.get("month"))
        task = form.cleaned_data.get("task")
        if task is None:
            # The row is not on the page (its task was deleted meanwhile): tell it above the table.
            for error in form.errors.values():
                messages.error(request, " ".join(error))
            return redirect(_order_url(month))
        return _render_order(request, month, task_id=task.pk, submission=submission)


pages = MonthlyTaskPages()

monthly_task_create_view = require_POST(pages.create_view)
monthly_task_update_view = require_POST(pages.update_view)
monthly_task_delete_view = require_http_methods(["GET", "POST"])(pages.delete_view)
