"""The countdown tells screen readers the time left once at 60, 30 and 10 s (a polite live
region, updated only then), and names the zone of its "until" time: the phone's own zone (issue
10, problem 10, at 390x844 with the browser's clock injected)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import PASSWORD
from tests.factories import SwapFactory
from tests.support.browser import PHONE, log_in, open_page, phone_shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_countdown_announces_at_60_30_and_10_seconds_left_in_the_phones_zone(
    browser: Any, live_server: Any, role_users: dict[str, Any], settings: Any
) -> None:
    from django.utils import timezone

    settings.IOTADMIN_TIME_ZONE_DISPLAY = "UTC"  # the server's text; the phone is in Berlin
    expires = timezone.now() + timedelta(seconds=75)
    swap = SwapFactory(
        issued=True,
        requested_by=role_users["field_service"],
        verify_code="ANNOUNCE12",
        code_issued_at=timezone.now(),
        code_expires_at=expires,
    )
    with open_page(
        browser, viewport=PHONE, is_mobile=True, has_touch=True, timezone_id="Europe/Berlin"
    ) as page:
        page.clock.install(time=datetime.now())
        log_in(page, live_server.url, "field_service", PASSWORD)
        page.goto(f"{live_server.url}/swaps/{swap.pk}/")
        announcer = page.locator(".countdown [data-countdown-announce]")
        page.locator(".countdown[data-seconds-left]").wait_for()
        assert announcer.get_attribute("aria-live") == "polite"
        assert announcer.inner_text() == ""  # nothing said at the start
        in_berlin = expires.astimezone(ZoneInfo("Europe/Berlin"))
        until = page.locator(".countdown-until time")
        # The expiry in the phone's zone, the zone named (CET or CEST, whatever the date).
        assert until.inner_text() == f"{in_berlin:%H:%M:%S} {in_berlin.tzname()}"
        phone_shot(page, "10-expiry-countdown-in-the-phones-zone")

        heard = []
        for _ in range(70):
            page.clock.run_for(1_000)
            text = announcer.inner_text()
            if text and (not heard or heard[-1] != text):
                heard.append(text)
        assert heard == ["1 minute left", "30 seconds left", "10 seconds left"]
        assert page.locator(".countdown.is-urgent").count() == 1


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
