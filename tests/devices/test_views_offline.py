"""Know before typing, through Django's test client and the simulator: the device page shows
the platform's live status (loaded after the page, shared, "unknown" when the platform fails),
explains an online device and offers "send it when the old unit goes offline"; the swap page
shows the waiting swap, its cancel button and the end of a wait that ran out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from devices.models import Swap, SwapState
from tests.devices.swap_support import offline_device
from tests.devices.test_views import HTMX, swap_form
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

GET_DEVICE_PATH = "/iocm/app/dm/v1.4.0/devices/"


@pytest.fixture
def field(client: Any) -> Any:
    user = UserFactory(field_service=True, username="field-tech")
    client.force_login(user)
    return user


@pytest.fixture
def online(sim: Any, platform_settings: Any) -> Any:
    """Mirrored as offline (the last sync), but its old unit is attached again: ONLINE live."""
    device = offline_device(sim)
    sim.set_device(device.device_id, status="ONLINE")
    return device


def get_device_calls(sim: Any, device: Any) -> int:
    return sum(
        1
        for c in sim.calls()
        if c["method"] == "GET" and c["path"] == GET_DEVICE_PATH + device.device_id
    )


def test_the_device_page_renders_without_asking_the_platform_and_loads_the_live_status(
    client: Any, field: Any, sim: Any, online: Any
) -> None:
    before = get_device_calls(sim, online)
    page = client.get(reverse("devices:device_detail", args=[online.pk])).content.decode()
    assert get_device_calls(sim, online) == before  # the page itself makes no platform call
    live_url = reverse("devices:device_live_status", args=[online.pk])
    assert f'hx-get="{live_url}"' in page
    assert "Asking the platform whether the device is online" in page
    assert "Send it when the old unit goes offline" not in page  # the mirror says offline

    partial = client.get(live_url, **HTMX).content.decode()
    assert get_device_calls(sim, online) == before + 1
    assert 'data-live-status="ONLINE"' in partial
    assert "The old unit is still connected" in partial
    # The form's choice arrives with it (out of band), before anything is typed.
    assert 'id="offline-wait" hx-swap-oob="true"' in partial
    assert "Send it when the old unit goes offline" in partial
    online.refresh_from_db()
    assert online.status == "ONLINE"  # the mirror learnt it

    # Shared: a colleague opening the page within the cache time costs no call, and the page
    # now shows the live status and the choice at once.
    colleague = UserFactory(field_service=True)
    client.force_login(colleague)
    page = client.get(reverse("devices:device_detail", args=[online.pk])).content.decode()
    assert 'data-live-status="ONLINE"' in page
    assert "Send it when the old unit goes offline" in page
    client.get(live_url, **HTMX)
    assert get_device_calls(sim, online) == before + 1


def test_the_live_status_is_unknown_when_the_platform_fails_and_the_page_still_works(
    client: Any, field: Any, sim: Any, online: Any
) -> None:
    sim.faults(mode="http500", path_contains="/devices/")
    response = client.get(reverse("devices:device_live_status", args=[online.pk]), **HTMX)
    assert response.status_code == 200
    text = response.content.decode()
    assert 'data-live-status="unknown"' in text
    assert "Live status unknown" in text
    assert "last known: offline" in text


def test_posting_with_the_wait_creates_a_waiting_swap_and_its_page_explains_it(
    client: Any, field: Any, sim: Any, online: Any
) -> None:
    data = swap_form(send_when_offline="on", offline_wait_minutes="60")
    response = client.post(reverse("devices:device_detail", args=[online.pk]), data)
    swap = Swap.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("devices:swap_detail", args=[swap.pk])
    assert swap.state == SwapState.WAITING_OFFLINE
    # The hour chosen, counted from the request (set a moment before the row's created_at).
    assert timedelta(minutes=59) < swap.offline_wait_until - swap.created_at <= timedelta(hours=1)

    page = client.get(response["Location"]).content.decode()
    assert "Waiting for the old unit to go offline" in page
    assert "Switch the old unit off or disconnect it" in page
    assert "Cancel this swap" in page
    assert 'hx-trigger="every 2s"' in page  # it polls for the code
    # The device page shows it as the open swap (no second form).
    device_page = client.get(reverse("devices:device_detail", args=[online.pk])).content.decode()
    assert f"Swap #{swap.pk} is open</strong> (waiting for the old unit to go offline)" in (
        device_page
    )
    assert 'id="swap-form"' not in device_page


def test_posting_without_the_wait_is_refused_and_the_form_offers_it(
    client: Any, field: Any, sim: Any, online: Any
) -> None:
    response = client.post(reverse("devices:device_detail", args=[online.pk]), swap_form(), **HTMX)
    text = response.content.decode()
    assert "Take the device offline" in text
    assert "Send it when the old unit goes offline" in text
    assert not Swap.objects.exists()


def test_a_wait_that_ran_out_ends_on_the_swap_page_with_a_clear_message(
    client: Any, field: Any, sim: Any, online: Any
) -> None:
    client.post(
        reverse("devices:device_detail", args=[online.pk]),
        swap_form(send_when_offline="on", offline_wait_minutes="15"),
    )
    swap = Swap.objects.get()
    Swap.objects.filter(pk=swap.pk).update(offline_wait_until=timezone.now() - timedelta(1))
    panel = client.get(reverse("devices:swap_detail", args=[swap.pk]), **HTMX).content.decode()
    assert "Not sent — the old unit stayed online" in panel
    assert "still online when the wait ended" in panel
    assert "Re-issue with the same inputs" in panel
    swap.refresh_from_db()
    assert swap.state == SwapState.CANCELLED


def test_a_wait_not_offered_in_the_presets_is_refused_on_the_form(
    client: Any, field: Any, sim: Any, online: Any
) -> None:
    data = swap_form(send_when_offline="on", offline_wait_minutes="9999")
    response = client.post(reverse("devices:device_detail", args=[online.pk]), data, **HTMX)
    assert "Select a valid choice" in response.content.decode()
    assert not Swap.objects.exists()
