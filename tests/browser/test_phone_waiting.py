"""Issue 10, problem 6 on a 390x844 phone: waiting that explains itself.

A swap queued while the worker is stopped says, after a few seconds and without a reload, that
no worker is alive and what to do, and is sent once a worker starts; a retried send says
"attempt n of N" and the next try's time with its zone; a swap waiting for approval names who
can approve. The approval rule and the retry plan are set explicitly in each test (working hours
that exclude now on every day of the week, retry delays), so nothing depends on the weekday or
the time of day.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from devices.models import Swap, SwapState
from tests.browser.conftest import PASSWORD
from tests.browser.test_swap_flow import CODE_PANEL_TIMEOUT, new_imei
from tests.support.browser import log_in, phone_shot
from tests.support.worker import run_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NO_WORKER = "No worker is running to send this swap"


def request_swap(page: Any, live_server: Any, device: Any, seed: int) -> Swap:
    """The common case on the device page: type the new unit's IMEI, press the button."""
    page.goto(f"{live_server.url}/devices/{device.pk}/")
    page.get_by_label("New unit's identifier").fill(new_imei(seed))
    page.get_by_role("button", name="Request the new verifyCode").click()
    page.wait_for_url(re.compile(rf"{live_server.url}/swaps/\d+/$"))
    return Swap.objects.get(device=device)


def test_a_swap_queued_with_the_worker_stopped_says_so_and_is_sent_once_a_worker_starts(
    phone: Any,
    live_server: Any,
    sim: Any,
    platform_settings: Any,
    role_users: dict[str, Any],
    offline_device: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with run_worker(platform_settings):
        pass  # a worker that ran and was stopped (its heartbeat goes with it)
    log_in(phone, live_server.url, "field_service", PASSWORD)
    swap = request_swap(phone, live_server, offline_device, 201)
    panel = phone.locator("#code-panel")
    assert panel.locator("#panel-state").inner_text().strip() == "Queued"

    # The page polls; within a few seconds it says why nothing happens, without a reload.
    notice = panel.get_by_role("alert").filter(has_text=NO_WORKER)
    notice.wait_for(timeout=30_000)
    assert "start the Celery worker" in notice.inner_text()
    assert "It is safe and stays queued" in notice.inner_text()
    swap.refresh_from_db()
    assert swap.state == SwapState.QUEUED
    phone_shot(phone, "6-waiting-no-worker")

    # A worker starts (keeping the queued message): the swap is sent, the notice goes.
    monkeypatch.setattr("tests.support.worker.purge_queue", lambda settings: None)
    with run_worker(platform_settings):
        phone.locator("#verify-code").wait_for(timeout=CODE_PANEL_TIMEOUT)
        assert panel.get_by_text(NO_WORKER).count() == 0


def test_a_retried_send_says_attempt_n_of_n_and_the_next_try_with_its_zone(
    phone: Any,
    live_server: Any,
    sim: Any,
    platform_settings: Any,
    role_users: dict[str, Any],
    offline_device: Any,
) -> None:
    platform_settings.SWAP_MAX_ATTEMPTS = 8
    platform_settings.SWAP_RETRY_BASE_SECONDS = 600  # the next try stays ahead during the test
    platform_settings.SWAP_RETRY_MAX_SECONDS = 600
    platform_settings.IOTADMIN_TIME_ZONE_DISPLAY = "Asia/Tokyo"  # no summer time: always JST
    sim.faults(mode="50252", count=1, path_contains="deviceCredentials")
    log_in(phone, live_server.url, "field_service", PASSWORD)
    with run_worker(platform_settings):
        swap = request_swap(phone, live_server, offline_device, 202)
        state = phone.locator("#code-panel #panel-state")
        phone.locator("#code-panel #panel-state", has_text="Retrying").wait_for(
            timeout=CODE_PANEL_TIMEOUT
        )
        assert state.inner_text().strip() == "Retrying — attempt 2 of 8"
        swap.refresh_from_db()
        assert (swap.state, swap.attempts, swap.error_code) == (SwapState.QUEUED, 1, "50252")
        assert swap.next_attempt_at is not None and swap.next_attempt_at > timezone.now()
        next_try = swap.next_attempt_at.astimezone(ZoneInfo("Asia/Tokyo"))
        plan = phone.locator("#retry-plan").inner_text()
        assert f"tries again by itself, next at {next_try:%H:%M:%S} JST" in plan
        assert "gives up after attempt 8" in plan
        panel = phone.locator("#code-panel").inner_text()
        assert "Attempt 1 did not get through" in panel
        # Maintenance is the last resort, no longer the advice while the dashboard retries.
        assert "tries again by itself; only if every attempt fails, contact platform" in panel
        phone_shot(phone, "6-waiting-retrying")


def working_hours_excluding(now: datetime, zone: str) -> str:
    """A one-minute working window two hours away from `now`: outside it on every day."""
    start = now.astimezone(ZoneInfo(zone)) + timedelta(hours=2)
    end = start + timedelta(minutes=1)
    return f"{start:%H:%M}-{end:%H:%M}"


def test_a_swap_waiting_for_approval_names_who_can_approve(
    phone: Any,
    live_server: Any,
    sim: Any,
    platform_settings: Any,
    role_users: dict[str, Any],
    offline_device: Any,
) -> None:
    platform_settings.SWAP_APPROVAL_WORKING_DAYS = "mon-sun"
    platform_settings.SWAP_APPROVAL_WORKING_HOURS = working_hours_excluding(
        timezone.now(), platform_settings.TIME_ZONE
    )
    platform_settings.EMAIL_HOST = ""
    log_in(phone, live_server.url, "field_service", PASSWORD)
    swap = request_swap(phone, live_server, offline_device, 203)
    assert swap.state == SwapState.PENDING_APPROVAL
    panel = phone.locator("#code-panel")
    assert panel.locator("#panel-state").inner_text().strip() == "Waiting for approval"
    assert "Requested outside working hours" in panel.inner_text()
    approvers = panel.locator("#approvers").inner_text()
    assert "Who can approve: Hal Helpdesk, Sue Supervisor" in approvers
    assert "Fran Field" not in approvers  # the requester cannot approve their own swap
    assert "counted on their Approvals page" in approvers
    phone_shot(phone, "6-waiting-for-approval")
