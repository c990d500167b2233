"""The approvals queue (four eyes); included from devices/urls.py, so names are devices:..."""

from django.urls import path

from devices import views_approvals

urlpatterns = [
    path("approvals/", views_approvals.approval_queue_view, name="approval_queue"),
    path("approvals/badge/", views_approvals.approval_badge_view, name="approval_badge"),
    path("approvals/<int:pk>/approve/", views_approvals.swap_approve_view, name="swap_approve"),
    path("approvals/<int:pk>/reject/", views_approvals.swap_reject_view, name="swap_reject"),
]
