"""The progress page (``/progress/``): the site's S-curve, this month's plan against fact by
task sorted by lag, and the tasks forecast to finish late.

A view module of the monthly app because everything it shows comes from this app's selectors
(``progress_curve``, ``month_grid``) and the МСГ it links to; it is a module of its own so that
the monthly order's views and this read-only page do not share a file. It computes nothing
itself beyond ordering and picking rows: the figures are the selectors' (docs/msg.md).
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from monthly.fields import format_month
from realtime.protocol import STREAM_PERMISSIONS
from schedule.models import Section, Task, is_section_code, section_title, task_section
from schedule.selectors import task_list
from scheduler_project.numbers import percent

from .api import ProgressCurveSerializer
from .forecasts import Forecast, task_forecasts
from .selectors import GridRow, month_grid, progress_curve

PERMISSIONS = ["schedule.view_task", "daily.view_dailywork"]
FRAGMENT = "tables"


@dataclass(frozen=True, slots=True)
class LagRow:
    """A row of this month's МСГ with how far its fact is behind its plan to date."""

    row: GridRow
    lag: Decimal
    """Plan to date − fact, in the task's unit: positive when behind, negative when ahead."""
    lag_percent: Decimal | None
    """``lag`` in percent of the month's plan (one decimal, half up): comparable across tasks,
    whose units differ. None when the month plans nothing."""

    @property
    def deviation_percent(self) -> Decimal | None:
        """The row's deviation (fact − plan to date, as the МСГ shows it) in percent of the
        month's plan: ``-lag_percent``."""
        return None if self.lag_percent is None else -self.lag_percent


@dataclass(frozen=True, slots=True)
class LateTask:
    task: Task
    forecast: Forecast


def rows_by_lag(rows: list[GridRow]) -> list[LagRow]:
    """The rows, most behind first: by lag in percent of the month's plan (volumes cannot be
    compared across units), rows planning nothing last, ties in code order."""
    lagging = []
    for row in rows:
        lag = -row.deviation_to_date
        share = percent(lag, row.plan) if row.plan else None
        lagging.append(LagRow(row=row, lag=lag, lag_percent=share))
    return sorted(
        lagging, key=lambda item: (item.lag_percent is None, -(item.lag_percent or 0))
    )  # sorted() is stable: the grid's code order breaks ties


def late_tasks(tasks: list[Task], *, today: datetime.date) -> list[LateTask]:
    """The late tasks (``Forecast.is_late``, the one rule), latest first: those without a
    finish in sight (not started past their end, or never at the current rate) lead."""
    forecasts = task_forecasts(tasks=tasks, today=today)
    late = [LateTask(task=task, forecast=forecasts[task.pk]) for task in tasks]
    late = [item for item in late if item.forecast.is_late]
    return sorted(
        late, key=lambda item: (item.forecast.finish is not None, -(item.forecast.days_late or 0))
    )


def _section_choices(tasks: list[Task]) -> list[tuple[str, str]]:
    """Each section of ``tasks``, in their order, with its title (``section_title``)."""
    codes = list(dict.fromkeys(task_section(task.code) for task in tasks))
    names = Section.objects.filter(code__in=codes).names()
    return [(code, section_title(code, names)) for code in codes]


def _progress_url(section: str | None, **query: str) -> str:
    params = {"section": section} if section else {}
    params |= query
    url = reverse("progress:page")
    return f"{url}?{urlencode(params)}" if params else url


def _tables_context(section: str | None, *, today: datetime.date) -> dict[str, Any]:
    """What the two tables need; shared by the page and its ``?fragment=tables`` answer.
    Nine queries whatever the number of tasks: the tasks, the late forecasts' two and the
    month grid's six."""
    tasks = list(task_list())
    shown = [task for task in tasks if section is None or task_section(task.code) == section]
    grid = month_grid(month=today, today=today, section=section)
    rows = [row for grid_section in grid.sections for row in grid_section.rows]
    return {
        "today": today,
        "month": grid.month,
        "month_key": format_month(grid.month),
        "grid": grid,
        "lag_rows": rows_by_lag(rows),
        "late_tasks": late_tasks(shown, today=today),
        "sections": _section_choices(tasks),
    }


@require_GET
@permission_required(PERMISSIONS, raise_exception=True)
def progress_view(request: HttpRequest) -> HttpResponse:
    raw = request.GET.get("section", "").strip()
    valid = is_section_code(raw)
    today = timezone.localdate()
    if request.GET.get("fragment") == FRAGMENT:
        if not valid:
            return HttpResponseBadRequest(
                _("A section is the first level of a code, the part before the first dot.")
            )
        context = _tables_context(raw or None, today=today)
        return render(request, "progress/progress_tables.html", context)
    if not valid:
        messages.warning(
            request,
            _("“%(value)s” is not a section; showing the whole site instead.")
            % {"value": raw[:20]},
        )
        return redirect(_progress_url(None))
    section = raw or None
    curve = progress_curve(today=today, section=section)
    context = {
        **_tables_context(section, today=today),
        "section": section,
        "curve": ProgressCurveSerializer(curve).data,
        "weighting": curve.weighting,
        "chart_labels": {"planned": _("Planned"), "actual": _("Actual"), "today": _("Today")},
        "page_url": _progress_url(section),
        "fragment_url": _progress_url(section, fragment=FRAGMENT),
        "curve_url": f"{reverse('api:progress-curve')}?{urlencode({'section': section or ''})}",
        # Subscribing to a stream the user may not view would refuse the whole subscribe.
        "streams": [
            stream
            for stream, permission in STREAM_PERMISSIONS.items()
            if request.user.has_perm(permission)
        ],
    }
    return render(request, "progress/progress.html", context)
