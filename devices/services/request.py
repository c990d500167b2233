"""swap_request: the entry point of every swap (form, bulk row, re-issue, rekey command).

It runs the checks (services/checks.py), asks the approval policy (devices/approvals.py),
creates the swap and queues its sending after commit (services/transitions.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditAction
from devices.approvals import swap_approval_reasons
from devices.code_modes import code_mode_warning
from devices.codes import encrypt_code
from devices.identifiers import NodeId
from devices.limits import DEFAULT_TIMEOUT_SECONDS
from devices.models import Device, Swap, SwapState
from devices.permissions import Perm
from devices.selectors import open_swap_for_device
from devices.services.approvals import approver_mail_configured, swap_notify_approvers
from devices.services.checks import (
    SwapRefused,
    check_new_node_id_length,
    check_reason,
    check_timeout,
    check_verify_code,
    open_swap_refusal,
    swap_precheck,
)
from devices.services.offline import check_offline_wait, offline_wait_until
from devices.services.transitions import swap_audit, swap_enqueue_send

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


def swap_request(
    *,
    device: Device,
    new_node_id: NodeId,
    verify_code_mode: str,
    custom_verify_code: str = "",
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
    reason: str = "",
    actor: User,
    request_id: str = "",
    ip: str = "",
    allow_same_node_id: bool = False,
    reissue_of: Swap | None = None,
    live_check: bool = True,
    code_mode_override: bool = False,
    lane: str = "interactive",
    offline_wait_minutes: int = 0,
) -> Swap:
    """Check everything, create the swap and queue its sending after commit; a swap the
    approval policy calls risky is created PENDING_APPROVAL instead and waits for swap_approve.

    Raises SwapRefused with a user-facing message (nothing is changed), PermissionDenied when
    the actor may not request swaps. `allow_same_node_id` confirms the "same identifier" warning.
    `live_check=False` (bulk rows) trusts the mirror instead of asking the platform first: the
    refresh itself is refused with 100611/100610 when the device is online or never activated,
    so a row costs one platform call instead of two. `code_mode_override` confirms a generated
    or custom code for a device that attaches with its nodeId (devices/code_modes.py).
    `lane` is the flow-limiter lane the swap's
    platform calls run in (oceanconnect.Lane; bulk rows pass "bulk").

    When the live check found no flow-limit slot in time, the swap is accepted on the mirror's
    state and `swap.precheck_notice` says so (queue length and wait) for the person.

    `offline_wait_minutes` > 0 is "send it when the old unit goes offline": a device found
    online is not refused but gets a WAITING_OFFLINE swap that waits that long
    (devices/services/offline.py); an offline device's swap is sent at once as usual.
    """
    if not actor.has_perm(Perm.REQUEST_SWAP):
        raise PermissionDenied("You may not request swaps.")
    if not isinstance(new_node_id, NodeId):
        raise TypeError("new_node_id must be a NodeId (parse it with NodeId.parse)")
    check_new_node_id_length(new_node_id=new_node_id)
    custom_code = check_verify_code(mode=verify_code_mode, custom_verify_code=custom_verify_code)
    timeout_seconds = check_timeout(timeout_seconds=timeout_seconds, actor=actor)
    reason = check_reason(reason=reason)
    if offline_wait_minutes:
        offline_wait_minutes = check_offline_wait(minutes=offline_wait_minutes)
    waits_for_offline = False
    try:
        notice = swap_precheck(
            device=device,
            new_node_id=new_node_id,
            allow_same_node_id=allow_same_node_id,
            live_check=live_check,
            verify_code_mode=verify_code_mode,
            code_mode_override=code_mode_override,
            actor=actor,
        )
    except SwapRefused as exc:
        # "Online" is the last device rule checked: every other one has passed.
        if not (offline_wait_minutes and exc.code == "device_online"):
            raise
        waits_for_offline, notice = True, ""
    overridden = code_mode_override and code_mode_warning(device, verify_code_mode) is not None
    now = timezone.now()
    # Four eyes: a risky swap waits for another person's approval instead of being sent.
    approval_reasons = swap_approval_reasons(
        device=device,
        verify_code_mode=verify_code_mode,
        timeout_seconds=timeout_seconds,
        now=now,
    )
    # Approved later, a swap that found the device online goes on waiting (swap_approve).
    wait_until = offline_wait_until(minutes=offline_wait_minutes, now=now)
    if approval_reasons:
        state = SwapState.PENDING_APPROVAL
    elif waits_for_offline:
        state = SwapState.WAITING_OFFLINE
    else:
        state = SwapState.QUEUED
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
                state=state,
                offline_wait_until=wait_until if waits_for_offline else None,
                needs_approval=bool(approval_reasons),
                approval_reasons=approval_reasons,
                reissue_of=reissue_of,
                lane=lane,
            )
            swap_audit(
                swap=swap,
                action=AuditAction.SWAP_REQUESTED,
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
                    # Recorded only when it was needed: a code the device may not bind with.
                    **({"code_mode_override": True} if overridden else {}),
                    **(
                        {"state": state, "offline_wait_until": wait_until.isoformat()}
                        if waits_for_offline
                        else {}
                    ),
                },
                detail=reason,
                **audit_kwargs,
            )
            if state == SwapState.QUEUED:
                swap_enqueue_send(swap_id=swap.pk)
            elif approver_mail_configured():
                swap_id = swap.pk
                transaction.on_commit(lambda: swap_notify_approvers(swap_id=swap_id))
    except IntegrityError:
        existing = open_swap_for_device(device=device)
        if existing is None:
            raise
        raise open_swap_refusal(existing=existing, actor=actor) from None

    logger.info("swap %s requested for device %s", swap.pk, device.device_id)
    swap.precheck_notice = notice
    return swap
