"""Identifier input that forgives the label, not the digits, on a 390x844 phone (issue 10,
problems 4 and 9): a wrong check digit is refused without naming the expected digit; label
captions, a /NN software version, dots and spaces are accepted; a MAC typed while "IMEI" is
chosen switches the kind with a visible note; Scan shows without BarcodeDetector."""

from __future__ import annotations

import re
from typing import Any

import pytest

from devices.identifiers import luhn_check_digit
from devices.models import Swap
from tests.browser.test_short_form import on_first_screen, open_on_a_phone
from tests.browser.test_swap_flow import NO_BARCODE_DETECTOR, new_imei
from tests.factories import DeviceFactory
from tests.support.browser import phone_shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

READ_AGAIN = "read the number again from the label"


def label_imei() -> str:
    """An IMEI as labels print them: starting 35."""
    body = "35209210123456"
    return body + str(luhn_check_digit(body))


def test_a_wrong_check_digit_names_no_digit_and_sends_the_eyes_back_to_the_label(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    device = DeviceFactory(node_id=new_imei(9201))  # a bare IMEI: HiSilicon, nothing to choose
    open_on_a_phone(page, live_server, device)
    good = label_imei()
    wrong = good[:-1] + str((int(good[-1]) + 4) % 10)
    identifier = page.get_by_label("New unit's identifier")
    identifier.fill(wrong)
    preview = page.locator("#node-preview .preview-error", has_text="check digit does not match")
    preview.wait_for()
    messages = [preview.inner_text()]  # the live check, then the refused submit
    page.get_by_role("button", name="Request the new verifyCode").click()
    field_error = page.locator("#identifier-error")
    field_error.wait_for()
    messages += [field_error.inner_text()]
    messages += [page.locator("#swap-form-errors .error-list li").inner_text()]
    for text in messages:
        assert READ_AGAIN in text
        # Naming the expected digit takes a digit: there is none, not even the one typed.
        assert re.search(r"\d", text) is None, text
    assert identifier.input_value() == wrong  # nothing "corrected" it either
    assert identifier.get_attribute("aria-invalid") == "true"
    assert not Swap.objects.exists()
    phone_shot(page, "device-check-digit-error")


def test_label_captions_software_versions_dots_and_spaces_are_read_as_the_imei(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    device = DeviceFactory(node_id=new_imei(9202))  # HiSilicon: the nodeId is the bare IMEI
    open_on_a_phone(page, live_server, device)
    imei = label_imei()
    grouped_dots = f"{imei[:2]}.{imei[2:8]}.{imei[8:14]}.{imei[14]}"
    grouped_spaces = grouped_dots.replace(".", " ")
    identifier = page.get_by_label("New unit's identifier")
    idle = page.locator("#node-preview .preview-idle")
    for typed in (
        f"IMEI: {imei}",
        f"IMEI {imei}",
        f"{imei}/01",
        grouped_dots,
        grouped_spaces,
        f"IMEI: {grouped_spaces} / 02",
    ):
        identifier.fill("")
        idle.wait_for()  # the previous answer is gone before the next is read
        identifier.fill(typed)
        page.locator("#node-preview .preview-ok code", has_text=re.compile(rf"^{imei}$")).wait_for()
        assert page.locator("#node-preview .preview-error").count() == 0, typed
        assert page.locator("#kind-note").is_hidden(), typed  # it was an IMEI all along
    phone_shot(page, "device-label-imei-accepted")


def test_an_imei_typed_as_on_the_label_is_the_one_sent(
    page: Any,
    live_server: Any,
    sim: Any,
    platform_settings: Any,
    role_users: dict[str, Any],
    offline_device: Any,
) -> None:
    open_on_a_phone(page, live_server, offline_device)
    imei = label_imei()
    page.get_by_label("New unit's identifier").fill(f"IMEI: {imei[:2]}.{imei[2:8]}.{imei[8:]}/01")
    page.locator("#node-preview .preview-ok", has_text=imei).wait_for()
    page.get_by_role("button", name="Request the new verifyCode").click()
    page.wait_for_url(f"{live_server.url}/swaps/*/")
    prefix = "urn:imei:" if offline_device.node_id.startswith("urn:imei:") else ""
    assert Swap.objects.get(device=offline_device).new_node_id == prefix + imei


def test_a_mac_typed_while_imei_is_chosen_switches_the_kind_with_a_note_in_view(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    device = DeviceFactory(node_id=new_imei(9203))
    open_on_a_phone(page, live_server, device)
    assert page.locator('input[name="kind"][value="imei"]').is_checked()
    page.get_by_label("New unit's identifier").fill("MAC: aa-bb-cc-dd-ee-0f")
    note = page.locator("#kind-note", has_text="This looks like a MAC address: kind set to MAC.")
    note.wait_for()
    assert on_first_screen(note)
    assert page.locator('input[name="kind"][value="mac"]').is_checked()
    assert page.locator("#choices-summary").inner_text().startswith("MAC address · ")
    page.locator("#node-preview .preview-ok", has_text="AA:BB:CC:DD:EE:0F").wait_for()
    phone_shot(page, "device-mac-switches-kind")


def test_an_imei_typed_for_a_mac_device_switches_and_asks_who_made_the_chip(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    device = DeviceFactory(node_id="AA:BB:CC:DD:EE:01")
    open_on_a_phone(page, live_server, device)
    assert page.locator("#choices-summary").inner_text().startswith("MAC address · ")
    page.get_by_label("New unit's identifier").fill(label_imei())
    page.locator("#kind-note", has_text="This looks like an IMEI: kind set to IMEI.").wait_for()
    # The chip maker cannot be read from the number: the choices open on that question.
    page.locator("#form-choices[open]").wait_for()
    assert page.locator("#chipset-field").is_visible()
    assert "chip maker not known" in page.locator("#choices-summary").inner_text()
    page.locator("label.seg", has_text="HiSilicon").click()
    page.locator(
        "#node-preview .preview-ok code", has_text=re.compile(rf"^{label_imei()}$")
    ).wait_for()
    assert page.locator("#choices-summary").inner_text().startswith("IMEI · HiSilicon · ")


def test_scan_shows_on_the_first_screen_without_barcode_detector(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    page.add_init_script(NO_BARCODE_DETECTOR)  # as on iPhone Safari and Firefox
    open_on_a_phone(page, live_server, DeviceFactory(node_id=new_imei(9204)))
    assert page.evaluate("'BarcodeDetector' in window") is False
    scan = page.get_by_role("button", name="Scan")
    scan.wait_for()
    assert on_first_screen(scan)
    assert page.evaluate("typeof window.ZXing") == "undefined"  # the bundled decoder, on demand
    assert (
        page.locator("[data-decoder-src]")
        .get_attribute("data-decoder-src")
        .startswith("/static/vendor/zxing-library/")
    )
