"""Outages answered honestly: a database or broker that cannot be reached is a 503 page."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import reverse
from kombu.exceptions import OperationalError as BrokerOperationalError

from tests.factories import DeviceFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
UNAVAILABLE = "The service is temporarily unavailable; your swap is safe. Try again in a minute."


@pytest.fixture
def field(client: Any) -> Any:
    user = UserFactory(field_service=True)
    client.force_login(user)
    return user


def database_down(*args: Any, **kwargs: Any) -> Any:
    raise OperationalError("could not connect to server: Connection refused")


def test_a_database_outage_in_a_view_is_a_503_page_and_the_same_request_works_after(
    client: Any, field: Any, monkeypatch: Any
) -> None:
    DeviceFactory(name="Water meter 17")
    url = reverse("devices:device_list") + "?q=Water"
    with monkeypatch.context() as patch:
        patch.setattr("devices.views.device_search", database_down)
        response = client.get(url)

    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert UNAVAILABLE in response.content.decode()
    assert "<html" in response.content.decode()
    assert client.get(url).status_code == 200


def test_an_htmx_request_gets_a_small_503_fragment(client: Any, field: Any, monkeypatch: Any):
    monkeypatch.setattr("devices.views.device_search", database_down)

    response = client.get(reverse("devices:device_list") + "?q=x", **HTMX)

    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    body = response.content.decode()
    assert UNAVAILABLE in body
    assert "<html" not in body


def test_a_broker_outage_in_a_view_is_a_503(client: Any, field: Any, monkeypatch: Any) -> None:
    def broker_down(*args: Any, **kwargs: Any) -> Any:
        raise BrokerOperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr("devices.views.device_search", broker_down)

    response = client.get(reverse("devices:device_list") + "?q=x")

    assert response.status_code == 503
    assert UNAVAILABLE in response.content.decode()


def test_a_database_outage_before_the_view_is_a_503_too(field: Any, monkeypatch: Any) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(field)
    url = reverse("devices:device_list")
    with monkeypatch.context() as patch:
        # The session is read by middleware, before any view runs.
        patch.setattr("django.contrib.sessions.backends.db.SessionStore.load", database_down)
        response = client.get(url)

    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert UNAVAILABLE in response.content.decode()
    assert client.get(url).status_code == 200


def test_other_errors_stay_500(field: Any, monkeypatch: Any) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(field)

    def bug(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("a bug")

    monkeypatch.setattr("devices.views.device_search", bug)

    response = client.get(reverse("devices:device_list") + "?q=x")

    assert response.status_code == 500
    assert "Retry-After" not in response
