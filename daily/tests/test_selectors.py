import datetime
from decimal import Decimal

import pytest

from daily.selectors import daily_work_list, daily_work_totals_by_unit
from schedule.tests.factories import TaskFactory

from .factories import DailyWorkFactory

pytestmark = pytest.mark.django_db

NOV_25 = datetime.date(2026, 11, 25)


def test_daily_work_list_is_ordered_by_date_task_code_and_id():
    first_task, second_task = TaskFactory(code="1.1"), TaskFactory(code="1.2")
    later = DailyWorkFactory(task=first_task, date=datetime.date(2026, 11, 26))
    second = DailyWorkFactory(task=second_task, date=NOV_25)
    first_a = DailyWorkFactory(task=first_task, date=NOV_25)
    first_b = DailyWorkFactory(task=first_task, date=NOV_25)

    assert list(daily_work_list()) == [first_a, first_b, second, later]


def test_daily_work_list_reads_tasks_and_authors_in_the_same_query(
    django_assert_num_queries, foreman
):
    DailyWorkFactory.create_batch(3, created_by=foreman)

    with django_assert_num_queries(1):
        authors = [(work.task.code, work.created_by.username) for work in daily_work_list()]

    assert len(authors) == 3


def test_totals_by_unit_sum_the_days_volumes_per_unit():
    cubic = TaskFactory(unit="m³")
    tonnes = TaskFactory(unit="t")
    DailyWorkFactory(task=cubic, date=NOV_25, volume=Decimal("1.5"))
    DailyWorkFactory(task=TaskFactory(unit="m³"), date=NOV_25, volume=Decimal(2))
    DailyWorkFactory(task=tonnes, date=NOV_25, volume=Decimal("0.25"))
    DailyWorkFactory(task=tonnes, date=datetime.date(2026, 11, 26), volume=Decimal(100))

    assert daily_work_totals_by_unit(day=NOV_25) == [
        ("m³", Decimal("3.5")),
        ("t", Decimal("0.25")),
    ]


def test_totals_by_unit_of_a_day_without_works_are_empty():
    assert daily_work_totals_by_unit(day=NOV_25) == []


def test_daily_work_list_puts_task_codes_in_natural_order():
    for code in ["10.1", "2.1", "1.10", "1.2"]:
        DailyWorkFactory(task=TaskFactory(code=code), date=NOV_25)

    codes = [work.task.code for work in daily_work_list().on_date(NOV_25)]

    assert codes == ["1.2", "1.10", "2.1", "10.1"]
