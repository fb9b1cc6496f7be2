from django.urls import path

from . import msg_views as views

# The МСГ kept its address and URL names (``monthly:order`` …) when it moved here.
app_name = "monthly"

urlpatterns = [
    path("", views.order_view, name="order"),
    path("export/", views.order_export_view, name="order_export"),
    path("plans/", views.monthly_task_create_view, name="monthly_task_create"),
    path("plans/<int:pk>/", views.monthly_task_update_view, name="monthly_task_update"),
    path("plans/<int:pk>/delete/", views.monthly_task_delete_view, name="monthly_task_delete"),
    path("cell/", views.cell_view, name="cell"),
    path("cell/works/", views.cell_create_view, name="cell_create"),
    path("cell/works/<int:pk>/", views.cell_update_view, name="cell_update"),
]
