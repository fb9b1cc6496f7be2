import datetime

import pytest

from monthly.selectors import monthly_order, monthly_task_list
from schedule.tests.factories import TaskFactory

from .factories import MonthlyTaskFactory

pytestmark = pytest.mark.django_db

NOV_1 = datetime.date(2026, 11, 1)
CODES = ["10.1", "2.1", "1.10", "1.2"]
NATURAL_ORDER = ["1.2", "1.10", "2.1", "10.1"]


def test_the_monthly_order_lists_tasks_in_natural_order_of_codes():
    for index, code in enumerate(CODES):
        task = TaskFactory(code=code)
        if index % 2:
            MonthlyTaskFactory(task=task, month=NOV_1)

    assert [row.task.code for row in monthly_order(month=NOV_1)] == NATURAL_ORDER


def test_monthly_task_list_puts_task_codes_in_natural_order_within_a_month():
    for code in CODES:
        MonthlyTaskFactory(task=TaskFactory(code=code), month=NOV_1)

    assert [plan.task.code for plan in monthly_task_list()] == NATURAL_ORDER
