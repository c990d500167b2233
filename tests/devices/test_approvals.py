"""Four eyes: the approval policy's rules (with injected time), swap_request holding risky swaps
back, swap_approve / swap_reject (permissions, audit, idempotence), the approvals queue page,
the requester's swap page, and an approved swap sent by a real worker to the simulator."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from devices.approvals import (
    ApprovalPolicy,
    approval_queue,
    check_approval_policy,
    swap_approval_reasons,
)
from devices.codes import encrypt_code
from devices.identifiers import NodeId
from devices.models import Chipset, Swap, SwapState, VerifyCodeMode
from devices.services import SwapRefused, swap_approve, swap_reject, swap_request
from tests.devices.factories import make_device, make_imei, make_swap, make_user
from tests.support.worker import wait_for

# Thursday 26 Nov 2026 in UTC; the default policy's working hours are Mon-Fri 07:00-19:00.
THURSDAY_NOON = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CUSTOM_CODE = "Secret-Custom-Code-77"


@pytest.fixture
def policy_settings(settings):
    """The documented defaults, every rule on, read in UTC (a test changes one at a time)."""
    settings.TIME_ZONE = "UTC"
    settings.SWAP_APPROVAL_NEVER_EXPIRING = True
    settings.SWAP_APPROVAL_CODE_MODES = "same_as_node_id,custom"
    settings.SWAP_APPROVAL_REPEAT_DAYS = 7
    settings.SWAP_APPROVAL_WORKING_HOURS = "07:00-19:00"
    settings.SWAP_APPROVAL_WORKING_DAYS = "mon-fri"
    return settings


@pytest.fixture
def only_code_mode_rule(policy_settings):
    """Deterministic whatever the clock says: only the verifyCode-mode rule is on."""
    policy_settings.SWAP_APPROVAL_NEVER_EXPIRING = False
    policy_settings.SWAP_APPROVAL_REPEAT_DAYS = 0
    policy_settings.SWAP_APPROVAL_WORKING_HOURS = ""
    return policy_settings


def reasons(device=None, *, mode=VerifyCodeMode.PLATFORM, timeout=180, now=THURSDAY_NOON):
    return swap_approval_reasons(
        device=device or make_device(), verify_code_mode=mode, timeout_seconds=timeout, now=now
    )


def pending_swap(**fields):
    values = {
        "state": SwapState.PENDING_APPROVAL,
        "needs_approval": True,
        "approval_reasons": ["The verifyCode is a custom one chosen by the requester."],
        "verify_code_mode": VerifyCodeMode.CUSTOM,
        "custom_verify_code_encrypted": encrypt_code(CUSTOM_CODE),
        "reason": "INC-1 replaced after a flood",
    }
    values.update(fields)
    return make_swap(**values)


def events(swap, action):
    return list(AuditEvent.objects.filter(swap_id=swap.pk, action=action))


# --- the policy ---------------------------------------------------------------------------------


@pytest.mark.django_db
class TestPolicyRules:
    def test_an_ordinary_swap_in_working_hours_needs_no_approval(self, policy_settings):
        assert reasons() == []

    def test_a_never_expiring_code_needs_approval(self, policy_settings):
        assert reasons(timeout=0) == ["The code never expires (validity 0)."]
        assert reasons(timeout=1) == []

    def test_the_never_expiring_rule_can_be_turned_off(self, policy_settings):
        policy_settings.SWAP_APPROVAL_NEVER_EXPIRING = False
        assert reasons(timeout=0) == []

    def test_a_code_equal_to_the_node_id_needs_approval(self, policy_settings):
        assert reasons(mode=VerifyCodeMode.SAME_AS_NODE_ID) == [
            "The verifyCode is the same as the new nodeId, so it can be guessed."
        ]

    def test_a_custom_code_needs_approval(self, policy_settings):
        assert reasons(mode=VerifyCodeMode.CUSTOM) == [
            "The verifyCode is a custom one chosen by the requester."
        ]

    def test_the_listed_code_modes_are_configurable(self, policy_settings):
        policy_settings.SWAP_APPROVAL_CODE_MODES = " custom "
        assert reasons(mode=VerifyCodeMode.SAME_AS_NODE_ID) == []
        assert len(reasons(mode=VerifyCodeMode.CUSTOM)) == 1
        policy_settings.SWAP_APPROVAL_CODE_MODES = ""
        assert reasons(mode=VerifyCodeMode.CUSTOM) == []

    def test_a_second_swap_within_the_window_needs_approval(self, policy_settings):
        device = make_device()
        earlier = make_swap(
            device=device, state=SwapState.BOUND, bound_at=THURSDAY_NOON - timedelta(days=6)
        )
        found = reasons(device)
        assert found == [
            f"The device was already swapped on 20 Nov 2026 12:00 (swap #{earlier.pk}); "
            "a second swap within 7 days needs approval."
        ]

    def test_a_swap_bound_before_the_window_does_not_count(self, policy_settings):
        device = make_device()
        make_swap(
            device=device,
            state=SwapState.BOUND,
            bound_at=THURSDAY_NOON - timedelta(days=7, seconds=1),
        )
        assert reasons(device) == []

    def test_only_a_completed_swap_of_the_same_device_counts(self, policy_settings):
        device = make_device()
        recent = THURSDAY_NOON - timedelta(hours=1)
        for state in (SwapState.EXPIRED, SwapState.FAILED, SwapState.CANCELLED):
            make_swap(device=device, state=state, finished_at=recent)
        make_swap(state=SwapState.BOUND, bound_at=recent)  # another device
        assert reasons(device) == []

    def test_the_repeat_rule_is_off_at_zero_days(self, policy_settings):
        device = make_device()
        make_swap(device=device, state=SwapState.BOUND, bound_at=THURSDAY_NOON)
        policy_settings.SWAP_APPROVAL_REPEAT_DAYS = 0
        assert reasons(device) == []

    @pytest.mark.parametrize(
        ("moment", "outside"),
        [
            (datetime(2026, 11, 26, 7, 0, tzinfo=UTC), False),  # Thursday, first minute
            (datetime(2026, 11, 26, 18, 59, tzinfo=UTC), False),
            (datetime(2026, 11, 26, 6, 59, tzinfo=UTC), True),
            (datetime(2026, 11, 26, 19, 0, tzinfo=UTC), True),  # the end is exclusive
            (datetime(2026, 11, 28, 12, 0, tzinfo=UTC), True),  # Saturday
            (datetime(2026, 11, 30, 8, 0, tzinfo=UTC), False),  # Monday
        ],
    )
    def test_a_request_outside_working_hours_needs_approval(self, policy_settings, moment, outside):
        found = reasons(now=moment)
        assert bool(found) is outside
        if outside:
            day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[moment.weekday()]
            assert found == [
                f"Requested outside working hours (Mon-Fri 07:00-19:00 UTC): {day} {moment:%H:%M}."
            ]

    def test_working_hours_are_read_in_the_configured_time_zone(self, policy_settings):
        policy_settings.TIME_ZONE = "Europe/Berlin"
        # 06:30 UTC is 07:30 in Berlin (winter time): inside; 18:30 UTC is 19:30: outside.
        assert reasons(now=datetime(2026, 11, 26, 6, 30, tzinfo=UTC)) == []
        late = reasons(now=datetime(2026, 11, 26, 18, 30, tzinfo=UTC))
        assert late == [
            "Requested outside working hours (Mon-Fri 07:00-19:00 Europe/Berlin): Thu 19:30."
        ]

    def test_a_night_shift_belongs_to_the_day_it_starts(self, policy_settings):
        policy_settings.SWAP_APPROVAL_WORKING_HOURS = "22:00-06:00"
        policy_settings.SWAP_APPROVAL_WORKING_DAYS = "fri"
        assert reasons(now=datetime(2026, 11, 27, 23, 0, tzinfo=UTC)) == []  # Fri night
        assert reasons(now=datetime(2026, 11, 28, 5, 59, tzinfo=UTC)) == []  # Sat early
        assert reasons(now=datetime(2026, 11, 28, 22, 30, tzinfo=UTC)) != []  # Sat night
        assert reasons(now=datetime(2026, 11, 27, 3, 0, tzinfo=UTC)) != []  # Thu's night

    def test_working_days_accept_lists_and_wrapping_ranges(self, policy_settings):
        policy_settings.SWAP_APPROVAL_WORKING_DAYS = "sat-mon"
        assert reasons(now=datetime(2026, 11, 29, 12, 0, tzinfo=UTC)) == []  # Sunday
        assert reasons(now=THURSDAY_NOON) != []
        policy_settings.SWAP_APPROVAL_WORKING_DAYS = "tue, thu"
        assert reasons(now=THURSDAY_NOON) == []

    def test_the_working_hours_rule_is_off_when_empty(self, policy_settings):
        policy_settings.SWAP_APPROVAL_WORKING_HOURS = ""
        assert reasons(now=datetime(2026, 11, 28, 3, 0, tzinfo=UTC)) == []

    def test_every_rule_that_applies_gives_its_own_reason(self, policy_settings):
        device = make_device()
        make_swap(device=device, state=SwapState.BOUND, bound_at=THURSDAY_NOON)
        found = reasons(
            device,
            mode=VerifyCodeMode.CUSTOM,
            timeout=0,
            now=datetime(2026, 11, 28, 23, 0, tzinfo=UTC),
        )
        assert [r.split(" ")[1] for r in found] == ["code", "verifyCode", "device", "outside"]

    def test_time_defaults_to_now(self, policy_settings, monkeypatch):
        saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
        monkeypatch.setattr(timezone, "now", lambda: saturday)
        assert reasons(now=None) != []


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("SWAP_APPROVAL_CODE_MODES", "custom,sometimes", "unknown mode(s) sometimes"),
        ("SWAP_APPROVAL_REPEAT_DAYS", "a week", "whole number of days"),
        ("SWAP_APPROVAL_REPEAT_DAYS", -1, "0 (off) or more"),
        ("SWAP_APPROVAL_WORKING_HOURS", "7-19", "not a range like 07:00-19:00"),
        ("SWAP_APPROVAL_WORKING_HOURS", "07:00-25:00", "not a range like 07:00-19:00"),
        ("SWAP_APPROVAL_WORKING_HOURS", "08:00-08:00", "starts where it ends"),
        ("SWAP_APPROVAL_WORKING_DAYS", "mon-funday", "not a day or a range"),
        ("SWAP_APPROVAL_WORKING_DAYS", " , ", "is empty"),
    ],
)
def test_a_bad_policy_setting_is_reported_clearly(policy_settings, setting, value, message):
    setattr(policy_settings, setting, value)
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        ApprovalPolicy.from_settings()
    errors = check_approval_policy()
    assert [e.id for e in errors] == ["devices.E101"]
    assert message in errors[0].msg


def test_the_default_policy_passes_the_system_check(policy_settings):
    assert check_approval_policy() == []
    policy = ApprovalPolicy.from_settings()
    assert policy.working_hours is not None
    assert policy.working_hours.zone == ZoneInfo("UTC")
    assert policy.working_hours.days == frozenset(range(5))


# --- swap_request holds a risky swap back ------------------------------------------------------


@pytest.fixture
def live_device(sim, platform_settings):
    """A mirrored device that is offline and activated on the simulator."""
    found = sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, limit=1)[0]
    return make_device(
        device_id=found["deviceId"],
        node_id=found["nodeId"],
        name=found["deviceInfo"]["name"],
        status=found["status"],
        activated=True,
    )


def request_swap(device, actor, *, mode=VerifyCodeMode.SAME_AS_NODE_ID, **kw):
    return swap_request(
        device=device,
        new_node_id=NodeId.from_imei(make_imei(), chipset=Chipset.HISILICON),
        verify_code_mode=mode,
        actor=actor,
        **kw,
    )


@pytest.mark.django_db
def test_a_risky_request_waits_for_approval_and_is_not_sent(
    only_code_mode_rule, live_device, sim, django_capture_on_commit_callbacks
):
    requester = make_user(role="field_service")
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
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        swap = request_swap(live_device, make_user(role="field_service"), mode="platform")
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
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        swap = request_swap(live_device, make_user(role="field_service"), mode="platform")
    assert swap.state == SwapState.PENDING_APPROVAL
    assert swap.approval_reasons == [
        "Requested outside working hours (Mon-Fri 07:00-19:00 UTC): Sun 23:30."
    ]
    assert callbacks == []


# --- swap_approve / swap_reject -----------------------------------------------------------------


@pytest.mark.django_db
class TestApprove:
    def test_helpdesk_approves_and_the_send_is_queued_after_commit(
        self, django_capture_on_commit_callbacks
    ):
        swap = pending_swap()
        approver = make_user(role="helpdesk")
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
        swap = swap_approve(swap=pending_swap(), actor=make_user(role="supervisor"))
        assert swap.state == SwapState.QUEUED

    def test_the_requester_cannot_approve_their_own_swap(self, django_capture_on_commit_callbacks):
        helpdesk = make_user(role="helpdesk")  # may approve others' swaps, not their own
        swap = pending_swap(requested_by=helpdesk)
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
        swap = pending_swap()
        with pytest.raises(PermissionDenied, match="helpdesk or supervisor"):
            swap_approve(swap=swap, actor=make_user(role=role))
        swap.refresh_from_db()
        assert swap.state == SwapState.PENDING_APPROVAL
        assert events(swap, AuditAction.SWAP_APPROVED) == []

    def test_an_inactive_approver_cannot_approve(self):
        swap = pending_swap()
        with pytest.raises(PermissionDenied):
            swap_approve(swap=swap, actor=make_user(role="helpdesk", is_active=False))

    def test_a_double_click_approves_once(self, django_capture_on_commit_callbacks):
        swap = pending_swap()
        approver = make_user(role="supervisor")
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            swap_approve(swap=swap, actor=approver)
            again = swap_approve(swap=Swap.objects.get(pk=swap.pk), actor=approver)
        assert again.state == SwapState.QUEUED
        assert len(callbacks) == 1
        assert len(events(swap, AuditAction.SWAP_APPROVED)) == 1

    def test_a_second_approver_is_told_who_was_first(self):
        swap = pending_swap()
        swap_approve(swap=swap, actor=make_user(role="supervisor", first_name="Sue"))
        with pytest.raises(SwapRefused, match="already approved by Sue") as refused:
            swap_approve(swap=Swap.objects.get(pk=swap.pk), actor=make_user(role="helpdesk"))
        assert refused.value.code == "already_approved"
        assert len(events(swap, AuditAction.SWAP_APPROVED)) == 1

    def test_a_rejected_swap_cannot_be_approved(self):
        swap = pending_swap()
        swap_reject(swap=swap, actor=make_user(role="helpdesk"), reason="Wrong device")
        with pytest.raises(SwapRefused, match=r"already rejected .*: Wrong device"):
            swap_approve(swap=Swap.objects.get(pk=swap.pk), actor=make_user(role="supervisor"))
        swap.refresh_from_db()
        assert swap.state == SwapState.REJECTED

    def test_a_cancelled_swap_cannot_be_approved(self):
        swap = pending_swap(state=SwapState.CANCELLED)
        with pytest.raises(SwapRefused, match="cancelled; there is nothing to approve"):
            swap_approve(swap=swap, actor=make_user(role="helpdesk"))


@pytest.mark.django_db
class TestReject:
    def test_reject_ends_the_swap_with_the_reason_and_erases_the_custom_code(self):
        swap = pending_swap()
        approver = make_user(role="supervisor")
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
        swap = pending_swap()
        with pytest.raises(SwapRefused, match="Say why") as refused:
            swap_reject(swap=swap, actor=make_user(role="helpdesk"), reason=reason)
        assert refused.value.field == "reason"
        swap.refresh_from_db()
        assert swap.state == SwapState.PENDING_APPROVAL
        assert swap.custom_verify_code_encrypted != ""
        assert events(swap, AuditAction.SWAP_REJECTED) == []

    def test_a_too_long_reason_is_refused(self):
        swap = pending_swap()
        with pytest.raises(SwapRefused, match="at most 500 characters; this one has 501"):
            swap_reject(swap=swap, actor=make_user(role="helpdesk"), reason="x" * 501)
        swap.refresh_from_db()
        assert swap.state == SwapState.PENDING_APPROVAL

    def test_control_characters_never_reach_the_reason(self):
        swap = pending_swap()
        result = swap_reject(swap=swap, actor=make_user(role="helpdesk"), reason="no\x00 way\x7f")
        assert result.rejection_reason == "no way"

    def test_the_requester_cannot_reject_their_own_swap(self):
        helpdesk = make_user(role="helpdesk")
        swap = pending_swap(requested_by=helpdesk)
        with pytest.raises(SwapRefused, match="another person must reject it"):
            swap_reject(swap=swap, actor=helpdesk, reason="changed my mind")

    def test_field_service_cannot_reject(self):
        with pytest.raises(PermissionDenied):
            swap_reject(swap=pending_swap(), actor=make_user(role="field_service"), reason="no")

    def test_a_double_click_rejects_once(self):
        swap = pending_swap()
        approver = make_user(role="helpdesk")
        swap_reject(swap=swap, actor=approver, reason="Wrong unit")
        again = swap_reject(swap=Swap.objects.get(pk=swap.pk), actor=approver, reason="Wrong unit")
        assert again.state == SwapState.REJECTED
        assert len(events(swap, AuditAction.SWAP_REJECTED)) == 1

    def test_an_approved_swap_cannot_be_rejected(self):
        swap = pending_swap()
        swap_approve(swap=swap, actor=make_user(role="helpdesk"))
        with pytest.raises(SwapRefused, match="cancel it from its swap page"):
            swap_reject(
                swap=Swap.objects.get(pk=swap.pk), actor=make_user(role="supervisor"), reason="x"
            )
        assert Swap.objects.get(pk=swap.pk).state == SwapState.QUEUED


@pytest.mark.django_db
def test_no_audit_event_of_an_approval_holds_the_custom_code():
    first, second = pending_swap(), pending_swap()
    swap_approve(swap=first, actor=make_user(role="helpdesk"))
    swap_reject(swap=second, actor=make_user(role="supervisor"), reason="Not this one")
    for event in AuditEvent.objects.filter(swap_id__in=[first.pk, second.pk]):
        dumped = json.dumps([event.before, event.after, event.detail, str(event)])
        assert CUSTOM_CODE not in dumped


# --- the queue page -----------------------------------------------------------------------------


def queue_url():
    return reverse("devices:approval_queue")


@pytest.mark.django_db
class TestQueuePage:
    def test_approvers_see_what_waits_with_device_requester_and_reasons(self, client):
        requester = make_user(role="field_service", first_name="Fran", last_name="Field")
        swap = pending_swap(requested_by=requester)
        make_swap(state=SwapState.QUEUED)  # not waiting: not listed
        client.force_login(make_user(role="supervisor"))
        response = client.get(queue_url())
        assert response.status_code == 200
        page = response.content.decode()
        assert f"Swap #{swap.pk}" in page
        assert page.count('class="approval card"') == 1
        assert swap.device.name in page
        assert "Fran Field" in page
        assert "The verifyCode is a custom one chosen by the requester." in page
        assert "INC-1 replaced after a flood" in page
        assert "Approve and send" in page
        assert CUSTOM_CODE not in page  # approvers never see a code

    def test_the_requesters_own_swap_is_listed_without_buttons(self, client):
        helpdesk = make_user(role="helpdesk")
        own = pending_swap(requested_by=helpdesk)
        other = pending_swap()
        client.force_login(helpdesk)
        page = client.get(queue_url()).content.decode()
        own_row = page.split(f'id="approval-{own.pk}"')[1].split('class="approval card"')[0]
        other_row = page.split(f'id="approval-{other.pk}"')[1].split("</ol>")[0]
        assert "You requested this; another person must approve it." in own_row
        assert "swap_approve" not in own_row and "/approve/" not in own_row
        assert "/reject/" not in own_row
        assert f"/approvals/{other.pk}/approve/" in other_row
        assert f"/approvals/{other.pk}/reject/" in other_row

    def test_an_empty_queue_says_so(self, client):
        client.force_login(make_user(role="helpdesk"))
        assert "Nothing waits for approval." in client.get(queue_url()).content.decode()

    def test_field_service_may_not_open_the_queue(self, client):
        pending_swap()
        client.force_login(make_user(role="field_service"))
        assert client.get(queue_url()).status_code == 403

    def test_anonymous_users_are_sent_to_sign_in(self, client):
        response = client.get(queue_url())
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))

    def test_query_count_is_the_same_for_one_and_fifty_rows(self, client):
        client.force_login(make_user(role="supervisor"))
        pending_swap()
        client.get(queue_url())  # warm the session and content types
        with CaptureQueriesContext(connection) as one:
            assert client.get(queue_url()).content.decode().count('class="approval card"') == 1
        for _ in range(49):
            pending_swap()
        with CaptureQueriesContext(connection) as fifty:
            assert client.get(queue_url()).content.decode().count('class="approval card"') == 50
        assert len(fifty) == len(one)

    def test_the_queue_lists_the_oldest_first_and_says_when_more_wait(self):
        swaps = [pending_swap() for _ in range(3)]
        queue = approval_queue(limit=2)
        assert [s.pk for s in queue.items] == [swaps[0].pk, swaps[1].pk]
        assert queue.more is True


def approve_url(swap):
    return reverse("devices:swap_approve", args=[swap.pk])


def reject_url(swap):
    return reverse("devices:swap_reject", args=[swap.pk])


HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.mark.django_db
class TestQueueActions:
    def test_htmx_approve_returns_the_decided_row(self, client):
        swap = pending_swap()
        client.force_login(make_user(role="supervisor"))
        response = client.post(approve_url(swap), **HTMX)
        assert response.status_code == 200
        row = response.content.decode()
        assert row.lstrip().startswith(f'<li class="approval card" id="approval-{swap.pk}"')
        assert "Approved by you" in row
        assert f"Swap #{swap.pk} approved; it is being sent." in row
        assert "<html" not in row
        assert Swap.objects.get(pk=swap.pk).state == SwapState.QUEUED

    def test_plain_post_approve_redirects_to_the_queue_with_a_message(self, client):
        swap = pending_swap()
        client.force_login(make_user(role="helpdesk"))
        response = client.post(approve_url(swap), follow=True)
        assert response.redirect_chain == [(queue_url(), 302)]
        assert f"Swap #{swap.pk} approved" in response.content.decode()
        assert Swap.objects.get(pk=swap.pk).state == SwapState.QUEUED

    def test_htmx_reject_without_a_reason_keeps_the_row_and_says_why(self, client):
        swap = pending_swap()
        client.force_login(make_user(role="helpdesk"))
        response = client.post(reject_url(swap), {"reason": "  "}, **HTMX)
        assert response.status_code == 200
        row = response.content.decode()
        assert "Say why the swap is rejected" in row
        assert "Approve and send" in row  # still undecided, buttons still there
        assert Swap.objects.get(pk=swap.pk).state == SwapState.PENDING_APPROVAL

    def test_plain_post_reject_ends_the_swap(self, client):
        swap = pending_swap()
        client.force_login(make_user(role="supervisor"))
        response = client.post(reject_url(swap), {"reason": "Ticket closed"}, follow=True)
        assert response.redirect_chain == [(queue_url(), 302)]
        swap.refresh_from_db()
        assert swap.state == SwapState.REJECTED
        assert swap.rejection_reason == "Ticket closed"

    def test_a_forged_approval_of_ones_own_swap_is_refused(self, client):
        helpdesk = make_user(role="helpdesk")
        swap = pending_swap(requested_by=helpdesk)
        client.force_login(helpdesk)
        response = client.post(approve_url(swap), follow=True)
        assert "another person must approve it" in response.content.decode()
        assert Swap.objects.get(pk=swap.pk).state == SwapState.PENDING_APPROVAL

    def test_field_service_posts_are_forbidden_and_change_nothing(self, client):
        swap = pending_swap()
        client.force_login(make_user(role="field_service"))
        assert client.post(approve_url(swap)).status_code == 403
        assert client.post(reject_url(swap), {"reason": "no"}).status_code == 403
        assert Swap.objects.get(pk=swap.pk).state == SwapState.PENDING_APPROVAL

    def test_unknown_swap_is_404_and_get_is_405(self, client):
        client.force_login(make_user(role="helpdesk"))
        assert client.post("/approvals/999999/approve/").status_code == 404
        swap = pending_swap()
        assert client.get(approve_url(swap)).status_code == 405


# --- the requester's swap page ---------------------------------------------------------------


@pytest.mark.django_db
class TestRequesterSwapPage:
    def test_pending_swap_shows_who_must_approve_and_why(self, client):
        swap = pending_swap()
        client.force_login(swap.requested_by)
        page = client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()
        assert "Waiting for approval by a helpdesk or supervisor user:" in page
        assert "The verifyCode is a custom one chosen by the requester." in page
        assert 'hx-trigger="every 2s"' in page  # the panel keeps polling
        assert CUSTOM_CODE not in page

    def test_the_polled_panel_flips_to_rejected_with_the_reason(self, client):
        swap = pending_swap()
        client.force_login(swap.requested_by)
        url = reverse("devices:swap_detail", args=[swap.pk])
        first = client.get(url, **HTMX).content.decode()
        version = first.split("?v=")[1].split('"')[0]
        assert client.get(f"{url}?v={version}", **HTMX).status_code == 204  # unchanged
        swap_reject(swap=swap, actor=make_user(role="supervisor", first_name="Sue"), reason="Dup")
        flipped = client.get(f"{url}?v={version}", **HTMX)
        assert flipped.status_code == 200
        panel = flipped.content.decode()
        assert "Rejected by Sue" in panel
        assert "Rejected: Dup" in panel
        assert "every 2s" not in panel  # a final state stops the polling

    def test_the_polled_panel_flips_to_queued_once_approved(self, client):
        swap = pending_swap()
        client.force_login(swap.requested_by)
        url = reverse("devices:swap_detail", args=[swap.pk])
        version = client.get(url, **HTMX).content.decode().split("?v=")[1].split('"')[0]
        swap_approve(swap=swap, actor=make_user(role="helpdesk"))
        panel = client.get(f"{url}?v={version}", **HTMX).content.decode()
        assert "Queued" in panel
        assert "Waiting for approval" not in panel

    def test_a_supervisor_cannot_see_the_code_of_an_approved_swap(self, client):
        code = "APPROVED-CODE-91"
        swap = pending_swap()
        supervisor = make_user(role="supervisor")
        swap_approve(swap=swap, actor=supervisor)
        Swap.objects.filter(pk=swap.pk).update(
            state=SwapState.CODE_ISSUED,
            verify_code_encrypted=encrypt_code(code),
            verify_code_hint=code[-2:],
            code_issued_at=timezone.now(),
            code_expires_at=timezone.now() + timedelta(minutes=3),
        )
        client.force_login(supervisor)
        page = client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()
        assert "Code issued" in page
        assert code not in page
        assert "Only the requester and the helpdesk see the code." in page
        client.force_login(swap.requested_by)
        assert code in client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()


# --- end to end: approve, then the real worker sends ------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_approved_swap_is_sent_by_the_worker_to_the_platform(
    only_code_mode_rule, live_device, sim, celery_worker_process
):
    requester = make_user(role="field_service")
    swap = request_swap(live_device, requester)
    assert swap.state == SwapState.PENDING_APPROVAL
    assert sim.device(live_device.device_id)["binding"] is None
    puts = [c for c in sim.calls() if c["method"] == "PUT"]
    assert puts == []

    swap_approve(swap=swap, actor=make_user(role="supervisor"))

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
