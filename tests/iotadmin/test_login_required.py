"""iotadmin.login_required.LoginRequiredMiddleware: Django's login requirement, asking the view
first, so that probes and the push endpoint load no session and no user."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_login_not_required_view_loads_no_session_or_user_for_a_signed_in_client(client):
    client.force_login(UserFactory(role="field_service", password=None))
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert captured.captured_queries == []


def test_an_anonymous_request_is_still_sent_to_the_login_page(client):
    response = client.get(reverse("devices:device_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_signed_in_user_still_reaches_the_page(client):
    client.force_login(UserFactory(role="field_service", password=None))
    assert client.get(reverse("devices:device_list")).status_code == 200


HX = {"HTTP_HX_REQUEST": "true"}


def test_an_anonymous_htmx_request_is_sent_to_the_login_page_and_back(client):
    url = reverse("devices:swap_detail", args=[7])
    response = client.get(url, HTTP_HX_CURRENT_URL="http://testserver/swaps/7/?tab=code", **HX)
    assert response.status_code == 401
    assert "Location" not in response
    assert response["HX-Redirect"] == "/login/?next=%2Fswaps%2F7%2F%3Ftab%3Dcode"
    assert b"<form" not in response.content  # nothing for htmx to swap into the panel


@pytest.mark.parametrize(
    "current",
    ["https://evil.example/swaps/7/", "//evil.example/x", "javascript:alert(1)", ""],
)
def test_the_htmx_login_redirect_keeps_only_a_same_origin_next(client, current):
    headers = {"HTTP_HX_CURRENT_URL": current} if current else {}
    response = client.post(reverse("devices:node_id_preview", args=[1]), **headers, **HX)
    assert response.status_code == 401
    assert response["HX-Redirect"] == "/login/"


def test_an_idle_htmx_session_is_sent_to_the_login_page_and_back(client, settings):
    from datetime import timedelta

    from django.utils import timezone

    from iotadmin.sessions import LAST_SEEN_KEY

    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    client.force_login(UserFactory(field_service=True))
    session = client.session
    session[LAST_SEEN_KEY] = (timezone.now() - timedelta(minutes=31)).timestamp()
    session.save()
    response = client.get(
        reverse("devices:device_list"), HTTP_HX_CURRENT_URL="http://testserver/devices/3/", **HX
    )
    assert response["HX-Redirect"] == "/login/?next=%2Fdevices%2F3%2F"
    assert "_auth_user_id" not in client.session
