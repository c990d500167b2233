"""The countdown tells screen readers the time left once at 60, 30 and 10 s (a polite live
region, updated only then), and names the zone of its "until" time."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.browser.conftest import PASSWORD
from tests.factories import SwapFactory
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_countdown_announces_at_60_30_and_10_seconds_left(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    from django.utils import timezone

    swap = SwapFactory(
        issued=True,
        requested_by=role_users["field_service"],
        verify_code="ANNOUNCE12",
        code_issued_at=timezone.now(),
        code_expires_at=timezone.now() + timedelta(seconds=75),
    )
    page.clock.install(time=datetime.now())
    log_in(page, live_server.url, "field_service", PASSWORD)
    page.goto(f"{live_server.url}/swaps/{swap.pk}/")
    announcer = page.locator(".countdown [data-countdown-announce]")
    page.locator(".countdown[data-seconds-left]").wait_for()
    assert announcer.get_attribute("aria-live") == "polite"
    assert announcer.inner_text() == ""  # nothing said at the start
    until = page.locator(".countdown-until time").inner_text()
    assert re.fullmatch(r"\d\d:\d\d:\d\d \S+", until), until  # the zone is named

    heard = []
    for _ in range(70):
        page.clock.run_for(1_000)
        text = announcer.inner_text()
        if text and (not heard or heard[-1] != text):
            heard.append(text)
    assert heard == ["1 minute left", "30 seconds left", "10 seconds left"]


def test_the_approvals_badge_counts_waiting_swaps_in_the_nav(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    SwapFactory(pending_approval=True, requested_by=role_users["field_service"])
    SwapFactory(pending_approval=True, requested_by=role_users["field_service"])
    log_in(page, live_server.url, "helpdesk", PASSWORD)
    page.goto(f"{live_server.url}/")
    badge = page.locator("nav.sections #approvals-badge .nav-badge")
    badge.wait_for()
    assert badge.get_attribute("data-count") == "2"
    assert page.locator("nav.sections a", has_text="Approvals").inner_text().startswith("Approvals")
