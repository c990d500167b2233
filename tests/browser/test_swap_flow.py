"""The swap workflow in a real browser (Debian's Chromium through Playwright) against the live
server, the simulator and a real Celery worker: what a technician, the helpdesk and a
supervisor see. Screenshots of each main page go to artifacts/screenshots/."""

from __future__ import annotations

import re
from typing import Any

import pytest

from devices.identifiers import luhn_check_digit
from devices.models import Swap, SwapState
from tests.browser.conftest import PASSWORD
from tests.factories import DeviceFactory, SwapFactory
from tests.support.browser import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CODE_PANEL_TIMEOUT = 30_000  # ms: the worker picks the task up and calls the simulator


def new_imei(seed: int) -> str:
    body = f"8698{seed:010d}"
    return body + str(luhn_check_digit(body))


def bare_imei(node_id: str) -> str:
    return node_id.removeprefix("urn:imei:")


def open_device_by_search(page: Any, live_server: Any, device: Any, typed: str) -> None:
    search = page.get_by_label("IMEI, MAC, nodeId, deviceId or name")
    search.fill(typed)
    page.locator("#device-results", has_text=f"Devices matching “{typed}”").wait_for()
    results = page.locator("#device-results .device-link")
    results.first.wait_for()
    assert results.count() == 1
    assert device.name in results.first.inner_text()
    results.first.click()
    page.wait_for_url(f"{live_server.url}/devices/{device.pk}/")


def open_choices(page: Any) -> None:
    """Open the swap form's choices (kind, chip maker, code, validity) behind "Change"."""
    if page.locator("#form-choices[open]").count() == 0:
        page.locator("#form-choices > summary").click()
    page.locator("#form-choices[open]").wait_for()


def choose_minutes(page: Any, minutes: int) -> None:
    """A validity of `minutes`, typed under "Other"."""
    open_choices(page)
    page.locator("label.seg:has(input[name=validity][value=other])").click()
    page.get_by_label("Minutes (for “Other”)").fill(str(minutes))


def fill_new_imei(page: Any, imei: str) -> None:
    open_choices(page)
    page.locator("label.seg", has_text="IMEI").first.click()
    page.get_by_label("New unit's identifier").fill(imei)


def test_field_tech_swaps_a_unit_sees_the_code_count_down_and_the_bind(
    page: Any,
    live_server: Any,
    sim: Any,
    platform_settings: Any,
    celery_worker_process: Any,
    pushes_to_live_server: str,
    role_users: dict[str, Any],
    offline_device: Any,
) -> None:
    platform_settings.IOT_DEMO_MODE = True
    for n in range(3):
        DeviceFactory(name=f"Other meter {n}")
    page.goto(f"{live_server.url}/login/")
    screenshot(page, "login")
    log_in(page, live_server.url, "field_service", PASSWORD)
    assert "Field service" in page.locator(".topbar").inner_text()

    # Find the device by its IMEI, typed without urn:imei: (the search is live, via htmx).
    old_imei = bare_imei(offline_device.node_id)
    page.get_by_label("IMEI, MAC, nodeId, deviceId or name").fill(old_imei)
    page.locator("#device-results", has_text=f"Devices matching “{old_imei}”").wait_for()
    assert page.url == f"{live_server.url}/?q={old_imei}"  # the search is bookmarkable
    screenshot(page, "device-search")
    open_device_by_search(page, live_server, offline_device, old_imei)

    # The form shows the final nodeId live while typing.
    imei = new_imei(offline_device.pk)
    fill_new_imei(page, imei)
    page.locator("label.seg", has_text="Qualcomm").click()
    preview = page.locator("#node-preview")
    preview.get_by_text(f"urn:imei:{imei}").wait_for()
    page.locator("label.seg", has_text="HiSilicon").click()
    preview.locator("code", has_text=re.compile(rf"^{imei}$")).wait_for()
    page.get_by_label("Reason or ticket reference").fill("INC-4711 water damage")
    screenshot(page, "device-swap-form")

    page.get_by_role("button", name="Request the new verifyCode").click()
    page.wait_for_url(re.compile(rf"{live_server.url}/swaps/\d+/$"))
    swap = Swap.objects.get(device=offline_device)
    assert swap.new_node_id == imei  # HiSilicon: the bare IMEI

    # The worker calls the platform; the panel shows the code by itself.
    code_element = page.locator("#verify-code")
    code_element.wait_for(timeout=CODE_PANEL_TIMEOUT)
    shown_code = code_element.inner_text().strip()
    binding = sim.device(offline_device.device_id)["binding"]
    assert binding is not None
    assert shown_code.lower() == binding["verifyCode"].lower()
    assert shown_code not in page.url
    assert page.locator("#code-panel svg.qr").count() == 1

    # The countdown ticks down in the browser from the server's expiry time.
    countdown = page.locator(".countdown[data-seconds-left]")
    countdown.wait_for()
    first_left = int(countdown.get_attribute("data-seconds-left"))
    assert 0 < first_left <= 180
    assert re.fullmatch(r"0[0-3]:[0-5]\d", page.locator("[data-countdown-value]").inner_text())
    page.wait_for_function(
        "n => Number(document.querySelector('.countdown').dataset.secondsLeft) < n",
        arg=first_left,
    )
    screenshot(page, "swap-code-issued")

    # The trainer plugs the new unit in (demo mode): the platform pushes bindDevice.
    page.get_by_role("button", name="Plug in the replacement unit (demo)").click()
    page.locator("#code-panel", has_text="Bound after").wait_for(timeout=CODE_PANEL_TIMEOUT)
    assert page.locator("#verify-code").count() == 0
    swap.refresh_from_db()
    assert swap.state == SwapState.BOUND
    offline_device.refresh_from_db()
    assert offline_device.node_id == imei
    screenshot(page, "swap-bound")


def test_a_wrong_imei_check_digit_is_an_inline_error(
    page: Any, live_server: Any, role_users: dict[str, Any], sim: Any, platform_settings: Any
) -> None:
    found = sim.devices(status="OFFLINE", activated=True, limit=1)[0]
    device = DeviceFactory.mirror(found, our_app_id=sim.app_id)
    log_in(page, live_server.url, "field_service", PASSWORD)
    page.goto(f"{live_server.url}/devices/{device.pk}/")
    good = new_imei(4242)
    wrong = good[:-1] + str((int(good[-1]) + 3) % 10)
    fill_new_imei(page, wrong)
    page.locator("label.seg", has_text="HiSilicon").click()
    page.locator("#node-preview .preview-error", has_text="check digit does not match").wait_for()
    page.get_by_role("button", name="Request the new verifyCode").click()
    error = page.locator(".field-error", has_text="the check digit does not match")
    error.wait_for()
    assert "read the number again from the label" in error.inner_text()
    assert good[-1] not in error.inner_text()
    assert page.get_by_label("New unit's identifier").get_attribute("aria-invalid") == "true"
    assert page.url == f"{live_server.url}/devices/{device.pk}/"
    assert not Swap.objects.exists()
    screenshot(page, "device-swap-form-error")


def test_an_online_device_is_refused_with_the_handling_text(
    page: Any, live_server: Any, role_users: dict[str, Any], sim: Any, platform_settings: Any
) -> None:
    found = sim.devices(status="ONLINE", owner=sim.app_id, limit=1)[0]
    online = DeviceFactory.mirror(found, our_app_id=sim.app_id)
    log_in(page, live_server.url, "field_service", PASSWORD)
    page.goto(f"{live_server.url}/devices/{online.pk}/")
    fill_new_imei(page, new_imei(777))
    page.locator("label.seg", has_text="Qualcomm").click()
    page.get_by_role("button", name="Request the new verifyCode").click()
    alert = page.locator("#swap-form .alert")
    alert.wait_for()
    assert "Take the device offline" in alert.inner_text()
    assert not Swap.objects.exists()
    screenshot(page, "device-swap-refused-online")


def test_an_expired_code_offers_reissue_with_the_same_inputs(
    page: Any,
    live_server: Any,
    sim: Any,
    platform_settings: Any,
    celery_worker_process: Any,
    pushes_to_live_server: str,
    role_users: dict[str, Any],
    offline_device: Any,
) -> None:
    log_in(page, live_server.url, "field_service", PASSWORD)
    page.goto(f"{live_server.url}/devices/{offline_device.pk}/")
    fill_new_imei(page, new_imei(offline_device.pk + 1))
    page.locator("label.seg", has_text="Qualcomm").click()
    choose_minutes(page, 2)
    page.get_by_role("button", name="Request the new verifyCode").click()
    page.locator("#verify-code").wait_for(timeout=CODE_PANEL_TIMEOUT)
    first = Swap.objects.get()

    sim.expire_bindings()  # the platform drops the pending binding and pushes "expired"
    page.locator("#code-panel", has_text="Code expired").wait_for(timeout=CODE_PANEL_TIMEOUT)
    assert page.locator("#verify-code").count() == 0
    screenshot(page, "swap-expired")

    page.get_by_role("button", name="Re-issue with the same inputs").click()
    page.wait_for_url(re.compile(rf"{live_server.url}/swaps/(?!{first.pk}/)\d+/$"))
    page.locator("#verify-code").wait_for(timeout=CODE_PANEL_TIMEOUT)
    second = Swap.objects.exclude(pk=first.pk).get()
    # The same inputs, except a validity shorter than the default: the re-issue offers the
    # default (180 s) rather than copying a window that was too short once already.
    assert (second.reissue_of_id, second.new_node_id, second.timeout_seconds) == (
        first.pk,
        first.new_node_id,
        180,
    )
    assert second.state == SwapState.CODE_ISSUED


def test_a_supervisor_sees_the_state_but_no_code(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    code = "SUPERSECRET42"
    swap = SwapFactory(
        issued=True,
        requested_by=role_users["field_service"],
        verify_code=code,
        code_issued_at=timezone.now(),
        code_expires_at=timezone.now() + timedelta(seconds=170),
        reason="INC-9 audit check",
    )
    log_in(page, live_server.url, "supervisor", PASSWORD)
    page.goto(f"{live_server.url}/swaps/{swap.pk}/")
    panel = page.locator("#code-panel")
    panel.get_by_text("Code issued").wait_for()
    assert code not in page.content()
    assert "…42" in panel.inner_text()
    assert page.locator("#verify-code").count() == 0
    assert page.get_by_role("button", name="Cancel this swap").count() == 0
    screenshot(page, "swap-supervisor")

    # The device page and the search work for supervisors, without a swap form.
    page.goto(f"{live_server.url}/devices/{swap.device.pk}/")
    assert page.locator("#swap-form").count() == 0
    screenshot(page, "device-supervisor")


def test_error_pages_look_like_the_app(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    swap = SwapFactory(requested_by=role_users["helpdesk"])
    log_in(page, live_server.url, "field_service", PASSWORD)
    # A colleague's swap is "not found" (no existence oracle); a page of another role is 403.
    response = page.goto(f"{live_server.url}/swaps/{swap.pk}/")
    assert response.status == 404
    response = page.goto(f"{live_server.url}/history/")
    assert response.status == 403
    assert "You are not allowed to see this" in page.content()
    screenshot(page, "error-403")
    response = page.goto(f"{live_server.url}/devices/987654/")
    assert response.status == 404
    assert "Nothing here" in page.content()
    screenshot(page, "error-404")


def test_the_countdown_follows_the_server_clock_and_turns_red_then_expired(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    from datetime import datetime, timedelta

    from django.utils import timezone

    now = timezone.now()
    fresh = SwapFactory(
        issued=True,
        requested_by=role_users["field_service"],
        verify_code="FRESHCODE1",
        code_issued_at=now,
        code_expires_at=now + timedelta(seconds=175),
    )
    # The phone's clock is an hour fast: the countdown still shows the server's remaining time.
    page.clock.install(time=datetime.now() + timedelta(hours=1))
    log_in(page, live_server.url, "field_service", PASSWORD)
    page.goto(f"{live_server.url}/swaps/{fresh.pk}/")
    countdown = page.locator(".countdown[data-seconds-left]")
    countdown.wait_for()
    assert 120 < int(countdown.get_attribute("data-seconds-left")) <= 175
    assert "is-urgent" not in countdown.get_attribute("class")

    ending = SwapFactory(
        issued=True,
        requested_by=role_users["field_service"],
        verify_code="ENDINGCODE",
        code_issued_at=now,
        code_expires_at=timezone.now() + timedelta(seconds=20),
    )
    page.goto(f"{live_server.url}/swaps/{ending.pk}/")
    urgent = page.locator(".countdown.is-urgent")
    urgent.wait_for()
    page.clock.run_for(25_000)  # the browser's clock moves on; the server's state has not
    page.locator(".countdown.is-expired", has_text="expired — waiting for the platform").wait_for()


def test_copy_button_puts_the_code_on_the_clipboard(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    swap = SwapFactory(
        issued=True,
        requested_by=role_users["field_service"],
        verify_code="COPYME7788",
        code_issued_at=timezone.now(),
        code_expires_at=timezone.now() + timedelta(seconds=170),
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(page, live_server.url, "field_service", PASSWORD)
    page.goto(f"{live_server.url}/swaps/{swap.pk}/")
    page.get_by_role("button", name="Copy code").click()
    page.get_by_role("button", name="Copied ✓").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == "COPYME7788"


SCANNER_STUB = """
window.BarcodeDetector = class {
  static getSupportedFormats() { return Promise.resolve(["code_128", "qr_code"]); }
  detect() { return Promise.resolve([{ rawValue: "IMEI: 862177041314827" }]); }
};
navigator.mediaDevices.getUserMedia = async () => {
  const canvas = document.createElement("canvas");
  canvas.width = 64; canvas.height = 48;
  const ctx = canvas.getContext("2d");
  let shade = 0;
  setInterval(() => {
    shade = (shade + 40) % 256;
    ctx.fillStyle = `rgb(${shade}, 80, 120)`;
    ctx.fillRect(0, 0, 64, 48);
  }, 50);
  return canvas.captureStream(10);
};
"""


def test_scan_fills_the_identifier_where_the_browser_can_read_barcodes(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    device = DeviceFactory(node_id="862177041314819")
    log_in(page, live_server.url, "field_service", PASSWORD)
    page.goto(f"{live_server.url}/devices/{device.pk}/")
    # No BarcodeDetector in desktop Chromium: the button shows all the same (the vendored decoder
    # reads the frames); it stays hidden only where there is no camera API at all.
    assert page.get_by_role("button", name="Scan").is_visible()
    page.add_init_script("delete Navigator.prototype.mediaDevices;")
    page.goto(f"{live_server.url}/devices/{device.pk}/")
    assert page.evaluate("navigator.mediaDevices === undefined")
    assert page.get_by_role("button", name="Scan").count() == 0

    page = page.context.new_page()  # without the init script above
    page.add_init_script(SCANNER_STUB)
    page.goto(f"{live_server.url}/devices/{device.pk}/")
    page.get_by_role("button", name="Scan").click()
    identifier = page.get_by_label("New unit's identifier")
    page.wait_for_function(
        "() => document.querySelector('input[name=new_identifier]').value !== ''"
    )
    assert identifier.input_value() == "862177041314827"
    assert page.locator("dialog.scanner").count() == 0
    page.locator("#node-preview .preview-ok", has_text="862177041314827").wait_for()


def test_the_swap_form_works_without_javascript(
    browser: Any,
    live_server: Any,
    sim: Any,
    platform_settings: Any,
    role_users: dict[str, Any],
    offline_device: Any,
) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        log_in(page, live_server.url, "field_service", PASSWORD)
        page.goto(f"{live_server.url}/?q={offline_device.name}")
        page.locator("#device-results .device-link").first.click()
        page.wait_for_url(f"{live_server.url}/devices/{offline_device.pk}/")
        open_choices(page)  # a <details>: it opens without JavaScript
        page.locator("label.seg", has_text="IMEI").first.click()
        page.locator("label.seg", has_text="Qualcomm").click()
        page.get_by_label("New unit's identifier").fill(new_imei(31337))
        page.get_by_role("button", name="Request the new verifyCode").click()
        page.wait_for_url(re.compile(rf"{live_server.url}/swaps/\d+/$"))
        swap = Swap.objects.get()
        assert swap.new_node_id == f"urn:imei:{new_imei(31337)}"
        assert page.locator("#code-panel").count() == 1
        assert swap.get_state_display() in page.locator("#code-panel").inner_text()
    finally:
        context.close()


# Chromium here has no camera and has BarcodeDetector: the test deletes it, as iPhone Safari and
# Firefox lack it, and feeds the fallback decoder a still image of a Code 128 label.
NO_BARCODE_DETECTOR = "delete window.BarcodeDetector; delete Window.prototype.BarcodeDetector;"
DRAW_CODE_128 = """([modules, label]) => {
    const module = 3, quiet = 12 * module, height = 120;
    const canvas = document.createElement("canvas");
    canvas.width = modules.length * module + 2 * quiet;
    canvas.height = height + 40;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#000";
    [...modules].forEach((bit, i) => {
        if (bit === "1") ctx.fillRect(quiet + i * module, 10, module, height);
    });
    ctx.font = "16px monospace";
    ctx.fillText(label, quiet, height + 32);
    const img = document.createElement("img");
    img.id = "label-photo";
    img.src = canvas.toDataURL("image/png");
    document.body.appendChild(img);
    return new Promise((resolve) => { img.onload = () => resolve(img.naturalWidth); });
}"""


def code_128_modules(text: str) -> str:
    """The bars of a Code 128 barcode of `text` ("1" black, "0" white, one module each)."""
    from barcode import Code128

    return Code128(text).build()[0]


def test_scan_without_barcode_detector_reads_a_code_128_label_with_the_vendored_decoder(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    device = DeviceFactory(node_id=new_imei(7001))
    imei = new_imei(7002)
    page.add_init_script(NO_BARCODE_DETECTOR)
    log_in(page, live_server.url, "field_service", PASSWORD)
    page.goto(f"{live_server.url}/devices/{device.pk}/")
    assert page.evaluate("'BarcodeDetector' in window") is False
    scan = page.get_by_role("button", name="Scan")
    scan.wait_for()  # shown: a camera API exists, the fallback decoder reads the frames
    assert scan.is_visible()
    assert page.evaluate("typeof window.ZXing") == "undefined"  # loaded only when needed
    open_choices(page)
    page.locator("label.seg", has_text="HiSilicon").click()
    # A still photo of the label: IMEI 35... printed as "IMEI: <digits>" in Code 128.
    assert page.evaluate(DRAW_CODE_128, [code_128_modules(f"IMEI:{imei}"), imei]) > 0
    filled = page.evaluate(
        "() => window.iotadminScan.scanImage("
        "document.getElementById('id_new_identifier'), document.getElementById('label-photo'))"
    )
    assert filled == imei
    assert page.get_by_label("New unit's identifier").input_value() == imei
    assert page.evaluate("typeof window.ZXing") == "object"
    page.locator("#node-preview .preview-ok", has_text=imei).wait_for()
    assert (
        page.evaluate("() => window.iotadminScan.decodeFallback(document.createElement('canvas'))")
        is None
    )


def test_a_mac_typed_with_imei_chosen_switches_the_kind_with_a_note(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    device = DeviceFactory(node_id=new_imei(7003))
    log_in(page, live_server.url, "field_service", PASSWORD)
    page.goto(f"{live_server.url}/devices/{device.pk}/")
    fill_new_imei(page, "aa-bb-cc-dd-ee-0f")
    note = page.locator("#kind-note", has_text="This looks like a MAC address: kind set to MAC.")
    note.wait_for()
    assert page.locator('input[name="kind"][value="mac"]').is_checked()
    page.locator("#node-preview .preview-ok", has_text="AA:BB:CC:DD:EE:0F").wait_for()
    assert page.locator("#chipset-field").is_hidden()


CAMERA_SHOWING_LABEL = """
delete window.BarcodeDetector;
navigator.mediaDevices.getUserMedia = async () => {
  const modules = "%s", module = 3, quiet = 36;
  const canvas = document.createElement("canvas");
  canvas.width = modules.length * module + 2 * quiet; canvas.height = 180;
  const ctx = canvas.getContext("2d");
  const draw = () => {
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#000";
    [...modules].forEach((bit, i) => {
      if (bit === "1") ctx.fillRect(quiet + i * module, 20, module, 140);
    });
  };
  draw();
  setInterval(draw, 100);
  return canvas.captureStream(10);
};
"""


def test_scan_reads_camera_frames_with_the_vendored_decoder_without_barcode_detector(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    device = DeviceFactory(node_id=new_imei(7004))
    imei = new_imei(7005)
    log_in(page, live_server.url, "field_service", PASSWORD)
    page.add_init_script(CAMERA_SHOWING_LABEL % code_128_modules(f"IMEI {imei}/01"))
    page.goto(f"{live_server.url}/devices/{device.pk}/")
    open_choices(page)
    page.locator("label.seg", has_text="HiSilicon").click()
    page.get_by_role("button", name="Scan").click()
    page.wait_for_function(
        "() => document.querySelector('input[name=new_identifier]').value !== ''"
    )
    assert page.get_by_label("New unit's identifier").input_value() == imei
    assert page.locator("dialog.scanner").count() == 0
    page.locator("#node-preview .preview-ok", has_text=imei).wait_for()
