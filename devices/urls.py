from django.urls import include, path

from . import views

app_name = "devices"

urlpatterns = [
    path("", views.device_list, name="device_list"),
    path("devices/<int:pk>/", views.device_detail, name="device_detail"),
    path("devices/<int:pk>/preview/", views.node_id_preview, name="node_id_preview"),
    path("devices/<int:pk>/take-over/", views.device_take_over, name="device_take_over"),
    path("devices/<int:pk>/ask-helpdesk/", views.device_ask_helpdesk, name="device_ask_helpdesk"),
    path("devices/<int:pk>/refresh/", views.device_refresh_view, name="device_refresh"),
    path("devices/<int:pk>/live/", views.device_live_status_view, name="device_live_status"),
    path("swaps/<int:pk>/", views.swap_detail, name="swap_detail"),
    path("swaps/<int:pk>/cancel/", views.swap_cancel_view, name="swap_cancel"),
    path("swaps/<int:pk>/reissue/", views.swap_reissue_view, name="swap_reissue"),
    path("swaps/<int:pk>/demo-bind/", views.swap_demo_bind, name="swap_demo_bind"),
    path("", include("devices.urls_approvals")),
]
