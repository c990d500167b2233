"""Swaps (rekeys): request, send, bind, expire, cancel, re-issue, reveal the code, sweep.

Every state change is a guarded UPDATE (filter on the state it leaves), so a duplicate task
delivery, a duplicate push or a double click changes nothing the second time. verifyCodes are
encrypted while valid, never logged, never audited, never put in a task argument or exception.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from devices.approvals import swap_approval_reasons
from devices.codes import code_hint, decrypt_code, encrypt_code, hash_code
from devices.identifiers import MAX_NODE_ID_LENGTH, NodeId, node_search_key
from devices.models import (
    OPEN_SWAP_STATES,
    Device,
    DeviceStatus,
    Swap,
    SwapCodeView,
    SwapState,
    VerifyCodeMode,
)
from devices.roles import can_manage_swap, can_see_code
from devices.selectors import device_live_status, open_swap_for_device

logger = logging.getLogger(__name__)

MAX_VERIFY_CODE_LENGTH = 256
MAX_TIMEOUT_SECONDS = 2_147_483_647
MAX_REASON_LENGTH = 500
# Seconds the task accepts to wait for a flow-control slot before it retries later instead.
SEND_MAX_WAIT = 2.0
# Seconds a web request waits for a slot for its live pre-checks.
PRECHECK_MAX_WAIT = 5.0
REISSUABLE_STATES = (SwapState.EXPIRED, SwapState.FAILED, SwapState.CANCELLED)
CANCELLABLE_STATES = (SwapState.PENDING_APPROVAL, SwapState.QUEUED, SwapState.CODE_ISSUED)
# A late "bound" push may still close a swap we already called expired or failed this recently.
LATE_BIND_WINDOW = timedelta(days=1)


class SwapRefused(Exception):
    """A swap action was refused; `message` is for the user, `field` names the form field."""

    def __init__(self, message: str, *, code: str = "refused", field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


class SwapRetryLater(Exception):
    """The send should be tried again after `countdown` seconds (the task retries)."""

    def __init__(self, countdown: float, reason: str) -> None:
        super().__init__(f"retry in {countdown:.1f} s: {reason}")
        self.countdown = countdown
        self.reason = reason


@dataclass(frozen=True)
class SweepResult:
    requeued: int = 0
    recovered: int = 0
    expired: int = 0


def retry_delay(attempt: int) -> float:
    """Exponential backoff with jitter: half the step fixed, half random, capped."""
    base = float(settings.SWAP_RETRY_BASE_SECONDS)
    cap = float(settings.SWAP_RETRY_MAX_SECONDS)
    step = min(cap, base * (2 ** max(0, attempt - 1)))
    return step / 2 + random.uniform(0, step / 2)


def _audit(action: str, swap: Swap, **kwargs: Any) -> None:
    audit_record(action=action, device_id=swap.device.device_id, swap_id=swap.pk, **kwargs)


def _enqueue_send(swap_id: int) -> None:
    """After commit, hand the swap id (only) to the worker; the sweeper covers a broker outage."""

    def send() -> None:
        from devices.tasks import swap_send as swap_send_task

        try:
            swap_send_task.delay(swap_id)
        except Exception:  # the broker being down must not fail the user's request
            logger.exception("could not enqueue swap %s; the sweeper will retry", swap_id)

    transaction.on_commit(send)


# --- request ------------------------------------------------------------------------------


def _check_verify_code(mode: str, custom_verify_code: str) -> str:
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


def _check_timeout(timeout_seconds: int, actor: Any) -> int:
    if isinstance(timeout_seconds, bool) or not isinstance(timeout_seconds, int):
        raise SwapRefused(
            "The validity is a whole number of seconds.",
            code="invalid_timeout",
            field="timeout_seconds",
        )
    if not 0 <= timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise SwapRefused(
            f"The validity is between 0 and {MAX_TIMEOUT_SECONDS} seconds.",
            code="invalid_timeout",
            field="timeout_seconds",
        )
    if timeout_seconds == 0 and not actor.has_perm("devices.issue_never_expiring_code"):
        raise SwapRefused(
            "A code that never expires (validity 0) needs the permission to issue "
            "never-expiring codes; ask a supervisor, or choose a validity in seconds.",
            code="never_expiring_not_allowed",
            field="timeout_seconds",
        )
    return timeout_seconds


def _check_node_id_free(device: Device, new_node_id: NodeId) -> None:
    key = node_search_key(new_node_id.value)
    other = (
        Device.objects.filter(Q(node_id=new_node_id.value) | Q(node_key=key))
        .exclude(pk=device.pk)
        .first()
    )
    if other is not None:
        raise SwapRefused(
            f"The nodeId {new_node_id.value} is already used by device "
            f"{other.name or other.device_id} ({other.device_id}). Check the new unit's "
            "identifier.",
            code="node_id_in_use",
            field="new_node_id",
        )
    pending = (
        Swap.objects.filter(state__in=OPEN_SWAP_STATES, new_node_id=new_node_id.value)
        .exclude(device=device)
        .select_related("device")
        .first()
    )
    if pending is not None:
        raise SwapRefused(
            f"The nodeId {new_node_id.value} is already the new nodeId of open swap "
            f"#{pending.pk} for device {pending.device.name or pending.device.device_id}.",
            code="node_id_in_use",
            field="new_node_id",
        )


def _check_live_device(device: Device) -> None:
    """Live pre-checks on the platform: known, activated, not online."""
    live = device_live_status(device=device, max_wait=PRECHECK_MAX_WAIT)
    if live.error:
        code = f" (error {live.error_code})" if live.error_code else ""
        raise SwapRefused(
            f"Could not check the device's live status on the platform{code}: {live.error}",
            code="platform_check_failed",
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
    if activated is not True:
        activated = _activation_status(device)
    if activated is False:
        raise SwapRefused(
            "The device has not been activated: it has never connected to the IoT platform. "
            "Only an activated device can be rebound; check that it was connected and activated.",
            code="device_not_active",
        )


def _check_mirrored_device(device: Device) -> None:
    """The same refusals as the live check, from the mirror alone (no platform call)."""
    if device.status == DeviceStatus.ONLINE:
        raise SwapRefused(
            "The device is online (as last synced), and its key can only be refreshed while it "
            "is offline. Take the device offline, then retry.",
            code="device_online",
        )
    if device.activated is False:
        raise SwapRefused(
            "The device has not been activated: it has never connected to the IoT platform.",
            code="device_not_active",
        )


def _activation_status(device: Device) -> bool | None:
    from devices.platform_wiring import get_client
    from oceanconnect import PlatformError

    try:
        status = get_client().activation_status(
            device.device_id, app_id=device.app_id or None, max_wait=PRECHECK_MAX_WAIT
        )
    except PlatformError as exc:
        code = f" (error {exc.code})" if exc.code else ""
        raise SwapRefused(
            f"Could not check the device's activation on the platform{code}: {exc.handling_text}",
            code="platform_check_failed",
        ) from None
    if status.activated is not None and status.activated != device.activated:
        device.activated = status.activated
        device.save(update_fields=["activated"])
    return status.activated


def swap_precheck(
    *,
    device: Device,
    new_node_id: NodeId,
    allow_same_node_id: bool = False,
    live_check: bool = True,
) -> None:
    """The device-level rules a swap must pass before anything is queued; writes nothing but
    the live status it reads. Raises SwapRefused. The bulk dry run uses it with live_check=False.
    """
    if device.deleted_on_platform_at is not None:
        raise SwapRefused(
            "This device was deleted on the platform; it cannot be rebound.",
            code="device_deleted",
        )
    if not allow_same_node_id and node_search_key(new_node_id.value) == node_search_key(
        device.node_id
    ):
        raise SwapRefused(
            f"The new identifier is the same as the device's current nodeId ({device.node_id}). "
            "Check that you typed the replacement unit's identifier.",
            code="same_node_id",
            field="new_node_id",
        )
    existing = open_swap_for_device(device=device)
    if existing is not None:
        raise _already_open(existing)
    _check_node_id_free(device, new_node_id)
    if live_check:
        _check_live_device(device)
    else:
        _check_mirrored_device(device)


def swap_request(
    *,
    device: Device,
    new_node_id: NodeId,
    verify_code_mode: str,
    custom_verify_code: str = "",
    timeout_seconds: int = 180,
    reason: str = "",
    actor: Any,
    request_id: str = "",
    ip: str = "",
    allow_same_node_id: bool = False,
    reissue_of: Swap | None = None,
    live_check: bool = True,
) -> Swap:
    """Check everything, create the swap and queue its sending after commit; a swap the
    approval policy calls risky is created PENDING_APPROVAL instead and waits for swap_approve.

    Raises SwapRefused with a user-facing message (nothing is changed), PermissionDenied when
    the actor may not request swaps. `allow_same_node_id` confirms the "same identifier" warning.
    `live_check=False` (bulk rows) trusts the mirror instead of asking the platform first: the
    refresh itself is refused with 100611/100610 when the device is online or never activated,
    so a row costs one platform call instead of two.
    """
    if not actor.has_perm("devices.request_swap"):
        raise PermissionDenied("You may not request swaps.")
    if not isinstance(new_node_id, NodeId):
        raise TypeError("new_node_id must be a NodeId (parse it with NodeId.parse)")
    if len(new_node_id.value) > MAX_NODE_ID_LENGTH:
        raise SwapRefused(
            f"A nodeId has at most {MAX_NODE_ID_LENGTH} characters.",
            code="invalid_node_id",
            field="new_node_id",
        )
    custom_code = _check_verify_code(verify_code_mode, custom_verify_code)
    timeout_seconds = _check_timeout(timeout_seconds, actor)
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise SwapRefused(
            f"The reason has at most {MAX_REASON_LENGTH} characters.",
            code="invalid_reason",
            field="reason",
        )
    swap_precheck(
        device=device,
        new_node_id=new_node_id,
        allow_same_node_id=allow_same_node_id,
        live_check=live_check,
    )
    # Four eyes: a risky swap waits for another person's approval instead of being sent.
    approval_reasons = swap_approval_reasons(
        device=device,
        verify_code_mode=verify_code_mode,
        timeout_seconds=timeout_seconds,
        now=timezone.now(),
    )

    audit_kwargs: dict[str, Any] = {}
    if request_id:
        audit_kwargs["request_id"] = request_id
    if ip:
        audit_kwargs["ip"] = ip
    try:
        with transaction.atomic():
            swap = Swap.objects.create(
                device=device,
                requested_by=actor,
                old_node_id=device.node_id,
                new_node_id=new_node_id.value,
                node_id_kind=new_node_id.kind,
                chipset=new_node_id.chipset or "",
                verify_code_mode=verify_code_mode,
                custom_verify_code_encrypted=encrypt_code(custom_code) if custom_code else "",
                timeout_seconds=timeout_seconds,
                reason=reason,
                state=SwapState.PENDING_APPROVAL if approval_reasons else SwapState.QUEUED,
                needs_approval=bool(approval_reasons),
                approval_reasons=approval_reasons,
                reissue_of=reissue_of,
            )
            _audit(
                AuditAction.SWAP_REQUESTED,
                swap,
                actor=actor,
                before={"node_id": device.node_id},
                after={
                    "new_node_id": swap.new_node_id,
                    "node_id_kind": swap.node_id_kind,
                    "chipset": swap.chipset,
                    "verify_code_mode": swap.verify_code_mode,
                    "timeout_seconds": swap.timeout_seconds,
                    "reissue_of": reissue_of.pk if reissue_of else None,
                    "approval_reasons": approval_reasons,
                },
                detail=reason,
                **audit_kwargs,
            )
            if not approval_reasons:
                _enqueue_send(swap.pk)
    except IntegrityError:
        existing = open_swap_for_device(device=device)
        if existing is None:
            raise
        raise _already_open(existing) from None

    logger.info("swap %s requested for device %s", swap.pk, device.device_id)
    return swap


def _already_open(existing: Swap) -> SwapRefused:
    return SwapRefused(
        f"This device already has an open swap (#{existing.pk}, "
        f"{existing.get_state_display().lower()}). Finish or cancel it first.",
        code="open_swap_exists",
    )


# --- send (the task) -------------------------------------------------------------------------


def swap_send(*, swap_id: int) -> None:
    """Claim a queued swap, call the platform once, store the outcome.

    Raises SwapRetryLater when the task should try again; returns quietly when there is nothing
    to do (already claimed, cancelled, finished).
    """
    from devices.platform_wiring import get_client
    from oceanconnect import (
        PlatformError,
        PlatformOutcomeUnknown,
        PlatformRetryableError,
        PlatformThrottled,
    )

    claimed = Swap.objects.filter(pk=swap_id, state=SwapState.QUEUED).update(
        state=SwapState.SENDING,
        attempts=F("attempts") + 1,
        next_attempt_at=None,
        updated_at=timezone.now(),
    )
    if not claimed:
        logger.info("swap %s is not queued; nothing to send", swap_id)
        return
    swap = Swap.objects.select_related("device").get(pk=swap_id)
    client = get_client()

    if swap.needs_reconcile and not _reconcile(swap, client):
        return

    try:
        verify_code = _code_to_send(swap)
        result = client.refresh_device_key(
            swap.device.device_id,
            node_id=swap.new_node_id,
            verify_code=verify_code,
            timeout=swap.timeout_seconds,
            app_id=swap.device.app_id or None,
            max_wait=SEND_MAX_WAIT,
        )
    except PlatformThrottled as exc:
        # Nothing reached the platform (or it refused to look): this is no attempt.
        _requeue(swap, exc, countdown=max(exc.retry_after or 0, 0.5), count_attempt=False)
    except PlatformRetryableError as exc:
        _requeue(swap, exc, countdown=retry_delay(swap.attempts))
    except PlatformOutcomeUnknown as exc:
        logger.warning(
            "swap %s: refresh of device %s sent without an answer; reconciling",
            swap.pk,
            swap.device.device_id,
        )
        Swap.objects.filter(pk=swap.pk).update(
            needs_reconcile=True, error_code="", error_text=exc.handling_text
        )
        swap.needs_reconcile = True
        if _reconcile(swap, client):
            # Safe to send again (see _reconcile); do it after a pause, as a counted attempt.
            _requeue(swap, exc, countdown=retry_delay(swap.attempts), reconciled=True)
    except PlatformError as exc:
        _fail(swap, exc.code or "", exc.handling_text, platform_text=exc.platform_text)
    else:
        _store_code(swap, result.verify_code, result.timeout)


def _code_to_send(swap: Swap) -> str | None:
    if swap.verify_code_mode == VerifyCodeMode.SAME_AS_NODE_ID:
        return swap.new_node_id
    if swap.verify_code_mode == VerifyCodeMode.CUSTOM:
        return decrypt_code(swap.custom_verify_code_encrypted)
    return None


def _store_code(swap: Swap, verify_code: str, timeout: int | None) -> None:
    now = timezone.now()
    validity = timeout if timeout is not None else swap.timeout_seconds
    expires_at = now + timedelta(seconds=validity) if validity else None
    with transaction.atomic():
        stored = Swap.objects.filter(pk=swap.pk, state=SwapState.SENDING).update(
            state=SwapState.CODE_ISSUED,
            verify_code_encrypted=encrypt_code(verify_code),
            verify_code_hint=code_hint(verify_code),
            verify_code_hash=hash_code(verify_code),
            custom_verify_code_encrypted="",
            code_issued_at=now,
            code_expires_at=expires_at,
            needs_reconcile=False,
            error_code="",
            error_text="",
            updated_at=now,
        )
        if not stored:
            # A bound push overtook us (the unit connected before we stored the answer).
            logger.info("swap %s left SENDING before its code was stored", swap.pk)
            return
        _audit(AuditAction.SWAP_SENT, swap, detail=f"attempt {swap.attempts}")
        _audit(
            AuditAction.CODE_ISSUED,
            swap,
            after={
                "code_expires_at": expires_at.isoformat() if expires_at else None,
                "timeout_seconds": validity,
            },
        )
    logger.info("swap %s: code issued for device %s", swap.pk, swap.device.device_id)


def _requeue(
    swap: Swap,
    exc: Exception,
    *,
    countdown: float,
    count_attempt: bool = True,
    reconciled: bool = False,
) -> None:
    code = getattr(exc, "code", None) or ""
    text = getattr(exc, "handling_text", "") or str(exc)
    if reconciled:
        code = "outcome_unknown"
        text = (
            "The platform did not answer. It shows the device unchanged and offline, so the "
            "request is sent again (a new refresh replaces any pending binding)."
        )
    if count_attempt and swap.attempts >= settings.SWAP_MAX_ATTEMPTS:
        _fail(swap, code, f"Gave up after {swap.attempts} attempts. {text}")
        return
    next_at = timezone.now() + timedelta(seconds=countdown)
    updates: dict[str, Any] = {
        "state": SwapState.QUEUED,
        "next_attempt_at": next_at,
        "error_code": code[:32],
        "error_text": text,
        "updated_at": timezone.now(),
    }
    if not count_attempt:
        updates["attempts"] = F("attempts") - 1
    Swap.objects.filter(pk=swap.pk, state=SwapState.SENDING).update(**updates)
    logger.info(
        "swap %s: attempt %s not completed (%s); retry in %.1f s",
        swap.pk,
        swap.attempts,
        code or type(exc).__name__,
        countdown,
    )
    raise SwapRetryLater(countdown, code or type(exc).__name__)


def _fail(swap: Swap, code: str, text: str, *, platform_text: str = "") -> None:
    now = timezone.now()
    with transaction.atomic():
        failed = Swap.objects.filter(pk=swap.pk, state=SwapState.SENDING).update(
            state=SwapState.FAILED,
            error_code=(code or "")[:32],
            error_text=text,
            custom_verify_code_encrypted="",
            verify_code_encrypted="",
            needs_reconcile=False,
            finished_at=now,
            updated_at=now,
        )
        if failed:
            _audit(
                AuditAction.SWAP_FAILED,
                swap,
                after={"error_code": code, "platform_text": platform_text},
                detail=text,
            )
    logger.warning("swap %s failed: %s", swap.pk, code or "no code")


def _reconcile(swap: Swap, client: Any) -> bool:
    """After an unanswered refresh, ask the platform what happened before sending again.

    Returns True when re-sending is safe: the device still has its old nodeId and is not online,
    so nothing bound, and a second refresh replaces whatever binding the first left pending.
    Otherwise ends the swap (bound or failed) and returns False. Raises SwapRetryLater when the
    platform cannot be asked right now (the flag stays set, so the next attempt asks first).
    """
    from oceanconnect import PlatformError, PlatformRetryableError, PlatformThrottled

    try:
        platform_device = client.get_device(
            swap.device.device_id, app_id=swap.device.app_id or None, max_wait=SEND_MAX_WAIT
        )
    except PlatformThrottled as exc:
        _requeue(swap, exc, countdown=max(exc.retry_after or 0, 0.5), count_attempt=False)
        return False
    except PlatformRetryableError as exc:
        _requeue(swap, exc, countdown=retry_delay(swap.attempts))
        return False
    except PlatformError as exc:
        _fail(
            swap,
            exc.code or "outcome_unknown",
            "The platform did not answer the refresh and the device cannot be read now "
            f"({exc.handling_text}). Check the device on the platform before a new swap.",
        )
        return False
    info = platform_device.info
    live_key = node_search_key(info.node_id or "")
    if live_key and live_key == node_search_key(swap.new_node_id):
        _bind(swap, node_id=info.node_id or swap.new_node_id, at=timezone.now())
        return False
    if live_key == node_search_key(swap.old_node_id) and info.status != DeviceStatus.ONLINE:
        Swap.objects.filter(pk=swap.pk).update(needs_reconcile=False)
        swap.needs_reconcile = False
        logger.info("swap %s reconciled: device unchanged and offline", swap.pk)
        return True
    _fail(
        swap,
        "outcome_unknown",
        "The platform did not answer the refresh, and the device has changed since "
        f"(status {info.status or 'unknown'}). Check the device on the platform before a new "
        "swap.",
    )
    return False


# --- binding, expiry, cancel, re-issue --------------------------------------------------------


def _bind(swap: Swap, *, node_id: str, at: datetime) -> bool:
    """Mark one swap bound and move the device mirror to the new nodeId."""
    with transaction.atomic():
        bound = Swap.objects.filter(pk=swap.pk, state=swap.state).update(
            state=SwapState.BOUND,
            bound_at=at,
            finished_at=at,
            verify_code_encrypted="",
            custom_verify_code_encrypted="",
            needs_reconcile=False,
            next_attempt_at=None,
            updated_at=timezone.now(),
        )
        if not bound:
            return False
        device = Device.objects.select_for_update().get(pk=swap.device_id)
        old_node_id = device.node_id
        device.node_id = node_id
        device.status = DeviceStatus.ONLINE
        device.status_detail = "NONE"
        device.activated = True
        device.save(update_fields=["node_id", "status", "status_detail", "activated"])
        _audit(
            AuditAction.SWAP_BOUND,
            swap,
            before={"node_id": old_node_id},
            after={"node_id": node_id, "bound_at": at.isoformat()},
        )
    logger.info("swap %s bound: device %s has its new unit", swap.pk, device.device_id)
    return True


def swap_mark_bound(*, device_id: str, node_id: str, at: datetime | None = None) -> Swap | None:
    """The platform says the device bound with `node_id` (bindDevice succeeded). Idempotent.

    Returns the swap it closed (or had already closed), None when no swap of ours matches.
    """
    at = at or timezone.now()
    if timezone.is_naive(at):
        at = timezone.make_aware(at)
    key = node_search_key(node_id or "")
    if not key:
        return None
    candidates = (
        Swap.objects.select_related("device")
        .filter(device__device_id=device_id)
        .filter(
            Q(state__in=(SwapState.SENDING, SwapState.CODE_ISSUED))
            | Q(state=SwapState.QUEUED, needs_reconcile=True)
            | Q(
                state__in=(SwapState.EXPIRED, SwapState.FAILED),
                finished_at__gte=timezone.now() - LATE_BIND_WINDOW,
            )
            | Q(state=SwapState.BOUND)
        )
        .order_by("-created_at", "-id")[:20]
    )
    for swap in candidates:
        if node_search_key(swap.new_node_id) != key:
            continue
        if swap.state == SwapState.BOUND:
            return swap  # a duplicate push: nothing changes
        _bind(swap, node_id=node_id, at=at)
        swap.refresh_from_db()
        return swap
    return None


def swap_mark_expired(*, swap: Swap) -> Swap:
    """The code lapsed (expired push or the sweeper): erase it, keep hint and hash. Idempotent."""
    now = timezone.now()
    with transaction.atomic():
        expired = Swap.objects.filter(pk=swap.pk, state=SwapState.CODE_ISSUED).update(
            state=SwapState.EXPIRED,
            verify_code_encrypted="",
            custom_verify_code_encrypted="",
            finished_at=now,
            updated_at=now,
        )
        if expired:
            _audit(
                AuditAction.SWAP_EXPIRED,
                swap,
                after={
                    "code_expires_at": swap.code_expires_at.isoformat()
                    if swap.code_expires_at
                    else None
                },
            )
    swap.refresh_from_db()
    return swap


def swap_cancel(*, swap: Swap, actor: Any) -> Swap:
    """Cancel a swap that is not being sent; its code (if any) is erased."""
    if not can_manage_swap(actor, swap):
        raise PermissionDenied("You may not cancel this swap.")
    swap.refresh_from_db()
    if swap.state == SwapState.SENDING:
        raise SwapRefused(
            "The swap is being sent to the platform right now; try again in a few seconds.",
            code="busy",
        )
    if swap.state not in CANCELLABLE_STATES:
        raise SwapRefused(
            f"The swap is already {swap.get_state_display().lower()}; there is nothing to cancel.",
            code="not_cancellable",
        )
    now = timezone.now()
    with transaction.atomic():
        cancelled = Swap.objects.filter(pk=swap.pk, state=swap.state).update(
            state=SwapState.CANCELLED,
            verify_code_encrypted="",
            custom_verify_code_encrypted="",
            next_attempt_at=None,
            finished_at=now,
            updated_at=now,
        )
        if not cancelled:
            raise SwapRefused("The swap changed meanwhile; reload and try again.", code="busy")
        detail = ""
        if swap.state == SwapState.CODE_ISSUED:
            detail = "The platform keeps the pending binding until the code expires."
        _audit(
            AuditAction.SWAP_CANCELLED,
            swap,
            actor=actor,
            before={"state": swap.state},
            after={"state": SwapState.CANCELLED},
            detail=detail,
        )
    swap.refresh_from_db()
    return swap


def swap_reissue(*, swap: Swap, actor: Any) -> Swap:
    """A new swap with the same inputs as an expired, failed or cancelled one."""
    if not can_manage_swap(actor, swap):
        raise PermissionDenied("You may not re-issue this swap.")
    swap.refresh_from_db()
    if swap.state not in REISSUABLE_STATES:
        raise SwapRefused(
            "Only an expired, failed or cancelled swap can be re-issued; this one is "
            f"{swap.get_state_display().lower()}.",
            code="not_reissuable",
        )
    if swap.verify_code_mode == VerifyCodeMode.CUSTOM:
        raise SwapRefused(
            "This swap used a custom verifyCode, which is not kept after the swap ends. "
            "Request a new swap and enter the code again.",
            code="custom_code_gone",
        )
    new_node_id = NodeId(value=swap.new_node_id, kind=swap.node_id_kind, chipset=swap.chipset)
    new_swap = swap_request(
        device=swap.device,
        new_node_id=new_node_id,
        verify_code_mode=swap.verify_code_mode,
        timeout_seconds=swap.timeout_seconds,
        reason=swap.reason,
        actor=actor,
        allow_same_node_id=True,
        reissue_of=swap,
    )
    _audit(
        AuditAction.SWAP_REISSUED,
        new_swap,
        actor=actor,
        after={"reissue_of": swap.pk},
    )
    return new_swap


def swap_reveal_code(*, swap: Swap, actor: Any) -> str:
    """The plaintext verifyCode for someone allowed to see it; audited once per user and swap."""
    if not can_see_code(actor, swap):
        raise PermissionDenied("You may not see the code of this swap.")
    swap.refresh_from_db()
    if swap.state != SwapState.CODE_ISSUED or not swap.verify_code_encrypted:
        raise SwapRefused(
            f"There is no code to show: the swap is {swap.get_state_display().lower()}.",
            code="no_code",
        )
    if swap.code_expires_at is not None and swap.code_expires_at <= timezone.now():
        raise SwapRefused("The code has expired; re-issue the swap for a new one.", code="expired")
    code = decrypt_code(swap.verify_code_encrypted)
    _view, first_time = SwapCodeView.objects.get_or_create(swap=swap, user=actor)
    if first_time:
        _audit(AuditAction.CODE_VIEWED, swap, actor=actor)
    return code


# --- sweeper ----------------------------------------------------------------------------------


def swaps_sweep() -> SweepResult:
    """Re-enqueue swaps whose task was lost, recover stuck sends, expire lapsed codes."""
    now = timezone.now()
    grace = timedelta(seconds=settings.SWAP_EXPIRY_GRACE_SECONDS)
    requeued = 0
    # Due retries whose message is gone, and queued swaps that never reached the broker.
    due = Swap.objects.filter(state=SwapState.QUEUED).filter(
        Q(next_attempt_at__lte=now - grace)
        | Q(next_attempt_at__isnull=True, updated_at__lte=now - grace)
    )
    for swap_id in due.values_list("pk", flat=True)[:500]:
        Swap.objects.filter(pk=swap_id, state=SwapState.QUEUED).update(updated_at=now)
        _enqueue_send(swap_id)
        requeued += 1
    # A send still SENDING after the hard time limit lost its worker mid-call: the refresh may
    # have reached the platform, so the next attempt reconciles before sending again.
    stuck_before = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT) - grace
    recovered = 0
    for swap_id in Swap.objects.filter(
        state=SwapState.SENDING, updated_at__lte=stuck_before
    ).values_list("pk", flat=True)[:500]:
        if Swap.objects.filter(
            pk=swap_id, state=SwapState.SENDING, updated_at__lte=stuck_before
        ).update(state=SwapState.QUEUED, needs_reconcile=True, updated_at=now):
            _enqueue_send(swap_id)
            recovered += 1
    expired = 0
    for swap in Swap.objects.select_related("device").filter(
        state=SwapState.CODE_ISSUED, code_expires_at__lte=now - grace
    )[:500]:
        swap_mark_expired(swap=swap)
        expired += 1
    if requeued or recovered or expired:
        logger.info("sweep: %s re-enqueued, %s recovered, %s expired", requeued, recovered, expired)
    return SweepResult(requeued=requeued, recovered=recovered, expired=expired)


def swap_release_interrupted(*, swap_id: int) -> bool:
    """A send was cut off (time limit) mid-call: queue it again, reconciling first."""
    return bool(
        Swap.objects.filter(pk=swap_id, state=SwapState.SENDING).update(
            state=SwapState.QUEUED, needs_reconcile=True, updated_at=timezone.now()
        )
    )
