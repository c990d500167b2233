"""A short form on a 390x844 phone (issue 10, problem 7): the identifier field and the button on
the first screen, the device's facts folded away, kind, chip maker and code inferred and shown in
one line with "Change", and the validity chosen in minutes (sent to the platform in seconds)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from devices.models import Swap, VerifyCodeMode
from tests.browser.conftest import PASSWORD
from tests.browser.test_swap_flow import new_imei
from tests.factories import DeviceFactory
from tests.support.browser import PHONE, log_in, phone_shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FIRST_SCREEN = """el => {
    const r = el.getBoundingClientRect();
    return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight;
}"""


def on_first_screen(locator: Any) -> bool:
    return bool(locator.evaluate(FIRST_SCREEN))


def open_on_a_phone(page: Any, live_server: Any, device: Any) -> None:
    page.set_viewport_size(PHONE)
    log_in(page, live_server.url, "field_service", PASSWORD)
    page.goto(f"{live_server.url}/devices/{device.pk}/")


def nbiot_meter() -> Any:
    """An NB-IoT meter (CoAP) whose nodeId is a bare IMEI, with every fact the page can show."""
    return DeviceFactory(
        node_id=new_imei(9101),
        protocol="CoAP",
        name="Water meter Elm Street 39",
        manufacturer="Acme",
        model="WM-NB 2",
        app_id="app-0123456789abcdef",
        status_detail="NONE",
    )


def test_on_a_phone_the_identifier_and_the_button_are_on_the_first_screen(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    device = nbiot_meter()
    open_on_a_phone(page, live_server, device)
    identifier = page.get_by_label("New unit's identifier")
    button = page.get_by_role("button", name="Request the new verifyCode")
    assert page.evaluate("window.scrollY") == 0
    assert on_first_screen(identifier)
    assert on_first_screen(button)
    # The platform's facts are folded away; the current unit's nodeId stays in their summary.
    facts = page.locator("#device-facts")
    assert facts.evaluate("d => d.tagName === 'DETAILS' && !d.open")
    assert page.get_by_text("Owning application").is_hidden()
    assert page.get_by_role("button", name="Refresh from the platform").is_hidden()
    assert device.node_id in facts.locator("summary").inner_text()
    phone_shot(page, "device-short-form")
    facts.locator("summary").click()
    page.get_by_text("Owning application").wait_for()
    assert not on_first_screen(button)  # unfolded, the facts push the form down again


def test_the_summary_shows_the_inferred_choices_and_change_reveals_them_in_plain_words(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    open_on_a_phone(page, live_server, nbiot_meter())
    summary = page.locator("#choices-summary")
    # Bare IMEI -> HiSilicon; CoAP -> the code is the IMEI; the usual validity, in minutes.
    assert summary.inner_text() == "IMEI · HiSilicon · code same as the IMEI · valid 3 min"
    assert on_first_screen(summary)
    mac_radio = page.get_by_role("radio", name="MAC address")
    assert mac_radio.is_hidden()
    assert page.get_by_role("radio", name="15 min", exact=True).is_hidden()

    page.locator("#form-choices summary", has_text="Change").click()
    assert mac_radio.is_visible()
    assert page.get_by_role("radio", name="IMEI", exact=True).is_checked()
    assert page.get_by_role("radio", name="HiSilicon: digits only").is_checked()
    assert page.get_by_role("radio", name="The code is the unit's own identifier").is_checked()
    assert page.get_by_role("radio", name="3 min", exact=True).is_checked()
    for minutes in (5, 15, 30, 60):
        assert page.get_by_role("radio", name=f"{minutes} min", exact=True).is_visible()
    text = page.locator("#swap-form").inner_text()
    for jargon in ("Agent Lite", "seconds", "Chipset", "chipset"):
        assert jargon not in text
    assert "who made the chip inside the unit" in page.locator("#chipset-field").inner_text()
    page.locator("#form-choices").evaluate("el => el.scrollIntoView()")
    phone_shot(page, "device-short-form-choices")

    page.locator("label.seg", has_text=re.compile(r"^15 min$")).click()
    assert summary.inner_text() == "IMEI · HiSilicon · code same as the IMEI · valid 15 min"
    minutes = page.get_by_label("Minutes (for “Other”)")
    assert minutes.is_hidden()
    page.locator("label.seg:has(input[name=validity][value=other])").click()
    minutes.fill("45")
    assert summary.inner_text().endswith("· valid 45 min")

    # What is typed decides the kind: a MAC switches it, and the summary follows.
    page.get_by_label("New unit's identifier").fill("aa-bb-cc-dd-ee-0f")
    page.locator("#kind-note", has_text="This looks like a MAC address").wait_for()
    assert summary.inner_text() == ("MAC address · code same as the MAC address · valid 45 min")


def test_the_validity_chosen_in_minutes_reaches_the_swap_in_seconds(
    page: Any, live_server: Any, sim: Any, platform_settings: Any, role_users: dict[str, Any]
) -> None:
    found = next(
        d
        for d in sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, nbiot=True)
        if d["nodeId"].removeprefix("urn:imei:").isdigit()
    )
    device = DeviceFactory.mirror(found, our_app_id=sim.app_id)
    open_on_a_phone(page, live_server, device)
    imei = new_imei(9102)
    page.get_by_label("New unit's identifier").fill(imei)
    page.locator("#node-preview .preview-ok", has_text=imei).wait_for()
    page.locator("#form-choices summary", has_text="Change").click()
    page.locator("label.seg", has_text=re.compile(r"^15 min$")).click()
    page.get_by_role("button", name="Request the new verifyCode").click()
    page.wait_for_url(f"{live_server.url}/swaps/*/")
    swap = Swap.objects.get(device=device)
    assert swap.timeout_seconds == 15 * 60
    assert swap.verify_code_mode == VerifyCodeMode.SAME_AS_NODE_ID  # inferred from CoAP/LwM2M
    assert swap.new_node_id.endswith(imei)
