"""Four eyes in a real browser (Debian's Chromium through Playwright), two people at once: the
requester's swap page waits for approval and flips by itself when a supervisor approves (the
real worker then gets the code from the simulator) or the helpdesk rejects it with a reason.
Screenshots of the queue and of each state go to artifacts/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from devices.codes import encrypt_code
from devices.identifiers import luhn_check_digit
from devices.models import Swap, SwapState, VerifyCodeMode
from tests.browser.conftest import PASSWORD
from tests.browser.test_swap_flow import open_choices
from tests.factories import SwapFactory
from tests.support.browser import DESKTOP, log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FLIP_TIMEOUT = 30_000  # ms: the page polls every 2 s; the worker calls the simulator


@pytest.fixture
def only_code_mode_rule(settings: Any) -> Any:
    """Only the verifyCode-mode rule, so the outcome does not depend on the clock."""
    settings.SWAP_APPROVAL_NEVER_EXPIRING = False
    settings.SWAP_APPROVAL_CODE_MODES = "same_as_node_id,custom"
    settings.SWAP_APPROVAL_REPEAT_DAYS = 0
    settings.SWAP_APPROVAL_WORKING_HOURS = ""
    return settings


@pytest.fixture
def second_page(browser: Any) -> Iterator[Any]:
    """A second person's browser (its own cookies), next to `page`."""
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def new_imei(seed: int) -> str:
    body = f"8699{seed:010d}"
    return body + str(luhn_check_digit(body))


def test_a_supervisor_approves_and_the_requesters_page_shows_the_code(
    page: Any,
    second_page: Any,
    live_server: Any,
    sim: Any,
    platform_settings: Any,
    only_code_mode_rule: Any,
    celery_worker_process: Any,
    role_users: dict[str, Any],
    offline_device: Any,
) -> None:
    # The technician asks for a verifyCode equal to the nodeId (Agent Lite firmware): risky.
    log_in(page, live_server.url, "field_service", PASSWORD)
    page.goto(f"{live_server.url}/devices/{offline_device.pk}/")
    imei = new_imei(offline_device.pk)
    open_choices(page)
    page.locator("label.seg", has_text="IMEI").first.click()
    page.get_by_label("New unit's identifier").fill(imei)
    page.locator("label.seg", has_text="HiSilicon").click()
    page.locator("label.choice", has_text="The code is the unit's own identifier").click()
    page.get_by_label("Reason or ticket reference").fill("INC-5150 Agent Lite meter")
    page.get_by_role("button", name="Request the new verifyCode").click()
    page.wait_for_url(re.compile(rf"{live_server.url}/swaps/\d+/$"))
    swap = Swap.objects.get(device=offline_device)
    assert swap.verify_code_mode == VerifyCodeMode.SAME_AS_NODE_ID
    panel = page.locator("#code-panel")
    panel.get_by_text("Waiting for approval by a helpdesk or supervisor user:").wait_for()
    assert "The verifyCode is the same as the new nodeId" in panel.inner_text()
    screenshot(page, "swap-pending-approval")
    assert sim.device(offline_device.device_id)["binding"] is None  # nothing sent yet

    # The supervisor finds it in the approvals queue and approves it (htmx, in place).
    log_in(second_page, live_server.url, "supervisor", PASSWORD)
    second_page.goto(f"{live_server.url}/approvals/")
    row = second_page.locator(f"#approval-{swap.pk}")
    assert "Fran Field" in row.inner_text()
    assert "INC-5150 Agent Lite meter" in row.inner_text()
    screenshot(second_page, "approvals-queue")
    row.get_by_role("button", name="Approve and send").click()
    second_page.locator(f"#approval-{swap.pk}", has_text="Approved by you").wait_for()
    assert second_page.url == f"{live_server.url}/approvals/"

    # The requester's page flips by itself: queued, sent, and the code is shown.
    code = page.locator("#verify-code")
    code.wait_for(timeout=FLIP_TIMEOUT)
    assert code.inner_text().strip().lower() == imei.lower()
    assert sim.device(offline_device.device_id)["binding"]["nodeId"] == imei
    swap.refresh_from_db()
    assert swap.state == SwapState.CODE_ISSUED
    assert swap.decided_by == role_users["supervisor"]
    screenshot(page, "swap-approved-code")
    page.reload()  # the details below the live panel say who approved it
    assert "approved\nby sue supervisor" in page.locator(".facts").inner_text().lower()

    # The supervisor follows the swap but never sees the code panel's code.
    second_page.locator(f"#approval-{swap.pk}").get_by_role(
        "link", name=f"Follow swap #{swap.pk}"
    ).click()
    second_page.locator("#code-panel", has_text="Code issued").wait_for()
    assert second_page.locator("#verify-code").count() == 0
    assert second_page.locator("#code-panel svg.qr").count() == 0


def test_the_helpdesk_rejects_and_the_requester_reads_why(
    page: Any,
    second_page: Any,
    live_server: Any,
    only_code_mode_rule: Any,
    role_users: dict[str, Any],
) -> None:
    waiting = {
        "state": SwapState.PENDING_APPROVAL,
        "needs_approval": True,
        "verify_code_mode": VerifyCodeMode.CUSTOM,
        "custom_verify_code_encrypted": encrypt_code("MyCustomSecret9"),
        "approval_reasons": ["The verifyCode is a custom one chosen by the requester."],
    }
    swap = SwapFactory(requested_by=role_users["field_service"], reason="INC-77 gateway", **waiting)
    own = SwapFactory(requested_by=role_users["helpdesk"], reason="INC-78 own request", **waiting)

    log_in(page, live_server.url, "field_service", PASSWORD)
    page.goto(f"{live_server.url}/swaps/{swap.pk}/")
    page.locator("#code-panel", has_text="Waiting for approval").wait_for()

    log_in(second_page, live_server.url, "helpdesk", PASSWORD)
    second_page.goto(f"{live_server.url}/approvals/")
    own_row = second_page.locator(f"#approval-{own.pk}")
    assert "You requested this; another person must approve it." in own_row.inner_text()
    assert own_row.get_by_role("button").count() == 0
    assert "MyCustomSecret9" not in second_page.content()

    row = second_page.locator(f"#approval-{swap.pk}")
    row.get_by_role("button", name="Reject").click()  # no reason: the browser asks for one
    assert row.get_by_label("Reason for rejecting").evaluate("el => !el.validity.valid")
    row.get_by_label("Reason for rejecting").fill("Custom codes are not allowed on gateways")
    screenshot(second_page, "approvals-queue-reject")
    row.get_by_role("button", name="Reject").click()
    second_page.locator(f"#approval-{swap.pk}", has_text="Rejected by you").wait_for()

    panel = page.locator("#code-panel", has_text="Rejected by Hal Helpdesk")
    panel.wait_for(timeout=FLIP_TIMEOUT)
    assert "Rejected: Custom codes are not allowed on gateways" in panel.inner_text()
    assert page.get_by_role("button", name="Cancel this swap").count() == 0
    screenshot(page, "swap-rejected")
    swap.refresh_from_db()
    assert swap.state == SwapState.REJECTED
    own.refresh_from_db()
    assert own.state == SwapState.PENDING_APPROVAL
