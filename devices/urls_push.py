"""The platform's callback URL; the lead includes it at the site root."""

from django.urls import path

from devices.push import platform_push

urlpatterns = [
    path("platform/push/<str:secret>/", platform_push, name="platform_push"),
]
