from django.urls import path

from . import views

app_name = "daily"

urlpatterns = [
    path("", views.day_view, name="day"),
    path("export/", views.day_export_view, name="day_export"),
    path("works/new/", views.daily_work_create_view, name="daily_work_create"),
    path("works/<int:pk>/edit/", views.daily_work_update_view, name="daily_work_update"),
    path("works/<int:pk>/delete/", views.daily_work_delete_view, name="daily_work_delete"),
]
