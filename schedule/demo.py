"""Demo data: a residential building site's schedule, in Russian as such a site keeps it.

Dates are laid around the day the command runs, so the schedule always looks current: some
works are done, some under way, some ahead. Everything is deterministic (a fixed random seed).
"""

import datetime
import ipaddress
import random
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.utils import timezone

from daily.models import DailyWork
from monthly.models import MonthlyTask, first_of_month

from .models import Task
from .roles import FOREMEN, PLANNERS, VIEWERS, roles_ensure

# (code, name, unit, planned volume, start offset in days from today, duration in days)
DEMO_TASKS: list[tuple[str, str, str, str, int, int]] = [
    ("1.1", "Устройство временного ограждения площадки", "м", "420", -120, 14),
    ("1.2", "Устройство временных дорог из ж/б плит", "м²", "1850", -112, 21),
    ("1.3", "Монтаж бытового городка", "шт", "12", -110, 10),
    ("2.1", "Разработка грунта в котловане экскаватором", "м³", "14600", -100, 35),
    ("2.2", "Вывоз грунта на полигон", "м³", "11200", -98, 40),
    ("2.3", "Устройство щебёночной подготовки", "м³", "640", -68, 12),
    ("3.1", "Бетонная подготовка под фундаментную плиту", "м³", "210", -60, 8),
    ("3.2", "Гидроизоляция фундаментной плиты", "м²", "2100", -55, 12),
    ("3.3", "Армирование фундаментной плиты", "т", "186", -50, 20),
    ("3.4", "Бетонирование фундаментной плиты", "м³", "1680", -38, 14),
    ("4.1", "Монолитные стены подвала", "м³", "540", -26, 30),
    ("4.2", "Обратная засыпка пазух котлована", "м³", "3200", -5, 25),
    ("4.3", "Монолитные колонны 1–5 этажей", "м³", "310", -12, 60),
    ("4.4", "Монолитные перекрытия 1–5 этажей", "м³", "1450", -8, 70),
    ("4.5", "Монолитные лестничные марши", "шт", "20", 10, 60),
    ("5.1", "Кладка наружных стен из газобетона", "м³", "980", 20, 90),
    ("5.2", "Кладка внутренних перегородок", "м²", "6400", 45, 80),
    ("5.3", "Монтаж оконных блоков ПВХ", "шт", "236", 90, 45),
    ("6.1", "Устройство кровли: пароизоляция и утеплитель", "м²", "1250", 120, 25),
    ("6.2", "Устройство кровли: мембрана ПВХ", "м²", "1250", 135, 20),
    ("7.1", "Прокладка наружной канализации К1", "м", "186", -30, 21),
    ("7.2", "Прокладка водопровода В1", "м", "240", -20, 18),
    ("7.3", "Прокладка кабеля 0,4 кВ", "м", "620", 5, 20),
    ("8.1", "Монтаж стояков водоснабжения", "м", "880", 60, 45),
    ("8.2", "Монтаж системы отопления", "м", "3400", 70, 75),
    ("8.3", "Электромонтажные работы: разводка", "м", "12600", 80, 90),
    ("9.1", "Штукатурка стен машинным способом", "м²", "14800", 110, 70),
    ("9.2", "Устройство стяжки пола", "м²", "5200", 115, 50),
    ("10.1", "Благоустройство: асфальтирование проездов", "м²", "2300", 170, 20),
    ("10.2", "Озеленение и устройство газонов", "м²", "1600", 180, 15),
]

DAILY_NOTES = [
    "",
    "",
    "Работы по графику",
    "Две смены",
    "Задержка поставки материала, работали полсмены",
    "Приёмка технадзором",
    "Дождь, работы с перерывами",
    "Доп. техника: автокран 25 т",
]


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


def _months(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    months = []
    month = first_of_month(start)
    while month <= end:
        months.append(month)
        month = (month + datetime.timedelta(days=32)).replace(day=1)
    return months


def _working_days(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    """Monday to Saturday, as sites work."""
    days = []
    day = start
    while day <= end:
        if day.weekday() < 6:
            days.append(day)
        day += datetime.timedelta(days=1)
    return days


@transaction.atomic
def demo_seed(*, today: datetime.date | None = None) -> dict[str, int]:
    """Create the demo users, tasks, monthly plans and daily works that do not exist yet.

    Idempotent: tasks are matched by code and plans by (task, month); daily works are added only
    to tasks that have none, so a second run changes nothing.
    """
    today = today or timezone.localdate()
    rng = random.Random(20261125)
    users = _users_ensure()
    counts = {"tasks": 0, "monthly_tasks": 0, "daily_works": 0}

    for code, name, unit, plan, offset, duration in DEMO_TASKS:
        start = today + datetime.timedelta(days=offset)
        end = start + datetime.timedelta(days=duration - 1)
        task, created = Task.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "unit": unit,
                "volume_plan": Decimal(plan),
                "start_date": start,
                "end_date": end,
            },
        )
        counts["tasks"] += created
        days = _working_days(task.start_date, task.end_date)
        per_day = task.volume_plan / max(len(days), 1)

        for month in _months(task.start_date, task.end_date):
            in_month = [d for d in days if first_of_month(d) == month]
            _plan, created = MonthlyTask.objects.get_or_create(
                task=task,
                month=month,
                defaults={"volume_plan": (per_day * len(in_month)).quantize(Decimal("0.001"))},
            )
            counts["monthly_tasks"] += created

        if task.daily_works.exists():
            continue
        reporters = [users["foreman"], users["planner"]]
        works = [
            DailyWork(
                task=task,
                date=day,
                volume=(per_day * Decimal(rng.uniform(0.6, 1.25))).quantize(Decimal("0.1"))
                or Decimal("0.1"),
                description=rng.choice(DAILY_NOTES),
                created_by=rng.choice(reporters),
            )
            for day in days
            if day < today
        ]
        # Seeding happens before anyone is connected; bulk_create still recalculates
        # volume_fact (DailyWorkQuerySet.bulk_create).
        DailyWork.objects.bulk_create(works)
        counts["daily_works"] += len(works)
    return counts
