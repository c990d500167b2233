"""A supervisor in a real browser: filters the swap history, downloads the CSV, reads the
summary and a device's lineage. Screenshots at desktop and phone widths go to
artifacts/screenshots/."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from devices.models import Swap
from tests.browser.conftest import PASSWORD
from tests.factories import DeviceFactory, SwapFactory, UserFactory
from tests.support.browser import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CODE = "M4QX8ZR2KD"


@pytest.fixture
def history(role_users: dict[str, Any]) -> dict[str, Any]:
    """A few weeks of swaps by two technicians, one of them with a live code."""
    ann = UserFactory(field_service=True, username="ann")
    ben = UserFactory(field_service=True, username="ben")
    pump = DeviceFactory(name="Pump house 4")
    now = timezone.now()
    made: dict[str, Any] = {"pump": pump, "failed": []}
    for n in range(12):
        swap = SwapFactory(
            requested_by=ann if n % 3 else ben,
            bound=True,
            reason=f"INC-{1000 + n}",
        )
        created = now - timedelta(days=n, hours=2)
        Swap.objects.filter(pk=swap.pk).update(
            created_at=created, bound_at=created + timedelta(seconds=40 + 20 * n)
        )
    for n, code in enumerate(("100611", "100611", "100426")):
        swap = SwapFactory(
            requested_by=ben,
            failed=True,
            error_code=code,
            error_text="Take the device offline, then retry." if code == "100611" else "Dup",
            reason=f"INC-20{n}",
        )
        Swap.objects.filter(pk=swap.pk).update(created_at=now - timedelta(days=n + 1))
        made["failed"].append(swap)
    made["open"] = SwapFactory(
        issued=True, verify_code=CODE, device=pump, requested_by=ben, reason="INC-300 live code"
    )
    return made


def test_supervisor_filters_the_history_and_downloads_the_csv(
    page: Any, live_server: Any, role_users: dict[str, Any], history: dict[str, Any]
) -> None:
    log_in(page, live_server.url, "supervisor", PASSWORD)
    page.goto(f"{live_server.url}/history/")
    rows = page.locator(".history-table tbody tr")
    assert rows.count() == 16
    assert CODE not in page.content()
    screenshot(page, "reports-history")

    page.get_by_label("Technician").fill("ben")
    page.get_by_label("Outcome").select_option("failed")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**/history/?*outcome=failed*")
    assert rows.count() == 3
    assert "INC-1001" not in page.content()
    screenshot(page, "reports-history-filtered")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("swap-history-")
    assert download.suggested_filename.endswith(".csv")
    raw = Path(download.path()).read_bytes()
    assert CODE.encode() not in raw
    table = list(csv.DictReader(io.StringIO(raw.decode("utf-8").lstrip("\ufeff"))))
    assert sorted(row["swap id"] for row in table) == sorted(
        str(swap.pk) for swap in history["failed"]
    )
    assert {row["technician"] for row in table} == {"ben"}
    assert {row["state"] for row in table} == {"failed"}

    page.get_by_label("Outcome").select_option("")
    page.get_by_label("Technician").fill("nobody-here")
    page.get_by_role("button", name="Apply filters").click()
    assert page.get_by_role("alert").is_visible()
    assert page.get_by_text("No user is called “nobody-here”.").is_visible()


def test_supervisor_reads_the_summary_and_a_lineage(
    page: Any, live_server: Any, role_users: dict[str, Any], history: dict[str, Any]
) -> None:
    log_in(page, live_server.url, "supervisor", PASSWORD)
    page.goto(f"{live_server.url}/summary/")
    assert page.locator("#kpi-total").inner_text() == "16"
    assert page.locator("svg#chart-per-day").is_visible()
    assert page.locator("svg#chart-outcomes").is_visible()
    errors = page.locator(".errors-table tbody tr")
    assert errors.first.inner_text().startswith("100611")
    assert "Take the device offline" in errors.first.inner_text()
    assert page.locator(".technicians-table tbody tr").first.inner_text().startswith("ben")
    assert CODE not in page.content()
    screenshot(page, "reports-summary")

    page.goto(f"{live_server.url}/devices/{history['pump'].pk}/lineage/")
    assert "INC-300 live code" in page.content()
    assert CODE not in page.content()
    screenshot(page, "reports-lineage")


def test_field_service_cannot_open_the_history(
    page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    log_in(page, live_server.url, "field_service", PASSWORD)
    response = page.goto(f"{live_server.url}/history/")
    assert response is not None and response.status == 403
