"""Idempotent refreshes: every attempt of a swap sends the same verifyCode, so a refresh the
platform applies late (after we gave up on its answer) pends the code the person is shown.
Also the attempt record, and the opt-in mode where the platform chooses codes."""

import re

import pytest

from audit.models import AuditAction, AuditEvent
from devices.codes import decrypt_code, hash_code
from devices.models import SwapAttempt, SwapAttemptOutcome, SwapState, VerifyCodeMode
from devices.platform_wiring import reset_client
from devices.services import SwapRetryLater, swap_send
from tests.devices.swap_support import (
    REFRESH_PATH,
    offline_device,
    pending_binding,
    refresh_calls,
    request,
)
from tests.factories import UserFactory
from tests.support.worker import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def device(sim, platform_settings):
    return offline_device(sim)


@pytest.fixture
def field_user():
    return UserFactory(field_service=True)


@pytest.fixture
def short_read_timeout(platform_settings):
    platform_settings.IOT_READ_TIMEOUT = 0.5
    reset_client()
    return platform_settings


def test_platform_code_is_generated_here_in_the_platform_format_and_sent(sim, device, field_user):
    swap = request(device, field_user)
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    code = decrypt_code(swap.verify_code_encrypted)
    assert re.fullmatch(r"[A-Z0-9]{8}", code)
    assert pending_binding(sim, device)["verifyCode"] == code
    assert swap.verify_code_mode == VerifyCodeMode.PLATFORM  # still "generated" for everyone
    assert swap.custom_verify_code_encrypted == ""  # erased once the code is stored


def test_every_attempt_sends_the_same_generated_code(sim, device, field_user):
    swap = request(device, field_user)
    sim.faults(mode="50252", count=1, path_contains=REFRESH_PATH, processed=True)
    with pytest.raises(SwapRetryLater):
        swap_send(swap_id=swap.pk)
    applied_first = pending_binding(sim, device)["verifyCode"]
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert swap.state == SwapState.CODE_ISSUED
    assert decrypt_code(swap.verify_code_encrypted) == applied_first
    assert [e["verifyCode"] for e in sim.journal()] == [applied_first, applied_first]


def test_a_refresh_applied_after_the_read_timeout_leaves_the_shown_code_pending(
    sim, device, field_user, short_read_timeout
):
    # The first refresh goes unanswered and is applied only after the second one was.
    swap = request(device, field_user)
    sim.faults(
        mode="no_answer",
        count=1,
        processed=True,
        apply_after_seconds=3.0,
        path_contains=REFRESH_PATH,
    )
    with pytest.raises(SwapRetryLater):
        swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert (swap.state, swap.error_code) == (SwapState.QUEUED, "outcome_unknown")
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert swap.state == SwapState.CODE_ISSUED
    journal = wait_for(lambda: len(sim.journal()) == 2 and sim.journal(), timeout=15)
    shown = decrypt_code(swap.verify_code_encrypted)
    assert journal[-1]["verifyCode"] == shown  # the late one was applied last
    assert pending_binding(sim, device)["verifyCode"] == shown
    attempts = list(SwapAttempt.objects.filter(swap=swap).order_by("number"))
    assert [(a.number, a.outcome) for a in attempts] == [
        (1, SwapAttemptOutcome.OUTCOME_UNKNOWN),
        (2, SwapAttemptOutcome.OK),
    ]
    assert all(a.code_hash == hash_code(shown) for a in attempts)
    assert all(a.finished_at and a.finished_at >= a.started_at for a in attempts)


def test_each_attempt_is_recorded_and_audited_without_the_code(sim, device, field_user):
    swap = request(device, field_user)
    sim.faults(mode="50252", count=1, path_contains=REFRESH_PATH)
    with pytest.raises(SwapRetryLater):
        swap_send(swap_id=swap.pk)
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    code = decrypt_code(swap.verify_code_encrypted)
    first, second = SwapAttempt.objects.filter(swap=swap).order_by("number")
    assert (first.outcome, first.http_status, first.error_code) == (
        SwapAttemptOutcome.RETRYABLE,
        500,
        "50252",
    )
    assert (second.outcome, second.http_status) == (SwapAttemptOutcome.OK, 200)
    attempted = AuditEvent.objects.get(swap_id=swap.pk, action=AuditAction.SWAP_ATTEMPTED)
    assert attempted.after["attempt"] == 1
    assert attempted.after["error_code"] == "50252"
    sent = AuditEvent.objects.get(swap_id=swap.pk, action=AuditAction.SWAP_SENT)
    assert sent.detail == "attempt 2"
    for event in AuditEvent.objects.filter(swap_id=swap.pk):
        text = f"{event.before} {event.after} {event.detail}"
        assert code not in text
        assert hash_code(code) not in text


def test_a_call_our_own_limiter_held_back_is_no_recorded_attempt(
    sim, device, field_user, monkeypatch
):
    from devices.platform_wiring import get_client
    from oceanconnect import PlatformThrottled

    def held_back(*args, **kwargs):
        raise PlatformThrottled(retry_after=3.0)  # our limiter: nothing was sent

    monkeypatch.setattr(get_client(), "refresh_device_key", held_back)
    swap = request(device, field_user)
    with pytest.raises(SwapRetryLater):
        swap_send(swap_id=swap.pk)
    assert not SwapAttempt.objects.filter(swap=swap).exists()
    assert refresh_calls(sim, device) == []


# --- the platform chooses the code (IOT_PLATFORM_GENERATES_CODES) -----------------------------


@pytest.fixture
def platform_generates(platform_settings):
    platform_settings.IOT_PLATFORM_GENERATES_CODES = True
    platform_settings.IOT_LATE_APPLY_SECONDS = 60
    return platform_settings


def test_platform_generated_mode_sends_no_code(sim, device, field_user, platform_generates):
    swap = request(device, field_user)
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    code = pending_binding(sim, device)["verifyCode"]
    assert decrypt_code(swap.verify_code_encrypted) == code
    attempt = SwapAttempt.objects.get(swap=swap)
    assert attempt.code_hash == hash_code(code)  # the answer's code, as the platform chose it


def test_platform_generated_mode_waits_out_late_application_before_a_resend(
    sim, device, field_user, platform_generates, short_read_timeout
):
    swap = request(device, field_user)
    sim.faults(mode="no_answer", count=1, path_contains=REFRESH_PATH)
    with pytest.raises(SwapRetryLater) as unknown:
        swap_send(swap_id=swap.pk)
    assert unknown.value.countdown >= 60
    # Delivered early anyway (a redelivery, the sweeper): still no second refresh.
    with pytest.raises(SwapRetryLater) as early:
        swap_send(swap_id=swap.pk)
    assert early.value.countdown > 55
    assert len(refresh_calls(sim, device)) == 1
    swap.refresh_from_db()
    assert swap.state == SwapState.QUEUED
    assert swap.attempts == 1  # waiting is no attempt
    assert swap.error_code == "late_apply_wait"
