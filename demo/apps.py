from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    """Demo data and users for ``make run`` (``seed_demo``, ``check_demo_exposure``): above
    every other app, it writes tasks, plans and reports through their services."""

    name = "demo"
    verbose_name = _("Demo data")
