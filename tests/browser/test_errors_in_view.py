"""Errors where the eyes are: on a 390x844 phone, a refused swap form moves the focus to its
error summary, which is announced (role="alert") and scrolled into view."""

from __future__ import annotations

from typing import Any

import pytest

from devices.models import Swap
from tests.browser.conftest import PASSWORD
from tests.browser.test_swap_flow import new_imei, open_choices
from tests.support.browser import PHONE, log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_invalid_imei_focuses_the_error_summary_in_view_on_a_phone(
    page: Any, live_server: Any, role_users: dict[str, Any], offline_device: Any
) -> None:
    page.set_viewport_size(PHONE)
    log_in(page, live_server.url, "field_service", PASSWORD)
    page.goto(f"{live_server.url}/devices/{offline_device.pk}/")
    imei = new_imei(42)
    wrong = imei[:-1] + str((int(imei[-1]) + 1) % 10)
    open_choices(page)
    page.locator("label.seg", has_text="IMEI").first.click()
    page.get_by_label("New unit's identifier").fill(wrong)
    page.get_by_role("button", name="Request the new verifyCode").click()
    summary = page.locator("#swap-form-errors")
    summary.wait_for()
    page.wait_for_function("document.activeElement?.id === 'swap-form-errors'")
    assert summary.get_attribute("role") == "alert"
    assert "Correct the field below" in summary.inner_text()
    assert "check digit" in summary.inner_text().lower()
    in_view = page.evaluate(
        """() => {
            const r = document.activeElement.getBoundingClientRect();
            return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0;
        }"""
    )
    assert in_view
    assert Swap.objects.count() == 0
    screenshot(page, "swap-form-error-focused")
