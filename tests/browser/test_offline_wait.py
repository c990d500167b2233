"""Know before typing, on a 390x844 phone, end to end: the live server, the simulator (which
pushes deviceInfoChanged to our push endpoint) and a real Celery worker. A technician opens a
device whose old unit is still online, is told so before typing, asks for the swap to be sent
when the old unit goes offline, and sees the code the moment the simulator switches the device
offline (issue 10, "Know before typing" and problem 3)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from audit.models import AuditAction, AuditEvent
from devices.identifiers import luhn_check_digit
from devices.models import Device, Swap, SwapState
from tests.browser.conftest import PASSWORD
from tests.browser.test_swap_flow import fill_new_imei
from tests.factories import DeviceFactory
from tests.support.browser import PHONE, log_in, phone_shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CODE_PANEL_TIMEOUT = 30_000  # ms: the push, the worker's two tasks and the panel's poll


def new_imei(seed: int) -> str:
    body = f"8697{seed:010d}"
    return body + str(luhn_check_digit(body))


@pytest.fixture
def online_device(sim: Any, platform_settings: Any) -> Device:
    """An activated IMEI device of our app that presents its verifyCode, whose old unit is
    attached (ONLINE on the platform) while the last sync saw it offline."""
    for candidate in sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, nbiot=False):
        bare = candidate["nodeId"].removeprefix("urn:imei:")
        if len(bare) == 15 and bare.isdigit():
            device = DeviceFactory.mirror(candidate, our_app_id=sim.app_id)
            sim.set_device(device.device_id, status="ONLINE")
            return device
    raise AssertionError("the simulator's seed has no offline IMEI device")


def open_on_phone(page: Any, live_server: Any, device: Device) -> None:
    page.set_viewport_size(PHONE)
    log_in(page, live_server.url, "field_service", PASSWORD)
    page.goto(f"{live_server.url}/devices/{device.pk}/")


def test_an_online_device_is_explained_before_the_form_is_filled(
    page: Any, live_server: Any, sim: Any, role_users: dict[str, Any], online_device: Device
) -> None:
    """Problem 3: the page says the old unit is online and what to do before anything is
    typed, on the first screen, and offers the wait; nothing is refused after the fact."""
    open_on_phone(page, live_server, online_device)
    live = page.locator('#live-status[data-live-status="ONLINE"]')
    live.wait_for()
    assert "The old unit is still connected" in live.inner_text()
    assert "Switch the old unit off or disconnect it" in live.inner_text()
    page.locator("#device-status-badge", has_text="Online").wait_for()  # was the sync's Offline
    box = live.bounding_box()
    assert box is not None and box["y"] < PHONE["height"]  # on the first screen
    choice = page.get_by_label("Send it when the old unit goes offline")
    choice.wait_for()
    assert not choice.is_checked()
    assert page.get_by_label("New unit's identifier").input_value() == ""
    assert page.locator("#swap-form .alert").count() == 0  # explained, not refused
    assert not Swap.objects.exists()
    phone_shot(page, "device-online-explained")


def test_send_when_offline_shows_the_code_when_the_simulator_takes_the_device_offline(
    page: Any,
    live_server: Any,
    sim: Any,
    platform_settings: Any,
    celery_worker_process: Any,
    pushes_to_live_server: str,
    role_users: dict[str, Any],
    online_device: Device,
) -> None:
    open_on_phone(page, live_server, online_device)
    page.locator('#live-status[data-live-status="ONLINE"]').wait_for()

    imei = new_imei(online_device.pk)
    fill_new_imei(page, imei)
    page.locator("label.seg", has_text="HiSilicon").click()
    page.get_by_label("Send it when the old unit goes offline").check()
    assert page.get_by_label("Wait at most").input_value() == "30"  # the default
    page.get_by_label("Wait at most").select_option("60")
    page.get_by_role("button", name="Request the new verifyCode").click()

    page.wait_for_url(re.compile(rf"{live_server.url}/swaps/\d+/$"))
    panel = page.locator("#code-panel")
    panel.get_by_text("Waiting for the old unit to go offline").wait_for()
    swap = Swap.objects.get(device=online_device)
    assert swap.state == SwapState.WAITING_OFFLINE
    assert sim.device(online_device.device_id)["binding"] is None  # nothing sent yet
    phone_shot(page, "swap-waiting-offline")

    # The old unit is switched off: the platform pushes deviceInfoChanged (OFFLINE).
    sim.set_device(online_device.device_id, status="OFFLINE")
    code_element = page.locator("#verify-code")
    code_element.wait_for(timeout=CODE_PANEL_TIMEOUT)
    binding = sim.device(online_device.device_id)["binding"]
    assert binding is not None
    assert code_element.inner_text().strip().lower() == binding["verifyCode"].lower()
    swap.refresh_from_db()
    assert swap.state == SwapState.CODE_ISSUED
    seen = AuditEvent.objects.get(action=AuditAction.SWAP_OFFLINE_SEEN, swap_id=swap.pk)
    assert seen.after["seen_by"] == "deviceInfoChanged push"
    phone_shot(page, "swap-sent-when-offline")
