"""Swap services against the running simulator (real HTTP); the task itself is in test_tasks."""

import logging
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from devices.codes import decrypt_code, hash_code
from devices.identifiers import NodeId
from devices.models import Chipset, Swap, SwapState, VerifyCodeMode
from devices.services import (
    SwapRefused,
    SwapRetryLater,
    swap_cancel,
    swap_mark_bound,
    swap_mark_expired,
    swap_reissue,
    swap_request,
    swap_reveal_code,
    swap_send,
    swaps_sweep,
)
from devices.services import swaps as swap_services
from tests.devices.factories import make_device, make_imei, make_swap, make_user

pytestmark = pytest.mark.django_db

REFRESH_PATH = "/iocm/app/reg/v1.1.0/deviceCredentials/"


def mirror(sim_device):
    """A Device row for a simulator device, as a sync would have written it."""
    return make_device(
        device_id=sim_device["deviceId"],
        node_id=sim_device["nodeId"],
        name=sim_device["deviceInfo"]["name"],
        status=sim_device["status"],
        activated=sim_device["activated"],
    )


@pytest.fixture
def device(sim, platform_settings):
    found = sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, limit=1)
    return mirror(found[0])


@pytest.fixture
def field_user():
    return make_user(role="field_service")


def new_node():
    return NodeId.from_imei(make_imei(), chipset=Chipset.QUALCOMM)


def request(device, actor, **kw):
    kw.setdefault("new_node_id", new_node())
    kw.setdefault("verify_code_mode", VerifyCodeMode.PLATFORM)
    return swap_request(device=device, actor=actor, **kw)


def refresh_calls(sim, device):
    return [
        c
        for c in sim.calls()
        if c["method"] == "PUT" and c["path"] == REFRESH_PATH + device.device_id
    ]


def assert_refused(code, *, device=None):
    """Nothing was written by a refused request."""
    assert Swap.objects.count() == 0
    assert not AuditEvent.objects.filter(action=AuditAction.SWAP_REQUESTED).exists()


# --- swap_request -----------------------------------------------------------------------------


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
    real = swap_services.open_swap_for_device
    calls = []

    def racing(*, device):  # the early check misses the other request's fresh row
        calls.append(device)
        return None if len(calls) == 1 else real(device=device)

    monkeypatch.setattr(swap_services, "open_swap_for_device", racing)
    with pytest.raises(SwapRefused, match=rf"already has an open swap \(#{first.pk}"):
        request(device, field_user)
    assert Swap.objects.filter(device=device).count() == 1


def test_same_node_id_as_today_is_refused_unless_confirmed(device, field_user):
    same = NodeId(value=device.node_id, kind="imei", chipset="qualcomm")
    with pytest.raises(SwapRefused) as info:
        request(device, field_user, new_node_id=same)
    assert info.value.code == "same_node_id"
    assert "same as the device's current nodeId" in info.value.message
    assert_refused("same_node_id")
    swap = request(device, field_user, new_node_id=same, allow_same_node_id=True)
    assert swap.state == SwapState.QUEUED


def test_node_id_of_another_mirrored_device_is_refused(device, field_user):
    other = make_device(node_id="AA:BB:CC:DD:EE:01", name="Other meter")
    with pytest.raises(SwapRefused) as info:
        request(device, field_user, new_node_id=NodeId.from_mac("aabb.ccdd.ee01"))
    assert info.value.field == "new_node_id"
    assert f"already used by device Other meter ({other.device_id})" in info.value.message
    assert_refused("node_id_in_use")


def test_node_id_awaited_by_another_open_swap_is_refused(device, field_user):
    taken = new_node()
    other_swap = make_swap(new_node_id=taken.value)
    with pytest.raises(SwapRefused, match=f"new nodeId of open swap #{other_swap.pk}"):
        request(device, field_user, new_node_id=taken)


def test_online_device_is_refused_with_handling_text(sim, device, field_user):
    sim.set_device(device.device_id, status="ONLINE")
    with pytest.raises(SwapRefused) as info:
        request(device, field_user)
    assert info.value.code == "device_online"
    assert "Take the device offline" in info.value.message
    assert Swap.objects.count() == 0
    device.refresh_from_db()
    assert device.status == "ONLINE"  # the mirror learnt the live status


def test_device_never_activated_is_refused(sim, device, field_user):
    sim.set_device(device.device_id, activated=False)
    device.activated = None
    device.save()
    with pytest.raises(SwapRefused) as info:
        request(device, field_user)
    assert info.value.code == "device_not_active"
    assert "has not been activated" in info.value.message
    assert Swap.objects.count() == 0


def test_device_unknown_to_the_platform_is_refused_with_its_error(platform_settings, field_user):
    ghost = make_device(device_id="00000000-dead-4000-8000-000000000000")
    with pytest.raises(SwapRefused) as info:
        request(ghost, field_user)
    assert info.value.code == "platform_check_failed"
    assert "(error 100403)" in info.value.message
    assert Swap.objects.count() == 0


def test_never_expiring_code_needs_the_dedicated_permission(device, field_user):
    with pytest.raises(SwapRefused) as info:
        request(device, field_user, timeout_seconds=0)
    assert info.value.field == "timeout_seconds"
    assert "never expires" in info.value.message
    allowed = make_user(role="field_service", perms=["devices.issue_never_expiring_code"])
    assert request(device, allowed, timeout_seconds=0).timeout_seconds == 0


@pytest.mark.parametrize("timeout", [-1, 2_147_483_648, "180", 1.5])
def test_validity_outside_the_platforms_range_is_refused(device, field_user, timeout):
    with pytest.raises(SwapRefused) as info:
        request(device, field_user, timeout_seconds=timeout)
    assert info.value.code == "invalid_timeout"
    assert Swap.objects.count() == 0


@pytest.mark.parametrize(
    ("code", "message"),
    [("", "Enter the custom verifyCode."), ("x" * 257, "at most 256 characters; this one has 257")],
)
def test_bad_custom_code_is_refused(device, field_user, code, message):
    with pytest.raises(SwapRefused) as info:
        request(device, field_user, verify_code_mode=VerifyCodeMode.CUSTOM, custom_verify_code=code)
    assert message in info.value.message
    assert info.value.field == "custom_verify_code"
    assert Swap.objects.count() == 0


def test_custom_code_is_stored_encrypted(device, field_user):
    swap = request(
        device, field_user, verify_code_mode=VerifyCodeMode.CUSTOM, custom_verify_code="Cust0m-42"
    )
    assert "Cust0m-42" not in swap.custom_verify_code_encrypted
    assert decrypt_code(swap.custom_verify_code_encrypted) == "Cust0m-42"


def test_supervisor_may_not_request_a_swap(device):
    with pytest.raises(PermissionDenied):
        request(device, make_user(role="supervisor"))
    assert Swap.objects.count() == 0


def test_device_deleted_on_the_platform_is_refused(device, field_user):
    device.deleted_on_platform_at = timezone.now()
    device.save()
    with pytest.raises(SwapRefused, match="deleted on the platform"):
        request(device, field_user)


# --- swap_send (called directly; test_tasks runs it through the worker) -----------------------


def pending_binding(sim, device):
    return sim.device(device.device_id)["binding"]


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
    actor = make_user(role="helpdesk", perms=["devices.issue_never_expiring_code"])
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


# --- bound, expired, cancel, re-issue, reveal -------------------------------------------------


def issued_swap(sim, device, actor):
    swap = request(device, actor)
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    return swap, pending_binding(sim, device)["verifyCode"]


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
    helpdesk = make_user(role="helpdesk")
    assert swap_reveal_code(swap=swap, actor=helpdesk) == code
    assert viewed.count() == 2


@pytest.mark.parametrize("role", ["supervisor", "field_service"])
def test_supervisors_and_other_field_staff_never_see_the_code(role):
    swap = make_swap(verify_code="SECRET99")
    with pytest.raises(PermissionDenied):
        swap_reveal_code(swap=swap, actor=make_user(role=role))
    assert not AuditEvent.objects.filter(action=AuditAction.CODE_VIEWED).exists()


def test_a_code_past_its_expiry_is_not_shown():
    swap = make_swap(verify_code="SECRET99", code_expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(SwapRefused, match="expired"):
        swap_reveal_code(swap=swap, actor=swap.requested_by)


def test_requester_cancels_a_queued_swap_others_may_not(field_user):
    swap = make_swap(requested_by=field_user)
    with pytest.raises(PermissionDenied):
        swap_cancel(swap=swap, actor=make_user(role="field_service"))
    cancelled = swap_cancel(swap=swap, actor=field_user)
    assert cancelled.state == SwapState.CANCELLED
    assert cancelled.finished_at is not None
    with pytest.raises(SwapRefused, match="already cancelled"):
        swap_cancel(swap=swap, actor=field_user)


def test_helpdesk_cancels_an_issued_swap_and_its_code_is_erased():
    swap = make_swap(verify_code="SECRET99")
    cancelled = swap_cancel(swap=swap, actor=make_user(role="helpdesk"))
    assert cancelled.state == SwapState.CANCELLED
    assert cancelled.verify_code_encrypted == ""


def test_a_swap_being_sent_cannot_be_cancelled():
    swap = make_swap(state=SwapState.SENDING)
    with pytest.raises(SwapRefused, match="being sent"):
        swap_cancel(swap=swap, actor=make_user(role="helpdesk"))


def test_reissue_of_an_expired_swap_makes_a_new_swap_with_the_same_inputs(device, field_user):
    old = make_swap(
        device=device, requested_by=field_user, state=SwapState.EXPIRED, timeout_seconds=600
    )
    new = swap_reissue(swap=old, actor=field_user)
    assert new.pk != old.pk
    assert new.reissue_of == old
    assert new.state == SwapState.QUEUED
    assert (new.new_node_id, new.timeout_seconds) == (old.new_node_id, 600)
    assert AuditEvent.objects.filter(swap_id=new.pk, action=AuditAction.SWAP_REISSUED).exists()


def test_reissue_of_an_open_swap_is_refused(field_user):
    swap = make_swap(requested_by=field_user)
    with pytest.raises(SwapRefused, match="Only an expired, failed or cancelled swap"):
        swap_reissue(swap=swap, actor=field_user)


def test_reissue_of_a_custom_code_swap_asks_for_the_code_again(field_user):
    swap = make_swap(
        requested_by=field_user, state=SwapState.FAILED, verify_code_mode=VerifyCodeMode.CUSTOM
    )
    with pytest.raises(SwapRefused, match="enter the code again"):
        swap_reissue(swap=swap, actor=field_user)


# --- sweeper ----------------------------------------------------------------------------------


def test_sweeper_expires_lapsed_codes_requeues_due_sends_and_recovers_stuck_ones(
    django_capture_on_commit_callbacks, monkeypatch, settings
):
    sent = []
    monkeypatch.setattr("devices.tasks.swap_send.delay", lambda swap_id: sent.append(swap_id))
    long_ago = timezone.now() - timedelta(hours=1)
    lapsed = make_swap(verify_code="SECRET99", code_expires_at=long_ago)
    fresh = make_swap(verify_code="SECRET98", code_expires_at=timezone.now() + timedelta(hours=1))
    due = make_swap(next_attempt_at=long_ago)
    stuck = make_swap(state=SwapState.SENDING)
    Swap.objects.filter(pk=stuck.pk).update(updated_at=long_ago)
    running = make_swap(state=SwapState.SENDING)
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


# --- swap_request(live_check=False): bulk rows trust the mirror -------------------------------


def test_without_live_check_a_request_makes_no_platform_call(sim, device, field_user):
    calls_before = len(sim.calls())
    swap = request(device, field_user, live_check=False)
    assert swap.state == SwapState.QUEUED
    assert sim.calls()[calls_before:] == []


def test_without_live_check_an_online_mirror_is_refused_without_asking_the_platform(
    sim, platform_settings, field_user
):
    online = mirror(sim.devices(status="ONLINE", activated=True, owner=sim.app_id, limit=1)[0])
    calls_before = len(sim.calls())
    with pytest.raises(SwapRefused) as refused:
        request(online, field_user, live_check=False)
    assert refused.value.code == "device_online"
    assert "Take the device offline" in refused.value.message
    assert sim.calls()[calls_before:] == []
    assert_refused("device_online")


def test_without_live_check_a_never_activated_mirror_is_refused(sim, platform_settings, field_user):
    inactive = mirror(sim.devices(status="INACTIVE", activated=False, owner=sim.app_id, limit=1)[0])
    with pytest.raises(SwapRefused) as refused:
        request(inactive, field_user, live_check=False)
    assert refused.value.code == "device_not_active"
    assert_refused("device_not_active")
