import datetime
from decimal import Decimal

import factory

from monthly.models import MonthlyTask
from schedule.tests.factories import TaskFactory


class MonthlyTaskFactory(factory.django.DjangoModelFactory):
    task = factory.SubFactory(TaskFactory)
    month = datetime.date(2026, 11, 1)
    volume_plan = Decimal("40.000")

    class Meta:
        model = MonthlyTask
