"""swap_request against the running simulator (real HTTP): what a request writes and queues,
and how the approval policy holds a risky one back. The refusals are in test_services_checks."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from devices.codes import decrypt_code
from devices.models import Swap, SwapState, VerifyCodeMode
from devices.services import SwapRefused
from devices.services import checks as check_services
from tests.devices.approval_support import events, request_swap
from tests.devices.swap_support import offline_device, request
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def device(sim, platform_settings):
    return offline_device(sim)


@pytest.fixture
def field_user():
    return UserFactory(field_service=True)


def test_request_creates_a_queued_swap_audited_and_sends_after_commit(
    device, field_user, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr("devices.tasks.swap_send.delay", lambda *a, **k: sent.append((a, k)))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        swap = request(device, field_user, reason="ticket 42")
    assert len(callbacks) == 1
    assert sent == [((swap.pk,), {})]  # the id only: never a code or an object
    swap.refresh_from_db()
    assert swap.state == SwapState.QUEUED
    assert swap.old_node_id == device.node_id
    assert swap.requested_by == field_user
    event = AuditEvent.objects.get(action=AuditAction.SWAP_REQUESTED, swap_id=swap.pk)
    assert event.device_id == device.device_id
    assert event.after["new_node_id"] == swap.new_node_id


def test_double_submit_creates_one_swap(device, field_user):
    first = request(device, field_user)
    with pytest.raises(SwapRefused) as info:
        request(device, field_user)
    assert info.value.message.startswith(f"This device already has an open swap (#{first.pk}")
    assert Swap.objects.filter(device=device).count() == 1


def test_database_constraint_refuses_a_racing_second_swap(device, field_user, monkeypatch):
    first = request(device, field_user)
    real = check_services.open_swap_for_device
    calls = []

    def racing(*, device):  # the early check misses the other request's fresh row
        calls.append(device)
        return None if len(calls) == 1 else real(device=device)

    monkeypatch.setattr(check_services, "open_swap_for_device", racing)
    with pytest.raises(SwapRefused, match=rf"already has an open swap \(#{first.pk}"):
        request(device, field_user)
    assert Swap.objects.filter(device=device).count() == 1


def test_custom_code_is_stored_encrypted(device, field_user):
    swap = request(
        device, field_user, verify_code_mode=VerifyCodeMode.CUSTOM, custom_verify_code="Cust0m-42"
    )
    assert "Cust0m-42" not in swap.custom_verify_code_encrypted
    assert decrypt_code(swap.custom_verify_code_encrypted) == "Cust0m-42"


def test_supervisor_may_not_request_a_swap(device):
    with pytest.raises(PermissionDenied):
        request(device, UserFactory(supervisor=True))
    assert Swap.objects.count() == 0


# --- swap_request(live_check=False): bulk rows trust the mirror -------------------------------


def test_without_live_check_a_request_makes_no_platform_call(sim, device, field_user):
    calls_before = len(sim.calls())
    swap = request(device, field_user, live_check=False)
    assert swap.state == SwapState.QUEUED
    assert sim.calls()[calls_before:] == []


# --- the approval policy holds a risky swap back ----------------------------------------------


@pytest.mark.django_db
def test_a_risky_request_waits_for_approval_and_is_not_sent(
    only_code_mode_rule, live_device, sim, django_capture_on_commit_callbacks
):
    requester = UserFactory(field_service=True)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        swap = request_swap(live_device, requester)
    swap.refresh_from_db()
    assert swap.state == SwapState.PENDING_APPROVAL
    assert swap.needs_approval is True
    assert swap.approval_reasons == [
        "The verifyCode is the same as the new nodeId, so it can be guessed."
    ]
    assert callbacks == []  # nothing handed to the worker
    assert not [c for c in sim.calls() if c["method"] == "PUT"]
    (requested,) = events(swap, AuditAction.SWAP_REQUESTED)
    assert requested.after["approval_reasons"] == swap.approval_reasons


@pytest.mark.django_db
def test_an_ordinary_request_is_queued_and_sent_as_before(
    only_code_mode_rule, live_device, django_capture_on_commit_callbacks
):
    requester = UserFactory(field_service=True)  # before: its groups are on_commit work too
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        swap = request_swap(live_device, requester, mode="platform")
    swap.refresh_from_db()
    assert swap.state == SwapState.QUEUED
    assert swap.needs_approval is False
    assert swap.approval_reasons == []
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_a_request_outside_working_hours_waits(
    policy_settings, live_device, monkeypatch, django_capture_on_commit_callbacks
):
    sunday_night = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: sunday_night)
    requester = UserFactory(field_service=True)  # before: its groups are on_commit work too
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        swap = request_swap(live_device, requester, mode="platform")
    assert swap.state == SwapState.PENDING_APPROVAL
    assert swap.approval_reasons == [
        "Requested outside working hours (Mon-Fri 07:00-19:00 UTC): Sun 23:30."
    ]
    assert callbacks == []
