"""The МСГ's day cells, written in Python: a page of 300 tasks has 9,300 of them, and the
template engine took about two seconds to render them one ``{% for %}`` step at a time.

``msg_day_columns`` formats what every cell of a day column shares once per page (its classes,
labels and links); ``msg_day_cells`` then writes a row's cells from those escaped pieces, the
cells' own figures formatted by ``volume_formatter``. The markup is the one the template wrote
(static/js/monthly.js and static/css/msg.css rely on it).
"""

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django import template
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from monthly.selectors import GridDay
from scheduler_project.pages import volume_formatter

register = template.Library()


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


@register.simple_tag
def msg_day_cells(columns: DayColumns, row: Mapping[str, Any]) -> SafeString:
    """A row's day cells: the day's plan and fact, marked behind or empty; a link to the cell's
    form (to the daily page when the day has several works) for who may report works."""
    task = row["task"]
    works: Mapping[datetime.date, list[int]] = row["works"]
    volume = volume_formatter()
    code = escape(task.code)
    cell_url = columns.cell_url
    task_url = f"{cell_url}{task.pk}" if cell_url is not None else ""
    html = []
    for column, cell in zip(columns.columns, row["grid"].cells, strict=True):
        plan, fact = cell.plan, cell.fact
        figures = (
            f'<span class="msg-cell__plan">{volume(plan)}</span>'
            f'<span class="msg-cell__fact">{volume(fact)}</span>'
        )
        if cell_url is None:
            content = f'<span class="msg-cell">{figures}</span>'
        elif len(works.get(column.date, ())) > 1:
            content = (
                f'<a class="msg-cell" href="{column.day_url}"'
                f' title="{code}, {column.title}: {columns.several_works}">{figures}</a>'
            )
        else:
            content = (
                f'<a class="msg-cell" href="{task_url}{column.cell_query}" data-cell'
                f' title="{code}, {column.title}">{figures}</a>'
            )
        html.append(
            f'<td class="{column.classes}'
            f"{' is-behind' if cell.is_behind else ''}"
            f"{' is-empty' if plan is None and fact is None else ''}"
            f"{column.attributes}{content}</td>"
        )
    # Every piece is escaped above; the volumes are digits and the language's separators.
    return mark_safe("".join(html))
