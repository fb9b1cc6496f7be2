"""The МСГ's task rows, written in Python: a page of 300 tasks has 9,300 day cells, and the
template engine took about two seconds to render them and their rows one node at a time.

``msg_day_columns`` formats what every cell of a day column shares once per page (its classes,
labels and links); ``msg_task_rows`` writes a section's rows, page and live fragment alike, each
row's day cells from those escaped pieces (``msg_day_cells``) and every volume through one
``volume_formatter``. The markup is the one the row template wrote (static/js/monthly.js and
static/css/msg.css rely on it); the rare message row under a refused write stays a template
(progress/order_row_message.html). Every value is escaped where it is written, as the template
engine would; translations are the template's messages.
"""

import datetime
import hashlib
import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django import template
from django.urls import reverse
from django.utils.formats import date_format, localize
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from monthly.forms import PlanInputs
from progress.forecasts import Forecast
from progress.selectors import DayWork, GridDay, GridRow
from scheduler_project.numbers import VolumeFormatter, volume_formatter

register = template.Library()


def unit_places(task: Any) -> int | None:
    """The decimals a task's volumes are shown with (``Unit.decimals``, read with the grid's
    tasks as ``unit_decimals``); None: all of them."""
    return getattr(task, "unit_decimals", None)


def escape(value: object) -> str:
    """``django.utils.html.escape`` without its lazy-string wrapper, which took longer than the
    escaping itself over the grid's thousands of values."""
    return html.escape(str(value))


@dataclass(frozen=True, slots=True)
class DayColumn:
    """A day column's shared parts of its cells, escaped HTML."""

    date: datetime.date
    classes: str
    """``msg-day`` and the day's own state (off, holiday, today)."""
    attributes: str
    """The cell's ``data-label`` and ``data-date``, closing its ``<td>``."""
    title: str
    """The day in a link's title (``5 March``)."""
    cell_query: str
    """The date's part of the query of the cell's form."""
    day_url: str
    """The daily page of the date, where a cell with several works leads."""


@dataclass(frozen=True, slots=True)
class DayColumns:
    columns: list[DayColumn]
    cell_url: str | None
    """The cells' form, escaped, with ``?task=`` to complete; None for who may not report."""
    several_works: str
    """The title's note on a cell with several works."""


@register.simple_tag
def msg_day_columns(days: Sequence[GridDay], *, can_report: bool) -> DayColumns:
    """The grid's day columns, for ``msg_day_cells`` (``{% msg_day_columns … as columns %}``)."""
    day_url = reverse("daily:day")
    return DayColumns(
        columns=[
            DayColumn(
                date=day.date,
                classes="msg-day"
                + (" is-off" if not day.is_working else "")
                + (" is-holiday" if day.is_holiday else "")
                + (" is-today" if day.is_today else ""),
                attributes=(
                    f'" data-label="{escape(date_format(day.date, "j D"))}"'
                    f' data-date="{day.date.isoformat()}">'
                ),
                title=escape(date_format(day.date, "j E")),
                cell_query=f"&amp;date={day.date.isoformat()}",
                day_url=escape(f"{day_url}?date={day.date.isoformat()}"),
            )
            for day in days
        ],
        cell_url=f"{escape(reverse('monthly:cell'))}?task=" if can_report else None,
        several_works=escape(_("several works, see the daily order")),
    )


_NO_FIGURES = '<span class="msg-cell__plan"></span><span class="msg-cell__fact"></span>'


def _day_cells(columns: DayColumns, row: Mapping[str, Any], *, volume: VolumeFormatter) -> str:
    """A row's day cells: the day's plan and fact, marked behind or empty; a link to the cell's
    form (to the daily page when the day has several works) for who may report works."""
    task = row["task"]
    places = unit_places(task)
    works: Mapping[datetime.date, list[DayWork]] = row["works"]
    code = escape(task.code)
    cell_url = columns.cell_url
    task_url = f"{cell_url}{task.pk}" if cell_url is not None else ""
    html = []
    for column, cell in zip(columns.columns, row["grid"].cells, strict=True):
        plan, fact = cell.plan, cell.fact
        empty = plan is None and fact is None
        figures = (
            _NO_FIGURES
            if empty
            else f'<span class="msg-cell__plan">{"" if plan is None else volume(plan, places)}'
            f'</span><span class="msg-cell__fact">{"" if fact is None else volume(fact, places)}'
            "</span>"
        )
        if cell_url is None:
            content = f'<span class="msg-cell">{figures}</span>'
        elif len(day_works := works.get(column.date, ())) > 1:
            content = (
                f'<a class="msg-cell" href="{column.day_url}"'
                f' title="{code}, {column.title}: {columns.several_works}">{figures}</a>'
            )
        else:
            content = (
                f'<a class="msg-cell" href="{task_url}{column.cell_query}" data-cell'
                f"{_work_attributes(day_works[0]) if day_works else ''}"
                f' title="{code}, {column.title}">{figures}</a>'
            )
        html.append(
            f'<td class="{column.classes}'
            f"{' is-behind' if cell.is_behind else ''}"
            f"{' is-empty' if empty else ''}"
            f"{column.attributes}{content}</td>"
        )
    # Every piece is escaped above; the volumes are digits and the language's separators.
    return "".join(html)


def _work_attributes(work: DayWork) -> str:
    """What the cell's dialog (static/js/monthly.js) needs to correct or delete the day's one
    report without asking the server, so that it opens with no network too: its id and version,
    and its description (its volume is the cell's fact)."""
    description = f' data-work-description="{escape(work.description)}"' if work.description else ""
    return f' data-work="{work.id}" data-work-version="{work.version}"{description}'


@dataclass(frozen=True, slots=True)
class _RowTexts:
    """A row's fixed texts in the active language, escaped: looked up once per section."""

    code: str
    work: str
    unit: str
    plan_for_month: str
    fact: str
    remaining: str
    needed: str
    deviation: str
    to_finish: str
    forecast: str
    no_day_left: str
    share_title: str
    share: str
    left: str
    left_title: str
    no_plan: str
    unspread_title: str
    save: str
    add: str
    delete: str
    not_started: str
    done: str
    ahead: str
    never: str
    history: str
    behind: str
    changed: str
    late_not_started: str
    late_never: str

    @classmethod
    def active(cls) -> "_RowTexts":
        return cls(
            code=escape(_("Code")),
            work=escape(_("Work")),
            unit=escape(_("Unit")),
            plan_for_month=escape(_("Plan for the month")),
            fact=escape(_("Fact")),
            remaining=escape(_("Remaining")),
            needed=escape(_("Needed per day")),
            deviation=escape(_("Deviation")),
            to_finish=escape(_("To finish, per day")),
            forecast=escape(_("Forecast finish")),
            no_day_left=escape(_("No working day of the task is left in the month")),
            history=escape(_("History")),
            share_title=escape(
                _(
                    "No monthly plan: the month takes its share of the volume not planned in "
                    "any month"
                )
            ),
            share=escape(_("share")),
            left=escape(pgettext("what is left of a work", "left")),
            left_title=escape(
                _(
                    "Past its end date and unfinished: all that was left of it when the month "
                    "began is due"
                )
            ),
            no_plan=escape(_("No plan for this month")),
            unspread_title=escape(
                _("Planned for the month, but no working day of the task is left in it to carry it")
            ),
            save=escape(_("Save")),
            add=escape(_("Add")),
            delete=escape(_("Delete")),
            not_started=escape(_("not started")),
            done=escape(_("done")),
            ahead=escape(_("ahead of the end date")),
            never=escape(_("At this rate the task does not finish within ten years")),
            behind=escape(_("Behind the plan")),
            changed=escape(_("Changed by someone else since your last visit")),
            late_not_started=escape(_("Late: its end date has passed and nothing is reported")),
            late_never=escape(_("Late: at this rate it does not finish within ten years")),
        )


@register.simple_tag(takes_context=True)
def msg_task_rows(
    context: template.Context, columns: DayColumns, rows: Sequence[Mapping[str, Any]]
) -> SafeString:
    """The rows of ``rows`` (``_grid_rows``'s), each followed by its message row when a write of
    its plan was refused."""
    texts = _RowTexts.active()
    volume = volume_formatter()
    csrf_token = context.get("csrf_token")
    csrf_input = (
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(csrf_token)}">'
        if csrf_token and csrf_token != "NOTPROVIDED"
        else ""
    )
    page = _RowPage(
        texts=texts,
        volume=volume,
        csrf_input=_CSRF_SLOT,
        can_delete=bool(context.get("can_delete")),
        month_key=escape(context.get("month_key", "")),
        create_url=escape(reverse("monthly:monthly_task_create")),
        plan_url=_pk_url("monthly:monthly_task_update"),
        delete_url=_pk_url("monthly:monthly_task_delete"),
        task_history_url=_pk_url("changes:object", "tasks"),
        plan_history_url=_pk_url("changes:object", "monthly_tasks"),
        plan_inputs=PlanInputs(context["month"]),
        changed_since_marker=context.template.engine.get_template(
            "includes/changed_since_marker.html"
        ).render(context),
    )
    html = []
    for row in rows:
        shown = f"{_task_row(page, row)}{_day_cells(columns, row, volume=volume)}</tr>"
        # The row's version is a digest of its markup, the form's token left out: live updates
        # replace the rows whose version changed.
        version = hashlib.blake2b(shown.encode(), digest_size=8).hexdigest()
        html.append(f'<tr id="task-{row["task"].pk}" data-version="{version}"')
        html.append(shown.replace(_CSRF_SLOT, csrf_input))
        if row["has_problem"]:
            message = context.template.engine.get_template("progress/order_row_message.html")
            with context.push(row=row, task=row["task"], form=row["form"]):
                html.append(message.render(context))
    return mark_safe("".join(html))


def _pk_url(name: str, *args: str) -> Callable[[int], str]:
    """``reverse(name, args=[*args, pk])``, escaped, for the pks of many rows: reversed once."""
    head, tail = escape(reverse(name, args=[*args, 0])).rsplit("/0/", 1)
    return lambda pk: f"{head}/{pk}/{tail}"


_CSRF_SLOT = "<csrf>"
"""Where the form's CSRF input goes once the row's version is digested: the token changes with
every response. No escaped value holds a ``<``."""


@dataclass(frozen=True, slots=True)
class _RowPage:
    """What the rows of one page share."""

    texts: _RowTexts
    volume: VolumeFormatter
    csrf_input: str
    can_delete: bool
    month_key: str
    create_url: str
    plan_url: Callable[[int], str]
    delete_url: Callable[[int], str]
    task_history_url: Callable[[int], str]
    plan_history_url: Callable[[int], str]
    plan_inputs: PlanInputs
    changed_since_marker: str
    short_dates: dict[datetime.date, str] = field(default_factory=dict)
    """Dates formatted so far, escaped: the rows' dates repeat."""

    def day_month(self, day: datetime.date) -> str:
        """A day without its year, as a planner writes it: ``07.12`` in Russian, ``7 Dec``."""
        return date_format(day, pgettext("date format without the year", "j M"))

    def short_date(self, day: datetime.date) -> str:
        text = self.short_dates.get(day)
        if text is None:
            text = self.short_dates[day] = escape(date_format(day, "SHORT_DATE_FORMAT"))
        return text


def _task_row(page: _RowPage, row: Mapping[str, Any]) -> str:
    """A task's ``<tr>`` after its id and version, up to its day cells."""
    texts, volume = page.texts, page.volume
    task, plan, form, figures = row["task"], row["plan"], row["form"], row["grid"]
    forecast = figures.forecast
    places = unit_places(task)
    code = escape(task.code)
    classes = (
        "msg-row"
        + (" is-unplanned" if not plan else "")
        + (" is-behind" if figures.is_behind else "")
        + (" has-problem" if row["has_problem"] or (form is not None and form.errors) else "")
        + (" is-changed-since" if row.get("changed_since_visit") else "")
    )
    marker = page.changed_since_marker if row.get("changed_since_visit") else ""
    dates = f"{page.short_date(task.start_date)} – {page.short_date(task.end_date)}"
    history = page.plan_history_url(plan.pk) if plan else page.task_history_url(task.pk)
    percent = f"{escape(localize(figures.percent))}%" if figures.percent is not None else "—"
    needed = (
        escape(volume(figures.needed_per_day, places))
        if figures.needed_per_day is not None
        else f'<span title="{texts.no_day_left}">—</span>'
    )
    to_finish = (
        escape(volume(figures.needed_per_day_to_finish, places))
        if figures.needed_per_day_to_finish is not None
        else f'<span title="{texts.no_day_left}">—</span>'
    )
    if figures.overdue_since is not None:
        overdue = _("overdue since %(date)s") % {"date": page.day_month(figures.overdue_since)}
        marker += f' <span class="msg-overdue">{escape(overdue)}</span>'
    left = escape(volume(figures.remaining_total, places))

    return (
        f' data-sort-key="{escape(task.code_key)}"'
        f' data-task-id="{task.pk}" data-monthly-task-id="{plan.pk if plan else ""}"'
        f' data-plan-version="{plan.version if plan else ""}" data-task-version="{task.version}"'
        f' data-work-ids="{escape(row["work_ids"])}" data-left="{left}" class="{classes}">'
        f'<td class="task-code cell-code msg-sticky msg-sticky--code"'
        f' data-label="{texts.code}"><a class="row-history" href="{history}"'
        f' title="{texts.history}">{code}</a></td>'
        f'<td class="task-name cell-name msg-sticky msg-sticky--name" data-label="{texts.work}"'
        f' title="{escape(task.name)} ({dates})">{marker}'
        f'<span class="msg-task-name">{escape(task.name)}</span>{_flags(page, row)}</td>'
        f'<td class="task-unit msg-sticky msg-sticky--unit"'
        f' data-label="{texts.unit}">{escape(task.unit)}</td>'
        f'<td class="num plan-col monthly-volume-plan msg-sticky msg-sticky--plan"'
        f' data-label="{texts.plan_for_month}">{_plan_cell(page, row)}</td>'
        f'<td class="num msg-fact msg-sticky msg-sticky--fact" data-label="{texts.fact}">'
        f"{escape(volume(figures.fact, places))}</td>"
        f"{_deviation(page, figures)}"
        f'<td class="num msg-needed msg-sticky msg-sticky--needed'
        f'{" is-behind" if figures.is_behind else ""}" data-label="{texts.needed}">{needed}</td>'
        f'<td class="num msg-to-finish msg-sticky msg-sticky--finish"'
        f' data-label="{texts.to_finish}">{to_finish}</td>'
        f'<td class="num msg-percent msg-extra" data-label="%">{percent}</td>'
        f'<td class="num msg-remaining msg-extra" data-label="{texts.remaining}">'
        f"{escape(volume(figures.remaining, places))}</td>"
        f'<td class="msg-forecast msg-extra{" is-late" if forecast.is_late else ""}"'
        f' data-label="{texts.forecast}">{_forecast(page, forecast)}</td>'
    )


def _flags(page: _RowPage, row: Mapping[str, Any]) -> str:
    """The row's marks said in words: behind, late and why, changed since the last visit. The
    wide grid says them by colours, signs and titles; a phone, which shows no titles, shows
    these instead (static/css/msg.css)."""
    texts, figures = page.texts, row["grid"]
    forecast = figures.forecast
    flags = []
    if figures.is_behind:
        flags.append(("behind", texts.behind))
    if forecast.is_late:
        if forecast.status == "not_started":
            late = texts.late_not_started
        elif forecast.finish is None:
            late = texts.late_never
        else:
            late = escape(
                ngettext(
                    "Late: finishes %(counter)s working day after its end date",
                    "Late: finishes %(counter)s working days after its end date",
                    forecast.days_late,
                )
                % {"counter": forecast.days_late}
            )
        flags.append(("late", late))
    if row.get("changed_since_visit"):
        flags.append(("changed", texts.changed))
    if not flags:
        return ""
    items = "".join(
        f'<span class="msg-flag msg-flag--{name}">{text}</span>' for name, text in flags
    )
    return f'<span class="msg-flags">{items}</span>'


def _share(page: _RowPage, figures: GridRow) -> str:
    """The plan of a month without a monthly plan: its share of what no month plans, or what
    was left of a carried-over work when the month began."""
    texts = page.texts
    label, title = (
        (texts.left, texts.left_title)
        if figures.is_carried_over
        else (texts.share, texts.share_title)
    )
    return (
        f'<span class="msg-plan-share" title="{title}">'
        f"{label} {escape(page.volume(figures.plan, unit_places(figures.task)))}</span>"
    )


def _deviation(page: _RowPage, figures: GridRow) -> str:
    """The fact less the plan to date, signed; behind marked by a word for screen readers and
    a sign, not only a colour; the title says it in working days of plan."""
    deviation = figures.deviation_to_date
    text = escape(page.volume(abs(deviation), unit_places(figures.task)))
    if deviation < 0:
        text = f'<span aria-hidden="true">▼ </span>−{text}'
    elif deviation > 0:
        text = f"+{text}"
    title = ""
    if figures.deviation_days is not None and deviation:
        days = abs(figures.deviation_days)
        title = (
            _("%(days)s working days of plan behind")
            if deviation < 0
            else _("%(days)s working days of plan ahead")
        ) % {"days": localize(days)}
        title = f' title="{escape(title)}"'
    elif deviation < 0:
        title = f' title="{page.texts.behind}"'
    return (
        f'<td class="num msg-deviation msg-sticky msg-sticky--deviation'
        f'{" is-behind" if deviation < 0 else ""}"'
        f' data-label="{page.texts.deviation}"{title}>{text}</td>'
    )


def _plan_cell(page: _RowPage, row: Mapping[str, Any]) -> str:
    """The month's plan: its form for who may edit it, else the figure."""
    texts, volume = page.texts, page.volume
    task, plan, form, figures = row["task"], row["plan"], row["form"], row["grid"]
    places = unit_places(task)
    if form is not None or row["can_edit_plan"]:
        form_id = ""
        if form is not None:  # the outcome of a write: the form with its entry and errors
            instance = form.instance.pk
            if form.conflict_names:  # the conflict's choices, under the row, belong to it
                form_id = f' id="{escape(form.html_id)}"'
            elif row.get("warnings"):  # so does the message row's "Save anyway"
                form_id = f' id="{escape(row["form_id"])}"'
            hidden = "".join(str(field) for field in form.hidden_fields())
            volume_input = str(form["volume_plan"])
            errors = "".join(
                f'<span class="field__error">{escape(error)}</span>'
                for error in form["volume_plan"].errors
            )
        else:
            instance = plan.pk if plan is not None else None
            # Without a plan of its own, the plan the row counts (what was left of a carried-over
            # work, a share of what no month plans) shows in the empty input, greyed.
            counted = "" if plan is not None or not figures.plan else figures.plan
            hint = page.volume(counted, unit_places(task)) if counted else ""
            (hidden, volume_input), errors = page.plan_inputs(task, plan, placeholder=hint), ""
        if instance:
            action = f"{page.plan_url(instance)}?month={page.month_key}&amp;task={task.pk}"
        else:
            action = page.create_url
        delete = ""
        if page.can_delete and plan:
            delete = (
                f'<a class="msg-plan-delete"'
                f' href="{page.delete_url(plan.pk)}"'
                f' title="{texts.delete}"><span aria-hidden="true">×</span>'
                f'<span class="visually-hidden">{texts.delete} {escape(task.code)}</span></a>'
            )
        html = (
            f'<div class="msg-plan"><form class="row-form msg-plan-form'
            f'{" is-edited" if form is not None else ""}" method="post"'
            f' action="{action}"{form_id}>{page.csrf_input}'
            f'{hidden}<span class="row-form__input">{volume_input}</span>'
            f'<button type="submit" class="button button--small'
            f'{"" if instance else " button--primary-outline"}">'
            f"{texts.save if instance else texts.add}</button>{errors}</form>{delete}</div>"
        )
        if not instance and figures.plan:
            html += _share(page, figures)
    elif plan:
        shown = escape(volume(plan.volume_plan, places))
        html = f'<span class="monthly-volume-plan-value">{shown}</span>'
    elif figures.is_carried_over:
        html = _share(page, figures)
    elif figures.plan:
        html = f'<span class="muted" title="{texts.share_title}">—</span>'
    else:
        html = f'<span class="muted" title="{texts.no_plan}">—</span>'
    if figures.unspread:
        unspread = _("%(volume)s without a working day") % {
            "volume": escape(volume(figures.unspread, places))
        }
        html += f'<span class="msg-unspread" title="{texts.unspread_title}">{unspread}</span>'
    return html


def _forecast(page: _RowPage, forecast: Forecast) -> str:
    """The forecast finish, and how many working days late or early that is."""
    texts = page.texts
    if forecast.status == "not_started":
        return f'<span class="muted">{texts.not_started}</span>'
    if forecast.status == "done":
        return f'<span class="msg-forecast__done">{texts.done}</span>'
    if not forecast.finish:
        return f'<span class="muted" title="{texts.never}">∞</span>'
    html = page.short_date(forecast.finish)
    if forecast.days_late:
        if forecast.is_late:
            title = ngettext(
                "%(counter)s working day late",
                "%(counter)s working days late",
                forecast.days_late,
            ) % {"counter": forecast.days_late}
        else:
            title = texts.ahead
        html += (
            f' <span class="msg-forecast__late{" is-late" if forecast.is_late else " is-early"}"'
            f' title="{title}">{"+" if forecast.is_late else ""}{forecast.days_late}</span>'
        )
    return html
