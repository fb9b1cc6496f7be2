"""Demo data: a residential building site's schedule, in Russian as such a site keeps it.

Dates are laid around the day the command runs, so the schedule always looks current: some
works are done, some under way, some ahead. Everything is deterministic (a fixed random seed).
"""

import datetime
import ipaddress
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.utils import timezone

from daily.models import DailyWork
from monthly.models import MonthlyTask
from realtime.context import VIA_DAILY, acting_as, writing_via
from schedule.models import CalendarDay, Section, Task
from schedule.roles import FOREMEN, PLANNERS, VIEWERS, roles_ensure
from schedule.services import units_ensure
from schedule.working_days import WorkingCalendar, country_days, working_calendar
from scheduler_project.months import first_of_month, month_last_day


@dataclass(frozen=True)
class DemoTask:
    code: str
    name: str
    unit: str
    volume: str
    offset: int
    """Start, in days from the day the demo is laid around."""
    duration: int
    """In calendar days."""
    pace: float = 1.0
    """The share of its planned rate the crew keeps: below 1 behind, above 1 ahead. A task
    whose end has passed is complete, unless its pace is below 1: it is then overdue."""


DEMO_SECTIONS = {
    "1": "Подготовительные работы",
    "2": "Земляные работы",
    "3": "Фундаментная плита",
    "4": "Монолитный каркас",
    "5": "Стены и окна",
    "6": "Кровля",
    "7": "Наружные сети",
    "8": "Внутренние инженерные системы",
    "9": "Отделочные работы",
    "10": "Благоустройство",
}
"""The demo's sections (the first level of its codes) and their names."""

# A residential building about five months in: the site set up, the pit dug, the foundation slab
# cast; the frame, the masonry and the outside networks under way (some behind, some ahead), the
# finishes to come.
DEMO_TASKS: list[DemoTask] = [
    DemoTask("1.1", "Устройство временного ограждения площадки", "м", "420", -150, 14),
    DemoTask("1.2", "Устройство временных дорог из ж/б плит", "м²", "1850", -145, 21),
    DemoTask("1.3", "Монтаж бытового городка", "шт", "12", -143, 10),
    DemoTask("2.1", "Разработка грунта в котловане экскаватором", "м³", "14600", -130, 35),
    DemoTask("2.2", "Вывоз грунта на полигон", "м³", "11200", -128, 40),
    DemoTask("2.3", "Устройство щебёночной подготовки", "м³", "640", -92, 14),
    DemoTask("3.1", "Бетонная подготовка под фундаментную плиту", "м³", "210", -85, 10),
    DemoTask("3.2", "Гидроизоляция фундаментной плиты", "м²", "2100", -78, 14),
    DemoTask("3.3", "Армирование фундаментной плиты", "т", "186", -70, 21),
    DemoTask("3.4", "Бетонирование фундаментной плиты", "м³", "1680", -60, 21),
    DemoTask("4.1", "Монолитные стены подвала", "м³", "540", -40, 45, pace=0.75),
    DemoTask("4.2", "Обратная засыпка пазух котлована", "м³", "3200", -10, 40, pace=1.2),
    DemoTask("4.3", "Монолитные колонны 1–5 этажей", "м³", "310", -30, 90, pace=0.7),
    DemoTask("4.4", "Монолитные перекрытия 1–5 этажей", "м³", "1450", -25, 100),
    DemoTask("4.5", "Монолитные лестничные марши", "шт", "20", -5, 70),
    DemoTask("5.1", "Кладка наружных стен из газобетона", "м³", "980", -15, 120, pace=0.75),
    DemoTask("5.2", "Кладка внутренних перегородок", "м²", "6400", 30, 90),
    DemoTask("5.3", "Монтаж оконных блоков ПВХ", "шт", "236", 75, 45),
    DemoTask("6.1", "Устройство кровли: пароизоляция и утеплитель", "м²", "1250", 110, 25),
    DemoTask("6.2", "Устройство кровли: мембрана ПВХ", "м²", "1250", 130, 20),
    DemoTask("7.1", "Прокладка наружной канализации К1", "м", "186", -50, 28),
    DemoTask("7.2", "Прокладка водопровода В1", "м", "240", -35, 28, pace=0.8),
    DemoTask("7.3", "Прокладка кабеля 0,4 кВ", "м", "620", -12, 30, pace=1.2),
    DemoTask("8.1", "Монтаж стояков водоснабжения", "м", "880", 3, 45),
    DemoTask("8.2", "Монтаж системы отопления", "м", "3400", 40, 75),
    DemoTask("8.3", "Электромонтажные работы: разводка", "м", "12600", 60, 90),
    DemoTask("9.1", "Штукатурка стен машинным способом", "м²", "14800", 100, 70),
    DemoTask("9.2", "Устройство стяжки пола", "м²", "5200", 110, 50),
    DemoTask("10.1", "Благоустройство: асфальтирование проездов", "м²", "2300", 170, 20),
    DemoTask("10.2", "Озеленение и устройство газонов", "м²", "1600", 180, 15),
]

# The planner has not issued next month's order for this task yet: that month takes the volume
# no monthly plan covers (docs/msg.md, "The plan per day").
UNPLANNED_NEXT_MONTH = "5.1"

WORKING_SATURDAY_NOTE = "Рабочая суббота: наверстываем отставание по монолиту"
WORKING_DAY_OFF_NOTE = "Рабочий выходной: наверстываем отставание по монолиту"

# Notes of an ordinary day, a busy one and a short one; a weather day is site-wide.
ORDINARY_NOTES = ["", "", "", "Работы по графику", "Приёмка технадзором"]
BUSY_NOTES = ["Две смены", "Доп. техника: автокран 25 т"]
SHORT_NOTE = "Задержка поставки материала, работали полсмены"
MOBILISATION_NOTE = "Мобилизация бригады, завоз материалов"
# The mean of _day_factors' shares: a task at pace 1 then keeps its plan on average.
MEAN_DAY_FACTOR = 0.92


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    first_name: str
    last_name: str
    role: str | None
    is_staff: bool = False
    is_superuser: bool = False


DEMO_USERS = [
    DemoUser("admin", "admin-demo", "Алексей", "Смирнов", None, is_staff=True, is_superuser=True),
    DemoUser("planner", "planner-demo", "Мария", "Кузнецова", PLANNERS, is_staff=True),
    DemoUser("foreman", "foreman-demo", "Иван", "Петров", FOREMEN),
    DemoUser("viewer", "viewer-demo", "Ольга", "Соколова", VIEWERS),
]


def demo_exposure(*, host: str) -> list[str]:
    """Why serving on ``host`` would expose this installation: demo users that still have the
    passwords the README prints, and DEBUG's public development key. Empty on loopback."""
    if is_loopback(host):
        return []
    problems = []
    user_model = get_user_model()
    users = {
        u.username: u
        for u in user_model.objects.filter(username__in=[d.username for d in DEMO_USERS])
    }
    known = [
        spec.username
        for spec in DEMO_USERS
        if spec.username in users and users[spec.username].check_password(spec.password)
    ]
    if known:
        problems.append("demo users with the passwords the README prints: " + ", ".join(known))
    if settings.DEBUG and settings.SECRET_KEY == settings.DEVELOPMENT_SECRET_KEY:
        problems.append("DEBUG is on with the public development SECRET_KEY")
    return problems


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _users_ensure() -> dict[str, AbstractUser]:
    groups = roles_ensure()
    user_model = get_user_model()
    users = {}
    for spec in DEMO_USERS:
        user, created = user_model.objects.get_or_create(
            username=spec.username,
            defaults={
                "first_name": spec.first_name,
                "last_name": spec.last_name,
                "is_staff": spec.is_staff,
                "is_superuser": spec.is_superuser,
            },
        )
        if created:
            user.set_password(spec.password)
            user.save()
        if spec.role:
            user.groups.add(groups[spec.role])
        users[spec.username] = user
    return users


def _laid_around(today: datetime.date) -> datetime.date:
    """The day the demo was first laid around, found from its tasks already stored: a run on a
    later day then adds nothing either, and the reports stay consistent with one another."""
    starts = dict(
        Task.objects.filter(code__in=[spec.code for spec in DEMO_TASKS]).values_list(
            "code", "start_date"
        )
    )
    for spec in DEMO_TASKS:
        if spec.code in starts:
            return starts[spec.code] - datetime.timedelta(days=spec.offset)
    return today


def _calendar_exception_ensure(day: datetime.date) -> int:
    """A working Saturday shortly before ``day`` (or another day off when Saturdays are worked
    anyway): the calendar's exceptions show next to the country's holidays."""
    weekdays = frozenset(settings.WORK_WEEKDAYS)
    free = []
    for back in range(1, 22):
        candidate = day - datetime.timedelta(days=back)
        days_off, days_on = country_days(settings.HOLIDAYS_COUNTRY, candidate.year)
        if candidate.isoweekday() not in weekdays and candidate not in days_off | days_on:
            free.append(candidate)
    if not free:
        return 0
    latest = min(free, key=lambda candidate: (candidate.isoweekday() != 6, day - candidate))
    note = WORKING_SATURDAY_NOTE if latest.isoweekday() == 6 else WORKING_DAY_OFF_NOTE
    _exception, created = CalendarDay.objects.get_or_create(
        date=latest, defaults={"is_working": True, "note": note}
    )
    return int(created)


def _tasks_ensure(day: datetime.date) -> tuple[list[tuple[DemoTask, Task]], int]:
    stored = {
        task.code: task for task in Task.objects.filter(code__in=[s.code for s in DEMO_TASKS])
    }
    missing = [
        Task(
            code=spec.code,
            name=spec.name,
            unit=spec.unit,
            volume_plan=Decimal(spec.volume),
            start_date=day + datetime.timedelta(days=spec.offset),
            end_date=day + datetime.timedelta(days=spec.offset + spec.duration - 1),
        )
        for spec in DEMO_TASKS
        if spec.code not in stored
    ]
    for task in Task.objects.bulk_create(missing):
        stored[task.code] = task
    return [(spec, stored[spec.code]) for spec in DEMO_TASKS], len(missing)


def _monthly_plans(
    task: Task, *, calendar: WorkingCalendar, skipped: datetime.date | None
) -> list[MonthlyTask]:
    """Whole units for each month the task works in, in proportion to its working days there,
    adding up to its volume (rounded cumulatively); ``skipped`` gets none."""
    months, counts = [], []
    month = first_of_month(task.start_date)
    while month <= task.end_date:
        months.append(month)
        counts.append(
            calendar.count(max(task.start_date, month), min(task.end_date, month_last_day(month)))
        )
        month = month_last_day(month) + datetime.timedelta(days=1)
    total = sum(counts)
    if not total:
        return []
    plans, allocated, cumulative = [], Decimal(0), 0
    for month, count in zip(months, counts, strict=True):
        cumulative += count
        upto = (task.volume_plan * cumulative / total).quantize(Decimal(1), ROUND_HALF_UP)
        volume, allocated = upto - allocated, upto
        if count and month != skipped:
            plans.append(MonthlyTask(task=task, month=month, volume_plan=volume))
    return plans


def _day_factors(
    rng: random.Random, days: Sequence[datetime.date]
) -> list[tuple[datetime.date, float, str]]:
    """Each reported day's output as a share of the planned rate, with the foreman's note. Some
    working days have no report (the crew was on another front)."""
    factors = []
    for index, day in enumerate(days):
        # Weather is the site's, not the task's: seeded by the day alone.
        if random.Random(f"demo-weather:{day.isoformat()}").random() < 0.08:
            weather = "Снегопад" if day.month in (11, 12, 1, 2, 3) else "Дождь"
            factors.append((day, rng.uniform(0.5, 0.7), f"{weather}, работы с перерывами"))
            continue
        if index < 2:
            factors.append((day, rng.uniform(0.5, 0.7), MOBILISATION_NOTE))
            continue
        roll = rng.random()
        if roll < 0.04:
            continue
        if roll < 0.10:
            factors.append((day, rng.uniform(0.5, 0.6), SHORT_NOTE))
        elif roll < 0.18:
            factors.append((day, rng.uniform(1.15, 1.3), rng.choice(BUSY_NOTES)))
        else:
            factor = min(max(rng.gauss(1, 0.08), 0.8), 1.15)
            factors.append((day, factor, rng.choice(ORDINARY_NOTES)))
    return factors


def _daily_works(
    spec: DemoTask,
    task: Task,
    *,
    day: datetime.date,
    calendar: WorkingCalendar,
    users: dict[str, AbstractUser],
) -> list[DailyWork]:
    """The task's reports on its working days before ``day``, at its pace. A complete task's
    reports add up to its volume exactly; no task's exceed it (one ahead may finish early)."""
    planned_days = calendar.count(task.start_date, task.end_date)
    reported_days = calendar.between(
        task.start_date, min(task.end_date, day - datetime.timedelta(days=1))
    )
    if not planned_days or not reported_days or not task.volume_plan:
        return []
    rng = random.Random(f"demo:{task.code}")
    factors = _day_factors(rng, reported_days)
    complete = task.end_date < day and spec.pace >= 1
    if complete:
        per_factor = float(task.volume_plan) / sum(factor for _day, factor, _note in factors)
    else:
        per_factor = float(task.volume_plan) / planned_days * spec.pace / MEAN_DAY_FACTOR
    quantum = Decimal(1) if task.unit == "шт" else Decimal("0.1")
    works, cumulative, done = [], 0.0, Decimal(0)
    for date, factor, note in factors:
        cumulative += per_factor * factor
        target = min(Decimal(repr(cumulative)).quantize(quantum, ROUND_HALF_UP), task.volume_plan)
        if complete and date == factors[-1][0]:
            target = task.volume_plan
        if target <= done:
            continue
        works.append(
            DailyWork(
                task=task,
                date=date,
                volume=target - done,
                description=note,
                created_by=users["foreman"] if rng.random() < 0.85 else users["planner"],
            )
        )
        done = target
        if done >= task.volume_plan:
            break
    return works


@transaction.atomic
def demo_seed(*, today: datetime.date | None = None) -> dict[str, int]:
    """Create the demo users, tasks, monthly plans, calendar exception and daily works that do not
    exist yet.

    The demo is laid around ``today`` (default: the current date) on the first run, and around
    that same day on every later one (``_laid_around``). Idempotent: tasks are matched by code,
    plans by (task, month), the exception by date; daily works are added only to tasks that have
    none, so a second run changes nothing. Every row is published like any write (the bulk
    paths publish one event per row): a few hundred events on the first run.
    """
    users = _users_ensure()
    units_ensure()
    Section.objects.bulk_create(
        [Section(code=code, name=name) for code, name in DEMO_SECTIONS.items()],
        ignore_conflicts=True,
    )
    day = _laid_around(today or timezone.localdate())
    counts = {"calendar_days": _calendar_exception_ensure(day)}
    tasks, counts["tasks"] = _tasks_ensure(day)
    # After the exception is stored: the calendar reads it.
    calendar = working_calendar(
        first=min(day, *(task.start_date for _spec, task in tasks)),
        last=max(day, *(task.end_date for _spec, task in tasks)),
    )

    planned = set(
        MonthlyTask.objects.filter(task__in=[task for _spec, task in tasks]).values_list(
            "task_id", "month"
        )
    )
    next_month = month_last_day(day) + datetime.timedelta(days=1)
    plans = [
        plan
        for spec, task in tasks
        for plan in _monthly_plans(
            task,
            calendar=calendar,
            skipped=next_month if spec.code == UNPLANNED_NEXT_MONTH else None,
        )
        if (task.pk, plan.month) not in planned
    ]
    counts["monthly_tasks"] = len(MonthlyTask.objects.bulk_create(plans))

    reported = set(
        DailyWork.objects.filter(task__in=[task for _spec, task in tasks]).values_list(
            "task_id", flat=True
        )
    )
    works = [
        work
        for spec, task in tasks
        if task.pk not in reported
        for work in _daily_works(spec, task, day=day, calendar=calendar, users=users)
    ]
    # A bulk insert per author, each recorded in the history as theirs, entered on the daily
    # page (as the demo's reports say: «Кто внёс: Иван Петров»); each recalculates volume_fact
    # of its tasks once (DailyWorkQuerySet).
    by_author: dict[int, list[DailyWork]] = {}
    for work in works:
        by_author.setdefault(work.created_by_id, []).append(work)
    counts["daily_works"] = 0
    with writing_via(VIA_DAILY):
        for authored in by_author.values():
            with acting_as(authored[0].created_by):
                counts["daily_works"] += len(DailyWork.objects.bulk_create(authored))
    return counts
