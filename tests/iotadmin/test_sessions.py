"""Idle sessions end after SESSION_IDLE_TIMEOUT_MINUTES, htmx partial requests included."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from iotadmin.sessions import LAST_SEEN_KEY
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    client.force_login(UserFactory(field_service=True))
    assert client.get(reverse("devices:device_list")).status_code == 200
    return client


def _idle_for(client, minutes):
    session = client.session
    session[LAST_SEEN_KEY] = (timezone.now() - timedelta(minutes=minutes)).timestamp()
    session.save()


def test_a_recently_active_session_stays(signed_in):
    _idle_for(signed_in, 29)
    assert signed_in.get(reverse("devices:device_list")).status_code == 200


def test_an_idle_session_is_signed_out(signed_in):
    _idle_for(signed_in, 31)
    response = signed_in.get(reverse("devices:device_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_an_idle_session_is_signed_out_on_an_htmx_partial_too(signed_in):
    _idle_for(signed_in, 31)
    response = signed_in.get(reverse("devices:device_list"), HTTP_HX_REQUEST="true")
    assert response.status_code != 200
    assert "_auth_user_id" not in signed_in.session


def test_supervisors_may_get_a_shorter_limit(client, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    settings.SESSION_IDLE_TIMEOUT_SUPERVISOR_MINUTES = 10
    client.force_login(UserFactory(supervisor=True))
    client.get("/")
    _idle_for(client, 11)
    client.get("/")
    assert "_auth_user_id" not in client.session
