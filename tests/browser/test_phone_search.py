"""Issue 10, problem 5 on a 390x844 phone: the search box finds a device by a street in its
name or location (anywhere, any case) and by the last 6 digits of its IMEI (what a technician
reads from a worn label), typed key by key; the results show on the first screen."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import PASSWORD
from tests.browser.test_swap_flow import new_imei
from tests.factories import DeviceFactory
from tests.support.browser import PHONE, log_in, phone_shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SEARCH_LABEL = "IMEI, MAC, nodeId, deviceId or name"


def type_search(page: Any, typed: str) -> list[str]:
    """Type `typed` into the empty search box as a person does; the names of the devices found."""
    search = page.get_by_label(SEARCH_LABEL)
    search.fill("")
    search.press_sequentially(typed, delay=20)
    page.locator("#device-results", has_text=f"Devices matching “{typed}”").wait_for()
    links = page.locator("#device-results .device-link")
    first = links.first.bounding_box()
    assert first is not None and first["y"] + first["height"] <= PHONE["height"]  # on screen
    return [name.strip() for name in page.locator("#device-results .device-name").all_inner_texts()]


def test_a_street_in_the_name_or_location_and_the_imeis_last_six_digits_find_the_device(
    phone: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    imei = new_imei(4_711_001)
    DeviceFactory(name="Water meter Elm Street 39 cellar", location="Springfield")
    DeviceFactory(name="Heat meter 7", location="Elm Street 39, 2nd floor")
    DeviceFactory(name="Gas meter Elm Street 3", location="Springfield")  # not number 39
    DeviceFactory(name="Water meter Oak Street 39", location="Springfield")
    DeviceFactory(name="Label meter", node_id=f"urn:imei:{imei}")
    # The same six digits, but not at the end of the IMEI: not what the label's end says.
    DeviceFactory(name="Other meter", node_id=f"urn:imei:8698{imei[-6:]}55550")
    log_in(phone, live_server.url, "field_service", PASSWORD)

    assert sorted(type_search(phone, "elm street 39")) == [
        "Heat meter 7",
        "Water meter Elm Street 39 cellar",
    ]
    phone_shot(phone, "5-search-street")

    assert type_search(phone, imei[-6:]) == ["Label meter"]
    assert f"urn:imei:{imei}" in phone.locator("#device-results").inner_text()
    phone_shot(phone, "5-search-last-six-digits")

    phone.locator("#device-results .device-link").first.click()
    phone.wait_for_url(f"{live_server.url}/devices/*/")
    assert phone.locator("h1").inner_text() == "Label meter"
