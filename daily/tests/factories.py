import datetime
from decimal import Decimal

import factory

from daily.models import DailyWork
from schedule.tests.factories import TaskFactory


class DailyWorkFactory(factory.django.DjangoModelFactory):
    task = factory.SubFactory(TaskFactory)
    date = datetime.date(2026, 11, 25)
    volume = Decimal("5.000")
    description = ""

    class Meta:
        model = DailyWork
