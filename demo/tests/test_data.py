import datetime
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F, Sum

from daily.models import DailyWork
from demo.data import DEMO_USERS, WORKING_DAY_OFF_NOTE, WORKING_SATURDAY_NOTE, demo_seed
from monthly.models import MonthlyTask
from progress.selectors import daily_plan
from realtime.models import Change
from schedule.models import CalendarDay, Task
from schedule.working_days import working_calendar
from scheduler_project.months import first_of_month

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 11, 25)  # a Wednesday; 4 November is a public holiday
MONTH = datetime.date(2026, 11, 1)


def snapshot() -> dict[str, list]:
    return {
        "tasks": list(Task.objects.values_list("code", "version", "volume_fact")),
        "monthly": list(MonthlyTask.objects.values_list("pk", "version")),
        "daily": list(DailyWork.objects.values_list("pk", "version")),
        "calendar": list(CalendarDay.objects.values_list("pk", "version")),
    }


def figures() -> dict[str, list]:
    """What the demo looks like, without the ids and timestamps a new run changes."""
    return {
        "tasks": list(
            Task.objects.values_list(
                "code", "name", "volume_plan", "volume_fact", "start_date", "end_date"
            )
        ),
        "monthly": list(MonthlyTask.objects.values_list("task__code", "month", "volume_plan")),
        "daily": list(
            DailyWork.objects.values_list(
                "task__code", "date", "volume", "description", "created_by__username"
            )
        ),
        "calendar": list(CalendarDay.objects.values_list("date", "is_working", "note")),
    }


@dataclass(frozen=True)
class MonthRow:
    plan: Decimal
    plan_to_date: Decimal
    fact_to_date: Decimal
    working_days: int
    working_days_left: int

    @property
    def plan_rate(self) -> Decimal:
        return self.plan / self.working_days

    @property
    def needed_rate(self) -> Decimal:
        return (self.plan - self.fact_to_date) / self.working_days_left


def month_rows(today: datetime.date) -> dict[str, MonthRow]:
    """Each task's month against its plan per day (``daily_plan``) before ``today``."""
    rows = {}
    for row in daily_plan(month=today, today=today).rows:
        fact = DailyWork.objects.filter(
            task=row.task, date__gte=today.replace(day=1), date__lt=today
        ).aggregate(total=Sum("volume"))["total"]
        rows[row.task.code] = MonthRow(
            plan=row.total,
            plan_to_date=sum((v for day, v in row.days.items() if day < today), Decimal(0)),
            fact_to_date=fact or Decimal(0),
            working_days=len(row.days),
            working_days_left=len([day for day in row.days if day >= today]),
        )
    return rows


@pytest.mark.parametrize(
    "today",
    [
        TODAY,
        datetime.date(2026, 12, 3),  # early in a month
        datetime.date(2027, 1, 13),  # just after the New Year holidays
        datetime.date(2026, 5, 12),  # after the May holidays
    ],
)
def test_daily_works_fall_on_working_days_before_today_only(today):
    demo_seed(today=today)

    dates = set(DailyWork.objects.values_list("date", flat=True))
    calendar = working_calendar(first=min(dates), last=today)
    assert [day for day in sorted(dates) if not calendar.is_working(day)] == []
    assert max(dates) < today


def test_the_reports_cover_several_months_up_to_yesterday():
    demo_seed(today=TODAY)

    months = {first_of_month(day) for day in DailyWork.objects.values_list("date", flat=True)}
    assert months == {datetime.date(2026, month, 1) for month in range(6, 12)}
    assert DailyWork.objects.filter(date=datetime.date(2026, 11, 24)).exists()
    assert not DailyWork.objects.filter(date=datetime.date(2026, 11, 4)).exists()  # holiday


def test_the_working_saturday_before_today_is_a_calendar_exception_with_reports():
    demo_seed(today=TODAY)

    saturday = datetime.date(2026, 11, 21)
    assert list(CalendarDay.objects.values_list("date", "is_working", "note")) == [
        (saturday, True, WORKING_SATURDAY_NOTE)
    ]
    assert DailyWork.objects.filter(date=saturday).count() >= 5


def test_a_six_day_site_works_saturdays_and_one_sunday(settings):
    settings.WORK_WEEKDAYS = [1, 2, 3, 4, 5, 6]

    demo_seed(today=TODAY)

    sunday = datetime.date(2026, 11, 22)
    assert list(CalendarDay.objects.values_list("date", "note")) == [(sunday, WORKING_DAY_OFF_NOTE)]
    dates = set(DailyWork.objects.values_list("date", flat=True))
    assert datetime.date(2026, 11, 14) in dates  # a Saturday
    assert sunday in dates
    assert {day.isoweekday() for day in dates if day != sunday} == {1, 2, 3, 4, 5, 6}


def test_the_current_month_has_reports_and_is_not_complete():
    demo_seed(today=TODAY)
    rows = month_rows(TODAY).values()

    assert sum(row.fact_to_date for row in rows) > 0
    assert sum(row.fact_to_date for row in rows) < sum(row.plan for row in rows)
    assert not DailyWork.objects.filter(date__gte=TODAY).exists()


def test_some_tasks_are_behind_their_plan_and_need_a_higher_rate_to_catch_up():
    demo_seed(today=TODAY)
    rows = month_rows(TODAY)

    behind = {
        code
        for code, row in rows.items()
        if row.plan_to_date and row.fact_to_date < row.plan_to_date * Decimal("0.9")
    }
    assert behind == {"4.1", "4.3", "4.4", "5.1", "7.2"}
    for code in ["4.1", "4.3", "5.1"]:
        assert rows[code].needed_rate > rows[code].plan_rate * Decimal("1.5")


def test_a_couple_of_tasks_are_ahead_of_their_plan():
    demo_seed(today=TODAY)
    rows = month_rows(TODAY)

    ahead = {
        code
        for code, row in rows.items()
        if row.working_days_left and row.fact_to_date > row.plan_to_date * Decimal("1.1")
    }
    assert ahead == {"4.2", "7.3"}
    for code in ahead:
        assert rows[code].needed_rate < rows[code].plan_rate


def test_tasks_are_done_under_way_overdue_or_not_started():
    demo_seed(today=TODAY)

    ended = Task.objects.filter(end_date__lt=TODAY)
    assert sorted(ended.filter(volume_fact=F("volume_plan")).values_list("code", flat=True)) == [
        "1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "3.1", "3.2", "3.3", "3.4", "7.1"
    ]  # fmt: skip
    assert list(ended.filter(volume_fact__lt=F("volume_plan")).values_list("code", flat=True)) == [
        "7.2"
    ]
    assert Task.objects.filter(start_date__gt=TODAY, volume_fact=0).count() == 11
    under_way = Task.objects.filter(start_date__lte=TODAY, end_date__gte=TODAY)
    assert under_way.count() == 7
    assert not under_way.filter(volume_fact=0).exists()
    assert not under_way.filter(volume_fact__gte=F("volume_plan")).exists()


def test_reports_vary_from_day_to_day():
    demo_seed(today=TODAY)
    rates = {
        task.pk: task.volume_plan
        / working_calendar(first=task.start_date, last=task.end_date).count(
            task.start_date, task.end_date
        )
        for task in Task.objects.filter(start_date__lt=TODAY, unit__in=["м", "м²", "м³"])
    }

    shares = [
        work.volume / rates[work.task_id] for work in DailyWork.objects.filter(task__in=rates)
    ]
    assert min(shares) < Decimal("0.7")
    assert max(shares) > Decimal("1.2")
    assert DailyWork.objects.filter(description="Дождь, работы с перерывами").exists()
    assert DailyWork.objects.filter(description="Две смены").exists()


def test_each_tasks_volume_fact_is_the_sum_of_its_reports():
    demo_seed(today=TODAY)

    for task in Task.objects.all():
        assert task.volume_fact == (task.daily_works.aggregate(s=Sum("volume"))["s"] or 0)


def test_monthly_plans_add_up_to_each_tasks_volume_but_one_unplanned_month():
    demo_seed(today=TODAY)
    planned = dict(
        Task.objects.annotate(planned=Sum("monthly_tasks__volume_plan")).values_list(
            "code", "planned"
        )
    )

    assert {
        task.code: planned[task.code]
        for task in Task.objects.all()
        if planned[task.code] != task.volume_plan
    } == {"5.1": Decimal(704)}
    # 5.1 (980 m³, 10 November 2026 to 9 March 2027) works 16 + 22 + 15 + 19 + 6 = 78 days
    # (21 November is a working Saturday, 31 December a day off, 20 February a transferred
    # working day). Whole units to the end of each month: 201, 477, …; December, next month,
    # has no plan: 477 - 201 = 276 are left unallocated, and December's days carry them.
    december = {
        row.task.code: row for row in daily_plan(month=datetime.date(2026, 12, 1), today=TODAY).rows
    }
    assert december["5.1"].monthly_task is None
    assert december["5.1"].total == Decimal(276)


def test_demo_seed_is_idempotent():
    demo_seed(today=TODAY)
    before = snapshot()

    counts = demo_seed(today=TODAY)

    assert counts == {"calendar_days": 0, "tasks": 0, "monthly_tasks": 0, "daily_works": 0}
    assert snapshot() == before


def test_a_run_on_a_later_day_keeps_the_demo_laid_around_its_first_day():
    demo_seed(today=TODAY)
    before = snapshot()

    counts = demo_seed(today=TODAY + datetime.timedelta(days=40))

    assert counts == {"calendar_days": 0, "tasks": 0, "monthly_tasks": 0, "daily_works": 0}
    assert snapshot() == before


def test_demo_seed_lays_out_the_same_figures_every_time():
    demo_seed(today=TODAY)
    first = figures()
    Task.objects.all().delete()
    CalendarDay.objects.all().delete()

    demo_seed(today=TODAY)

    assert figures() == first


def test_a_task_without_reports_gets_its_own_again():
    demo_seed(today=TODAY)
    first = figures()
    DailyWork.objects.filter(task__code="4.4").delete()

    counts = demo_seed(today=TODAY)

    assert counts["daily_works"] == len([row for row in first["daily"] if row[0] == "4.4"])
    assert figures() == first


def test_demo_users_log_in_with_the_documented_passwords():
    demo_seed(today=TODAY)

    for spec in DEMO_USERS:
        user = authenticate(username=spec.username, password=spec.password)
        assert user is not None
        assert user.groups.filter(name=spec.role).exists() or spec.is_superuser


def test_seed_demo_refuses_to_run_in_production(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("seed_demo")

    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("host", "exposed"),
    [
        ("127.0.0.1", False),
        ("127.0.1.1", False),
        ("localhost", False),
        ("::1", False),
        ("[::1]", False),
        ("0.0.0.0", True),
        ("::", True),
        ("192.168.1.20", True),
        ("schedule.example.com", True),
    ],
)
def test_serving_beyond_loopback_with_demo_users_is_refused(host, exposed, settings):
    settings.DEBUG = True
    demo_seed(today=TODAY)

    if exposed:
        with pytest.raises(CommandError, match="DEMO_ON_NETWORK=1"):
            call_command("check_demo_exposure", host=host)
    else:
        call_command("check_demo_exposure", host=host)


def test_demo_on_network_insists_on_serving_the_demo(settings, monkeypatch, capsys):
    settings.DEBUG = True
    demo_seed(today=TODAY)
    monkeypatch.setenv("DEMO_ON_NETWORK", "1")

    call_command("check_demo_exposure", host="0.0.0.0")

    assert "anyone who reaches this address can sign in" in capsys.readouterr().err


def test_changed_demo_passwords_and_a_secret_key_may_serve_on_the_network(settings):
    settings.DEBUG = True
    settings.SECRET_KEY = "a-real-secret-key-set-by-the-operator-0123456789abcdef"
    demo_seed(today=TODAY)
    for user in get_user_model().objects.all():
        user.set_password(f"{user.username}-changed-password")
        user.save()

    call_command("check_demo_exposure", host="0.0.0.0")


@pytest.mark.parametrize(
    ("passwords_changed", "secret_key", "named"),
    [
        (False, "a-real-secret-key-set-by-the-operator-0123456789abcdef", "demo users"),
        (True, None, "development SECRET_KEY"),
    ],
)
def test_the_refusal_names_what_exposes_the_installation(
    passwords_changed, secret_key, named, settings
):
    settings.DEBUG = True
    if secret_key is not None:
        settings.SECRET_KEY = secret_key
    else:
        settings.SECRET_KEY = settings.DEVELOPMENT_SECRET_KEY
    demo_seed(today=TODAY)
    if passwords_changed:
        for user in get_user_model().objects.all():
            user.set_password("changed-password-1234")
            user.save()

    with pytest.raises(CommandError) as refusal:
        call_command("check_demo_exposure", host="0.0.0.0")

    assert named in str(refusal.value)
    assert ("admin, planner, foreman, viewer" in str(refusal.value)) is not passwords_changed


def test_two_works_of_the_demo_check_by_hand_on_the_morning_after():
    """The МСГ of December, laid around 7 December 2026 and read on the 8th, against the
    reports (the check a planner makes on day one; the session note has the working).

    4.1: 540 m³, 28.10–11.12, 164 planned in December over 10 working days (5 December is a
    worked Saturday): 16.4 a day; 281.6 done before December, 69.8 in it. 7.2: 240 m, ended
    29.11 with 174.8 done: carried over, 65.2 left, 17 working days to the month's end."""
    from progress.selectors import month_grid

    demo_seed(today=datetime.date(2026, 12, 7))
    grid = month_grid(month=datetime.date(2026, 12, 1), today=datetime.date(2026, 12, 8))
    rows = {row.task.code: row for section in grid.sections for row in section.rows}
    walls, water = rows["4.1"], rows["7.2"]

    assert {cell.plan for cell in walls.cells if cell.plan} == {Decimal("16.4")}
    assert (walls.fact_before_month, walls.fact) == (Decimal("281.6"), Decimal("69.8"))
    # Plan to date: 1–5 and 7 December, 6 × 16.4; 69.8 − 98.4 = −28.6, 1.7 days' plan.
    assert (walls.plan_to_date, walls.deviation_to_date, walls.deviation_days) == (
        Decimal("98.4"),
        Decimal("-28.6"),
        Decimal("-1.7"),
    )
    # 94.2 of the month's plan left over 8–11 December: 23.55, up to 0.1 (m³): 23.6.
    assert (walls.remaining, walls.days_left, walls.needed_per_day) == (
        Decimal("94.2"),
        4,
        Decimal("23.6"),
    )
    # 540 − 351.4 = 188.6 by the 11th: 47.15 → 47.2 a day; at the last ten report days' 13.58
    # a day, 14 working days: the 25th, 10 working days late.
    assert (walls.remaining_total, walls.needed_per_day_to_finish) == (
        Decimal("188.6"),
        Decimal("47.2"),
    )
    forecast = walls.forecast
    assert (forecast.rate, forecast.finish, forecast.days_late, forecast.is_late) == (
        Decimal("13.58"),
        datetime.date(2026, 12, 25),
        10,
        True,
    )
    assert (water.is_carried_over, water.overdue_since) == (True, datetime.date(2026, 11, 30))
    assert (water.plan, water.plan_to_date, water.fact, water.deviation_to_date) == (
        Decimal("65.2"),
        Decimal("65.2"),
        Decimal(0),
        Decimal("-65.2"),
    )
    # 8–11, 14–18, 21–25, 28–30 December (the 31st is off): 17 days; 65.2 / 17 = 3.835 → 3.9.
    assert (water.days_left, water.needed_per_day, water.needed_per_day_to_finish) == (
        17,
        Decimal("3.9"),
        Decimal("3.9"),
    )
    assert (water.forecast.rate, water.forecast.finish, water.forecast.days_late) == (
        Decimal("9.59"),
        datetime.date(2026, 12, 16),
        14,
    )


def test_each_report_s_history_names_its_author_and_the_daily_page():
    demo_seed(today=TODAY)

    reports = Change.objects.filter(stream="daily_works", kind=Change.CREATED)
    authors = dict(DailyWork.objects.values_list("pk", "created_by_id"))
    assert reports.count() == len(authors)
    assert {(c.actor_id == authors[c.object_id], c.via) for c in reports} == {(True, "daily")}
