from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import DefaultRouter

from daily.api import DailyWorkViewSet
from monthly.api import MonthlyTaskViewSet
from progress.api import MonthGridView, ProgressCurveView
from progress.views import progress_view
from realtime.views import metrics_view
from schedule.api import TaskViewSet
from scheduler_project import pwa
from scheduler_project.changes import change_list_view, object_changes_view
from scheduler_project.health import healthz, readyz

# The admin names the site, not Django: «График работ» in the tab, the header and the login.
admin.site.site_title = _("Works schedule")
admin.site.site_header = _("Works schedule administration")

router = DefaultRouter()
router.register("tasks", TaskViewSet, basename="task")
router.register("monthly-tasks", MonthlyTaskViewSet, basename="monthly-task")
router.register("daily-works", DailyWorkViewSet, basename="daily-work")

api_patterns = [
    path(
        "schema/", SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]), name="schema"
    ),
    path(
        "docs/",
        # The split view serves Swagger UI's start-up script as a file (?script), and the
        # template's inline style lives in a static file: both pass the CSP.
        SpectacularSwaggerSplitView.as_view(
            url_name="api:schema",
            permission_classes=[IsAuthenticated],
            template_name="api/swagger_ui.html",
        ),
        name="docs",
    ),
    path("progress/month/", MonthGridView.as_view(), name="progress-month"),
    path("progress/curve/", ProgressCurveView.as_view(), name="progress-curve"),
    *router.urls,
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("api/", include((api_patterns, "api"))),
    path("metrics", metrics_view, name="metrics"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # The installable app (scheduler_project/pwa.py): the worker's scope is the whole site.
    path(
        "",
        include(
            (
                [
                    path("sw.js", pwa.service_worker, name="service_worker"),
                    path("manifest.webmanifest", pwa.manifest, name="manifest"),
                    path("offline/", pwa.offline, name="offline"),
                    path("offline/shell.json", pwa.shell, name="shell"),
                ],
                "pwa",
            )
        ),
    ),
    path("", include("schedule.urls")),
    path("monthly/", include("progress.urls")),
    path("daily/", include("daily.urls")),
    path(
        "changes/",
        include(
            (
                [
                    path("", change_list_view, name="list"),
                    path("<str:stream>/<int:object_id>/", object_changes_view, name="object"),
                ],
                "changes",
            )
        ),
    ),
    path("progress/", include(([path("", progress_view, name="page")], "progress"))),
]
