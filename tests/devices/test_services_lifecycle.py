"""Bound, expired, cancel, re-issue, reveal and the sweeper, against the running simulator."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from devices.codes import hash_code
from devices.limits import DEFAULT_TIMEOUT_SECONDS
from devices.models import Swap, SwapState, VerifyCodeMode
from devices.services import (
    SwapRefused,
    swap_cancel,
    swap_mark_bound,
    swap_mark_expired,
    swap_reissue,
    swap_reveal_code,
    swaps_sweep,
)
from devices.services.lifecycle import reissue_timeout_seconds
from tests.devices.swap_support import issued_swap, offline_device
from tests.factories import SwapFactory, UserFactory, make_imei

pytestmark = pytest.mark.django_db


@pytest.fixture
def device(sim, platform_settings):
    return offline_device(sim)


@pytest.fixture
def field_user():
    return UserFactory(field_service=True)


def test_bound_push_closes_the_swap_erases_the_code_and_moves_the_mirror(sim, device, field_user):
    swap, code = issued_swap(sim, device, field_user)
    assert sim.bind(swap.new_node_id, code)["bound"] is True
    at = timezone.now()
    closed = swap_mark_bound(device_id=device.device_id, node_id=swap.new_node_id, at=at)
    assert closed.pk == swap.pk
    swap.refresh_from_db()
    device.refresh_from_db()
    assert swap.state == SwapState.BOUND
    assert swap.bound_at == at
    assert swap.verify_code_encrypted == ""
    assert swap.verify_code_hint == code[-2:]
    assert swap.verify_code_hash == hash_code(code)
    assert device.node_id == swap.new_node_id
    assert device.node_key == swap.new_node_id.removeprefix("urn:imei:")
    events = AuditEvent.objects.count()
    again = swap_mark_bound(device_id=device.device_id, node_id=swap.new_node_id, at=at)
    assert again.pk == swap.pk
    assert AuditEvent.objects.count() == events  # a duplicate push changes nothing


def test_bound_push_for_another_node_id_matches_no_swap(sim, device, field_user):
    swap, _code = issued_swap(sim, device, field_user)
    assert swap_mark_bound(device_id=device.device_id, node_id=make_imei(), at=None) is None
    swap.refresh_from_db()
    assert swap.state == SwapState.CODE_ISSUED


def test_expiry_erases_the_code_and_is_idempotent(sim, device, field_user):
    swap, code = issued_swap(sim, device, field_user)
    swap_mark_expired(swap=swap)
    swap_mark_expired(swap=swap)
    swap.refresh_from_db()
    assert swap.state == SwapState.EXPIRED
    assert swap.verify_code_encrypted == ""
    assert swap.verify_code_hash == hash_code(code)
    assert AuditEvent.objects.filter(swap_id=swap.pk, action=AuditAction.SWAP_EXPIRED).count() == 1


def test_requester_sees_the_code_and_the_view_is_audited_once(sim, device, field_user):
    swap, code = issued_swap(sim, device, field_user)
    assert swap_reveal_code(swap=swap, actor=field_user) == code
    assert swap_reveal_code(swap=swap, actor=field_user) == code
    viewed = AuditEvent.objects.filter(swap_id=swap.pk, action=AuditAction.CODE_VIEWED)
    assert viewed.count() == 1
    helpdesk = UserFactory(helpdesk=True)
    assert swap_reveal_code(swap=swap, actor=helpdesk) == code
    assert viewed.count() == 2


@pytest.mark.parametrize("role", ["supervisor", "field_service"])
def test_supervisors_and_other_field_staff_never_see_the_code(role):
    swap = SwapFactory(issued=True, verify_code="SECRET99")
    with pytest.raises(PermissionDenied):
        swap_reveal_code(swap=swap, actor=UserFactory(role=role))
    assert not AuditEvent.objects.filter(action=AuditAction.CODE_VIEWED).exists()


def test_a_code_past_its_expiry_is_not_shown():
    swap = SwapFactory(
        issued=True, verify_code="SECRET99", code_expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(SwapRefused, match="expired"):
        swap_reveal_code(swap=swap, actor=swap.requested_by)


def test_requester_cancels_a_queued_swap_others_may_not(field_user):
    swap = SwapFactory(requested_by=field_user)
    with pytest.raises(PermissionDenied):
        swap_cancel(swap=swap, actor=UserFactory(field_service=True))
    cancelled = swap_cancel(swap=swap, actor=field_user)
    assert cancelled.state == SwapState.CANCELLED
    assert cancelled.finished_at is not None
    with pytest.raises(SwapRefused, match="already cancelled"):
        swap_cancel(swap=swap, actor=field_user)


def test_helpdesk_cancels_an_issued_swap_and_its_code_is_erased():
    swap = SwapFactory(issued=True, verify_code="SECRET99")
    cancelled = swap_cancel(swap=swap, actor=UserFactory(helpdesk=True))
    assert cancelled.state == SwapState.CANCELLED
    assert cancelled.verify_code_encrypted == ""


def test_a_swap_being_sent_cannot_be_cancelled():
    swap = SwapFactory(state=SwapState.SENDING)
    with pytest.raises(SwapRefused, match="being sent"):
        swap_cancel(swap=swap, actor=UserFactory(helpdesk=True))


def test_reissue_of_an_expired_swap_makes_a_new_swap_with_the_same_inputs(device, field_user):
    old = SwapFactory(device=device, requested_by=field_user, expired=True, timeout_seconds=600)
    new = swap_reissue(swap=old, actor=field_user)
    assert new.pk != old.pk
    assert new.reissue_of == old
    assert new.state == SwapState.QUEUED
    assert (new.new_node_id, new.timeout_seconds) == (old.new_node_id, 600)
    assert AuditEvent.objects.filter(swap_id=new.pk, action=AuditAction.SWAP_REISSUED).exists()


def test_reissue_of_a_too_short_validity_offers_the_default_one(device, field_user):
    old = SwapFactory(device=device, requested_by=field_user, expired=True, timeout_seconds=30)
    new = swap_reissue(swap=old, actor=field_user)
    assert new.timeout_seconds == DEFAULT_TIMEOUT_SECONDS
    assert old.timeout_seconds == 30


@pytest.mark.parametrize(
    ("old_seconds", "offered"),
    [
        (1, DEFAULT_TIMEOUT_SECONDS),
        (DEFAULT_TIMEOUT_SECONDS - 1, DEFAULT_TIMEOUT_SECONDS),
        (DEFAULT_TIMEOUT_SECONDS, DEFAULT_TIMEOUT_SECONDS),
        (3600, 3600),
        (0, 0),
    ],
)
def test_the_reissue_validity_is_never_shorter_than_the_default(old_seconds, offered):
    swap = Swap(timeout_seconds=old_seconds)
    assert reissue_timeout_seconds(swap=swap) == offered


def test_reissue_of_an_open_swap_is_refused(field_user):
    swap = SwapFactory(requested_by=field_user)
    with pytest.raises(SwapRefused, match="Only an expired, failed or cancelled swap"):
        swap_reissue(swap=swap, actor=field_user)


def test_reissue_of_a_custom_code_swap_asks_for_the_code_again(field_user):
    swap = SwapFactory(requested_by=field_user, failed=True, verify_code_mode=VerifyCodeMode.CUSTOM)
    with pytest.raises(SwapRefused, match="enter the code again"):
        swap_reissue(swap=swap, actor=field_user)


# --- sweeper ----------------------------------------------------------------------------------


def test_sweeper_expires_lapsed_codes_requeues_due_sends_and_recovers_stuck_ones(
    django_capture_on_commit_callbacks, monkeypatch, settings
):
    sent = []
    monkeypatch.setattr("devices.tasks.swap_send.delay", lambda swap_id: sent.append(swap_id))
    long_ago = timezone.now() - timedelta(hours=1)
    lapsed = SwapFactory(issued=True, verify_code="SECRET99", code_expires_at=long_ago)
    fresh = SwapFactory(
        issued=True, verify_code="SECRET98", code_expires_at=timezone.now() + timedelta(hours=1)
    )
    due = SwapFactory(next_attempt_at=long_ago)
    stuck = SwapFactory(state=SwapState.SENDING)
    Swap.objects.filter(pk=stuck.pk).update(updated_at=long_ago)
    running = SwapFactory(state=SwapState.SENDING)
    with django_capture_on_commit_callbacks(execute=True):
        result = swaps_sweep()
    assert (result.requeued, result.recovered, result.expired) == (1, 1, 1)
    assert sorted(sent) == sorted([due.pk, stuck.pk])
    states = dict(Swap.objects.values_list("pk", "state"))
    assert states[lapsed.pk] == SwapState.EXPIRED
    assert states[fresh.pk] == SwapState.CODE_ISSUED
    assert states[running.pk] == SwapState.SENDING
    stuck.refresh_from_db()
    assert (stuck.state, stuck.needs_reconcile) == (SwapState.QUEUED, True)
