"""The swap state transitions more than one service makes: claim, bind, release, audit, enqueue.

Every transition is a guarded UPDATE (filtered on the state it leaves), so a duplicate task
delivery, a duplicate push or a double click changes nothing the second time. verifyCodes are
encrypted while valid, never logged, never audited, never put in a task argument or exception.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from devices.models import Device, DeviceStatus, Swap, SwapState
from iotadmin.metrics import swap_bound_observed

logger = logging.getLogger(__name__)

# Seconds a send accepts to wait for a flow-control slot before it retries later instead.
SEND_FLOW_WAIT_SECONDS = 2.0


def swap_audit(*, swap: Swap, action: AuditAction, **fields: Any) -> None:
    """One audit event about `swap` (its device and id filled in); never pass a code."""
    audit_record(action=action, device_id=swap.device.device_id, swap_id=swap.pk, **fields)


def swap_enqueue_send(*, swap_id: int, countdown: float | None = None) -> None:
    """After commit, hand the swap id (only) to the worker (after `countdown` seconds if
    given); the sweeper covers a broker outage."""

    def send() -> None:
        from devices.tasks import swap_send as swap_send_task

        try:
            if countdown is None:
                swap_send_task.delay(swap_id)
            else:
                swap_send_task.apply_async((swap_id,), countdown=countdown)
        except Exception:  # the broker being down must not fail the user's request
            logger.exception("could not enqueue swap %s; the sweeper will retry", swap_id)

    transaction.on_commit(send)


def swap_lease_seconds() -> float:
    """How long a claim lasts from its last renewal: the longest one platform exchange can
    take (connect + read timeout), the wait for a flow slot before the next one, a margin.

    The send renews it right before each exchange (a login, a token refresh, the call, a
    retry: oceanconnect.exchange_guard), so a send of several exchanges never needs more, and
    a worker that died mid-call is taken over one exchange after its last renewal.
    """
    exchange = float(settings.IOT_CONNECT_TIMEOUT) + float(settings.IOT_READ_TIMEOUT)
    return exchange + SEND_FLOW_WAIT_SECONDS + float(settings.SWAP_LEASE_MARGIN_SECONDS)


def _lapsed(now: datetime) -> Q:
    return Q(lease_expires_at__lte=now) | Q(lease_expires_at__isnull=True)


def swap_claim_for_send(*, swap_id: int) -> bool:
    """QUEUED -> SENDING with a lease, counting one attempt; False when someone else has it.

    A SENDING swap whose lease has lapsed (its worker died or hung) is taken over at once, and
    reconciled first; a live lease is never touched. `attempts` doubles as the claim's fencing
    token: every later guarded update of the send names the attempt it belongs to.
    """
    now = timezone.now()
    lapsed_send = Q(state=SwapState.SENDING, lease_expires_at__lte=now)
    return bool(
        Swap.objects.filter(Q(state=SwapState.QUEUED) | lapsed_send, pk=swap_id).update(
            needs_reconcile=Case(
                When(state=SwapState.SENDING, then=Value(True)), default=F("needs_reconcile")
            ),
            state=SwapState.SENDING,
            attempts=F("attempts") + 1,
            lease_expires_at=now + timedelta(seconds=swap_lease_seconds()),
            next_attempt_at=None,
            updated_at=now,
        )
    )


def swap_renew_lease(*, swap: Swap) -> bool:
    """Extend this attempt's own claim by a whole lease (before each platform exchange);
    False if it was taken over or released meanwhile (`attempts` is the fencing token)."""
    now = timezone.now()
    lease = now + timedelta(seconds=swap_lease_seconds())
    renewed = Swap.objects.filter(
        pk=swap.pk, state=SwapState.SENDING, attempts=swap.attempts
    ).update(lease_expires_at=lease, updated_at=now)
    swap.lease_expires_at = lease
    return bool(renewed)


def swap_live_lease_remaining(*, swap_id: int) -> float | None:
    """Seconds left on a SENDING swap's live lease; None when it is not SENDING or has lapsed."""
    lease = (
        Swap.objects.filter(pk=swap_id, state=SwapState.SENDING)
        .values_list("lease_expires_at", flat=True)
        .first()
    )
    if lease is None:
        return None
    remaining = (lease - timezone.now()).total_seconds()
    return remaining if remaining > 0 else None


def swap_release_sending(*, swap_id: int, stuck_before: datetime | None = None) -> bool:
    """SENDING -> QUEUED with reconcile first: the refresh may have reached the platform.

    Only a claim whose lease has lapsed (a live one is never touched); with `stuck_before`,
    only a send not touched since then either (the sweeper's lost workers).
    """
    now = timezone.now()
    claimed = Swap.objects.filter(_lapsed(now), pk=swap_id, state=SwapState.SENDING)
    if stuck_before is not None:
        claimed = claimed.filter(updated_at__lte=stuck_before)
    return bool(
        claimed.update(
            state=SwapState.QUEUED, needs_reconcile=True, lease_expires_at=None, updated_at=now
        )
    )


def swap_set_cancelled(*, swap: Swap, at: datetime) -> bool:
    """Cancel the swap if it is still in the state the caller read (a guarded update); its
    codes are erased. False when it changed meanwhile (nothing written)."""
    return bool(
        Swap.objects.filter(pk=swap.pk, state=swap.state).update(
            state=SwapState.CANCELLED,
            verify_code_encrypted="",
            custom_verify_code_encrypted="",
            next_attempt_at=None,
            finished_at=at,
            updated_at=at,
        )
    )


def swap_set_bound(*, swap: Swap, node_id: str, at: datetime) -> bool:
    """Mark one swap bound (from the state it is in) and move the device mirror to `node_id`."""
    with transaction.atomic():
        bound = Swap.objects.filter(pk=swap.pk, state=swap.state).update(
            state=SwapState.BOUND,
            lease_expires_at=None,
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
        swap_audit(
            swap=swap,
            action=AuditAction.SWAP_BOUND,
            before={"node_id": old_node_id},
            after={"node_id": node_id, "bound_at": at.isoformat()},
        )
    logger.info("swap %s bound: device %s has its new unit", swap.pk, device.device_id)
    swap_bound_observed(seconds=(at - swap.created_at).total_seconds())
    return True
