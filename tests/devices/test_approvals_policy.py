"""The four-eyes policy (devices/approvals.py): its rules with injected time, its settings."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from devices.approvals import ApprovalPolicy, check_approval_policy, swap_approval_reasons
from devices.models import SwapState, VerifyCodeMode
from tests.factories import DeviceFactory, SwapFactory

# Thursday 26 Nov 2026 in UTC; the default policy's working hours are Mon-Fri 07:00-19:00.
THURSDAY_NOON = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def reasons(device=None, *, mode=VerifyCodeMode.PLATFORM, timeout=180, now=THURSDAY_NOON):
    return swap_approval_reasons(
        device=device or DeviceFactory(), verify_code_mode=mode, timeout_seconds=timeout, now=now
    )


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
        device = DeviceFactory()
        earlier = SwapFactory(device=device, bound=True, bound_at=THURSDAY_NOON - timedelta(days=6))
        found = reasons(device)
        assert found == [
            f"The device was already swapped on 20 Nov 2026 12:00 (swap #{earlier.pk}); "
            "a second swap within 7 days needs approval."
        ]

    def test_a_swap_bound_before_the_window_does_not_count(self, policy_settings):
        device = DeviceFactory()
        SwapFactory(
            device=device,
            bound=True,
            bound_at=THURSDAY_NOON - timedelta(days=7, seconds=1),
        )
        assert reasons(device) == []

    def test_only_a_completed_swap_of_the_same_device_counts(self, policy_settings):
        device = DeviceFactory()
        recent = THURSDAY_NOON - timedelta(hours=1)
        for state in (SwapState.EXPIRED, SwapState.FAILED, SwapState.CANCELLED):
            SwapFactory(device=device, state=state, finished_at=recent)
        SwapFactory(bound=True, bound_at=recent)  # another device
        assert reasons(device) == []

    def test_the_repeat_rule_is_off_at_zero_days(self, policy_settings):
        device = DeviceFactory()
        SwapFactory(device=device, bound=True, bound_at=THURSDAY_NOON)
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
        device = DeviceFactory()
        SwapFactory(device=device, bound=True, bound_at=THURSDAY_NOON)
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
