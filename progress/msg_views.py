"""The МСГ (month-by-day schedule) page: per task of the month its plan and fact per day, the
month's figures and forecast, the plans edited right in their rows and a day's work entered in
its cell (progress/selectors.py ``month_grid`` computes every figure)."""

import datetime
from collections.abc import Collection, Mapping
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from daily.models import DailyWork
from daily.views import DailyWorkPages
from monthly.fields import format_month, parse_month
from monthly.forms import (
    MonthForm,
    MonthlyTaskCreateForm,
    MonthlyTaskUpdateForm,
    row_auto_id,
)
from monthly.models import MonthlyTask
from monthly.services import monthly_task_create, monthly_task_delete, monthly_task_update
from realtime.protocol import DAILY_WORKS, MONTHLY_TASKS, TASKS
from schedule.models import Task, is_section_code, task_code_key
from scheduler_project.months import (
    FIRST_YEAR,
    LAST_YEAR,
    first_of_month,
    month_last_day,
    shift_month,
)
from scheduler_project.pages import (
    Conflict,
    Outcome,
    Submission,
    VersionedEditFlow,
    VersionedModelForm,
    changed_since_last_visit,
    fragment_ids,
    is_fragment_request,
)

from .forms import CellDialogForm, CellWorkForm
from .selectors import MonthGrid, month_grid, monthly_plan_warnings
from .workbooks import msg_response


def _this_month() -> datetime.date:
    return first_of_month(timezone.localdate())


def _shift(month: datetime.date, months: int) -> datetime.date | None:
    """The first of the month ``months`` away, or None outside the months shown."""
    shifted = shift_month(month, months)
    return shifted if _is_shown(shifted) else None


def _is_shown(month: datetime.date) -> bool:
    """The МСГ shows the months the API does (its working calendar needs real years)."""
    return FIRST_YEAR <= month.year <= LAST_YEAR


def _order_url(month: datetime.date, task_id: int | None = None) -> str:
    url = f"{reverse('monthly:order')}?month={format_month(month)}"
    return f"{url}#task-{task_id}" if task_id is not None else url


def _optional_order_url(month: datetime.date | None) -> str | None:
    return _order_url(month) if month is not None else None


def _month_or_current(value: str | None) -> datetime.date:
    try:
        month = parse_month(value or "")
    except ValueError:
        return _this_month()
    return month if _is_shown(month) else _this_month()


def _grid_rows(
    request: HttpRequest,
    grid: MonthGrid,
    *,
    task_id: int | None = None,
    submission: Submission | None = None,
    only: set[int] | None = None,
    changed: Collection[int] = frozenset(),
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The МСГ's rows (those of the tasks in ``only`` if given) and its sections with their
    rows; after a failed write, the row of ``task_id`` shows
    that outcome; the rows of the tasks in ``changed`` are marked as changed since the last
    visit."""
    user = request.user
    can_add = user.has_perm("monthly.add_monthlytask")
    can_change = user.has_perm("monthly.change_monthlytask")
    rows: list[dict[str, Any]] = []
    sections: list[dict[str, Any]] = []
    for section in grid.sections:
        section_rows = []
        for grid_row in section.rows:
            task, plan = grid_row.task, grid_row.monthly_task
            if only is not None and task.pk not in only:
                continue
            conflict: Conflict | None = None
            errors: list[str] = []
            warnings: list[str] = []
            form: Any = None
            if submission is not None and task.pk == task_id:
                form, conflict, errors = submission.form, submission.conflict, submission.notes
                warnings = submission.warnings
                if submission.deletion:
                    hint = _("Your entry is kept in the row: add it to plan it again.")
                    errors = [*errors, f"{submission.deletion} {hint}"]
            # Errors of the volume show in its cell; the rest go to a message row under it.
            other_errors = form is not None and any(name != "volume_plan" for name in form.errors)
            task_works = grid_row.works
            row = {
                "task": task,
                "plan": plan,
                "grid": grid_row,
                "works": task_works,
                "form": form,
                # Without a form of its own the row gets the unbound form's inputs (PlanInputs).
                "can_edit_plan": can_change if plan is not None else can_add,
                "conflict": conflict,
                "errors": errors,
                "warnings": warnings,
                # The plan's form, which the message row's "Save anyway" submits.
                "form_id": f"plan-form-{task.pk}",
                "has_problem": bool(conflict or errors or other_errors or warnings),
                "work_ids": " ".join(str(work.id) for day in task_works.values() for work in day),
                "changed_since_visit": task.pk in changed,
            }
            rows.append(row)
            section_rows.append(row)
        sections.append(
            {
                "name": section.section,
                "title": section.title,
                "sort_key": task_code_key(section.section),
                "totals": section.totals,
                "rows": section_rows,
            }
        )
    return rows, sections


def _day_url(day: datetime.date) -> str:
    return f"{reverse('daily:day')}?date={day.isoformat()}"


def _render_order(
    request: HttpRequest,
    month: datetime.date,
    *,
    task_id: int | None = None,
    submission: Submission | None = None,
) -> HttpResponse:
    """The МСГ; after a failed write, the row of ``task_id`` shows that outcome."""
    grid = month_grid(month=month, today=timezone.localdate())
    changed = _changed_since_last_visit(request, grid) if submission is None else set()
    rows, sections = _grid_rows(
        request, grid, task_id=task_id, submission=submission, changed=changed
    )
    this_month = _this_month()
    previous_month, next_month = _shift(month, -1), _shift(month, 1)
    context = {
        **_order_context(request, grid),
        "month_form": MonthForm(initial={"month": format_month(month)}),
        "rows": rows,
        "sections": sections,
        "previous_month": previous_month,
        "next_month": next_month,
        "previous_url": _optional_order_url(previous_month),
        "next_url": _optional_order_url(next_month),
        "this_month_url": _order_url(this_month),
        "is_this_month": month == this_month,
        "page_url": _order_url(month),
    }
    if context["can_report"]:
        context["cell_form"] = CellDialogForm(auto_id="cell-%s")
    status = submission.status if submission is not None else 200
    return render(request, "progress/order.html", context, status=status)


def _changed_since_last_visit(request: HttpRequest, grid: MonthGrid) -> set[int]:
    """The tasks whose row others changed since the user last had the month open: the task,
    its plan for the month or one of the month's reports on it (a deleted report has no row
    to point at)."""
    changed = changed_since_last_visit(
        request,
        page=f"monthly:{format_month(grid.month)}",
        streams=[TASKS, MONTHLY_TASKS, DAILY_WORKS],
    )
    tasks = set(changed[TASKS])
    for section in grid.sections:
        for row in section.rows:
            plan = row.monthly_task
            if (plan is not None and plan.pk in changed[MONTHLY_TASKS]) or any(
                work.id in changed[DAILY_WORKS] for day in row.works.values() for work in day
            ):
                tasks.add(row.task.pk)
    return tasks


def _order_context(request: HttpRequest, grid: MonthGrid) -> dict[str, Any]:
    """What the rows need besides themselves, on the page and in its fragments."""
    month = grid.month
    return {
        "grid": grid,
        "month": month,
        "month_key": format_month(month),
        "month_first": month.isoformat(),
        "month_last": month_last_day(month).isoformat(),
        "can_delete": request.user.has_perm("monthly.delete_monthlytask"),
        "can_report": (
            request.user.has_perm("daily.add_dailywork")
            or request.user.has_perm("daily.change_dailywork")
        ),
        "key_figure_columns": KEY_FIGURE_COLUMNS,
        "sticky_columns": FIXED_COLUMNS + KEY_FIGURE_COLUMNS,
        "extra_figure_columns": EXTRA_FIGURE_COLUMNS,
        "columns": FIXED_COLUMNS + KEY_FIGURE_COLUMNS + EXTRA_FIGURE_COLUMNS + len(grid.days),
        "after_fact_columns": KEY_FIGURE_COLUMNS - 2,
    }


FIXED_COLUMNS = 3
"""Code, work, unit: the sticky columns."""
KEY_FIGURE_COLUMNS = 5
"""Plan, fact, deviation, needed per day, needed per day to finish: in view while the days
scroll."""
EXTRA_FIGURE_COLUMNS = 3
"""%, remaining, forecast: shown on a laptop at the user's choice ("All figures")."""


def _render_fragment(request: HttpRequest, month: datetime.date) -> HttpResponse:
    """The rows of the tasks asked for (those in the month), every section's subtotal row, the
    day header and the month's totals."""
    grid = month_grid(month=month, today=timezone.localdate())
    rows, sections = _grid_rows(request, grid, only=set(fragment_ids(request, "task")))
    context = {
        **_order_context(request, grid),
        "rows": rows,
        "sections": sections,
    }
    return render(request, "progress/order_rows.html", context)


MSG_VIEW_PERMISSIONS = ["monthly.view_monthlytask", "schedule.view_task", "daily.view_dailywork"]
"""The МСГ shows tasks, plans and reports: the page and its export need the view permission of
each."""


@require_GET
@permission_required(MSG_VIEW_PERMISSIONS, raise_exception=True)
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
    if not _is_shown(month):
        messages.warning(
            request,
            _(
                "The schedule shows the months from %(first)s-01 to %(last)s-12; "
                "showing the current month instead."
            )
            % {"first": FIRST_YEAR, "last": LAST_YEAR},
        )
        return redirect(_order_url(_this_month()))
    return _render_order(request, month)


@require_GET
@permission_required(MSG_VIEW_PERMISSIONS, raise_exception=True)
def order_export_view(request: HttpRequest) -> HttpResponse:
    """The МСГ of ``?month=YYYY-MM`` (default this month), of ``?section=`` if given, as an
    Excel file."""
    raw = request.GET.get("month", "").strip()
    section = request.GET.get("section", "").strip() or None
    try:
        month = parse_month(raw) if raw else _this_month()
    except ValueError:
        month = None
    if month is None or not _is_shown(month):
        return HttpResponseBadRequest(
            _("Enter a month from %(first)s to %(last)s.")
            % {"first": f"{FIRST_YEAR}-01", "last": f"{LAST_YEAR}-12"}
        )
    if section is not None and not is_section_code(section):
        return HttpResponseBadRequest(
            _("A section is the first level of a code, the part before the first dot.")
        )
    grid = month_grid(month=month, today=timezone.localdate(), section=section)
    return msg_response(grid=grid, section=section, user=request.user)


class MonthlyTaskPages(VersionedEditFlow[MonthlyTask]):
    """A plan is edited in its task's row of the order page, which the flow renders."""

    form_class = MonthlyTaskUpdateForm
    create_form_class = MonthlyTaskCreateForm
    delete_template = "progress/monthly_task_confirm_delete.html"
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

    def warnings(self, data: dict[str, Any], obj: MonthlyTask | None) -> list[str]:
        task = data.get("task") or (obj.task if obj is not None else None)
        month = data.get("month") or (obj.month if obj is not None else None)
        if task is None or month is None or data.get("volume_plan") is None:
            return []
        return monthly_plan_warnings(
            task=task, month=month, volume=data["volume_plan"], today=timezone.localdate()
        )

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


class CellWorkPages(DailyWorkPages):
    """A day's work entered or corrected in its МСГ cell: the daily pages' flow and services
    (versions, conflicts, deleted meanwhile), leading back to the task's row of the МСГ."""

    form_class = CellWorkForm
    form_template = "progress/cell_form.html"
    create_url_name = "monthly:cell_create"

    def list_url(self, request: HttpRequest, obj: DailyWork | None, *, anchor: bool = False) -> str:
        if obj is None:
            day = _as_date(request.GET.get("date")) or timezone.localdate()
            return _order_url(first_of_month(day))
        return _order_url(first_of_month(obj.date), obj.task_id if anchor else None)

    def build_form(
        self,
        request: HttpRequest,
        data: Mapping[str, Any] | None = None,
        *,
        instance: DailyWork | None = None,
    ) -> CellWorkForm:
        if data is None and instance is None:
            initial = {"task": request.GET.get("task"), "date": _as_date(request.GET.get("date"))}
            return CellWorkForm(initial=initial)
        return CellWorkForm(data, instance=instance)

    def form_context(
        self, request: HttpRequest, form: Any, obj: DailyWork | None
    ) -> dict[str, Any]:
        task_id, day = str(form["task"].value() or ""), _as_date(form["date"].value())
        task = (
            Task.objects.filter(pk=int(task_id)).first()
            if task_id.isascii() and task_id.isdigit()
            else None
        )
        context: dict[str, Any] = {"cell_task": task, "cell_date": day}
        if day is not None:
            context["back_url"] = _order_url(first_of_month(day), task.pk if task else None)
        return context


def _as_date(value: object) -> datetime.date | None:
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value or ""))
    except ValueError:
        return None


cell_pages = CellWorkPages()


@require_GET
def cell_view(request: HttpRequest) -> HttpResponse:
    """A day cell of the МСГ: the form adding the task's work of that day, or correcting it
    when there is one; the daily page of that date when there are several. The page opens it
    without JavaScript; with it, the cell's dialog writes through the outbox and the API."""
    if not (
        request.user.has_perm("daily.add_dailywork")
        or request.user.has_perm("daily.change_dailywork")
    ):
        raise PermissionDenied
    raw_task, day = request.GET.get("task", ""), _as_date(request.GET.get("date"))
    if not (raw_task.isascii() and raw_task.isdigit()) or day is None:
        return HttpResponseBadRequest(
            _("A cell is named by ?task=<id>&date=<YYYY-MM-DD>."), content_type="text/plain"
        )
    task = get_object_or_404(Task, pk=int(raw_task))
    works = list(DailyWork.objects.filter(task=task, date=day).values_list("pk", flat=True)[:2])
    if len(works) > 1:
        return redirect(_day_url(day))
    if works:
        return cell_pages.update_view(request, works[0])
    return cell_pages.create_view(request)


cell_create_view = require_POST(cell_pages.create_view)
cell_update_view = require_POST(cell_pages.update_view)
