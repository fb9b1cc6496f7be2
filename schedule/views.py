"""The schedule pages: the task table, its timeline, and the forms that create, edit and delete
tasks."""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods

from progress.forecasts import Forecast, task_forecasts
from realtime.protocol import TASKS
from scheduler_project.http import allows_uploads
from scheduler_project.months import next_month
from scheduler_project.pages import (
    Outcome,
    VersionedEditFlow,
    changed_since_last_visit,
    fragment_ids,
    is_fragment_request,
)

from .forms import ImportUploadForm, TaskForm
from .import_plans import (
    Decision,
    ImportConflict,
    ImportInvalid,
    ImportPreview,
    RowKind,
    RowPreview,
    import_plan_discard,
    import_plan_load,
    import_plan_store,
    schedule_import_apply,
    schedule_import_preview,
)
from .imports import PROBLEMS_LISTED, ScheduleSheet, WorkbookError, more, read_schedule
from .models import Section, Task, section_title, task_section
from .selectors import task_list
from .services import task_create, task_delete, task_update
from .workbooks import schedule_response, schedule_template_response


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


def _with_forecasts(tasks: list[Task], *, today: datetime.date) -> list[Task]:
    """The tasks, each with its ``forecast`` and whether it ``is_late`` (two queries for any
    number of tasks)."""
    forecasts = task_forecasts(tasks=tasks, today=today)
    for task in tasks:
        task.forecast = forecasts[task.pk]
        task.is_late = task.forecast.is_late
    return tasks


# The timeline: the date axis is this many pixels wide whatever the span; a span of up to
# TIMELINE_WEEKS_MAX_DAYS is drawn by weeks, a longer one by months.
TIMELINE_WIDTH = 960
TIMELINE_WEEKS_MAX_DAYS = 16 * 7
ONE_DAY = datetime.timedelta(days=1)


def _px(value: float) -> float:
    """A position to a tenth of a pixel, written without a trailing ``.0``."""
    value = round(value, 1)
    return int(value) if value.is_integer() else value


@dataclass(frozen=True, slots=True)
class TimelineTick:
    day: datetime.date
    """The first day of the week or month the tick starts."""
    x: float
    labelled: bool
    """Months of a span over two years are labelled once a quarter, so that labels fit."""
    with_year: bool
    """The first month label, and each January, carry the year."""

    @property
    def label_x(self) -> float:
        return _px(self.x + 4)


@dataclass(frozen=True, slots=True)
class TimelineAxis:
    first: datetime.date
    last: datetime.date
    unit: Literal["week", "month"]
    day_width: float
    ticks: list[TimelineTick]
    today_x: float | None
    """The middle of today, when today is on the axis."""
    width: int = TIMELINE_WIDTH

    def x(self, day: datetime.date) -> float:
        """Where ``day`` starts, in pixels from the axis's first day; clamped to the axis."""
        days = min(max((day - self.first).days, 0), (self.last - self.first).days + 1)
        return _px(days * self.day_width)


@dataclass(frozen=True, slots=True)
class TimelineBar:
    task: Task
    forecast: Forecast
    x: float
    width: float
    """The planned bar: from the start of the start date to the end of the end date."""
    done_width: float
    """The part of the bar filled to the task's progress (at most the whole bar)."""
    overrun_width: float | None
    """The forecast beyond the end date, drawn from the bar's end: to the forecast finish, or
    to the axis's end when the forecast is beyond the horizon; None when not late."""

    @property
    def end_x(self) -> float:
        return _px(self.x + self.width)


@dataclass(frozen=True, slots=True)
class TimelineSection:
    section: str
    title: str
    """«Раздел 4 — Монолитные работы» (``section_title``)."""
    bars: list[TimelineBar]
    x: float
    width: float
    """The section's span: its earliest start to its latest end."""

    @property
    def late_count(self) -> int:
        return sum(1 for bar in self.bars if bar.task.is_late)


@dataclass(frozen=True, slots=True)
class Timeline:
    axis: TimelineAxis
    sections: list[TimelineSection]


def _forecast_end(task: Task) -> datetime.date:
    """The last day the task's bar and overrun need on the axis."""
    finish = task.forecast.finish
    if task.is_late and finish is not None:
        return max(task.end_date, finish)
    return task.end_date


def timeline_axis(
    *, first: datetime.date, last: datetime.date, today: datetime.date
) -> TimelineAxis:
    """The axis from whole week (or month) to whole week (or month) around ``first``–``last``."""
    if (last - first).days + 1 <= TIMELINE_WEEKS_MAX_DAYS:
        unit: Literal["week", "month"] = "week"
        start = first - datetime.timedelta(days=first.weekday())
        end = last + datetime.timedelta(days=6 - last.weekday())
        starts = [start + datetime.timedelta(weeks=n) for n in range((end - start).days // 7 + 1)]
    else:
        unit = "month"
        start = first.replace(day=1)
        starts = [start]
        while (following := next_month(starts[-1])) <= last:
            starts.append(following)
        end = next_month(starts[-1]) - ONE_DAY
    day_width = TIMELINE_WIDTH / ((end - start).days + 1)
    quarterly = unit == "month" and len(starts) > 24
    ticks = [
        TimelineTick(
            day=day,
            x=_px((day - start).days * day_width),
            labelled=not quarterly or day.month % 3 == 1,
            with_year=unit == "month" and (index == 0 or day.month == 1),
        )
        for index, day in enumerate(starts)
    ]
    today_x = None
    if start <= today <= end:
        today_x = _px(((today - start).days + 0.5) * day_width)
    return TimelineAxis(
        first=start, last=end, unit=unit, day_width=day_width, ticks=ticks, today_x=today_x
    )


def _timeline_bar(task: Task, axis: TimelineAxis) -> TimelineBar:
    x = axis.x(task.start_date)
    width = _px(axis.x(task.end_date + ONE_DAY) - x)
    share = min(task.progress_percent, Decimal(100)) / 100
    overrun = None
    if task.is_late:
        finish = task.forecast.finish
        until = axis.width if finish is None else axis.x(finish + ONE_DAY)
        overrun = _px(until - (x + width))
    return TimelineBar(
        task=task,
        forecast=task.forecast,
        x=x,
        width=width,
        done_width=_px(width * float(share)),
        overrun_width=overrun,
    )


def task_timeline(*, tasks: list[Task], today: datetime.date) -> Timeline | None:
    """The tasks (with their forecasts) laid out on a date axis from the earliest start to the
    latest end or late forecast finish, grouped by section; None without tasks."""
    if not tasks:
        return None
    axis = timeline_axis(
        first=min(task.start_date for task in tasks),
        last=max(_forecast_end(task) for task in tasks),
        today=today,
    )
    grouped: dict[str, list[Task]] = {}
    for task in tasks:
        grouped.setdefault(task_section(task.code), []).append(task)
    names = Section.objects.filter(code__in=grouped).names()
    sections = []
    for section, members in grouped.items():
        x = axis.x(min(task.start_date for task in members))
        end = axis.x(max(task.end_date for task in members) + ONE_DAY)
        bars = [_timeline_bar(task, axis) for task in members]
        sections.append(
            TimelineSection(
                section=section,
                title=section_title(section, names),
                bars=bars,
                x=x,
                width=_px(end - x),
            )
        )
    return Timeline(axis=axis, sections=sections)


VIEWS = ("table", "timeline")


@require_GET
@permission_required("schedule.view_task", raise_exception=True)
def task_list_view(request: HttpRequest) -> HttpResponse:
    """The schedule as a table (``?view=table``, the default) or as a timeline
    (``?view=timeline``); an unknown view shows the table, as an unknown month shows the
    current one on the monthly page."""
    today = timezone.localdate()
    view = request.GET.get("view")
    view = view if view in VIEWS else "table"
    if is_fragment_request(request):
        tasks = list(task_list().filter(pk__in=fragment_ids(request, "task")))
        context = {
            "tasks": _with_forecasts(tasks, today=today),
            "task_count": Task.objects.count(),
        }
        return render(request, "schedule/task_rows.html", context)
    tasks = _with_forecasts(list(task_list()), today=today)
    changed = changed_since_last_visit(request, page="schedule", streams=[TASKS])[TASKS]
    for task in tasks:
        task.changed_since_visit = task.pk in changed
    context = {"tasks": tasks, "task_count": len(tasks), "view": view, "today": today}
    if view == "timeline":
        context["timeline"] = task_timeline(tasks=tasks, today=today)
        if request.GET.get("fragment") == "timeline":
            return render(request, "schedule/timeline_body.html", context)
    return render(request, "schedule/task_list.html", context)


task_create_view = require_http_methods(["GET", "POST"])(pages.create_view)
task_update_view = require_http_methods(["GET", "POST"])(pages.update_view)
task_delete_view = require_http_methods(["GET", "POST"])(pages.delete_view)


@require_GET
@permission_required("schedule.view_task", raise_exception=True)
def task_export_view(request: HttpRequest) -> HttpResponse:
    """The schedule as an Excel file; the month plan columns for who may see monthly plans."""
    return schedule_response(
        tasks=list(task_list()),
        with_monthly_plans=request.user.has_perm("monthly.view_monthlytask"),
    )


# Import: upload → preview → apply. The parsed sheet and what the preview saw are kept on the
# server (ImportPlan, for SPREADSHEET_IMPORT_PLAN_MAX_AGE_SECONDS) under a token the page
# carries: a plan is found only with the token and by the user who previewed it, and the apply's
# request is small whatever the file was.
IMPORT_PERMISSIONS = ("schedule.add_task", "schedule.change_task")
MONTHLY_PERMISSIONS = ("monthly.add_monthlytask", "monthly.change_monthlytask")


def _import_page(
    request: HttpRequest,
    *,
    form: ImportUploadForm,
    sheet: ScheduleSheet | None = None,
    preview: ImportPreview | None = None,
    problems: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    problems = problems or []
    if len(problems) > PROBLEMS_LISTED:
        problems = [*problems[:PROBLEMS_LISTED], more(len(problems) - PROBLEMS_LISTED)]
    context: dict[str, Any] = {"form": form, "preview": preview, "problems": problems}
    if preview is not None and sheet is not None:
        context["plan"] = import_plan_store(sheet=sheet, seen=preview.seen, user=request.user)
        context["shown_rows"], context["more_errors"], context["more_changes"] = _shown_rows(
            preview
        )
    return render(request, "schedule/task_import.html", context, status=status)


def _shown_rows(preview: ImportPreview) -> tuple[list[RowPreview], int, int]:
    """The rows the preview's table shows: every row in conflict (each needs a decision), and
    at most ``PROBLEMS_LISTED`` rows in error and as many new or changed ones, in sheet order;
    how many more rows in error and how many more new or changed rows there are. A row in
    error only for repeating a code is named by the code's first row, not shown."""
    shown, errors, changes = [], 0, 0
    for row in preview.rows:
        if row.kind == RowKind.UNCHANGED or (row.kind == RowKind.ERROR and not row.errors):
            continue
        if row.kind == RowKind.ERROR:
            errors += 1
            if errors > PROBLEMS_LISTED:
                continue
        elif row.kind in {RowKind.NEW, RowKind.CHANGED}:
            changes += 1
            if changes > PROBLEMS_LISTED:
                continue
        shown.append(row)
    return shown, max(errors - PROBLEMS_LISTED, 0), max(changes - PROBLEMS_LISTED, 0)


@allows_uploads(setting="SPREADSHEET_IMPORT_MAX_BYTES", permissions=IMPORT_PERMISSIONS)
@require_http_methods(["GET", "POST"])
@permission_required(IMPORT_PERMISSIONS, raise_exception=True)
def task_import_view(request: HttpRequest) -> HttpResponse:
    """Upload a sheet and see its preview (``file``), or apply a previewed one (``plan``)."""
    if request.method == "POST" and "plan" in request.POST:
        return _import_apply(request)
    if request.method == "GET":
        return _import_page(request, form=ImportUploadForm())
    form = ImportUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _import_page(request, form=form, status=400)
    try:
        sheet = read_schedule(form.cleaned_data["file"])
    except WorkbookError as error:
        return _import_page(request, form=form, problems=[str(error)], status=400)
    preview = schedule_import_preview(sheet=sheet)
    return _import_page(request, form=ImportUploadForm(), sheet=sheet, preview=preview)


def _import_apply(request: HttpRequest) -> HttpResponse:
    token = request.POST["plan"]
    plan = import_plan_load(token=token, user=request.user)
    if plan is None:
        problem = _("This preview has expired or is not yours: upload the file again.")
        return _import_page(request, form=ImportUploadForm(), problems=[problem], status=400)
    sheet, seen = plan
    delete_missing = request.POST.get("delete_missing") == "on"
    if delete_missing and not request.user.has_perm("schedule.delete_task"):
        raise PermissionDenied
    if any(row.monthly_plans for row in sheet.rows) and not request.user.has_perms(
        MONTHLY_PERMISSIONS
    ):
        raise PermissionDenied
    decisions = {}
    for row in seen.contested:
        value = request.POST.get(f"decision-{row}")
        if value in Decision.__members__.values():
            decisions[row] = Decision(value)
    try:
        result = schedule_import_apply(
            sheet=sheet,
            seen=seen,
            decisions=decisions,
            delete_missing=delete_missing,
            actor=request.user,
        )
    except ImportConflict as refused:
        import_plan_discard(token=token, user=request.user)
        preview = schedule_import_preview(sheet=sheet, since=seen)
        problems = [str(problem) for problem in refused.problems]
        return _import_page(
            request,
            form=ImportUploadForm(),
            sheet=sheet,
            preview=preview,
            problems=problems,
            status=409,
        )
    except ImportInvalid as refused:
        import_plan_discard(token=token, user=request.user)
        preview = schedule_import_preview(sheet=sheet)
        problems = [str(problem) for problem in refused.problems]
        return _import_page(
            request,
            form=ImportUploadForm(),
            sheet=sheet,
            preview=preview,
            problems=problems,
            status=400,
        )
    import_plan_discard(token=token, user=request.user)
    messages.success(
        request,
        _(
            "Schedule imported: %(created)s tasks created, %(updated)s changed, "
            "%(deleted)s deleted, %(plans)s monthly plans written."
        )
        % {
            "created": result.created,
            "updated": result.updated,
            "deleted": result.deleted,
            "plans": result.monthly_plans_written,
        },
    )
    if result.sections_named:
        messages.success(
            request,
            ngettext(
                "%(count)s section named as in the file.",
                "%(count)s sections named as in the file.",
                result.sections_named,
            )
            % {"count": result.sections_named},
        )
    return redirect("schedule:task_list")


@require_GET
@permission_required(IMPORT_PERMISSIONS, raise_exception=True)
def task_import_template_view(request: HttpRequest) -> HttpResponse:
    """The blank sheet the import reads, with month columns from this month on."""
    return schedule_template_response()
