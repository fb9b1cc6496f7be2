"""The daily order page: the works done on a day, with totals per unit, and their forms."""

import copy
import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from realtime.protocol import DAILY_WORKS
from scheduler_project.pages import (
    GONE_MESSAGE,
    DeleteForm,
    deletion_message,
    fragment_ids,
    is_fragment_request,
    submit,
    submit_delete,
)

from .forms import DailyWorkForm, DayForm
from .models import DailyWork
from .selectors import daily_work_list, daily_work_totals_by_unit
from .services import daily_work_create, daily_work_delete, daily_work_update

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


def _gone(request: HttpRequest, day: datetime.date) -> HttpResponse:
    messages.warning(request, GONE_MESSAGE)
    return redirect(_day_url(day))


def _deleted_while_editing(request: HttpRequest, pk: int, day: datetime.date) -> HttpResponse:
    """The edit of a work deleted meanwhile: say who deleted it and offer the entry as a new
    work (the form posts to the create view), so that nothing typed is lost."""
    if not request.user.has_perm("daily.add_dailywork"):
        return _gone(request, day)
    form = DailyWorkForm(request.POST)
    return render(
        request,
        "daily/daily_work_form.html",
        {
            "form": form,
            "deletion": deletion_message(stream=DAILY_WORKS, object_id=pk, name=_("This work")),
            "action_url": reverse("daily:daily_work_create"),
            "back_url": _day_url(_day_or_today(str(form["date"].value()))),
        },
        status=410,
    )


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
    context = {
        **_day_context(request, day),
        "works": list(daily_work_list().on_date(day)),
        "day_form": DayForm(initial={"date": day}),
        "previous_url": _day_url(day - ONE_DAY) if day > datetime.date.min else None,
        "next_url": _day_url(day + ONE_DAY) if day < datetime.date.max else None,
        "today_url": _day_url(today),
        "is_today": day == today,
        "page_url": _day_url(day),
    }
    return render(request, "daily/day.html", context)


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


@require_http_methods(["GET", "POST"])
@permission_required("daily.add_dailywork", raise_exception=True)
def daily_work_create_view(request: HttpRequest) -> HttpResponse:
    submission = None
    if request.method != "POST":
        form = DailyWorkForm(initial={"date": _day_or_today(request.GET.get("date"))})
    else:
        submission = submit(
            DailyWorkForm(request.POST),
            lambda data, version: daily_work_create(data=data, actor=request.user),
        )
        if submission.saved is not None:
            work = submission.saved
            messages.success(request, _("Work %(work)s added.") % {"work": _work_label(work)})
            return redirect(_day_url(work.date, work.pk))
        form = submission.form
    day = form["date"].value() if form.is_bound else form.initial["date"]
    return render(
        request,
        "daily/daily_work_form.html",
        {"form": form, "back_url": _day_url(_day_or_today(str(day)))},
        status=submission.status if submission else 200,
    )


@require_http_methods(["GET", "POST"])
@permission_required("daily.change_dailywork", raise_exception=True)
def daily_work_update_view(request: HttpRequest, pk: int) -> HttpResponse:
    work = daily_work_list().filter(pk=pk).first()
    if work is None:
        day = _day_or_today(request.GET.get("date"))
        if request.method == "POST":
            return _deleted_while_editing(request, pk, day)
        return _gone(request, day)
    submission = None
    if request.method != "POST":
        form = DailyWorkForm(instance=work)
    else:
        submission = submit(
            # The form validates a copy, so the page title keeps showing the stored work.
            DailyWorkForm(request.POST, instance=copy.copy(work)),
            lambda data, version: daily_work_update(
                daily_work=work, data=data, version=version, actor=request.user
            ),
        )
        if submission.gone:
            return _deleted_while_editing(request, pk, work.date)
        if submission.saved is not None:
            saved = submission.saved
            messages.success(request, _("Work %(work)s saved.") % {"work": _work_label(saved)})
            return redirect(_day_url(saved.date, saved.pk))
        form = submission.form
        if submission.conflict is not None:
            # The stored row as the conflict found it: reading it again could find it deleted.
            work = submission.conflict.current
    return render(
        request,
        "daily/daily_work_form.html",
        {
            "form": form,
            "work": work,
            "back_url": _day_url(work.date, work.pk),
            "conflict": submission.conflict if submission else None,
        },
        status=submission.status if submission else 200,
    )


@require_http_methods(["GET", "POST"])
@permission_required("daily.delete_dailywork", raise_exception=True)
def daily_work_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    work = daily_work_list().filter(pk=pk).first()
    if work is None:
        return _gone(request, _day_or_today(request.GET.get("date")))
    submission = None
    if request.method != "POST":
        form = DeleteForm(initial={"version": work.version})
    else:
        submission = submit_delete(
            DeleteForm(request.POST),
            instance=work,
            form_class=DailyWorkForm,
            delete=lambda version: daily_work_delete(
                daily_work=work, version=version, actor=request.user
            ),
        )
        if submission.gone:
            return _gone(request, work.date)
        if submission.saved is not None:
            messages.success(request, _("Work %(work)s deleted.") % {"work": _work_label(work)})
            return redirect(_day_url(work.date))
        form = submission.form
        if submission.conflict is not None:
            # The stored row as the conflict found it: reading it again could find it deleted.
            work = submission.conflict.current
    return render(
        request,
        "daily/daily_work_confirm_delete.html",
        {
            "form": form,
            "work": work,
            "back_url": _day_url(work.date, work.pk),
            "conflict": submission.conflict if submission else None,
        },
        status=submission.status if submission else 200,
    )
