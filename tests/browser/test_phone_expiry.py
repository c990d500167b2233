"""Issue 10, problem 10 on a 390x844 phone: re-issuing a code whose validity was too short
offers the default validity instead of copying the short one (the worker gets the new code
from the simulator). The zone-named countdown and its announcements at 60/30/10 s are in
test_countdown_announce.py."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from devices.limits import DEFAULT_TIMEOUT_SECONDS
from devices.models import Swap, SwapState
from tests.browser.conftest import PASSWORD
from tests.browser.test_swap_flow import CODE_PANEL_TIMEOUT, new_imei
from tests.factories import SwapFactory
from tests.support.browser import log_in, phone_shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_reissuing_a_too_short_code_gives_the_default_validity(
    phone: Any,
    live_server: Any,
    sim: Any,
    platform_settings: Any,
    celery_worker_process: Any,
    role_users: dict[str, Any],
    offline_device: Any,
) -> None:
    short = SwapFactory(
        expired=True,
        device=offline_device,
        requested_by=role_users["field_service"],
        new_node_id=f"urn:imei:{new_imei(301)}",
        chipset="qualcomm",
        timeout_seconds=60,
    )
    log_in(phone, live_server.url, "field_service", PASSWORD)
    phone.goto(f"{live_server.url}/swaps/{short.pk}/")
    phone.locator("#panel-state", has_text="Code expired").wait_for()
    assert "valid 1 min" in phone.locator(".facts").inner_text()
    offered = phone.locator("#reissue-validity").inner_text()
    assert offered == "The new code is valid for 3 min, the default: 1 min was too short."
    phone_shot(phone, "10-expiry-too-short-code-expired")

    phone.get_by_role("button", name="Re-issue with the same inputs").click()
    phone.wait_for_url(re.compile(rf"{live_server.url}/swaps/(?!{short.pk}/)\d+/$"))
    phone.locator("#verify-code").wait_for(timeout=CODE_PANEL_TIMEOUT)
    again = Swap.objects.get(reissue_of=short)
    assert (again.state, again.new_node_id) == (SwapState.CODE_ISSUED, short.new_node_id)
    assert again.timeout_seconds == DEFAULT_TIMEOUT_SECONDS != short.timeout_seconds
    assert again.code_expires_at - again.code_issued_at == timedelta(
        seconds=DEFAULT_TIMEOUT_SECONDS
    )
    assert f"valid {DEFAULT_TIMEOUT_SECONDS // 60} min" in phone.locator(".facts").inner_text()
    assert phone.locator(".countdown[data-seconds-left]").count() == 1
    phone_shot(phone, "10-expiry-reissued-with-the-default-validity")
