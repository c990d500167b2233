"""Issue 10, problem 1 on a 390x844 phone: no dead end when a colleague's or a bulk swap is open.

The device page shows the open swap with its state and owner (never its code, id or link to
someone who may not open it); the field user takes it over after confirming (the old swap ends
cancelled, both audited, and the worker gets the new code from the simulator) or asks the
helpdesk with one tap; a refusal never names a swap the reader cannot open.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from audit.models import AuditAction, AuditEvent
from devices.models import Swap, SwapState
from tests.browser.conftest import PASSWORD
from tests.browser.test_swap_flow import CODE_PANEL_TIMEOUT, new_imei
from tests.factories import SwapFactory, UserFactory
from tests.support.browser import log_in, phone_shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COLLEAGUES_CODE = "ADAS0WNC0DE"


def colleague() -> Any:
    return UserFactory(field_service=True, username="ada", first_name="Ada", last_name="Field")


def assert_swap_not_named(page: Any, swap: Swap) -> None:
    """Nothing on the page names `swap` (its id, its link or its code) to this reader."""
    text = page.locator("body").inner_text()
    assert not re.search(rf"#\s*{swap.pk}\b", text), text
    assert page.locator(f'a[href*="/swaps/{swap.pk}/"]').count() == 0
    assert COLLEAGUES_CODE not in page.content()


def test_a_colleagues_open_swap_is_shown_and_taken_over_after_confirming(
    phone: Any,
    live_server: Any,
    sim: Any,
    platform_settings: Any,
    celery_worker_process: Any,
    role_users: dict[str, Any],
    offline_device: Any,
) -> None:
    field = role_users["field_service"]
    old = SwapFactory(
        issued=True,
        device=offline_device,
        requested_by=colleague(),
        verify_code=COLLEAGUES_CODE,
        new_node_id=f"urn:imei:{new_imei(101)}",
        chipset="qualcomm",
    )
    log_in(phone, live_server.url, "field_service", PASSWORD)
    phone.goto(f"{live_server.url}/devices/{offline_device.pk}/")

    open_swap = phone.locator("#open-swap")
    assert "A colleague's swap is open on this device" in open_swap.inner_text()
    assert "(code issued), requested by Ada Field" in open_swap.inner_text()
    assert "No swaps yet" not in phone.locator("body").inner_text()
    assert phone.locator("#swap-form").count() == 0  # no form that can only be refused
    assert_swap_not_named(phone, old)
    confirm = phone.get_by_label("I take over this swap")
    assert confirm.get_attribute("required") is not None
    assert phone.get_by_role("button", name="Ask the helpdesk").is_visible()
    phone_shot(phone, "1-dead-end-colleagues-swap", top=open_swap)

    confirm.check()
    phone.get_by_role("button", name="Take over").click()
    phone.wait_for_url(re.compile(rf"{live_server.url}/swaps/(?!{old.pk}/)\d+/$"))
    new = Swap.objects.exclude(pk=old.pk).get()
    assert (new.requested_by, new.new_node_id) == (field, old.new_node_id)
    code = phone.locator("#verify-code")
    code.wait_for(timeout=CODE_PANEL_TIMEOUT)  # the worker sent the new refresh
    binding = sim.device(offline_device.device_id)["binding"]
    assert code.inner_text().strip().lower() == binding["verifyCode"].lower()
    assert "You took the swap over" in phone.locator("body").inner_text()
    assert_swap_not_named(phone, old)

    old.refresh_from_db()
    assert old.state == SwapState.CANCELLED
    cancelled = AuditEvent.objects.get(swap_id=old.pk, action=AuditAction.SWAP_CANCELLED)
    taken = AuditEvent.objects.get(swap_id=new.pk, action=AuditAction.SWAP_TAKEN_OVER)
    assert cancelled.actor == field and taken.actor == field
    phone_shot(phone, "1-dead-end-taken-over")


def test_a_bulk_swap_is_shown_and_the_helpdesk_asked_with_one_tap(
    phone: Any,
    live_server: Any,
    sim: Any,
    platform_settings: Any,
    role_users: dict[str, Any],
    offline_device: Any,
) -> None:
    field = role_users["field_service"]
    bulk = SwapFactory(
        issued=True,
        lane="bulk",
        device=offline_device,
        requested_by=role_users["helpdesk"],
        verify_code=COLLEAGUES_CODE,
    )
    log_in(phone, live_server.url, "field_service", PASSWORD)
    phone.goto(f"{live_server.url}/devices/{offline_device.pk}/")
    open_swap = phone.locator("#open-swap")
    assert "A bulk swap is open on this device" in open_swap.inner_text()
    assert "(code issued), requested by Hal Helpdesk" in open_swap.inner_text()
    assert_swap_not_named(phone, bulk)

    phone.get_by_role("button", name="Ask the helpdesk").click()
    phone.locator("#help-asked", has_text="Helpdesk asked").wait_for()
    assert phone.get_by_role("button", name="Ask the helpdesk").count() == 0
    assert phone.get_by_role("button", name="Take over").is_visible()  # still possible
    assert_swap_not_named(phone, bulk)
    asked = AuditEvent.objects.get(action=AuditAction.HELP_REQUESTED)
    assert (asked.swap_id, asked.actor) == (bulk.pk, field)
    bulk.refresh_from_db()
    assert bulk.state == SwapState.CODE_ISSUED  # asking changes nothing
    phone_shot(phone, "1-dead-end-helpdesk-asked", top=open_swap)


def test_a_swap_opened_while_typing_is_refused_without_naming_it_and_leads_to_take_over(
    phone: Any,
    live_server: Any,
    sim: Any,
    platform_settings: Any,
    role_users: dict[str, Any],
    offline_device: Any,
) -> None:
    log_in(phone, live_server.url, "field_service", PASSWORD)
    phone.goto(f"{live_server.url}/devices/{offline_device.pk}/")
    phone.get_by_label("New unit's identifier").fill(new_imei(102))
    theirs = SwapFactory(queued=True, device=offline_device, requested_by=colleague())
    phone.get_by_role("button", name="Request the new verifyCode").click()

    summary = phone.locator("#swap-form-errors")
    summary.wait_for()
    phone.wait_for_function("document.activeElement?.id === 'swap-form-errors'")
    assert "A colleague (Ada Field) has an open swap on this device" in summary.inner_text()
    assert_swap_not_named(phone, theirs)
    assert Swap.objects.count() == 1
    phone_shot(phone, "1-dead-end-refused-without-naming")

    summary.get_by_role("link", name="Show the open swap: take it over or ask the helpdesk").click()
    phone.locator("#open-swap", has_text="A colleague's swap is open on this device").wait_for()
    assert phone.get_by_role("button", name="Take over").is_visible()
    assert_swap_not_named(phone, theirs)
