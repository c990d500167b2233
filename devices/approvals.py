"""Four eyes: which swaps wait for a helpdesk or supervisor user's approval, and why.

The policy comes from settings (SWAP_APPROVAL_*, see iotadmin/settings.py); each rule that
applies adds one reason in plain words, shown to the requester and to the approvers. The
approvals queue (the reads the queue page needs) lives here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from devices.code_modes import requires_node_id_code
from devices.models import Device, Swap, SwapState, VerifyCodeMode

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_HOURS_PATTERN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
QUEUE_LIMIT = 200


@dataclass(frozen=True)
class WorkingHours:
    """Working days (0 = Monday) and hours in minutes after midnight; an `end` before `start`
    spans midnight (a night shift belongs to the day it starts)."""

    start: int
    end: int
    days: frozenset[int]
    zone: ZoneInfo

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        if self.start < self.end:
            return local.weekday() in self.days and self.start <= minute < self.end
        if minute >= self.start:
            return local.weekday() in self.days
        return minute < self.end and (local.weekday() - 1) % 7 in self.days

    def describe(self) -> str:
        return (
            f"{_describe_days(self.days)} {_clock(self.start)}-{_clock(self.end)} {self.zone.key}"
        )


@dataclass(frozen=True)
class ApprovalPolicy:
    """The rules in force; `from_settings()` reads and checks them."""

    never_expiring: bool
    code_modes: frozenset[str]
    repeat_days: int
    working_hours: WorkingHours | None
    zone: ZoneInfo

    @classmethod
    def from_settings(cls) -> ApprovalPolicy:
        zone_name = settings.TIME_ZONE or "UTC"
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ImproperlyConfigured(f"TIME_ZONE {zone_name!r} is not a known zone") from exc
        return cls(
            never_expiring=bool(settings.SWAP_APPROVAL_NEVER_EXPIRING),
            code_modes=parse_code_modes(settings.SWAP_APPROVAL_CODE_MODES),
            repeat_days=parse_repeat_days(settings.SWAP_APPROVAL_REPEAT_DAYS),
            working_hours=parse_working_hours(
                settings.SWAP_APPROVAL_WORKING_HOURS, settings.SWAP_APPROVAL_WORKING_DAYS, zone
            ),
            zone=zone,
        )


# --- parsing the settings ---------------------------------------------------------------------


def parse_code_modes(value: Any) -> frozenset[str]:
    """ "same_as_node_id,custom" -> the verifyCode modes that need approval ("" = none)."""
    items = value if isinstance(value, list | tuple | set | frozenset) else str(value).split(",")
    modes = frozenset(str(item).strip().lower() for item in items if str(item).strip())
    unknown = sorted(modes - set(VerifyCodeMode.values))
    if unknown:
        raise ImproperlyConfigured(
            f"SWAP_APPROVAL_CODE_MODES: unknown mode(s) {', '.join(unknown)}; "
            f"use any of {', '.join(VerifyCodeMode.values)}"
        )
    return modes


def parse_repeat_days(value: Any) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(
            f"SWAP_APPROVAL_REPEAT_DAYS must be a whole number of days (0 = off), not {value!r}"
        ) from None
    if days < 0:
        raise ImproperlyConfigured("SWAP_APPROVAL_REPEAT_DAYS must be 0 (off) or more")
    return days


def parse_working_days(value: str) -> frozenset[int]:
    """ "mon-fri", "mon,wed,fri", "fri-mon" (wraps) -> weekday numbers (0 = Monday)."""
    days: set[int] = set()
    for part in str(value or "").lower().split(","):
        part = part.strip()
        if not part:
            continue
        first, _, last = (p.strip()[:3] for p in part.partition("-"))
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise ImproperlyConfigured(
                f"SWAP_APPROVAL_WORKING_DAYS: {part!r} is not a day or a range like mon-fri"
            )
        start = DAY_NAMES.index(first)
        end = DAY_NAMES.index(last) if last else start
        days.update((start + offset) % 7 for offset in range((end - start) % 7 + 1))
    if not days:
        raise ImproperlyConfigured(
            "SWAP_APPROVAL_WORKING_DAYS is empty; name the working days (mon-fri), or empty "
            "SWAP_APPROVAL_WORKING_HOURS to turn the working-hours rule off"
        )
    return frozenset(days)


def parse_working_hours(hours: str, days: str, zone: ZoneInfo) -> WorkingHours | None:
    """ "07:00-19:00" (or "22:00-06:00" over midnight) -> WorkingHours; empty -> None (off)."""
    if not str(hours or "").strip():
        return None
    match = _HOURS_PATTERN.match(str(hours))
    problem = f"SWAP_APPROVAL_WORKING_HOURS: {hours!r} is not a range like 07:00-19:00"
    if not match:
        raise ImproperlyConfigured(problem)
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60:
        raise ImproperlyConfigured(problem)
    if start == end % (24 * 60):
        raise ImproperlyConfigured(
            f"SWAP_APPROVAL_WORKING_HOURS: {hours!r} starts where it ends; to turn the rule "
            "off, leave it empty"
        )
    return WorkingHours(start=start, end=end, days=parse_working_days(days), zone=zone)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _describe_days(days: frozenset[int]) -> str:
    ordered = sorted(days)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{DAY_LABELS[ordered[0]]}-{DAY_LABELS[ordered[-1]]}"
    return ", ".join(DAY_LABELS[d] for d in ordered)


# --- the rules ----------------------------------------------------------------------------------


def swap_approval_reasons(
    *,
    device: Device,
    verify_code_mode: str,
    timeout_seconds: int,
    now: datetime | None = None,
    policy: ApprovalPolicy | None = None,
) -> list[str]:
    """Why a swap with these inputs needs a second person's approval; [] when it does not."""
    policy = policy or ApprovalPolicy.from_settings()
    now = now or timezone.now()
    reasons: list[str] = []
    if policy.never_expiring and timeout_seconds == 0:
        reasons.append("The code never expires (validity 0).")
    # For a unit that attaches with its nodeId (NB-IoT) it is the only code that binds: not risky.
    node_id_is_required = verify_code_mode == VerifyCodeMode.SAME_AS_NODE_ID and (
        requires_node_id_code(device)
    )
    if verify_code_mode in policy.code_modes and not node_id_is_required:
        if verify_code_mode == VerifyCodeMode.SAME_AS_NODE_ID:
            reasons.append("The verifyCode is the same as the new nodeId, so it can be guessed.")
        elif verify_code_mode == VerifyCodeMode.CUSTOM:
            reasons.append("The verifyCode is a custom one chosen by the requester.")
        else:
            reasons.append("The verifyCode is generated by the platform (policy: approve these).")
    if policy.repeat_days and device.pk is not None:
        since = now - timedelta(days=policy.repeat_days)
        earlier = (
            Swap.objects.filter(device=device, state=SwapState.BOUND, bound_at__gte=since)
            .order_by("-bound_at")
            .only("pk", "bound_at")
            .first()
        )
        if earlier is not None and earlier.bound_at is not None:
            when = earlier.bound_at.astimezone(policy.zone)
            reasons.append(
                f"The device was already swapped on {when:%d %b %Y %H:%M} (swap #{earlier.pk}); "
                f"a second swap within {policy.repeat_days} days needs approval."
            )
    hours = policy.working_hours
    if hours is not None and not hours.contains(now):
        local = now.astimezone(hours.zone)
        reasons.append(
            f"Requested outside working hours ({hours.describe()}): "
            f"{DAY_LABELS[local.weekday()]} {local:%H:%M}."
        )
    return reasons


# --- the approvals queue (reads) ----------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalQueue:
    items: list[Swap]
    more: bool  # more swaps wait than the page shows (oldest first)


def approval_queue(*, limit: int = QUEUE_LIMIT) -> ApprovalQueue:
    """Swaps waiting for approval, oldest first, with device and requester (one query)."""
    rows = list(
        Swap.objects.filter(state=SwapState.PENDING_APPROVAL)
        .select_related("device", "requested_by")
        .order_by("created_at", "id")[: limit + 1]
    )
    return ApprovalQueue(items=rows[:limit], more=len(rows) > limit)


def approval_swap(*, swap_id: int) -> Swap:
    """One swap for an approval action, with what its row shows (Swap.DoesNotExist otherwise)."""
    return Swap.objects.select_related("device", "requested_by", "decided_by").get(pk=swap_id)


@checks.register()
def check_approval_policy(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """`manage.py check` (and every start) reports a SWAP_APPROVAL_* setting it cannot read."""
    try:
        ApprovalPolicy.from_settings()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="devices.E101")]
    return []


# Approvers named on a waiting swap's page; the rest are summed up in words.
APPROVERS_SHOWN = 5


def _approvers(*, exclude_user_id: int | None) -> Any:
    from django.contrib.auth import get_user_model

    from devices.permissions import Perm

    users = get_user_model().objects.with_perm(
        Perm.APPROVE_SWAP, is_active=True, backend="django.contrib.auth.backends.ModelBackend"
    )
    if exclude_user_id is not None:
        users = users.exclude(pk=exclude_user_id)
    return users


def swap_approver_names(*, swap: Swap, limit: int = APPROVERS_SHOWN) -> list[str]:
    """Who may approve this swap (active users with the approve permission, not its
    requester): at most `limit` names, by username (one query)."""
    users = _approvers(exclude_user_id=swap.requested_by_id).order_by("username")[:limit]
    return [user.get_full_name() or user.get_username() for user in users]


def swap_approver_emails(*, swap: Swap) -> list[str]:
    """The e-mail addresses of everyone who may approve this swap (one query)."""
    users = _approvers(exclude_user_id=swap.requested_by_id).exclude(email="")
    return sorted({user.email for user in users})


def approval_pending_count() -> int:
    """How many swaps wait for approval (one COUNT query), for the nav badge."""
    return Swap.objects.filter(state=SwapState.PENDING_APPROVAL).count()
