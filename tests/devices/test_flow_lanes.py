"""The flow limiter's lanes seen from the swap services, the form and `rekey`: with the budget
saturated by bulk-lane calls, a person's swap is still created (on the mirror's state) and the
person is told about the queue; nothing claims a refused request will be sent."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from devices.models import Swap, SwapState
from devices.platform_wiring import get_client, reset_client
from iotadmin.celery import app as celery_app
from oceanconnect import Lane
from tests.devices.swap_support import offline_device, request
from tests.devices.test_views import swap_form
from tests.factories import UserFactory

LIMIT = 4


@pytest.fixture
def saturated(platform_settings):
    """Every slot of the window taken by bulk-lane calls (no interactive reserve configured,
    so bulk could take them all)."""
    platform_settings.IOT_FLOW_LIMIT_PER_MINUTE = LIMIT
    platform_settings.IOT_FLOW_RESERVE_INTERACTIVE = 0
    reset_client()
    limiter = get_client().limiter
    for _ in range(LIMIT):
        limiter.acquire(deadline=None, lane=Lane.BULK)
    assert get_client().flow_usage().lanes["bulk"] == LIMIT
    return platform_settings


@pytest.fixture
def device(sim, platform_settings):
    return offline_device(sim)


def platform_calls(sim):
    return [c for c in sim.calls() if c["path"] != "/simulator/bind"]


@pytest.mark.django_db
def test_the_live_check_under_a_saturated_budget_accepts_the_swap_on_the_mirror(
    sim, device, saturated
):
    before = len(platform_calls(sim))
    swap = request(device, UserFactory(field_service=True))
    assert swap.state == SwapState.QUEUED
    assert swap.lane == "interactive"
    assert "queued behind" in swap.precheck_notice
    assert "accepted on the device list's state" in swap.precheck_notice
    assert "will be sent automatically" not in swap.precheck_notice
    assert len(platform_calls(sim)) == before  # no slot: nothing was asked


@pytest.mark.django_db
def test_the_mirror_still_refuses_an_online_device_when_the_budget_is_saturated(
    sim, device, saturated
):
    from devices.services import SwapRefused

    device.status = "ONLINE"
    device.save()
    with pytest.raises(SwapRefused) as info:
        request(device, UserFactory(field_service=True))
    assert info.value.code == "device_online"
    assert not Swap.objects.exists()


@pytest.mark.django_db
def test_the_form_creates_the_swap_and_says_it_is_queued(client, sim, device, saturated):
    client.force_login(UserFactory(field_service=True))
    response = client.post(
        reverse("devices:device_detail", args=[device.pk]), swap_form(), follow=True
    )
    swap = Swap.objects.get()
    assert response.redirect_chain[-1][0] == reverse("devices:swap_detail", args=[swap.pk])
    page = response.content.decode()
    assert "queued behind" in page
    assert "this page shows what happens" in page


@pytest.mark.django_db(transaction=True)
def test_rekey_wait_creates_the_swap_and_shows_its_place_in_the_queue(
    sim, device, saturated, monkeypatch
):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)
    out = io.StringIO()
    with pytest.raises(CommandError) as info:
        call_command(
            "rekey",
            device.device_id,
            "--node-id",
            "862177041314827",
            "--chipset",
            "hisilicon",
            "--wait",
            "--wait-seconds",
            "1",
            stdout=out,
        )
    swap = Swap.objects.get()
    text = out.getvalue()
    assert f"Swap #{swap.pk} queued" in text
    assert "queued behind" in text
    assert "Waiting for a platform call slot (interactive lane)" in text
    assert "still waiting for a platform call slot" in str(info.value)
    assert "Is a Celery worker running?" not in str(info.value)
    swap.refresh_from_db()
    assert swap.state == SwapState.QUEUED
    assert swap.waiting_for_slot_until is not None


@pytest.mark.django_db
def test_the_swap_page_shows_the_wait_for_a_slot(client):
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import SwapFactory

    user = UserFactory(field_service=True)
    client.force_login(user)
    swap = SwapFactory(
        requested_by=user,
        lane="bulk",
        waiting_for_slot_until=timezone.now() + timedelta(seconds=31),
        slot_position=3,
    )
    page = client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()
    assert "Waiting for a platform call slot (bulk lane): 3 calls ahead, about 3" in page
    Swap.objects.filter(pk=swap.pk).update(state=SwapState.CODE_ISSUED)
    swap.refresh_from_db()
    from devices.selectors import swap_slot_wait

    assert swap_slot_wait(swap=swap) == ""  # only while queued


@pytest.mark.django_db
def test_the_device_page_shows_freshness_and_refreshes_from_the_platform(client, sim, device):
    client.force_login(UserFactory(field_service=True))
    url = reverse("devices:device_detail", args=[device.pk])
    assert "Refresh from the platform" in client.get(url).content.decode()
    sim.set_device(device.device_id, status="ONLINE")
    response = client.post(reverse("devices:device_refresh", args=[device.pk]), follow=True)
    assert "Refreshed from the platform just now." in response.content.decode()
    device.refresh_from_db()
    assert device.status == "ONLINE"
    assert device.last_synced_at is not None
