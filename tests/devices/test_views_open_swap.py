"""The device page when someone else's swap is open: who, what state, and what this person can
do (open it, take it over, ask the helpdesk); never its code or its id to someone who may not
open it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditAction, AuditEvent
from devices.models import Swap, SwapState
from tests.devices.test_views import CODE, HTMX, mirror_of, swap_form
from tests.factories import SwapFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def field(client: Any) -> Any:
    user = UserFactory(field_service=True, username="field-tech")
    client.force_login(user)
    return user


def colleagues_swap(**kw: Any) -> Swap:
    colleague = UserFactory(field_service=True, first_name="Ada", last_name="Field")
    return SwapFactory(requested_by=colleague, **kw)


def test_device_page_shows_a_colleagues_open_swap_without_its_code_or_id(
    client: Any, field: Any
) -> None:
    swap = colleagues_swap(issued=True, verify_code=CODE)
    response = client.get(reverse("devices:device_detail", args=[swap.device.pk]))
    text = response.content.decode()
    assert response.context["open_swap"] == swap
    assert "A colleague's swap is open on this device" in text
    assert "(code issued), requested by Ada Field" in text
    assert CODE not in text
    assert f"#{swap.pk}" not in text
    assert f"/swaps/{swap.pk}/" not in text
    assert "No swaps yet" not in text  # the list holds only the swaps this person may open
    assert "None that you can open" in text
    assert 'name="confirm"' in text
    assert reverse("devices:device_take_over", args=[swap.device.pk]) in text
    assert reverse("devices:device_ask_helpdesk", args=[swap.device.pk]) in text
    assert 'id="swap-form"' not in text


def test_helpdesk_sees_the_swap_and_a_link_to_it(client: Any) -> None:
    swap = colleagues_swap(queued=True)
    client.force_login(UserFactory(helpdesk=True))
    text = client.get(reverse("devices:device_detail", args=[swap.device.pk])).content.decode()
    assert f'href="/swaps/{swap.pk}/"' in text
    assert "requested by Ada Field" in text


def test_a_supervisor_sees_the_swap_but_no_take_over(client: Any) -> None:
    swap = colleagues_swap(queued=True)
    client.force_login(UserFactory(supervisor=True))
    text = client.get(reverse("devices:device_detail", args=[swap.device.pk])).content.decode()
    assert f'href="/swaps/{swap.pk}/"' in text
    assert 'name="confirm"' not in text
    assert "Ask the helpdesk" not in text
    url = reverse("devices:device_take_over", args=[swap.device.pk])
    assert client.post(url, {"confirm": "1"}).status_code == 403
    assert Swap.objects.get(pk=swap.pk).state == SwapState.QUEUED


def test_take_over_needs_the_confirmation(client: Any, field: Any) -> None:
    swap = colleagues_swap(queued=True)
    url = reverse("devices:device_take_over", args=[swap.device.pk])
    response = client.post(url, follow=True)
    assert "Tick “I take over this swap” to confirm" in response.content.decode()
    assert Swap.objects.get(pk=swap.pk).state == SwapState.QUEUED
    assert Swap.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_take_over_from_the_device_page(client: Any, sim: Any, platform_settings: Any) -> None:
    user = UserFactory(field_service=True)
    client.force_login(user)
    device = mirror_of(sim.devices(status="OFFLINE", activated=True, nbiot=False, limit=1)[0], sim)
    old = colleagues_swap(queued=True, device=device, lane="bulk")
    text = client.get(reverse("devices:device_detail", args=[device.pk])).content.decode()
    assert "A bulk swap is open on this device" in text
    url = reverse("devices:device_take_over", args=[device.pk])
    response = client.post(url, {"confirm": "1"})
    new = Swap.objects.exclude(pk=old.pk).get()
    assert response.status_code == 302
    assert response.url == reverse("devices:swap_detail", args=[new.pk])
    assert new.requested_by == user
    assert Swap.objects.get(pk=old.pk).state == SwapState.CANCELLED


def test_ask_the_helpdesk_with_one_tap(client: Any, field: Any) -> None:
    swap = colleagues_swap(queued=True)
    url = reverse("devices:device_ask_helpdesk", args=[swap.device.pk])
    response = client.post(url, follow=True)
    text = response.content.decode()
    assert "Helpdesk asked" in text
    assert 'id="help-asked"' in text
    assert "Ask the helpdesk</button>" not in text
    event = AuditEvent.objects.get(action=AuditAction.HELP_REQUESTED)
    assert event.swap_id == swap.pk
    assert event.actor == field


@pytest.mark.django_db(transaction=True)
def test_the_refusal_never_names_a_swap_the_reader_cannot_open(
    client: Any, sim: Any, platform_settings: Any
) -> None:
    client.force_login(UserFactory(field_service=True))
    device = mirror_of(sim.devices(status="OFFLINE", activated=True, limit=1)[0], sim)
    url = reverse("devices:device_detail", args=[device.pk])
    response = client.get(url)
    swap = colleagues_swap(queued=True, device=device)  # opened while this person types
    for extra in ({}, HTMX):
        response = client.post(url, swap_form(), **extra)
        text = response.content.decode()
        assert response.status_code == 200
        assert "A colleague (Ada Field) has an open swap on this device" in text
        assert not re.search(rf"#\s*{swap.pk}\b", text)
        assert f"/swaps/{swap.pk}/" not in text
    assert Swap.objects.count() == 1
