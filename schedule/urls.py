from django.urls import path

from . import views

app_name = "schedule"

urlpatterns = [
    path("", views.task_list_view, name="task_list"),
    path("tasks/export/", views.task_export_view, name="task_export"),
    path("tasks/new/", views.task_create_view, name="task_create"),
    path("tasks/<int:pk>/edit/", views.task_update_view, name="task_update"),
    path("tasks/<int:pk>/delete/", views.task_delete_view, name="task_delete"),
    path("import/", views.task_import_view, name="import"),
    path("import/template.xlsx", views.task_import_template_view, name="import_template"),
]
