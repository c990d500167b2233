"""The request-time rules a swap must pass before anything is written: inputs, then the device.

Each check raises SwapRefused with a message for the user and the form field it is about; the
swap form, the bulk dry run (`swap_precheck(live_check=False)`, and its batched form in
bulk/checks.py through the `*_refusal` rule functions) and swap_request share them.

The live pre-check never refuses because of the flow limit: when no slot is free within
PRECHECK_MAX_WAIT, the swap is accepted on the mirror's state (check_mirrored_device) and the
platform's own answer to the refresh (100611 online, 100610 not activated) is handled when it
is sent; the check returns a notice saying how long the queue is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db.models import Q

from devices.code_modes import code_mode_warning
from devices.identifiers import NodeId, node_search_key
from devices.limits import (
    MAX_NODE_ID_LENGTH,
    MAX_REASON_LENGTH,
    MAX_TIMEOUT_SECONDS,
    MAX_VERIFY_CODE_LENGTH,
    MIN_TIMEOUT_SECONDS,
)
from devices.models import OPEN_SWAP_STATES, Device, DeviceStatus, Swap, VerifyCodeMode
from devices.permissions import Perm
from devices.roles import can_view_swap
from devices.selectors import device_live_status, open_swap_for_device

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Seconds a web request waits for a slot for its live pre-checks.
PRECHECK_MAX_WAIT = 5.0


class SwapRefused(Exception):
    """A swap action was refused; `message` is for the user, `field` names the form field."""

    def __init__(self, message: str, *, code: str = "refused", field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


# --- the inputs -----------------------------------------------------------------------------


def check_new_node_id_length(*, new_node_id: NodeId) -> None:
    if len(new_node_id.value) > MAX_NODE_ID_LENGTH:
        raise SwapRefused(
            f"A nodeId has at most {MAX_NODE_ID_LENGTH} characters.",
            code="invalid_node_id",
            field="new_node_id",
        )


def check_verify_code(*, mode: str, custom_verify_code: str) -> str:
    """The custom code to store (empty unless mode is custom)."""
    if mode not in VerifyCodeMode.values:
        raise SwapRefused(
            "Choose how the verifyCode is made.", code="invalid_mode", field="verify_code_mode"
        )
    if mode != VerifyCodeMode.CUSTOM:
        return ""
    code = (custom_verify_code or "").strip()
    if not code:
        raise SwapRefused(
            "Enter the custom verifyCode.", code="invalid_code", field="custom_verify_code"
        )
    if len(code) > MAX_VERIFY_CODE_LENGTH:
        raise SwapRefused(
            f"A verifyCode has at most {MAX_VERIFY_CODE_LENGTH} characters; "
            f"this one has {len(code)}.",
            code="invalid_code",
            field="custom_verify_code",
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in code):
        raise SwapRefused(
            "The verifyCode contains control characters (tabs, line breaks).",
            code="invalid_code",
            field="custom_verify_code",
        )
    return code


def check_code_mode_for_device(
    *, device: Device, verify_code_mode: str, code_mode_override: bool = False
) -> None:
    """A device that attaches with its nodeId (NB-IoT) gets another code only when asked for
    explicitly: without the override the warning is the refusal."""
    warning = code_mode_warning(device, verify_code_mode)
    if warning and not code_mode_override:
        raise SwapRefused(
            f'{warning} Choose "same as the nodeId", or confirm that this unit presents a code.',
            code="code_mode_needs_override",
            field="verify_code_mode",
        )


def check_timeout(*, timeout_seconds: int, actor: User) -> int:
    if isinstance(timeout_seconds, bool) or not isinstance(timeout_seconds, int):
        raise SwapRefused(
            "The validity is a whole number of seconds.",
            code="invalid_timeout",
            field="timeout_seconds",
        )
    if not MIN_TIMEOUT_SECONDS <= timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise SwapRefused(
            f"The validity is between {MIN_TIMEOUT_SECONDS} and {MAX_TIMEOUT_SECONDS} seconds.",
            code="invalid_timeout",
            field="timeout_seconds",
        )
    if timeout_seconds == 0 and not actor.has_perm(Perm.ISSUE_NEVER_EXPIRING_CODE):
        raise SwapRefused(
            "A code that never expires (validity 0) needs the permission to issue "
            "never-expiring codes; ask a supervisor, or choose a validity in seconds.",
            code="never_expiring_not_allowed",
            field="timeout_seconds",
        )
    return timeout_seconds


def check_reason(*, reason: str) -> str:
    """The reason as stored: stripped, at most MAX_REASON_LENGTH characters."""
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise SwapRefused(
            f"The reason has at most {MAX_REASON_LENGTH} characters.",
            code="invalid_reason",
            field="reason",
        )
    return reason


# --- the device -----------------------------------------------------------------------------


def open_swap_owner(existing: Swap) -> str:
    """Who opened `existing`, as a person reads it (full name, else username)."""
    user = existing.requested_by
    return user.get_full_name() or user.get_username()


def open_swap_refusal(*, existing: Swap, actor: User | None) -> SwapRefused:
    """The refusal for a device that already has `existing` open, worded for `actor`: a swap
    they may not open is never named (no id), and the text says what they can do instead.
    Without an actor (a check run for no one in particular) the swap is named."""
    state = existing.get_state_display().lower()
    if actor is None or can_view_swap(actor, existing):
        return SwapRefused(
            f"This device already has an open swap (#{existing.pk}, {state}, by "
            f"{open_swap_owner(existing)}). Open it, then finish or cancel it first.",
            code="open_swap_exists",
        )
    whose = "A bulk swap" if existing.lane == "bulk" else "A colleague"
    return SwapRefused(
        f"{whose} ({open_swap_owner(existing)}) has an open swap on this device ({state}): "
        "take it over or ask the helpdesk, both from this device's page.",
        code="open_swap_exists",
    )


def node_id_holder(
    *, device: Device, new_node_id: NodeId, candidates: Iterable[Device]
) -> Device | None:
    """The first of `candidates` (in Device's ordering) other than `device` that already has
    `new_node_id`, in any notation."""
    key = node_search_key(new_node_id.value)
    for other in candidates:
        if other.pk != device.pk and (other.node_id == new_node_id.value or other.node_key == key):
            return other
    return None


def node_id_pending_swap(
    *, device: Device, new_node_id: NodeId, candidates: Iterable[Swap]
) -> Swap | None:
    """The first of `candidates` (open swaps, in Swap's ordering) of another device awaiting
    `new_node_id`."""
    for swap in candidates:
        if swap.new_node_id == new_node_id.value and swap.device_id != device.pk:
            return swap
    return None


def node_id_in_use_refusal(
    *, new_node_id: NodeId, holder: Device | None, pending: Swap | None
) -> SwapRefused | None:
    """The refusal for a nodeId another device has (`holder`) or awaits (`pending`)."""
    if holder is not None:
        return SwapRefused(
            f"The nodeId {new_node_id.value} is already used by device "
            f"{holder.name or holder.device_id} ({holder.device_id}). Check the new unit's "
            "identifier.",
            code="node_id_in_use",
            field="new_node_id",
        )
    if pending is not None:
        return SwapRefused(
            f"The nodeId {new_node_id.value} is already the new nodeId of open swap "
            f"#{pending.pk} for device {pending.device.name or pending.device.device_id}.",
            code="node_id_in_use",
            field="new_node_id",
        )
    return None


def check_node_id_free(*, device: Device, new_node_id: NodeId) -> None:
    key = node_search_key(new_node_id.value)
    holders = (
        Device.objects.filter(Q(node_id=new_node_id.value) | Q(node_key=key))
        .exclude(pk=device.pk)
        .order_by(*(Device._meta.ordering or ()))[:1]
    )
    holder = node_id_holder(device=device, new_node_id=new_node_id, candidates=holders)
    pending = None
    if holder is None:
        pending = (
            Swap.objects.filter(state__in=OPEN_SWAP_STATES, new_node_id=new_node_id.value)
            .exclude(device=device)
            .select_related("device")
            .first()
        )
    refusal = node_id_in_use_refusal(new_node_id=new_node_id, holder=holder, pending=pending)
    if refusal is not None:
        raise refusal


def _budget_notice(*, queue_position: int, retry_after: float) -> str:
    ahead = f"queued behind {queue_position} call{'s' if queue_position != 1 else ''}"
    return (
        f"The platform's call budget is in use ({ahead}, about {max(1, round(retry_after))} s): "
        "the swap was accepted on the device list's state without a live check. The platform "
        "checks the device itself when the refresh is sent; this page shows what happens."
    )


def _check_failed(*, what: str, code: str, retryable: bool, handling_text: str) -> SwapRefused:
    """A live check that could not be made: nothing was created, and the message says so
    (never that the request will be sent later)."""
    code_text = f" (error {code})" if code else ""
    advice = (
        "Nothing was sent and no swap was created; try again in a moment."
        if retryable
        else f"{handling_text} No swap was created."
    )
    return SwapRefused(
        f"Could not check the device's {what} on the platform{code_text}. {advice}",
        code="platform_check_failed",
    )


def check_live_device(*, device: Device) -> str:
    """Live pre-checks on the platform: known, activated, not online.

    Returns "" after a live check, or a notice for the person when the flow limit had no slot
    within PRECHECK_MAX_WAIT and the mirror's state was used instead.
    """
    live = device_live_status(device=device, max_wait=PRECHECK_MAX_WAIT)
    if live.throttled:
        check_mirrored_device(device=device)
        return _budget_notice(queue_position=live.queue_position, retry_after=live.retry_after)
    if live.error:
        raise _check_failed(
            what="live status",
            code=live.error_code,
            retryable=live.retryable,
            handling_text=live.error,
        )
    fields = []
    if live.status in DeviceStatus.values and live.status != device.status:
        device.status = live.status
        fields.append("status")
    if live.status_detail is not None and live.status_detail != device.status_detail:
        device.status_detail = live.status_detail[:64]
        fields.append("status_detail")
    if fields:
        device.save(update_fields=fields)
    if live.status == DeviceStatus.ONLINE:
        raise SwapRefused(
            "The device is online on the platform, and its key can only be refreshed while it "
            "is offline. Take the device offline (or disconnect it from the IoT platform), "
            "then retry.",
            code="device_online",
        )
    activated = device.activated if device.activated else live.activated
    notice = ""
    if activated is not True:
        activated, notice = _activation_status(device)
    if activated is False:
        raise SwapRefused(
            "The device has not been activated: it has never connected to the IoT platform. "
            "Only an activated device can be rebound; check that it was connected and activated.",
            code="device_not_active",
        )
    return notice


def mirrored_device_refusal(*, device: Device) -> SwapRefused | None:
    """The same refusals as the live check, from the mirror alone (no platform call)."""
    if device.status == DeviceStatus.ONLINE:
        return SwapRefused(
            "The device is online (as last synced), and its key can only be refreshed while it "
            "is offline. Take the device offline, then retry.",
            code="device_online",
        )
    if device.activated is False:
        return SwapRefused(
            "The device has not been activated: it has never connected to the IoT platform.",
            code="device_not_active",
        )
    return None


def check_mirrored_device(*, device: Device) -> None:
    refusal = mirrored_device_refusal(device=device)
    if refusal is not None:
        raise refusal


def _activation_status(device: Device) -> tuple[bool | None, str]:
    """The platform's activation flag (and "" ), or the mirror's with a budget notice."""
    from devices.platform_wiring import get_client
    from oceanconnect import Lane, PlatformError, PlatformThrottled

    try:
        status = get_client().activation_status(
            device.device_id,
            app_id=device.app_id or None,
            max_wait=PRECHECK_MAX_WAIT,
            lane=Lane.INTERACTIVE,
        )
    except PlatformThrottled as exc:
        notice = _budget_notice(
            queue_position=exc.queue_position, retry_after=exc.retry_after or 0.0
        )
        return device.activated, notice
    except PlatformError as exc:
        raise _check_failed(
            what="activation",
            code=exc.code or "",
            retryable=exc.retryable,
            handling_text=exc.handling_text,
        ) from None
    if status.activated is not None and status.activated != device.activated:
        device.activated = status.activated
        device.save(update_fields=["activated"])
    return status.activated, ""


def device_refusal(
    *, device: Device, new_node_id: NodeId, allow_same_node_id: bool = False
) -> SwapRefused | None:
    """The rules about the device itself (no query): deleted, the same nodeId as today."""
    if device.deleted_on_platform_at is not None:
        return SwapRefused(
            "This device was deleted on the platform; it cannot be rebound.",
            code="device_deleted",
        )
    if not allow_same_node_id and node_search_key(new_node_id.value) == node_search_key(
        device.node_id
    ):
        return SwapRefused(
            f"The new identifier is the same as the device's current nodeId ({device.node_id}). "
            "Check that you typed the replacement unit's identifier.",
            code="same_node_id",
            field="new_node_id",
        )
    return None


def swap_precheck(
    *,
    device: Device,
    new_node_id: NodeId,
    allow_same_node_id: bool = False,
    live_check: bool = True,
    verify_code_mode: str | None = None,
    code_mode_override: bool = False,
    actor: User | None = None,
) -> str:
    """The device-level rules a swap must pass before anything is queued; writes nothing but
    the live status it reads. Raises SwapRefused (worded for `actor`, see open_swap_refusal).
    The bulk dry run uses the same rules on a whole chunk of lines (bulk/checks.py). With
    `verify_code_mode` it also checks the mode fits the device's protocol.

    Returns "" or a notice for the person (the live check could not get a flow-limit slot and
    used the mirror's state; see check_live_device).
    """
    if verify_code_mode is not None:
        check_code_mode_for_device(
            device=device,
            verify_code_mode=verify_code_mode,
            code_mode_override=code_mode_override,
        )
    refusal = device_refusal(
        device=device, new_node_id=new_node_id, allow_same_node_id=allow_same_node_id
    )
    if refusal is not None:
        raise refusal
    existing = open_swap_for_device(device=device)
    if existing is not None:
        raise open_swap_refusal(existing=existing, actor=actor)
    check_node_id_free(device=device, new_node_id=new_node_id)
    if live_check:
        return check_live_device(device=device)
    check_mirrored_device(device=device)
    return ""
