"""Supervisor pages, included into the devices namespace by devices/urls.py."""

from django.urls import path

from . import views_reports

urlpatterns = [
    path("history/", views_reports.swap_history_view, name="swap_history"),
    path("history/export.csv", views_reports.swap_history_export, name="swap_history_export"),
    path("summary/", views_reports.swap_summary_view, name="swap_summary"),
    path("devices/<int:pk>/lineage/", views_reports.device_lineage_view, name="device_lineage"),
]
