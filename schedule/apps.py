from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class ScheduleConfig(AppConfig):
    name = "schedule"
    verbose_name = _("Schedule")

    def ready(self) -> None:
        from .working_days import check_holidays_country

        checks.register(check_holidays_country)
