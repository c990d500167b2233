"""swap_approve / swap_reject (services/approvals.py): permissions, audit, idempotence; and an
approved swap sent by a real worker to the simulator."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied

from audit.models import AuditAction, AuditEvent
from devices.models import Swap, SwapState
from devices.services import SwapRefused, swap_approve, swap_reject
from tests.devices.approval_support import events, request_swap
from tests.factories import CUSTOM_CODE, SwapFactory, UserFactory
from tests.support.worker import wait_for


@pytest.mark.django_db
class TestApprove:
    def test_helpdesk_approves_and_the_send_is_queued_after_commit(
        self, django_capture_on_commit_callbacks
    ):
        swap = SwapFactory(pending_approval=True)
        approver = UserFactory(helpdesk=True)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            result = swap_approve(swap=swap, actor=approver)
        assert result.state == SwapState.QUEUED
        assert result.decided_by == approver
        assert result.decided_at is not None
        assert result.needs_approval is True  # it stays marked as a swap that needed approval
        assert len(callbacks) == 1
        (event,) = events(swap, AuditAction.SWAP_APPROVED)
        assert event.actor_id == approver.pk
        assert event.before == {"state": "pending_approval"}
        assert event.after["state"] == "queued"
        assert event.after["approval_reasons"] == swap.approval_reasons

    def test_a_supervisor_may_approve(self):
        swap = swap_approve(
            swap=SwapFactory(pending_approval=True), actor=UserFactory(supervisor=True)
        )
        assert swap.state == SwapState.QUEUED

    def test_the_requester_cannot_approve_their_own_swap(self, django_capture_on_commit_callbacks):
        helpdesk = UserFactory(helpdesk=True)  # may approve others' swaps, not their own
        swap = SwapFactory(pending_approval=True, requested_by=helpdesk)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            with pytest.raises(SwapRefused, match="another person must approve it") as refused:
                swap_approve(swap=swap, actor=helpdesk)
        assert refused.value.code == "own_swap"
        swap.refresh_from_db()
        assert swap.state == SwapState.PENDING_APPROVAL
        assert swap.decided_by is None
        assert callbacks == []
        assert events(swap, AuditAction.SWAP_APPROVED) == []

    @pytest.mark.parametrize("role", ["field_service", None])
    def test_a_user_without_the_permission_cannot_approve(self, role):
        swap = SwapFactory(pending_approval=True)
        with pytest.raises(PermissionDenied, match="helpdesk or supervisor"):
            swap_approve(swap=swap, actor=UserFactory(role=role))
        swap.refresh_from_db()
        assert swap.state == SwapState.PENDING_APPROVAL
        assert events(swap, AuditAction.SWAP_APPROVED) == []

    def test_an_inactive_approver_cannot_approve(self):
        swap = SwapFactory(pending_approval=True)
        with pytest.raises(PermissionDenied):
            swap_approve(swap=swap, actor=UserFactory(helpdesk=True, is_active=False))

    def test_a_double_click_approves_once(self, django_capture_on_commit_callbacks):
        swap = SwapFactory(pending_approval=True)
        approver = UserFactory(supervisor=True)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            swap_approve(swap=swap, actor=approver)
            again = swap_approve(swap=Swap.objects.get(pk=swap.pk), actor=approver)
        assert again.state == SwapState.QUEUED
        assert len(callbacks) == 1
        assert len(events(swap, AuditAction.SWAP_APPROVED)) == 1

    def test_a_second_approver_is_told_who_was_first(self):
        swap = SwapFactory(pending_approval=True)
        swap_approve(swap=swap, actor=UserFactory(supervisor=True, first_name="Sue"))
        with pytest.raises(SwapRefused, match="already approved by Sue") as refused:
            swap_approve(swap=Swap.objects.get(pk=swap.pk), actor=UserFactory(helpdesk=True))
        assert refused.value.code == "already_approved"
        assert len(events(swap, AuditAction.SWAP_APPROVED)) == 1

    def test_a_rejected_swap_cannot_be_approved(self):
        swap = SwapFactory(pending_approval=True)
        swap_reject(swap=swap, actor=UserFactory(helpdesk=True), reason="Wrong device")
        with pytest.raises(SwapRefused, match=r"already rejected .*: Wrong device"):
            swap_approve(swap=Swap.objects.get(pk=swap.pk), actor=UserFactory(supervisor=True))
        swap.refresh_from_db()
        assert swap.state == SwapState.REJECTED

    def test_a_cancelled_swap_cannot_be_approved(self):
        swap = SwapFactory(pending_approval=True, state=SwapState.CANCELLED)
        with pytest.raises(SwapRefused, match="cancelled; there is nothing to approve"):
            swap_approve(swap=swap, actor=UserFactory(helpdesk=True))

    def test_approving_again_after_a_cancel_says_it_was_cancelled(self):
        swap = SwapFactory(pending_approval=True)
        approver = UserFactory(supervisor=True, first_name="Sue")
        swap_approve(swap=swap, actor=approver)
        Swap.objects.filter(pk=swap.pk).update(state=SwapState.CANCELLED)
        with pytest.raises(SwapRefused, match="approved by Sue but then cancelled") as refused:
            swap_approve(swap=Swap.objects.get(pk=swap.pk), actor=approver)
        assert refused.value.code == "cancelled"


@pytest.mark.django_db
class TestReject:
    def test_reject_ends_the_swap_with_the_reason_and_erases_the_custom_code(self):
        swap = SwapFactory(pending_approval=True)
        approver = UserFactory(supervisor=True)
        result = swap_reject(
            swap=swap, actor=approver, reason="  Wrong device:\n check the\tlabel "
        )
        assert result.state == SwapState.REJECTED
        assert result.rejection_reason == "Wrong device: check the label"
        assert result.decided_by == approver
        assert result.finished_at is not None
        assert result.custom_verify_code_encrypted == ""
        assert not result.is_open
        (event,) = events(swap, AuditAction.SWAP_REJECTED)
        assert event.actor_id == approver.pk
        assert event.detail == "Wrong device: check the label"
        assert event.after["state"] == "rejected"

    @pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
    def test_a_reason_is_required(self, reason):
        swap = SwapFactory(pending_approval=True)
        with pytest.raises(SwapRefused, match="Say why") as refused:
            swap_reject(swap=swap, actor=UserFactory(helpdesk=True), reason=reason)
        assert refused.value.field == "reason"
        swap.refresh_from_db()
        assert swap.state == SwapState.PENDING_APPROVAL
        assert swap.custom_verify_code_encrypted != ""
        assert events(swap, AuditAction.SWAP_REJECTED) == []

    def test_a_too_long_reason_is_refused(self):
        swap = SwapFactory(pending_approval=True)
        with pytest.raises(SwapRefused, match="at most 500 characters; this one has 501"):
            swap_reject(swap=swap, actor=UserFactory(helpdesk=True), reason="x" * 501)
        swap.refresh_from_db()
        assert swap.state == SwapState.PENDING_APPROVAL

    def test_control_characters_never_reach_the_reason(self):
        swap = SwapFactory(pending_approval=True)
        result = swap_reject(swap=swap, actor=UserFactory(helpdesk=True), reason="no\x00 way\x7f")
        assert result.rejection_reason == "no way"

    def test_the_requester_cannot_reject_their_own_swap(self):
        helpdesk = UserFactory(helpdesk=True)
        swap = SwapFactory(pending_approval=True, requested_by=helpdesk)
        with pytest.raises(SwapRefused, match="another person must reject it"):
            swap_reject(swap=swap, actor=helpdesk, reason="changed my mind")

    def test_field_service_cannot_reject(self):
        with pytest.raises(PermissionDenied):
            swap_reject(
                swap=SwapFactory(pending_approval=True),
                actor=UserFactory(field_service=True),
                reason="no",
            )

    def test_a_double_click_rejects_once(self):
        swap = SwapFactory(pending_approval=True)
        approver = UserFactory(helpdesk=True)
        swap_reject(swap=swap, actor=approver, reason="Wrong unit")
        again = swap_reject(swap=Swap.objects.get(pk=swap.pk), actor=approver, reason="Wrong unit")
        assert again.state == SwapState.REJECTED
        assert len(events(swap, AuditAction.SWAP_REJECTED)) == 1

    def test_an_approved_swap_cannot_be_rejected(self):
        swap = SwapFactory(pending_approval=True)
        swap_approve(swap=swap, actor=UserFactory(helpdesk=True))
        with pytest.raises(SwapRefused, match="cancel it from its swap page"):
            swap_reject(
                swap=Swap.objects.get(pk=swap.pk), actor=UserFactory(supervisor=True), reason="x"
            )
        assert Swap.objects.get(pk=swap.pk).state == SwapState.QUEUED


@pytest.mark.django_db
def test_no_audit_event_of_an_approval_holds_the_custom_code():
    first, second = SwapFactory(pending_approval=True), SwapFactory(pending_approval=True)
    swap_approve(swap=first, actor=UserFactory(helpdesk=True))
    swap_reject(swap=second, actor=UserFactory(supervisor=True), reason="Not this one")
    for event in AuditEvent.objects.filter(swap_id__in=[first.pk, second.pk]):
        dumped = json.dumps([event.before, event.after, event.detail, str(event)])
        assert CUSTOM_CODE not in dumped


# --- end to end: approve, then the real worker sends ------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_approved_swap_is_sent_by_the_worker_to_the_platform(
    only_code_mode_rule, live_device, sim, celery_worker_process
):
    requester = UserFactory(field_service=True)
    swap = request_swap(live_device, requester)
    assert swap.state == SwapState.PENDING_APPROVAL
    assert sim.device(live_device.device_id)["binding"] is None
    puts = [c for c in sim.calls() if c["method"] == "PUT"]
    assert puts == []

    swap_approve(swap=swap, actor=UserFactory(supervisor=True))

    def issued():
        swap.refresh_from_db()
        return swap.state in (SwapState.CODE_ISSUED, SwapState.FAILED) and swap

    wait_for(issued, timeout=60)
    assert swap.state == SwapState.CODE_ISSUED, swap.error_text
    binding = sim.device(live_device.device_id)["binding"]
    assert binding["nodeId"] == swap.new_node_id
    assert binding["verifyCode"].lower() == swap.new_node_id.lower()  # same_as_node_id
    assert len([c for c in sim.calls() if c["method"] == "PUT"]) == 1
    actions = list(
        AuditEvent.objects.filter(swap_id=swap.pk).order_by("id").values_list("action", flat=True)
    )
    assert actions == [
        AuditAction.SWAP_REQUESTED,
        AuditAction.SWAP_APPROVED,
        AuditAction.SWAP_SENT,
        AuditAction.CODE_ISSUED,
    ]
