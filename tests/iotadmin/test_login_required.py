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
