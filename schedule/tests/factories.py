import datetime
from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth import get_user_model

from schedule.models import VOLUME_DECIMALS, Task, Unit


class UserFactory(factory.django.DjangoModelFactory):
    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct-horse-battery")

    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]


class TaskFactory(factory.django.DjangoModelFactory):
    code = factory.Sequence(lambda n: f"1.{n + 1}")
    name = factory.Sequence(lambda n: f"Work item {n + 1}")
    unit = "m³"
    volume_plan = Decimal("100.000")
    start_date = datetime.date(2026, 11, 1)
    end_date = datetime.date(2026, 12, 31)

    class Meta:
        model = Task

    @classmethod
    def _create(cls, model_class: type[Task], *args: Any, **kwargs: Any) -> Task:
        """A task's unit is one kept in admin: a unit a test names exists, shown with all the
        stored decimals unless the test sets it up otherwise."""
        Unit.objects.get_or_create(name=kwargs["unit"], defaults={"decimals": VOLUME_DECIMALS})
        return super()._create(model_class, *args, **kwargs)
