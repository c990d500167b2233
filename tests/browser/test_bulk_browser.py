"""Bulk swaps in a real browser against the live server, the simulator and a real worker: the
helpdesk uploads a file, reads the preview, confirms, and watches the progress bar finish."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bulk.models import BulkBatch, RowState
from devices.models import SwapState
from tests.browser.conftest import PASSWORD
from tests.bulk.helpers import csv_bytes, line, mirror_sim_devices
from tests.factories import make_imei
from tests.support.browser import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROGRESS_TIMEOUT = 60_000  # ms: the worker sends the rows within the flow limit


@pytest.fixture(autouse=True)
def approval_hours_off(settings: Any, monkeypatch: Any) -> None:
    """Out of working hours every swap would wait for approval; this test is about sending."""
    settings.SWAP_APPROVAL_WORKING_HOURS = ""
    monkeypatch.setenv("SWAP_APPROVAL_WORKING_HOURS", "")


def test_helpdesk_uploads_previews_confirms_and_watches_the_progress_finish(
    page: Any,
    live_server: Any,
    sim: Any,
    platform_settings: Any,
    celery_worker_process: Any,
    role_users: dict[str, Any],
    tmp_path: Any,
) -> None:
    devices = mirror_sim_devices(sim, 4)
    upload = tmp_path / "truckload.csv"
    upload.write_bytes(
        csv_bytes(
            *[line(d.device_id, make_imei(), ticket=f"INC-{n}") for n, d in enumerate(devices)],
            line("no-such-device", make_imei()),
        )
    )
    log_in(page, live_server.url, "helpdesk", PASSWORD)
    page.goto(f"{live_server.url}/bulk/")
    page.get_by_label(re.compile("CSV file")).set_input_files(str(upload))
    screenshot(page, "bulk-upload")
    page.get_by_role("button", name="Check the file").click()

    # The preview: each row's verdict, nothing sent yet.
    page.get_by_role("heading", name="Preview: nothing has been sent").wait_for()
    rows = page.locator("#bulk-rows tbody tr")
    assert rows.count() == 5
    assert "No device with deviceId or nodeId no-such-device" in rows.nth(4).inner_text()
    assert page.locator(".bulk-counts").first.inner_text().split() == [
        "4",
        "ready",
        "1",
        "not",
        "sendable",
    ]
    assert not [c for c in sim.calls() if c["method"] == "PUT"]
    screenshot(page, "bulk-preview")

    page.get_by_role("button", name="Send the 4 ready rows").click()
    progress = page.locator("#bulk-progress-text")
    progress.wait_for()
    # htmx polls every 2 s until every row is done; the bar fills to its maximum.
    page.locator("#bulk-progress-text", has_text="4 of 4 done (100%)").wait_for(
        timeout=PROGRESS_TIMEOUT
    )
    bar = page.locator("progress.bulk-progress")
    assert bar.get_attribute("value") == bar.get_attribute("max") == "4"
    assert page.locator("#bulk-live").get_attribute("hx-trigger") is None  # polling stopped
    assert page.locator("#bulk-rows .badge", has_text="Code issued").count() == 4
    screenshot(page, "bulk-finished")

    batch = BulkBatch.objects.get()
    assert batch.rows.filter(state=RowState.SUBMITTED).count() == 4
    assert {r.swap.state for r in batch.rows.filter(state=RowState.SUBMITTED)} == {
        SwapState.CODE_ISSUED
    }
    assert len([c for c in sim.calls() if c["method"] == "PUT"]) == 4
