"""Four eyes: approve or reject a swap the approval policy held back (devices/approvals.py).

Only a user with `devices.approve_swap` who is not the requester decides. Each decision is a
guarded UPDATE from PENDING_APPROVAL, so a double click or two approvers at once change the
swap once; repeating the decision already taken is a quiet no-op, the opposite one is refused.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from devices.limits import MAX_REASON_LENGTH
from devices.models import Swap, SwapState
from devices.permissions import Perm
from devices.services.checks import SwapRefused
from devices.services.transitions import swap_audit, swap_enqueue_send

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


def _who(user: User | None) -> str:
    if user is None:
        return "someone"
    return user.get_full_name() or user.get_username()


def _check_decider(swap: Swap, actor: User, verb: str) -> None:
    if not (getattr(actor, "is_active", False) and actor.has_perm(Perm.APPROVE_SWAP)):
        raise PermissionDenied(f"You may not {verb} swaps; a helpdesk or supervisor user must.")
    if swap.requested_by_id == actor.pk:
        raise SwapRefused(
            f"You requested this swap; another person must {verb} it.", code="own_swap"
        )


def _not_pending(swap: Swap, verb: str) -> SwapRefused:
    """Why a swap that already left PENDING_APPROVAL cannot be approved or rejected now."""
    if swap.state == SwapState.REJECTED:
        text = f"Swap #{swap.pk} was already rejected by {_who(swap.decided_by)}"
        if swap.rejection_reason:
            text += f": {swap.rejection_reason}"
        return SwapRefused(text, code="already_rejected")
    if swap.state == SwapState.CANCELLED and swap.decided_at is not None:
        return SwapRefused(
            f"Swap #{swap.pk} was approved by {_who(swap.decided_by)} but then cancelled; "
            "nothing is sent.",
            code="cancelled",
        )
    if swap.decided_at is not None:
        text = (
            f"Swap #{swap.pk} was already approved by {_who(swap.decided_by)} and is "
            f"{swap.get_state_display().lower()}."
        )
        if verb == "reject" and swap.is_open:
            text += " To stop it, cancel it from its swap page."
        return SwapRefused(text, code="already_approved")
    return SwapRefused(
        f"Swap #{swap.pk} is {swap.get_state_display().lower()}; there is nothing to {verb}.",
        code="not_pending",
    )


def swap_approve(*, swap: Swap, actor: User) -> Swap:
    """Let a held-back swap go: PENDING_APPROVAL -> QUEUED, audited, sent after commit (or
    WAITING_OFFLINE for a swap requested "when the old unit goes offline")."""
    _check_decider(swap, actor, "approve")
    now = timezone.now()
    # A swap requested "when the old unit goes offline" on an online device goes on waiting.
    next_state = SwapState.WAITING_OFFLINE if swap.offline_wait_until else SwapState.QUEUED
    with transaction.atomic():
        approved = Swap.objects.filter(pk=swap.pk, state=SwapState.PENDING_APPROVAL).update(
            state=next_state,
            decided_by=actor,
            decided_at=now,
            next_attempt_at=None,
            updated_at=now,
        )
        if approved:
            swap_audit(
                swap=swap,
                action=AuditAction.SWAP_APPROVED,
                actor=actor,
                before={"state": SwapState.PENDING_APPROVAL},
                after={"state": next_state, "approval_reasons": swap.approval_reasons},
            )
            if next_state == SwapState.QUEUED:
                swap_enqueue_send(swap_id=swap.pk)
    swap.refresh_from_db()
    if approved:
        logger.info("swap %s approved by user %s", swap.pk, actor.pk)
        return swap
    if swap.state != SwapState.REJECTED and swap.decided_by_id == actor.pk and swap.is_open:
        return swap  # a double click: already approved by this very person, still going
    raise _not_pending(swap, "approve")


def swap_reject(*, swap: Swap, actor: User, reason: str) -> Swap:
    """End a held-back swap with the reason the requester will read; audited."""
    _check_decider(swap, actor, "reject")
    # One line of printable text: tabs, line breaks and other control characters become spaces.
    reason = " ".join("".join(c if c.isprintable() else " " for c in reason or "").split())
    if not reason:
        raise SwapRefused(
            "Say why the swap is rejected; the requester reads it.",
            code="reason_required",
            field="reason",
        )
    if len(reason) > MAX_REASON_LENGTH:
        raise SwapRefused(
            f"The reason has at most {MAX_REASON_LENGTH} characters; this one has {len(reason)}.",
            code="invalid_reason",
            field="reason",
        )
    now = timezone.now()
    with transaction.atomic():
        rejected = Swap.objects.filter(pk=swap.pk, state=SwapState.PENDING_APPROVAL).update(
            state=SwapState.REJECTED,
            decided_by=actor,
            decided_at=now,
            rejection_reason=reason,
            custom_verify_code_encrypted="",  # a custom code waiting to be sent is a secret
            next_attempt_at=None,
            finished_at=now,
            updated_at=now,
        )
        if rejected:
            swap_audit(
                swap=swap,
                action=AuditAction.SWAP_REJECTED,
                actor=actor,
                before={"state": SwapState.PENDING_APPROVAL},
                after={"state": SwapState.REJECTED, "approval_reasons": swap.approval_reasons},
                detail=reason,
            )
    swap.refresh_from_db()
    if rejected:
        logger.info("swap %s rejected by user %s", swap.pk, actor.pk)
        return swap
    if swap.state == SwapState.REJECTED and swap.decided_by_id == actor.pk:
        return swap  # a double click: already rejected by this very person
    raise _not_pending(swap, "reject")


def approver_mail_configured() -> bool:
    """Whether approvers are e-mailed at all (EMAIL_HOST is set)."""
    from django.conf import settings

    return bool(getattr(settings, "EMAIL_HOST", ""))


def swap_notify_approvers(*, swap_id: int) -> int:
    """Tell the approvers by e-mail that a swap waits for them (after the swap's commit).

    Only when EMAIL_HOST is configured; the mail names the device, the requester and the
    reasons, never a code. Returns how many addresses were mailed (0 when skipped or failed).
    """
    from django.conf import settings
    from django.core.mail import send_mail
    from django.urls import reverse

    from devices.approvals import swap_approver_emails

    if not approver_mail_configured():
        return 0
    swap = Swap.objects.select_related("device", "requested_by").filter(pk=swap_id).first()
    if swap is None or swap.state != SwapState.PENDING_APPROVAL:
        return 0
    recipients = swap_approver_emails(swap=swap)
    if not recipients:
        return 0
    device = swap.device.name or swap.device.device_id
    origins = getattr(settings, "CSRF_TRUSTED_ORIGINS", [])
    link = (origins[0].rstrip("/") if origins else "") + reverse("devices:approval_queue")
    reasons = "\n".join(f"- {reason}" for reason in swap.approval_reasons or [])
    body = (
        f"Swap #{swap.pk} for device {device} was requested by {_who(swap.requested_by)} "
        f"and waits for approval by a helpdesk or supervisor user.\n\n"
        + (f"Why it needs approval:\n{reasons}\n\n" if reasons else "")
        + f"Open the approvals page: {link}\n"
    )
    try:
        send_mail(
            subject=f"Swap #{swap.pk} waits for your approval",
            message=body,
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:
        logger.warning("swap %s: the approvers could not be e-mailed", swap.pk, exc_info=True)
        return 0
    logger.info("swap %s: %s approver(s) e-mailed", swap.pk, len(recipients))
    return len(recipients)
