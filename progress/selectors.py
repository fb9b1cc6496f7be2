"""The МСГ's figures (docs/msg.md): which works a month shows, each day's plan, the grid, the
S-curve and the plausibility warnings of a report or a plan."""

import datetime
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import NamedTuple

from django.conf import settings
from django.db.models import DecimalField, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from daily.models import DailyWork
from monthly.models import MonthlyTask
from schedule.models import (
    VOLUME_DECIMALS,
    Section,
    Task,
    Unit,
    section_title,
    task_section,
    unit_quantum,
)
from schedule.working_days import (
    WorkingCalendar,
    country_days,
    working_calendar,
)
from scheduler_project.months import first_of_month, month_last_day, months_between
from scheduler_project.numbers import PERCENT_QUANTUM, format_volume, percent

from .forecasts import Forecast, Weighting, task_forecasts, task_weights

VOLUME_QUANTUM = Decimal(1).scaleb(-VOLUME_DECIMALS)


class MonthlyOrderRow(NamedTuple):
    task: Task
    monthly_task: MonthlyTask | None


def judged_on(*, month: datetime.date, today: datetime.date) -> datetime.date:
    """The day up to which a month judges whether a work is finished: a month before the
    current one at its last day, the current and later months today."""
    return min(month_last_day(first_of_month(month)), today)


def month_tasks(
    *, month: datetime.date, today: datetime.date, tasks: QuerySet[Task] | None = None
) -> QuerySet[Task]:
    """The tasks ``month`` shows (of ``tasks``, default all): the one rule of every page, export
    and API (docs/msg.md, "Which works a month shows").

    A task is in a month when its dates overlap the month, or it has a plan or reports in the
    month, or it is carried over: unfinished (its fact up to ``judged_on`` below its volume)
    with its end date before the month. One query, its parts as subqueries.
    """
    first = first_of_month(month)
    last = month_last_day(first)
    tasks = Task.objects.all() if tasks is None else tasks
    done = (
        DailyWork.objects.filter(task=OuterRef("pk"), date__lte=judged_on(month=first, today=today))
        .order_by()
        .values("task")
        .annotate(total=Sum("volume"))
        .values("total")
    )
    volume = DecimalField(max_digits=14, decimal_places=VOLUME_DECIMALS)
    carried = (
        Task.objects.filter(end_date__lt=first)
        .annotate(
            done=Coalesce(
                Subquery(done, output_field=volume), Value(Decimal(0)), output_field=volume
            )
        )
        .filter(done__lt=F("volume_plan"))
    )
    return tasks.filter(
        Q(start_date__lte=last, end_date__gte=first)
        | Q(pk__in=MonthlyTask.objects.for_month(first).values("task"))
        | Q(pk__in=DailyWork.objects.filter(date__gte=first, date__lte=last).values("task"))
        | Q(pk__in=carried.values("pk"))
    )


def monthly_order(*, month: datetime.date, today: datetime.date) -> list[MonthlyOrderRow]:
    """The month's order: each task the month shows (``month_tasks``), with its plan.

    The rows come in Task's order (``Task.Meta.ordering``). Two queries whatever the number of
    tasks; a plan whose task no longer overlaps the month (its dates moved) is still listed, so
    it can be seen and removed.
    """
    first = first_of_month(month)
    plans = {plan.task_id: plan for plan in MonthlyTask.objects.for_month(first)}
    tasks = month_tasks(month=first, today=today)
    rows = []
    for task in tasks:
        plan = plans.get(task.pk)
        if plan is not None:
            plan.task = task
        rows.append(MonthlyOrderRow(task=task, monthly_task=plan))
    return rows


@dataclass(frozen=True, slots=True)
class TaskMonthPlan:
    """A task's plan for one month, per working day (docs/msg.md gives the rule)."""

    task: Task
    monthly_task: MonthlyTask | None
    """The month's plan, if the task has one; else the month takes a share of the unallocated."""
    days: dict[datetime.date, Decimal]
    """Each working day of the task in the month, in order, with its planned volume."""
    unspread: Decimal
    """Volume this month should carry but no working day of the task can: the month's plan when
    the task has no working day in the month; in a month without a plan, the task's unallocated
    volume when none of its months without a plan has a working day. Zero otherwise."""

    @property
    def total(self) -> Decimal:
        return sum(self.days.values(), Decimal(0)).quantize(VOLUME_QUANTUM)


class MonthPlan(NamedTuple):
    calendar: WorkingCalendar
    """Covers at least the month (and every listed task's dates)."""
    rows: list[TaskMonthPlan]


def _spread(
    total: Decimal,
    days: Sequence[datetime.date],
    *,
    before: int = 0,
    of: int | None = None,
    places: int = VOLUME_DECIMALS,
) -> dict[datetime.date, Decimal]:
    """``total`` spread evenly over ``of`` working days (default: ``days``), of which ``days`` are
    the ones after the first ``before``.

    Cumulative rounding to ``places`` decimals (0 for a whole unit: a whole number a day): the
    plan up to the k-th day is ``total × k / of`` rounded half up, and a day's volume is the step
    from the day before. The days then add up exactly to ``total`` (which has at most ``places``
    decimals), differ by at most one unit of the last decimal, and the plan to date is the exact
    figure rounded, wherever the days are summed from.
    """
    if not days:
        return {}
    of = len(days) if of is None else of
    units = int(total.quantize(VOLUME_QUANTUM).scaleb(places))
    twice_units, twice_of = 2 * units, 2 * of
    volumes: dict[int, Decimal] = {}  # the steps take one or two values: each made once
    spread = {}
    reached = (twice_units * before + of) // twice_of
    for k, day in enumerate(days, start=before + 1):
        cumulative = (twice_units * k + of) // twice_of
        step = cumulative - reached
        volume = volumes.get(step)
        if volume is None:
            volume = volumes[step] = Decimal(step).scaleb(-places).quantize(VOLUME_QUANTUM)
        spread[day] = volume
        reached = cumulative
    return spread


PLANS = "monthly_plans"
"""The attribute ``_with_plans`` gives each task: its monthly plans, a list."""


def _with_plans(tasks: QuerySet[Task]) -> QuerySet[Task]:
    """The tasks, each with all its monthly plans (a month without a plan needs the others to
    know what is left). A list attribute: ``task.monthly_tasks.all()`` builds a queryset at each
    call, several per task."""
    plans = MonthlyTask.objects.order_by()
    return tasks.prefetch_related(Prefetch("monthly_tasks", queryset=plans, to_attr=PLANS))


def _places(task: Task, total: Decimal) -> int:
    """The decimals a task's plan is spread in: whole units for a whole unit's whole total
    (``Unit.decimals`` 0, read as ``unit_decimals``), else the stored decimals."""
    whole = getattr(task, "unit_decimals", VOLUME_DECIMALS) == 0
    return 0 if whole and total == total.to_integral_value() else VOLUME_DECIMALS


def _task_month_plan(
    task: Task, *, month: datetime.date, calendar: WorkingCalendar
) -> TaskMonthPlan:
    plans = {plan.month: plan for plan in getattr(task, PLANS)}
    monthly_task = plans.get(month)
    days = calendar.between(max(task.start_date, month), min(task.end_date, month_last_day(month)))
    if monthly_task is not None:
        volume = monthly_task.volume_plan
        return TaskMonthPlan(
            task=task,
            monthly_task=monthly_task,
            days=_spread(volume, days, places=_places(task, volume)),
            unspread=Decimal(0) if days else monthly_task.volume_plan,
        )
    # Plans for months outside the task's dates count as allocated too: that volume went to a
    # month, even though it is not spread (the month reports it as unspread).
    unallocated = max(
        Decimal(0), task.volume_plan - sum((plan.volume_plan for plan in plans.values()), 0)
    )
    before = of = 0
    for other in months_between(task.start_date, task.end_date):
        if other in plans:
            continue
        count = calendar.count(
            max(task.start_date, other), min(task.end_date, month_last_day(other))
        )
        of += count
        if other < month:
            before += count
    return TaskMonthPlan(
        task=task,
        monthly_task=None,
        days=(
            _spread(unallocated, days, before=before, of=of, places=_places(task, unallocated))
            if of
            else {}
        ),
        unspread=Decimal(0) if of else unallocated,
    )


def daily_plan(
    *, month: datetime.date, today: datetime.date, tasks: QuerySet[Task] | None = None
) -> MonthPlan:
    """The plan per working day of ``month`` for each task the month shows (``month_tasks``, of
    ``tasks``, default all), ordered by code.

    Three queries whatever the number of tasks: the tasks, all their monthly plans (a month
    without a plan needs the others to know what is left), and the calendar exceptions of the
    dates they span.
    """
    first = first_of_month(month)
    last = month_last_day(first)
    chosen = month_tasks(month=first, today=today, tasks=tasks).with_unit_decimals()
    selected = list(_with_plans(chosen).order_by("code_key", "id"))
    calendar = working_calendar(
        first=min([first, *(task.start_date for task in selected)]),
        last=max([last, *(task.end_date for task in selected)]),
    )
    return MonthPlan(
        calendar=calendar,
        rows=[_task_month_plan(task, month=first, calendar=calendar) for task in selected],
    )


@dataclass(frozen=True, slots=True)
class DayTaskFigures:
    """What a foreman entering a work's report for a day wants to see beside it."""

    unit: str
    decimals: int
    """Its unit's (``Unit.decimals``)."""
    plan: Decimal | None
    """The day's plan (``daily_plan``); None on a day the work plans nothing."""
    left: Decimal
    """The work's volume less all its fact (never below zero)."""


def day_task_figures(*, day: datetime.date, today: datetime.date) -> dict[int, DayTaskFigures]:
    """Per task the month of ``day`` shows (``month_tasks``), its plan for ``day`` and what is
    left of it: daily_plan's three queries."""
    plan = daily_plan(month=day, today=today)
    return {
        row.task.pk: DayTaskFigures(
            unit=row.task.unit,
            decimals=getattr(row.task, "unit_decimals", VOLUME_DECIMALS),
            plan=row.days.get(day),
            left=max(Decimal(0), row.task.volume_plan - row.task.volume_fact),
        )
        for row in plan.rows
    }


HUNDRED = Decimal(100)


def _section_tasks(section: str | None) -> QuerySet[Task]:
    return Task.objects.all() if section is None else Task.objects.in_section(section)


def _in_section(task: Task, section: str | None) -> bool:
    """The exact test behind ``in_section`` (SQLite's LIKE ignores the case of ASCII letters)."""
    return section is None or task_section(task.code) == section


@dataclass(frozen=True, slots=True)
class GridDay:
    """A day column of the МСГ."""

    date: datetime.date
    is_working: bool
    is_holiday: bool
    """Not working, and a public holiday, a day off moved for one, or a day off by exception on
    a working weekday: the days to shade apart from ordinary weekends."""
    is_today: bool


class DayWork(NamedTuple):
    """A report behind a day cell: a cell with one report corrects it in its dialog, which
    needs its version and description (its volume is the cell's fact)."""

    id: int
    version: int
    description: str


class GridCell(NamedTuple):
    """A task's day. A named tuple, not a frozen dataclass: a month of 300 tasks has 9,300
    cells, and a frozen dataclass takes about twice as long to make."""

    date: datetime.date
    plan: Decimal | None
    """None on a day that is not a working day of the task."""
    fact: Decimal | None
    """The day's reports summed; None without any."""
    is_behind: bool
    """A day before today whose fact is below its plan (today is not over yet)."""


@dataclass(frozen=True, slots=True)
class GridRow:
    """A task's month in the МСГ (docs/msg.md, "The figures of a row")."""

    task: Task
    section: str
    monthly_task: MonthlyTask | None
    cells: list[GridCell]
    plan: Decimal
    """The month's plan: the monthly plan, or the month's share of the unallocated volume; for
    a carried-over work without a monthly plan, what was left of it when the month began."""
    unspread: Decimal
    fact: Decimal
    """The month's reports summed."""
    percent: Decimal | None
    """Fact against plan, one decimal, half up; None when the month plans nothing."""
    remaining: Decimal
    """The month's plan not done yet (never below zero)."""
    fact_before_month: Decimal
    """The task's reports before the month's first day."""
    remaining_at_month_start: Decimal
    """The task's volume less ``fact_before_month`` (never below zero)."""
    plan_to_date: Decimal
    """The plan of the task's working days before today (a past month: all of it; a future
    one: nothing); a carried-over work's whole month plan (its end date has passed)."""
    deviation_to_date: Decimal
    """``fact`` − ``plan_to_date``: negative when behind."""
    deviation_days: Decimal | None
    """``deviation_to_date`` in working days at the month plan's daily rate, one decimal;
    None when the month spreads no plan over a day."""
    days_left: int
    """The working days left for the month's plan, today included: the task's own in the month
    (a carried-over work: the month's)."""
    needed_per_day: Decimal | None
    """``remaining`` / ``days_left`` rounded up to the volume's decimals (doing it every day
    meets the plan); 0 when nothing remains; None when something remains but no day does."""
    remaining_total: Decimal
    """The task's volume less all its fact up to today (never below zero)."""
    needed_per_day_to_finish: Decimal | None
    """``remaining_total`` / the working days from today to the end date (both included; past
    its end, to the month's last working day), rounded up; 0 when nothing remains; None when
    something remains but no day does."""
    overdue_since: datetime.date | None
    """The day after the end date, when that has passed with the work unfinished (judged as
    ``judged_on``)."""
    is_carried_over: bool
    """Unfinished and ending before the month: shown until its fact reaches its volume."""
    is_finished: bool
    """Its fact reached its volume (judged as ``judged_on``): nothing of it can be behind."""
    forecast: Forecast
    works: dict[datetime.date, list[DayWork]]
    """Each day's reports, in order (a cell of one report edits it)."""

    @property
    def is_behind(self) -> bool:
        """Behind: the one rule (docs/msg.md), for a row, a section and the month: its fact
        below its plan to date, unless the work is finished (done ahead of this month's plan,
        in an earlier month)."""
        return self.deviation_to_date < 0 and not self.is_finished


@dataclass(frozen=True, slots=True)
class GridTotals:
    tasks: int
    behind: int
    """Rows behind (``GridRow.is_behind``)."""
    late: int
    """Rows whose task is late (``Forecast.is_late``)."""
    percent: Decimal | None
    """The weighted mean of the tasks' month percents, each capped at 100 (an overrun does not
    hide another task's lag); tasks planning nothing this month left out; None if all are."""


@dataclass(frozen=True, slots=True)
class GridSection:
    section: str
    name: str
    """The section's name kept in admin (``Section``); empty when it has none."""
    rows: list[GridRow]
    totals: GridTotals

    @property
    def title(self) -> str:
        """«Раздел 4 — Монолитные работы», in the active language."""
        return section_title(self.section, {self.section: self.name})


@dataclass(frozen=True, slots=True)
class UnitTotals:
    """The month's volumes of one unit (volumes of different units are never added together)."""

    unit: str
    decimals: int
    """How its volumes are shown (``Unit.decimals``)."""
    plan: Decimal
    """The rows' month plans summed."""
    fact: Decimal
    days: list[tuple[Decimal | None, Decimal | None]]
    """Each day's plan and fact summed over the rows (None where no row has one)."""


@dataclass(frozen=True, slots=True)
class MonthGrid:
    month: datetime.date
    today: datetime.date
    days: list[GridDay]
    sections: list[GridSection]
    totals: GridTotals
    weighting: Weighting
    """What the totals' percents are weighted by (``task_weights``)."""
    units: list[UnitTotals]
    """Per unit, in the order of their names."""


def _unit_totals(rows: Sequence[GridRow]) -> list[UnitTotals]:
    by_unit: dict[str, list[GridRow]] = defaultdict(list)
    for row in rows:
        by_unit[row.task.unit].append(row)
    totals = []
    for unit, unit_rows in sorted(by_unit.items()):
        days: list[tuple[Decimal | None, Decimal | None]] = []
        for cells in zip(*(row.cells for row in unit_rows), strict=True):
            plans = [cell.plan for cell in cells if cell.plan is not None]
            facts = [cell.fact for cell in cells if cell.fact is not None]
            days.append((sum(plans) if plans else None, sum(facts) if facts else None))
        totals.append(
            UnitTotals(
                unit=unit,
                decimals=getattr(unit_rows[0].task, "unit_decimals", VOLUME_DECIMALS),
                plan=sum((row.plan for row in unit_rows), Decimal(0)),
                fact=sum((row.fact for row in unit_rows), Decimal(0)),
                days=days,
            )
        )
    return totals


def _grid_totals(rows: Sequence[GridRow], weights: dict[int, Decimal]) -> GridTotals:
    counted = [row for row in rows if row.percent is not None]
    weight = sum((weights[row.task.pk] for row in counted), Decimal(0))
    done = None
    if counted and weight:
        capped = sum(weights[row.task.pk] * min(row.percent, HUNDRED) for row in counted)
        done = (capped / weight).quantize(PERCENT_QUANTUM, ROUND_HALF_UP)
    return GridTotals(
        tasks=len(rows),
        behind=sum(1 for row in rows if row.is_behind),
        late=sum(1 for row in rows if row.forecast.is_late),
        percent=done,
    )


class TaskFacts(NamedTuple):
    """A task's reports summed up to three days."""

    before_month: Decimal
    judged: Decimal
    """Up to ``judged_on`` included."""
    to_date: Decimal
    """Up to today included."""


NO_FACTS = TaskFacts(Decimal(0), Decimal(0), Decimal(0))


def _task_facts(
    task_ids: list[int], *, first: datetime.date, today: datetime.date
) -> dict[int, TaskFacts]:
    """Per task, its reports before the month, up to the month's judging day and up to today:
    one query."""
    judged = judged_on(month=first, today=today)
    rows = (
        DailyWork.objects.filter(task_id__in=task_ids, date__lte=max(first, today))
        .order_by()
        .values("task_id")
        .annotate(
            before=Sum("volume", filter=Q(date__lt=first)),
            judged=Sum("volume", filter=Q(date__lte=judged)),
            to_date=Sum("volume", filter=Q(date__lte=today)),
        )
        .values_list("task_id", "before", "judged", "to_date")
    )
    return {
        task_id: TaskFacts(*(Decimal(value or 0).quantize(VOLUME_QUANTUM) for value in values))
        for task_id, *values in rows
    }


def _per_day(volume: Decimal, days: int, *, quantum: Decimal) -> Decimal | None:
    """``volume`` a day over ``days``, rounded up to ``quantum`` (doing it every day gets it
    done; a whole unit a whole number): 0 when nothing is left, None when something is and no
    day."""
    if not volume:
        return Decimal(0)
    if not days:
        return None
    return (volume / days).quantize(quantum, ROUND_CEILING).quantize(VOLUME_QUANTUM)


def _grid_row(
    plan: TaskMonthPlan,
    *,
    month_days: list[datetime.date],
    facts: dict[datetime.date, Decimal],
    works: dict[datetime.date, list[DayWork]],
    totals: TaskFacts,
    today: datetime.date,
    ahead: WorkingCalendar,
    forecast: Forecast,
) -> GridRow:
    task = plan.task
    first, last = month_days[0], month_days[-1]
    # The rates needed are rounded up to what the page shows (the unit's decimals): doing the
    # shown figure every day gets it done.
    quantum = unit_quantum(getattr(task, "unit_decimals", VOLUME_DECIMALS))
    fact = sum(facts.values(), Decimal(0))
    remaining_at_start = max(Decimal(0), task.volume_plan - totals.before_month)
    judged = judged_on(month=first, today=today)
    overdue_since = None
    if task.end_date < judged and totals.judged < task.volume_plan:
        overdue_since = task.end_date + datetime.timedelta(days=1)
    carried = overdue_since is not None and task.end_date < first
    # A day counts against the plan once it is over, or once its report is in: today's report
    # with today's plan (the row does not swing ahead with a report of less than the day's plan,
    # nor look behind all morning before it).
    counted_until = today + datetime.timedelta(days=1) if today in facts else today
    if carried:
        # Its end date has passed: all the month's plan is due already, and the month's working
        # days are what is left to do it in.
        month_plan = (
            plan.monthly_task.volume_plan if plan.monthly_task is not None else remaining_at_start
        )
        unspread = Decimal(0)
        plan_to_date = month_plan
        days_left = ahead.count(max(counted_until, first), last) if last >= counted_until else 0
    else:
        month_plan = plan.total + plan.unspread
        unspread = plan.unspread
        plan_to_date = sum((v for day, v in plan.days.items() if day < counted_until), Decimal(0))
        days_left = sum(1 for day in plan.days if day >= counted_until)
    remaining = max(Decimal(0), month_plan - fact)
    deviation = fact - plan_to_date
    deviation_days = None
    if plan.days and plan.total:
        rate = plan.total / len(plan.days)
        deviation_days = (deviation / rate).quantize(PERCENT_QUANTUM, ROUND_HALF_UP)
    remaining_total = max(Decimal(0), task.volume_plan - totals.to_date)
    if last < today:
        finish_days = 0  # a past month asks nothing more per day: "—", as its needed per day
    elif task.end_date >= today:
        finish_days = ahead.count(max(counted_until, task.start_date), task.end_date)
    else:
        finish_days = ahead.count(counted_until, last) if last >= counted_until else 0
    cells = []
    for day in month_days:
        day_plan, day_fact = plan.days.get(day), facts.get(day)
        behind = day < today and day_plan is not None and (day_fact or 0) < day_plan
        cells.append(GridCell(date=day, plan=day_plan, fact=day_fact, is_behind=behind))
    return GridRow(
        task=task,
        section=task_section(task.code),
        monthly_task=plan.monthly_task,
        cells=cells,
        plan=month_plan,
        unspread=unspread,
        fact=fact,
        percent=percent(fact, month_plan) if month_plan else None,
        remaining=remaining,
        fact_before_month=totals.before_month,
        remaining_at_month_start=remaining_at_start,
        plan_to_date=plan_to_date,
        deviation_to_date=deviation,
        deviation_days=deviation_days,
        days_left=days_left,
        needed_per_day=_per_day(remaining, days_left, quantum=quantum),
        remaining_total=remaining_total,
        needed_per_day_to_finish=_per_day(remaining_total, finish_days, quantum=quantum),
        overdue_since=overdue_since,
        is_carried_over=carried,
        is_finished=bool(task.volume_plan) and totals.judged >= task.volume_plan,
        forecast=forecast,
        works=works,
    )


def _grid_days(
    month: datetime.date, *, calendar: WorkingCalendar, today: datetime.date
) -> list[GridDay]:
    days_off = country_days(settings.HOLIDAYS_COUNTRY, month.year)[0]
    weekdays = frozenset(settings.WORK_WEEKDAYS)
    days = []
    for number in range(1, month_last_day(month).day + 1):
        day = month.replace(day=number)
        working = calendar.is_working(day)
        holiday = not working and (day in days_off or day.isoweekday() in weekdays)
        days.append(
            GridDay(date=day, is_working=working, is_holiday=holiday, is_today=day == today)
        )
    return days


def _calendar_ahead(
    plans: Sequence[TaskMonthPlan],
    *,
    calendar: WorkingCalendar,
    today: datetime.date,
    last: datetime.date,
) -> WorkingCalendar:
    """A calendar from today to the last day a row counts working days ahead to (the ends of
    the tasks not over yet, the month's last day if it is not over): the month's own when it
    covers that (or nothing is counted ahead), else one more query (a month after this one)."""
    ahead = [day for day in [last, *(row.task.end_date for row in plans)] if day >= today]
    if not ahead or (calendar.first <= today and max(ahead) <= calendar.last):
        return calendar
    return working_calendar(first=today, last=max(ahead))


def month_grid(
    *, month: datetime.date, today: datetime.date, section: str | None = None
) -> MonthGrid:
    """The МСГ of ``month``: per task the month shows (``month_tasks``; of ``section``, the
    first level of codes, default all), per day its plan and fact, the month's figures and the
    forecast; grouped by section with subtotals (docs/msg.md, "The МСГ").

    At most eight queries whatever the number of tasks: ``daily_plan``'s three, the month's
    reports, the tasks' facts before the month and to date, the forecasts' two (of which the
    read of older reports is left out when today is in the month and every task has a forecast
    window's worth of report days in it), and a calendar ahead when the month's does not reach
    from today to the tasks' ends (a month after the current one).
    """
    first = first_of_month(month)
    last = month_last_day(first)
    plan = daily_plan(month=first, today=today, tasks=_section_tasks(section))
    plans = [row for row in plan.rows if _in_section(row.task, section)]
    task_ids = [row.task.pk for row in plans]
    facts: dict[int, dict[datetime.date, Decimal]] = defaultdict(dict)
    works: dict[int, dict[datetime.date, list[DayWork]]] = defaultdict(lambda: defaultdict(list))
    reports = (
        DailyWork.objects.filter(task_id__in=task_ids)
        .filter(date__gte=first, date__lte=last)
        .order_by("id")
        .values_list("id", "task_id", "date", "volume", "version", "description")
    )
    for work_id, task_id, day, volume, version, description in reports:
        task_facts = facts[task_id]
        task_facts[day] = task_facts.get(day, 0) + volume
        works[task_id][day].append(DayWork(work_id, version, description))
    totals = _task_facts(task_ids, first=first, today=today) if plans else {}
    forecasts = task_forecasts(
        tasks=[row.task for row in plans],
        today=today,
        # The month's reports are those of a forecast's window when today is in the month.
        **({"reports": facts, "reports_from": first} if today <= last else {}),
    )
    weighting, weights = task_weights(row.task for row in plans)
    days = _grid_days(first, calendar=plan.calendar, today=today)
    month_days = [day.date for day in days]
    ahead = _calendar_ahead(plans, calendar=plan.calendar, today=today, last=last)
    sections: dict[str, list[GridRow]] = {}
    for task_plan in plans:
        task_id = task_plan.task.pk
        row = _grid_row(
            task_plan,
            month_days=month_days,
            facts=facts.get(task_id, {}),
            works=works.get(task_id, {}),
            totals=totals.get(task_id, NO_FACTS),
            today=today,
            ahead=ahead,
            forecast=forecasts[task_id],
        )
        sections.setdefault(row.section, []).append(row)
    names = Section.objects.filter(code__in=sections).names() if sections else {}
    return MonthGrid(
        month=first,
        today=today,
        days=days,
        sections=[
            GridSection(
                section=code,
                name=names.get(code, ""),
                rows=rows,
                totals=_grid_totals(rows, weights),
            )
            for code, rows in sections.items()
        ],
        totals=_grid_totals([row for rows in sections.values() for row in rows], weights),
        weighting=weighting,
        units=_unit_totals([row for rows in sections.values() for row in rows]),
    )


@dataclass(frozen=True, slots=True)
class CurveSeries:
    """Cumulative progress in percent, one value per day of the curve, one decimal (half up)."""

    tasks: int
    planned: list[Decimal]
    actual: list[Decimal | None]
    """None after today: what is not reported yet is not drawn."""


@dataclass(frozen=True, slots=True)
class ProgressCurve:
    """The S-curve (docs/msg.md, "The S-curve")."""

    today: datetime.date
    weighting: Weighting
    days: list[datetime.date]
    """Every day from the earliest start (or report) to the latest end (or report)."""
    site: CurveSeries
    """All the tasks shown: the whole site, or the one section asked for."""
    sections: dict[str, CurveSeries]


def _task_plan_days(task: Task, *, calendar: WorkingCalendar) -> dict[datetime.date, Decimal]:
    """The task's plan per working day over all its months (the months' rule, docs/msg.md)."""
    days: dict[datetime.date, Decimal] = {}
    for month in months_between(task.start_date, task.end_date):
        days.update(_task_month_plan(task, month=month, calendar=calendar).days)
    return days


class _Increments:
    """Weighted daily steps of cumulative progress for a group of tasks."""

    def __init__(self, size: int) -> None:
        self.tasks = 0
        self.weight = Decimal(0)
        self.planned = [Decimal(0)] * size
        self.actual = [Decimal(0)] * size

    def series(self, *, reported: int) -> CurveSeries:
        def cumulative(steps: list[Decimal]) -> list[Decimal]:
            total, values = Decimal(0), []
            for step in steps:
                total += step
                values.append(percent(total, self.weight) if self.weight else Decimal(0))
            return values

        actual: list[Decimal | None] = list(cumulative(self.actual[:reported]))
        return CurveSeries(
            tasks=self.tasks,
            planned=cumulative(self.planned),
            actual=actual + [None] * (len(self.actual) - reported),
        )


def progress_curve(*, today: datetime.date, section: str | None = None) -> ProgressCurve:
    """Planned against actual cumulative progress by day, for the site (or ``section``) and per
    section. A task's planned share at a day is its plan per day to date over its whole spread
    plan; its actual share its fact to date over its planned volume, capped at 100 %; shares are
    weighted by ``task_weights`` over all the tasks shown.

    Four queries whatever the number of tasks: the tasks, their monthly plans, their reports per
    day, and the calendar exceptions of their span.
    """
    tasks = [
        task
        for task in _with_plans(_section_tasks(section)).order_by("code_key", "id")
        if _in_section(task, section)
    ]
    reports: dict[int, list[tuple[datetime.date, Decimal]]] = defaultdict(list)
    for task_id, day, volume in (
        DailyWork.objects.filter(task_id__in=[task.pk for task in tasks])
        .order_by()
        .values("task_id", "date")
        .annotate(volume=Sum("volume"))
        .values_list("task_id", "date", "volume")
    ):
        reports[task_id].append((day, volume))
    weighting, weights = task_weights(tasks)
    if not tasks:
        empty = CurveSeries(tasks=0, planned=[], actual=[])
        return ProgressCurve(today=today, weighting=weighting, days=[], site=empty, sections={})
    report_days = [day for days in reports.values() for day, _volume in days]
    starts = [task.start_date for task in tasks]
    ends = [task.end_date for task in tasks]
    calendar = working_calendar(first=min(starts), last=max(ends))
    first, last = min(starts + report_days), max(ends + report_days)
    size = (last - first).days + 1
    days = [first + datetime.timedelta(days=i) for i in range(size)]
    site = _Increments(size)
    sections: dict[str, _Increments] = {}
    for task in tasks:
        weight = weights[task.pk]
        groups = [site, sections.setdefault(task_section(task.code), _Increments(size))]
        plan = _task_plan_days(task, calendar=calendar)
        planned_total = sum(plan.values(), Decimal(0))
        # Nothing spread (no volume, or no working day): planned all at once on the end date.
        steps = (
            [(day, weight * volume / planned_total) for day, volume in plan.items() if volume]
            if planned_total
            else [(task.end_date, weight)]
        )
        if task.volume_plan:
            done, actual = Decimal(0), []
            for day, volume in sorted(reports.get(task.pk, [])):
                step = min(volume, task.volume_plan - done)
                if step > 0:
                    done += step
                    actual.append((day, weight * step / task.volume_plan))
        else:
            actual = steps  # nothing to do: neither ahead of its plan nor behind it
        for group in groups:
            group.tasks += 1
            group.weight += weight
            for day, step in steps:
                group.planned[(day - first).days] += step
            for day, step in actual:
                group.actual[(day - first).days] += step
    reported = max(0, min(size, (today - first).days + 1))
    return ProgressCurve(
        today=today,
        weighting=weighting,
        days=days,
        site=site.series(reported=reported),
        sections={name: group.series(reported=reported) for name, group in sections.items()},
    )


# Plausibility (docs/msg.md, "Plausibility"): a volume that is probably a typo is not refused
# (a foreman may really have done it); the pages ask to confirm it, the API answers warnings.

IMPLAUSIBLE_FACTOR = 3
"""A day's report above this many times its plan for the day (or its recent average) is
questioned."""


def _unit_volume(task: Task, volume: Decimal) -> str:
    """``7,5 м³``: a volume in a message, with its unit's decimals."""
    decimals = getattr(task, "unit_decimals", None)
    if decimals is None:
        decimals = Unit.objects.filter(name=task.unit).values_list("decimals", flat=True).first()
    return f"{format_volume(volume, decimals)} {task.unit}"


def daily_work_warnings(
    *,
    task: Task,
    day: datetime.date,
    volume: Decimal,
    today: datetime.date,
    excluding: DailyWork | None = None,
) -> list[str]:
    """Why a report of ``volume`` on ``task`` for ``day`` looks wrong, if it does: a day that
    has not come yet; above what the other reports leave of the work; above
    ``IMPLAUSIBLE_FACTOR`` times the day's plan, or, on a day the task plans nothing, times the
    average of its other reports' last ``FORECAST_WINDOW_DAYS`` report days. ``excluding`` is
    the stored report this one is (just written) or replaces (a correction being checked): it
    is not one of the others."""
    warnings = []
    if day > today:
        warnings.append(
            _("%(day)s has not come yet: is this report for today?")
            % {"day": date_format(day, "SHORT_DATE_FORMAT")}
        )
    others = DailyWork.objects.filter(task=task, date__lte=today)
    if excluding is not None and excluding.pk is not None:
        others = others.exclude(pk=excluding.pk)
    done = task.volume_fact
    if excluding is not None and excluding.pk is not None and excluding.task_id == task.pk:
        done -= excluding.volume
    left = max(Decimal(0), task.volume_plan - done)
    if volume > left:
        warnings.append(
            _("%(volume)s is more than the %(left)s left of %(code)s.")
            % {
                "volume": _unit_volume(task, volume),
                "left": _unit_volume(task, left),
                "code": task.code,
            }
        )
    plan = daily_plan(month=day, today=today, tasks=Task.objects.filter(pk=task.pk))
    planned = next((row.days.get(day) for row in plan.rows), None)
    if planned:
        if volume > IMPLAUSIBLE_FACTOR * planned:
            warnings.append(
                _("%(volume)s is more than %(factor)s times the plan for %(day)s (%(plan)s).")
                % {
                    "volume": _unit_volume(task, volume),
                    "factor": IMPLAUSIBLE_FACTOR,
                    "day": date_format(day, "SHORT_DATE_FORMAT"),
                    "plan": _unit_volume(task, planned),
                }
            )
        return warnings
    recent = (
        others.order_by()
        .values("date")
        .annotate(total=Sum("volume"))
        .order_by("-date")
        .values_list("total", flat=True)[: settings.FORECAST_WINDOW_DAYS]
    )
    totals = list(recent)
    rate = (sum(totals, Decimal(0)) / len(totals)).quantize(VOLUME_QUANTUM) if totals else None
    if rate and volume > IMPLAUSIBLE_FACTOR * rate:
        warnings.append(
            _(
                "%(volume)s is more than %(factor)s times the average of its last report days "
                "(%(rate)s)."
            )
            % {
                "volume": _unit_volume(task, volume),
                "factor": IMPLAUSIBLE_FACTOR,
                "rate": _unit_volume(task, rate),
            }
        )
    return warnings


def monthly_plan_warnings(
    *, task: Task, month: datetime.date, volume: Decimal, today: datetime.date
) -> list[str]:
    """Why a plan of ``volume`` for ``task`` in ``month`` looks wrong, if it does: above what
    is left of the work (its volume less all its fact up to today)."""
    done = DailyWork.objects.filter(task=task, date__lte=today).aggregate(total=Sum("volume"))
    left = max(Decimal(0), task.volume_plan - (done["total"] or 0))
    if volume <= left:
        return []
    return [
        _("%(volume)s planned for %(month)s is more than the %(left)s left of %(code)s.")
        % {
            "volume": _unit_volume(task, volume),
            "month": date_format(month, "YEAR_MONTH_FORMAT"),
            "left": _unit_volume(task, left),
            "code": task.code,
        }
    ]
