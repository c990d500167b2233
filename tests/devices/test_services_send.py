"""swap_send against the running simulator (real HTTP), called directly; test_tasks runs it
through the worker. Also the one retry budget: SWAP_MAX_ATTEMPTS, whatever the task says."""

import logging

import pytest
from celery.exceptions import MaxRetriesExceededError

from audit.models import AuditAction, AuditEvent
from devices.codes import decrypt_code, hash_code
from devices.models import Swap, SwapState, VerifyCodeMode
from devices.services import SwapRetryLater, swap_send
from devices.tasks import swap_send as swap_send_task
from tests.devices.swap_support import (
    REFRESH_PATH,
    offline_device,
    pending_binding,
    refresh_calls,
    request,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def device(sim, platform_settings):
    return offline_device(sim)


@pytest.fixture
def field_user():
    return UserFactory(field_service=True)


def test_send_stores_the_code_encrypted_and_audits_without_it(sim, device, field_user, caplog):
    swap = request(device, field_user)
    caplog.set_level(logging.DEBUG)
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    code = pending_binding(sim, device)["verifyCode"]
    assert swap.state == SwapState.CODE_ISSUED
    assert swap.attempts == 1
    assert decrypt_code(swap.verify_code_encrypted) == code
    assert code not in swap.verify_code_encrypted
    assert swap.verify_code_hint == code[-2:]
    assert swap.verify_code_hash == hash_code(code)
    assert 179 <= (swap.code_expires_at - swap.code_issued_at).total_seconds() <= 180
    actions = list(
        AuditEvent.objects.filter(swap_id=swap.pk).values_list("action", flat=True).order_by("id")
    )
    assert actions == [AuditAction.SWAP_REQUESTED, AuditAction.SWAP_SENT, AuditAction.CODE_ISSUED]
    for event in AuditEvent.objects.filter(swap_id=swap.pk):
        assert code not in f"{event.before} {event.after} {event.detail}"
    for record in caplog.records:
        assert code not in record.getMessage()
        assert code not in repr(record.args)


def test_send_of_a_never_expiring_code_has_no_expiry(sim, device):
    actor = UserFactory(helpdesk=True, perms=["devices.issue_never_expiring_code"])
    swap = request(device, actor, timeout_seconds=0)
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert swap.state == SwapState.CODE_ISSUED
    assert swap.code_expires_at is None
    assert pending_binding(sim, device)["expiresAt"] is None


def test_second_delivery_of_the_same_send_is_a_no_op(sim, device, field_user):
    swap = request(device, field_user)
    swap_send(swap_id=swap.pk)
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert swap.attempts == 1
    assert len(refresh_calls(sim, device)) == 1


def test_same_as_node_id_sends_the_node_id_as_the_code(sim, device, field_user):
    swap = request(device, field_user, verify_code_mode=VerifyCodeMode.SAME_AS_NODE_ID)
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert pending_binding(sim, device)["verifyCode"] == swap.new_node_id
    assert decrypt_code(swap.verify_code_encrypted) == swap.new_node_id


def test_custom_code_is_sent_then_erased_from_the_request(sim, device, field_user):
    swap = request(
        device, field_user, verify_code_mode=VerifyCodeMode.CUSTOM, custom_verify_code="Cust0m-42"
    )
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert pending_binding(sim, device)["verifyCode"] == "Cust0m-42"
    assert swap.custom_verify_code_encrypted == ""
    assert decrypt_code(swap.verify_code_encrypted) == "Cust0m-42"


def test_device_online_at_send_time_fails_with_code_and_handling_text(sim, device, field_user):
    swap = request(device, field_user)
    sim.set_device(device.device_id, status="ONLINE")
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert swap.state == SwapState.FAILED
    assert swap.error_code == "100611"
    assert "offline" in swap.error_text.lower()
    assert AuditEvent.objects.filter(swap_id=swap.pk, action=AuditAction.SWAP_FAILED).exists()


def test_retryable_error_requeues_with_backoff_then_succeeds(sim, device, field_user):
    swap = request(device, field_user)
    sim.faults(mode="50252", count=1, path_contains=REFRESH_PATH)
    with pytest.raises(SwapRetryLater) as info:
        swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert swap.state == SwapState.QUEUED
    assert swap.attempts == 1
    assert swap.error_code == "50252"
    assert swap.next_attempt_at is not None
    assert info.value.countdown > 0
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert swap.state == SwapState.CODE_ISSUED
    assert swap.attempts == 2
    assert swap.error_code == ""


def test_retryable_errors_end_as_failed_after_the_last_attempt(sim, device, field_user, settings):
    settings.SWAP_MAX_ATTEMPTS = 2
    swap = request(device, field_user)
    sim.faults(mode="50252", path_contains=REFRESH_PATH)
    with pytest.raises(SwapRetryLater):
        swap_send(swap_id=swap.pk)
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert swap.state == SwapState.FAILED
    assert swap.attempts == 2
    assert swap.error_code == "50252"
    assert swap.error_text.startswith("Gave up after 2 attempts.")


# 12 is past the task's former max_retries=8: the budget must be SWAP_MAX_ATTEMPTS alone.
@pytest.mark.parametrize("max_attempts", [3, 12])
def test_the_task_retries_exactly_the_attempts_the_setting_allows_then_the_swap_fails(
    sim, device, field_user, settings, max_attempts
):
    settings.SWAP_MAX_ATTEMPTS = max_attempts
    swap = request(device, field_user)
    sim.faults(mode="50252", path_contains=REFRESH_PATH)
    # apply() runs the task and each of its retries eagerly, in this process, one after another.
    result = swap_send_task.apply(args=(swap.pk,))
    assert not isinstance(result.result, MaxRetriesExceededError)
    assert result.state == "SUCCESS"
    swap.refresh_from_db()
    assert swap.state == SwapState.FAILED
    assert swap.attempts == max_attempts
    assert swap.error_text.startswith(f"Gave up after {max_attempts} attempts.")
    assert len(refresh_calls(sim, device)) == max_attempts


def test_unanswered_send_is_reconciled_before_it_is_sent_again(sim, device, field_user):
    swap = request(device, field_user)
    sim.faults(mode="no_answer", count=1, path_contains=REFRESH_PATH)
    with pytest.raises(SwapRetryLater):
        swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert swap.state == SwapState.QUEUED
    assert swap.error_code == "outcome_unknown"
    assert "unchanged and offline" in swap.error_text
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert swap.state == SwapState.CODE_ISSUED
    calls = [
        (c["method"], c["path"])
        for c in sim.calls()
        if device.device_id in c["path"] and c["method"] in ("PUT", "GET")
    ]
    put = ("PUT", REFRESH_PATH + device.device_id)
    first, second = (i for i, call in enumerate(calls) if call == put)
    between = calls[first + 1 : second]
    assert ("GET", f"/iocm/app/dm/v1.4.0/devices/{device.device_id}") in between


def test_recovered_send_that_finds_the_device_online_fails_without_sending(sim, device, field_user):
    swap = request(device, field_user)
    Swap.objects.filter(pk=swap.pk).update(needs_reconcile=True)
    sim.set_device(device.device_id, status="ONLINE")
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert swap.state == SwapState.FAILED
    assert "Check the device on the platform" in swap.error_text
    assert refresh_calls(sim, device) == []
