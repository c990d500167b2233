"""What happens to a swap after it was requested: bound, expired, cancelled, re-issued, its code
revealed, swept when its task was lost, released when its send was cut off.

Every change is a guarded UPDATE, so a duplicate push or a double click changes nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditAction
from devices.code_modes import requires_node_id_code
from devices.codes import decrypt_code
from devices.identifiers import NodeId, node_search_key
from devices.limits import DEFAULT_OFFLINE_WAIT_MINUTES, DEFAULT_TIMEOUT_SECONDS
from devices.models import OPEN_SWAP_STATES, Swap, SwapCodeView, SwapState, VerifyCodeMode
from devices.permissions import Perm
from devices.roles import can_manage_swap, can_see_code
from devices.services.checks import SwapRefused
from devices.services.request import swap_request
from devices.services.transitions import (
    swap_audit,
    swap_enqueue_send,
    swap_release_sending,
    swap_set_bound,
    swap_set_cancelled,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# A send handed over at the end of its lease arrives this long after it lapsed.
LEASE_END_MARGIN_SECONDS = 0.5

REISSUABLE_STATES = (SwapState.EXPIRED, SwapState.FAILED, SwapState.CANCELLED)
CANCELLABLE_STATES = (
    SwapState.PENDING_APPROVAL,
    SwapState.WAITING_OFFLINE,
    SwapState.QUEUED,
    SwapState.CODE_ISSUED,
)
# A late "bound" push may still close a swap we already called expired or failed this recently.
LATE_BIND_WINDOW = timedelta(days=1)
# Swaps one sweep handles at most in each of its steps (the next sweep takes the rest).
SWEEP_BATCH_SIZE = 500


@dataclass(frozen=True)
class SweepResult:
    requeued: int = 0
    recovered: int = 0
    expired: int = 0


# --- binding, expiry ------------------------------------------------------------------------


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
        swap_set_bound(swap=swap, node_id=node_id, at=at)
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
            swap_audit(
                swap=swap,
                action=AuditAction.SWAP_EXPIRED,
                after={
                    "code_expires_at": swap.code_expires_at.isoformat()
                    if swap.code_expires_at
                    else None
                },
            )
    swap.refresh_from_db()
    return swap


# --- cancel, re-issue, reveal ---------------------------------------------------------------


def swap_cancel(*, swap: Swap, actor: User) -> Swap:
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
        if not swap_set_cancelled(swap=swap, at=now):
            raise SwapRefused("The swap changed meanwhile; reload and try again.", code="busy")
        detail = ""
        if swap.state == SwapState.CODE_ISSUED:
            detail = "The platform keeps the pending binding until the code expires."
        swap_audit(
            swap=swap,
            action=AuditAction.SWAP_CANCELLED,
            actor=actor,
            before={"state": swap.state},
            after={"state": SwapState.CANCELLED},
            detail=detail,
        )
    swap.refresh_from_db()
    return swap


def reissue_timeout_seconds(*, swap: Swap) -> int:
    """The validity a re-issue asks for: the old one, but never shorter than the default (a
    code that expired once too soon would expire the same way again); 0 (never) stays 0."""
    if 0 < swap.timeout_seconds < DEFAULT_TIMEOUT_SECONDS:
        return DEFAULT_TIMEOUT_SECONDS
    return swap.timeout_seconds


def swap_reissue(*, swap: Swap, actor: User) -> Swap:
    """A new swap with the same inputs as an expired, failed or cancelled one (a device that
    attaches with its nodeId gets verifyCode = nodeId whatever the first swap used)."""
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
    # A unit that attaches with its nodeId (NB-IoT) never used a generated code: the new swap
    # takes the one mode that binds it instead of expiring the same way again.
    mode = swap.verify_code_mode
    if requires_node_id_code(swap.device):
        mode = VerifyCodeMode.SAME_AS_NODE_ID
    new_swap = swap_request(
        device=swap.device,
        new_node_id=new_node_id,
        verify_code_mode=mode,
        timeout_seconds=reissue_timeout_seconds(swap=swap),
        reason=swap.reason,
        actor=actor,
        allow_same_node_id=True,
        reissue_of=swap,
        # One that was to wait for the old unit to go offline waits again if it is still online.
        offline_wait_minutes=DEFAULT_OFFLINE_WAIT_MINUTES if swap.offline_wait_until else 0,
    )
    swap_audit(
        swap=new_swap,
        action=AuditAction.SWAP_REISSUED,
        actor=actor,
        after={
            "reissue_of": swap.pk,
            **({"verify_code_mode": mode} if mode != swap.verify_code_mode else {}),
        },
    )
    return new_swap


def _check_may_act_on_colleagues_swap(*, swap: Swap, actor: User, what: str) -> None:
    """Take-over and asking the helpdesk: for someone who may request swaps, about a swap
    that is open and not their own."""
    if not actor.has_perm(Perm.REQUEST_SWAP):
        raise PermissionDenied(f"You may not {what}.")
    swap.refresh_from_db()
    if swap.state not in OPEN_SWAP_STATES:
        raise SwapRefused(
            f"That swap is already {swap.get_state_display().lower()}: reload the device page "
            "and request a swap if you still need one.",
            code="not_open",
        )
    if swap.requested_by_id == actor.pk:
        raise SwapRefused(
            "This is your own swap: open it from the device page to see its code or cancel it.",
            code="own_swap",
        )


def swap_take_over(*, swap: Swap, actor: User) -> Swap:
    """Cancel a colleague's (or a bulk) open swap and request the same rebinding for `actor`.

    The new refresh replaces the old pending binding on the platform; both are audited (the
    old one as cancelled by the take-over, with the reason, the new one as requested and taken
    over). The new swap keeps the old nodeId and chipset, takes the default validity (a bulk
    swap's 180 s is too short to walk to the unit), and gets a platform-generated code when the
    old one had a custom code (which is never handed to another person): the same as the nodeId
    for a device that attaches with its nodeId. Refused (nothing changed) when the new request
    is refused, or while the old swap is being sent.
    """
    _check_may_act_on_colleagues_swap(swap=swap, actor=actor, what="take over swaps")
    if swap.state == SwapState.SENDING:
        raise SwapRefused(
            "The swap is being sent to the platform right now; try again in a few seconds.",
            code="busy",
        )
    mode = swap.verify_code_mode
    if requires_node_id_code(swap.device):
        mode = VerifyCodeMode.SAME_AS_NODE_ID
    elif mode == VerifyCodeMode.CUSTOM:
        mode = VerifyCodeMode.PLATFORM
    owner = swap.requested_by.get_full_name() or swap.requested_by.get_username()
    taker = actor.get_full_name() or actor.get_username()
    new_node_id = NodeId(value=swap.new_node_id, kind=swap.node_id_kind, chipset=swap.chipset)
    now = timezone.now()
    with transaction.atomic():
        if not swap_set_cancelled(swap=swap, at=now):
            raise SwapRefused("The swap changed meanwhile; reload and try again.", code="busy")
        new_swap = swap_request(
            device=swap.device,
            new_node_id=new_node_id,
            verify_code_mode=mode,
            timeout_seconds=DEFAULT_TIMEOUT_SECONDS,
            reason=swap.reason,
            actor=actor,
            allow_same_node_id=True,
            # A swap waiting for the old unit to go offline is taken over waiting likewise.
            offline_wait_minutes=DEFAULT_OFFLINE_WAIT_MINUTES
            if swap.state == SwapState.WAITING_OFFLINE
            else 0,
        )
        # Audited last (the chain lock is held until commit): the old swap, then the new.
        swap_audit(
            swap=swap,
            action=AuditAction.SWAP_CANCELLED,
            actor=actor,
            before={"state": swap.state, "requested_by": swap.requested_by_id},
            after={"state": SwapState.CANCELLED, "taken_over_by": actor.pk},
            detail=f"Taken over by {taker}: the device still had to be rebound on site "
            f"and {owner}'s swap was open.",
        )
        swap_audit(
            swap=new_swap,
            action=AuditAction.SWAP_TAKEN_OVER,
            actor=actor,
            before={"swap": swap.pk, "requested_by": swap.requested_by_id, "lane": swap.lane},
            after={"swap": new_swap.pk, "requested_by": actor.pk, "verify_code_mode": mode},
        )
    logger.info("swap %s taken over as swap %s", swap.pk, new_swap.pk)
    return new_swap


def swap_help_request(*, swap: Swap, actor: User) -> None:
    """Ask the helpdesk about a colleague's (or a bulk) open swap that blocks `actor`: one
    audit event (the helpdesk reads it in the audit trail; no other notification is sent)."""
    _check_may_act_on_colleagues_swap(swap=swap, actor=actor, what="ask about this swap")
    swap_audit(
        swap=swap,
        action=AuditAction.HELP_REQUESTED,
        actor=actor,
        after={"state": swap.state, "requested_by": swap.requested_by_id},
        detail="Blocked on site by this open swap.",
    )


def swap_reveal_code(*, swap: Swap, actor: User) -> str:
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
        swap_audit(swap=swap, action=AuditAction.CODE_VIEWED, actor=actor)
    return code


# --- sweeper, interrupted sends -------------------------------------------------------------


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
    for swap_id in due.values_list("pk", flat=True)[:SWEEP_BATCH_SIZE]:
        Swap.objects.filter(pk=swap_id, state=SwapState.QUEUED).update(updated_at=now)
        swap_enqueue_send(swap_id=swap_id)
        requeued += 1
    # A send whose lease lapsed (or, claimed before leases, still SENDING after the send task's
    # hard time limit) lost its worker mid-call: the refresh may have reached the platform, so
    # the next attempt reconciles before sending again. swaps_recover does this every few
    # seconds; this is the backstop.
    stuck_before = now - timedelta(seconds=settings.SWAP_SEND_TIME_LIMIT) - grace
    recovered = 0
    for swap_id in (
        Swap.objects.filter(state=SwapState.SENDING)
        .filter(
            Q(lease_expires_at__lte=now - grace)
            | Q(lease_expires_at__isnull=True, updated_at__lte=stuck_before)
        )
        .values_list("pk", flat=True)[:SWEEP_BATCH_SIZE]
    ):
        if swap_release_sending(swap_id=swap_id, stuck_before=stuck_before):
            swap_enqueue_send(swap_id=swap_id)
            recovered += 1
    expired = 0
    for swap in Swap.objects.select_related("device").filter(
        state=SwapState.CODE_ISSUED, code_expires_at__lte=now - grace
    )[:SWEEP_BATCH_SIZE]:
        swap_mark_expired(swap=swap)
        expired += 1
    if requeued or recovered or expired:
        logger.info("sweep: %s re-enqueued, %s recovered, %s expired", requeued, recovered, expired)
    return SweepResult(requeued=requeued, recovered=recovered, expired=expired)


def swap_release_interrupted(*, swap_id: int) -> bool:
    """A send was cut off (time limit) mid-call: queue it again, reconciling first.

    Only once its lease has lapsed: a live lease may be another worker's that took over.
    """
    return swap_release_sending(swap_id=swap_id)


def swaps_recover(*, limit: int = 100) -> int:
    """Hand every send whose lease lapsed to a worker, which takes it over (and reconciles);
    a send whose lease lapses before the next run is handed over at the moment it lapses
    (a delayed task), so a worker death costs the lease, not the lease plus a beat interval.

    One indexed query (state, lease_expires_at) when nothing is stuck: it runs every
    SWAP_RECOVER_INTERVAL_SECONDS from beat, and when a worker starts. A live lease is never
    touched: a delayed task that finds it renewed looks again when it lapses.
    """
    now = timezone.now()
    horizon = now + timedelta(seconds=float(settings.SWAP_RECOVER_INTERVAL_SECONDS))
    due = list(
        Swap.objects.filter(state=SwapState.SENDING, lease_expires_at__lte=horizon).values_list(
            "pk", "lease_expires_at"
        )[:limit]
    )
    lapsed = 0
    for swap_id, lease in due:
        remaining = (lease - now).total_seconds() if lease is not None else 0.0
        if remaining > 0:
            swap_enqueue_send(swap_id=swap_id, countdown=remaining + LEASE_END_MARGIN_SECONDS)
        else:
            swap_enqueue_send(swap_id=swap_id)
            lapsed += 1
    if lapsed:
        logger.warning("recover: %s send(s) with a lapsed claim handed to a worker", lapsed)
    if len(due) > lapsed:
        logger.info(
            "recover: %s send(s) handed to a worker when their claim lapses", len(due) - lapsed
        )
    return len(due)


def swap_recover_lapsed(*, swap: Swap) -> bool:
    """A page looking at a SENDING swap whose lease lapsed asks a worker to take it over.

    Makes no platform call; the task claims the swap (a live lease is left alone). Released to
    QUEUED first, so the next poll finds nothing to do and does not enqueue again.
    """
    if swap.state != SwapState.SENDING or swap.lease_expires_at is None:
        return False
    if swap.lease_expires_at > timezone.now():
        return False
    if not swap_release_sending(swap_id=swap.pk):
        return False
    swap_enqueue_send(swap_id=swap.pk)
    logger.warning("swap %s: claim lapsed while a page watched it; handed to a worker", swap.pk)
    return True
