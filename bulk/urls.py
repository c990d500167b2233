from django.urls import path

from . import views

app_name = "bulk"

urlpatterns = [
    path("", views.bulk_upload_view, name="upload"),
    path("<int:pk>/", views.batch_detail, name="batch"),
    path("<int:pk>/confirm/", views.batch_confirm, name="confirm"),
    path("<int:pk>/discard/", views.batch_discard, name="discard"),
    path("<int:pk>/retry/", views.batch_retry, name="retry"),
    path("<int:pk>/result.csv", views.batch_result_csv, name="result_csv"),
]
