from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class ProgressConfig(AppConfig):
    """The reporting layer: plan per day, forecasts, the МСГ grid, the S-curve, their pages,
    API, workbooks and template tags (docs/msg.md). It reads the schedule, the monthly plans
    and the daily reports; none of them imports it back."""

    name = "progress"
    verbose_name = pgettext_lazy("main menu", "Progress")
