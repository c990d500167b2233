"""Supervisor pages, mounted at the site root by iotadmin/urls.py; names are reports:..."""

from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("history/", views.swap_history_view, name="swap_history"),
    path("history/export.csv", views.swap_history_export, name="swap_history_export"),
    path("summary/", views.swap_summary_view, name="swap_summary"),
    path("devices/<int:pk>/lineage/", views.device_lineage_view, name="device_lineage"),
]
