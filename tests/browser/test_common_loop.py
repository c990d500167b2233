"""The technician's common loop on a phone (390x844), counted: after signing in, search, open
the device, type the new unit's identifier, request, and the code is on the screen. Nothing
else is required: the page counts every trusted click and every field typed into.

Real live server, simulator and Celery worker. The sign-in -> code time is printed, not asserted
(tests assert counts, never wall-clock times); benchmarks/common_loop.py measures it.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from devices.models import Swap, SwapState
from tests.browser.conftest import PASSWORD
from tests.factories import DeviceFactory
from tests.support.browser import PHONE, log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CODE_TIMEOUT = 30_000  # ms: the worker picks the task up and calls the simulator

# Installed in every document of the context: records each trusted click (what was clicked)
# and each field a person typed into, in sessionStorage so it survives the page changes.
INTERACTION_COUNTER = """
(() => {
  const key = "commonLoopInteractions";
  const read = () => JSON.parse(sessionStorage.getItem(key) || '{"clicks": [], "fields": []}');
  const write = (value) => sessionStorage.setItem(key, JSON.stringify(value));
  const describe = (el) => {
    const target = el.closest("a, button, input, label, summary, select, textarea") || el;
    return (target.tagName + " " + (target.innerText || target.name || target.id || "")).trim();
  };
  document.addEventListener("click", (event) => {
    if (!event.isTrusted) return;
    const value = read(); value.clicks.push(describe(event.target)); write(value);
  }, true);
  document.addEventListener("input", (event) => {
    if (!event.isTrusted) return;
    const value = read(); const name = event.target.name || event.target.id;
    if (!value.fields.includes(name)) value.fields.push(name);
    write(value);
  }, true);
})();
"""


def interactions(page: Any) -> dict[str, list[str]]:
    return dict(
        page.evaluate(
            "() => JSON.parse(sessionStorage.getItem('commonLoopInteractions')"
            ' || \'{"clicks": [], "fields": []}\')'
        )
    )


def new_imei(seed: int) -> str:
    from devices.identifiers import luhn_check_digit

    body = f"8697{seed:010d}"
    return body + str(luhn_check_digit(body))


def test_the_common_loop_on_a_phone_is_four_steps_to_the_code(
    browser: Any,
    live_server: Any,
    sim: Any,
    platform_settings: Any,
    celery_worker_process: Any,
    role_users: dict[str, Any],
    offline_device: Any,
) -> None:
    for n in range(3):
        DeviceFactory(name=f"Other meter {n}")
    context = browser.new_context(viewport=PHONE, locale="en-GB", is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    context.add_init_script(INTERACTION_COUNTER)
    page = context.new_page()
    try:
        signed_in_at = time.monotonic()
        log_in(page, live_server.url, "field_service", PASSWORD)
        page.evaluate(
            "() => sessionStorage.removeItem('commonLoopInteractions')"
        )  # sign-in excluded

        # 1. Search: the old unit's IMEI as printed on its label (the results come by themselves).
        typed = offline_device.node_id.removeprefix("urn:imei:")
        page.locator("input[name=q]").fill(typed)
        page.locator("#device-results", has_text=f"“{typed}”").wait_for()
        result = page.locator("#device-results .device-link")
        result.first.wait_for()
        assert result.count() == 1
        # 2. Open the device.
        result.first.click()
        page.wait_for_url(f"{live_server.url}/devices/{offline_device.pk}/")
        # 3. Type the new unit's identifier (kind, chipset, code mode, validity: the defaults).
        imei = new_imei(offline_device.pk)
        page.locator("input[name=new_identifier]").fill(imei)
        # 4. Request.
        page.locator("#swap-form button[type=submit]").click()
        page.wait_for_url(re.compile(rf"{live_server.url}/swaps/\d+/$"))
        code = page.locator("#verify-code")
        code.wait_for(timeout=CODE_TIMEOUT)
        seconds = time.monotonic() - signed_in_at

        shown = code.inner_text().strip()
        binding = sim.device(offline_device.device_id)["binding"]
        assert binding is not None and shown.lower() == binding["verifyCode"].lower()
        swap = Swap.objects.get(device=offline_device)
        assert swap.state == SwapState.CODE_ISSUED and imei in swap.new_node_id

        counted = interactions(page)
        assert counted["fields"] == ["q", "new_identifier"], counted
        assert len(counted["clicks"]) == 2, counted  # the search result, the request button
        steps = len(counted["fields"]) + len(counted["clicks"])
        assert steps == 4
        screenshot(page, "a11y-common-loop-code")
        print(
            f"\ncommon loop: {steps} interactions; sign-in -> code {seconds:.2f} s (not asserted)"
        )
    finally:
        context.close()
