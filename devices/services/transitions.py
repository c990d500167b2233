"""The swap state transitions more than one service makes: claim, bind, release, audit, enqueue.

Every transition is a guarded UPDATE (filtered on the state it leaves), so a duplicate task
delivery, a duplicate push or a double click changes nothing the second time. verifyCodes are
encrypted while valid, never logged, never audited, never put in a task argument or exception.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from devices.models import Device, DeviceStatus, Swap, SwapState
from iotadmin.metrics import swap_bound_observed

logger = logging.getLogger(__name__)


def swap_audit(*, swap: Swap, action: str, **fields: Any) -> None:
    """One audit event about `swap` (its device and id filled in); never pass a code."""
    audit_record(action=action, device_id=swap.device.device_id, swap_id=swap.pk, **fields)


def swap_enqueue_send(*, swap_id: int) -> None:
    """After commit, hand the swap id (only) to the worker; the sweeper covers a broker outage."""

    def send() -> None:
        from devices.tasks import swap_send as swap_send_task

        try:
            swap_send_task.delay(swap_id)
        except Exception:  # the broker being down must not fail the user's request
            logger.exception("could not enqueue swap %s; the sweeper will retry", swap_id)

    transaction.on_commit(send)


def swap_claim_for_send(*, swap_id: int) -> bool:
    """QUEUED -> SENDING, counting one attempt; False when someone else has it (or it ended)."""
    return bool(
        Swap.objects.filter(pk=swap_id, state=SwapState.QUEUED).update(
            state=SwapState.SENDING,
            attempts=F("attempts") + 1,
            next_attempt_at=None,
            updated_at=timezone.now(),
        )
    )


def swap_release_sending(*, swap_id: int, stuck_before: datetime | None = None) -> bool:
    """SENDING -> QUEUED with reconcile first: the refresh may have reached the platform.

    With `stuck_before`, only a send not touched since then (the sweeper's lost workers).
    """
    claimed = Swap.objects.filter(pk=swap_id, state=SwapState.SENDING)
    if stuck_before is not None:
        claimed = claimed.filter(updated_at__lte=stuck_before)
    return bool(
        claimed.update(state=SwapState.QUEUED, needs_reconcile=True, updated_at=timezone.now())
    )


def swap_set_bound(*, swap: Swap, node_id: str, at: datetime) -> bool:
    """Mark one swap bound (from the state it is in) and move the device mirror to `node_id`."""
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
        swap_audit(
            swap=swap,
            action=AuditAction.SWAP_BOUND,
            before={"node_id": old_node_id},
            after={"node_id": node_id, "bound_at": at.isoformat()},
        )
    logger.info("swap %s bound: device %s has its new unit", swap.pk, device.device_id)
    swap_bound_observed(seconds=(at - swap.created_at).total_seconds())
    return True
