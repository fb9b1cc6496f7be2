"""The daily order page: the works done on a day, with totals per unit, and their forms."""

import datetime
from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from progress.selectors import daily_work_warnings, day_task_figures
from realtime.protocol import DAILY_WORKS
from schedule.models import Task
from scheduler_project.months import FIRST_YEAR, LAST_YEAR
from scheduler_project.numbers import format_volume
from scheduler_project.pages import (
    Outcome,
    VersionedEditFlow,
    changed_since_last_visit,
    fragment_ids,
    is_fragment_request,
)

from .forms import DailyWorkForm, DayForm
from .models import DailyWork
from .selectors import daily_work_list, daily_work_totals_by_unit
from .services import daily_work_create, daily_work_delete, daily_work_update
from .workbooks import daily_response

ISO_DATE = "%Y-%m-%d"
ONE_DAY = datetime.timedelta(days=1)


def _day_url(day: datetime.date, daily_work_id: int | None = None) -> str:
    url = f"{reverse('daily:day')}?date={day.isoformat()}"
    return f"{url}#work-{daily_work_id}" if daily_work_id is not None else url


def _day_or_today(value: str | None) -> datetime.date:
    try:
        return datetime.datetime.strptime(value or "", ISO_DATE).date()
    except ValueError:
        return timezone.localdate()


def _work_label(work: DailyWork) -> str:
    return _("%(task)s on %(date)s") % {
        "task": work.task.code,
        "date": date_format(work.date, "SHORT_DATE_FORMAT"),
    }


@require_GET
@permission_required("daily.view_dailywork", raise_exception=True)
def day_view(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    raw = request.GET.get("date", "").strip()
    if is_fragment_request(request):
        return _render_fragment(request, _day_or_today(raw))
    day = today
    if raw:
        try:
            day = datetime.datetime.strptime(raw, ISO_DATE).date()
        except ValueError:
            messages.warning(
                request,
                _("“%(value)s” is not a date (YYYY-MM-DD); showing today instead.")
                % {"value": raw[:20]},
            )
            return redirect(_day_url(today))
    works = list(daily_work_list().on_date(day))
    changed = changed_since_last_visit(
        request, page=f"daily:{day.isoformat()}", streams=[DAILY_WORKS]
    )[DAILY_WORKS]
    for work in works:
        work.changed_since_visit = work.pk in changed
    context = {
        **_day_context(request, day),
        "works": works,
        "day_form": DayForm(initial={"date": day}),
        "previous_url": _day_url(day - ONE_DAY) if day > datetime.date.min else None,
        "next_url": _day_url(day + ONE_DAY) if day < datetime.date.max else None,
        "today_url": _day_url(today),
        "is_today": day == today,
        "page_url": _day_url(day),
    }
    if "form" in context and FIRST_YEAR <= day.year <= LAST_YEAR:  # the months plans take
        context["task_hints"] = _task_hints(day=day, today=today)
    return render(request, "daily/day.html", context)


def _task_hints(*, day: datetime.date, today: datetime.date) -> dict[int, str]:
    """Per work the day's month shows, what the form says once it is chosen: «План на день
    22 м³ · осталось 1 102,5 м³» (static/js/daily.js)."""
    hints = {}
    for task_id, figures in day_task_figures(day=day, today=today).items():
        unit = f"\N{NO-BREAK SPACE}{figures.unit}" if figures.unit else ""
        left = _("left: %(volume)s") % {"volume": format_volume(figures.left, figures.decimals)}
        parts = [f"{left}{unit}"]
        if figures.plan is not None:
            plan = format_volume(figures.plan, figures.decimals)
            parts.insert(0, _("plan for the day: %(volume)s") % {"volume": plan} + unit)
        hints[task_id] = capfirst(" · ".join(parts))
    return hints


@require_GET
@permission_required("daily.view_dailywork", raise_exception=True)
def day_export_view(request: HttpRequest) -> HttpResponse:
    """The daily report of ``?date=YYYY-MM-DD`` (default today) as an Excel file."""
    raw = request.GET.get("date", "").strip()
    try:
        day = datetime.datetime.strptime(raw, ISO_DATE).date() if raw else timezone.localdate()
    except ValueError:
        return HttpResponseBadRequest(
            _("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": raw[:20]}
        )
    return daily_response(works=list(daily_work_list().on_date(day)), day=day)


def _day_context(request: HttpRequest, day: datetime.date) -> dict[str, Any]:
    """What the rows need besides themselves, on the page and in its fragments."""
    user = request.user
    can_act = user.has_perm("daily.change_dailywork") or user.has_perm("daily.delete_dailywork")
    context: dict[str, Any] = {
        "day": day,
        "day_iso": day.isoformat(),
        "totals": daily_work_totals_by_unit(day=day),
        "can_act": can_act,
    }
    if user.has_perm("daily.add_dailywork"):
        form = DailyWorkForm(initial={"date": day})
        # Live updates replace the task choices when tasks change (static/js/daily.js).
        form.fields["task"].widget.attrs["data-live-part"] = "task-options"
        context["form"] = form
    return context


def _render_fragment(request: HttpRequest, day: datetime.date) -> HttpResponse:
    """The day's rows of the works and tasks asked for, the totals and the task choices."""
    works = (
        daily_work_list()
        .on_date(day)
        .filter(Q(pk__in=fragment_ids(request, "work")) | Q(task__in=fragment_ids(request, "task")))
    )
    context = {**_day_context(request, day), "works": list(works)}
    return render(request, "daily/work_rows.html", context)


class DailyWorkPages(VersionedEditFlow[DailyWork]):
    form_class = DailyWorkForm
    form_template = "daily/daily_work_form.html"
    delete_template = "daily/daily_work_confirm_delete.html"
    context_object_name = "work"
    create_url_name = "daily:daily_work_create"
    stream = DAILY_WORKS
    deleted_name = gettext_lazy("This work")

    def create(self, *, data: dict[str, Any], actor: Any) -> DailyWork:
        return daily_work_create(data=data, actor=actor)

    def update(
        self, obj: DailyWork, *, data: dict[str, Any], version: int | None, actor: Any
    ) -> DailyWork:
        return daily_work_update(daily_work=obj, data=data, version=version, actor=actor)

    def delete(self, obj: DailyWork, *, version: int, actor: Any) -> None:
        daily_work_delete(daily_work=obj, version=version, actor=actor)

    def warnings(self, data: dict[str, Any], obj: DailyWork | None) -> list[str]:
        task = data.get("task") or (obj.task if obj is not None else None)
        day = data.get("date") or (obj.date if obj is not None else None)
        if task is None or day is None or data.get("volume") is None:
            return []
        return daily_work_warnings(
            task=Task.objects.get(pk=task.pk),
            day=day,
            volume=data["volume"],
            today=timezone.localdate(),
            excluding=obj,
        )

    def message(self, obj: DailyWork, outcome: Outcome) -> str:
        messages = {
            "created": _("Work %(work)s added."),
            "saved": _("Work %(work)s saved."),
            "deleted": _("Work %(work)s deleted."),
        }
        return messages[outcome] % {"work": _work_label(obj)}

    def list_url(self, request: HttpRequest, obj: DailyWork | None, *, anchor: bool = False) -> str:
        if obj is None:
            return _day_url(_day_or_today(request.GET.get("date")))
        return _day_url(obj.date, obj.pk if anchor else None)

    def get_object(self, pk: int) -> DailyWork | None:
        return daily_work_list().filter(pk=pk).first()

    def build_form(
        self,
        request: HttpRequest,
        data: Mapping[str, Any] | None = None,
        *,
        instance: DailyWork | None = None,
    ) -> DailyWorkForm:
        if data is None and instance is None:
            return DailyWorkForm(initial={"date": _day_or_today(request.GET.get("date"))})
        return DailyWorkForm(data, instance=instance)

    def form_context(
        self, request: HttpRequest, form: Any, obj: DailyWork | None
    ) -> dict[str, Any]:
        if obj is not None:
            return {}
        # A new work leads back to the day it is entered for.
        return {"back_url": _day_url(_day_or_today(str(form["date"].value())))}


pages = DailyWorkPages()

daily_work_create_view = require_http_methods(["GET", "POST"])(pages.create_view)
daily_work_update_view = require_http_methods(["GET", "POST"])(pages.update_view)
daily_work_delete_view = require_http_methods(["GET", "POST"])(pages.delete_view)
