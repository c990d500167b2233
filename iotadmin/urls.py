from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from iotadmin import views_health
from iotadmin.views_lockouts import unlock_view

handler500 = "iotadmin.outages.server_error"

urlpatterns = [
    path("healthz", views_health.healthz, name="healthz"),
    path("readyz", views_health.readyz, name="readyz"),
    path("metrics", views_health.metrics, name="metrics"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/unlock/", unlock_view, name="user_unlock"),
    path("admin/", admin.site.urls),
    path("bulk/", include("bulk.urls")),
    path("", include("devices.urls_push")),
    path("", include("devices.urls")),
    path("", include("reports.urls")),
]
if settings.IOTADMIN_BENCH_BARE_VIEW:
    urlpatterns.insert(0, path("bench/bare", views_health.bench_bare, name="bench_bare"))
