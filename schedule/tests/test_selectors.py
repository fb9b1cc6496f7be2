import pytest

from schedule.selectors import task_list

from .factories import TaskFactory

pytestmark = pytest.mark.django_db


def test_task_list_puts_codes_in_natural_order():
    for code in ["10.1", "2.1", "1.10", "1.2"]:
        TaskFactory(code=code)

    assert [task.code for task in task_list()] == ["1.2", "1.10", "2.1", "10.1"]
