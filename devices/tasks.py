"""Thin Celery tasks: they take ids, call one service, and turn its answer into a retry."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready
from django.conf import settings

from devices.services.lifecycle import swap_release_interrupted
from devices.services.lifecycle import swaps_recover as swaps_recover_service
from devices.services.lifecycle import swaps_sweep as swaps_sweep_service
from devices.services.offline import swaps_check_offline as swaps_check_offline_service
from devices.services.send import LEASE_RECHECK_MARGIN, SwapRetryLater, retry_delay
from devices.services.send import swap_send as swap_send_service
from devices.services.transitions import swap_live_lease_remaining

logger = logging.getLogger(__name__)

# Past the send's two leases (settings.py), and under the broker's visibility timeout, so a
# late ack never redelivers. The task runs on its own queue (settings.CELERY_TASK_ROUTES).
SWAP_SEND_SOFT_TIME_LIMIT = settings.SWAP_SEND_SOFT_TIME_LIMIT
SWAP_SEND_TIME_LIMIT = settings.SWAP_SEND_TIME_LIMIT


# No task retry limit: the one budget is settings.SWAP_MAX_ATTEMPTS, which the service applies
# (it fails the swap after the last counted attempt and then raises nothing to retry).
@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    soft_time_limit=SWAP_SEND_SOFT_TIME_LIMIT,
    time_limit=SWAP_SEND_TIME_LIMIT,
)
def swap_send(self, swap_id: int) -> None:
    try:
        swap_send_service(swap_id=swap_id)
    except SwapRetryLater as exc:
        raise self.retry(countdown=exc.countdown, exc=None) from None
    except SoftTimeLimitExceeded:
        if swap_release_interrupted(swap_id=swap_id):
            logger.warning("swap %s: send interrupted by the time limit; will reconcile", swap_id)
            raise self.retry(countdown=retry_delay(1)) from None
        remaining = swap_live_lease_remaining(swap_id=swap_id)
        if remaining is not None:  # still under a live lease: look again once it lapses
            raise self.retry(countdown=remaining + LEASE_RECHECK_MARGIN) from None


@shared_task(acks_late=True, soft_time_limit=30, time_limit=45)
def swaps_recover() -> int:
    return swaps_recover_service()


@worker_ready.connect
def recover_swaps_on_worker_start(sender: Any = None, **kwargs: Any) -> None:
    """A worker starting (maybe after a crash) asks for every send whose claim lapsed."""
    try:
        swaps_recover.delay()
    except Exception:  # the broker being down must not stop the worker; beat recovers later
        logger.exception("could not enqueue the swap recovery at worker start")


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def swaps_sweep() -> dict[str, int]:
    result = swaps_sweep_service()
    return {"requeued": result.requeued, "recovered": result.recovered, "expired": result.expired}


@shared_task(acks_late=True, soft_time_limit=60, time_limit=75)
def swaps_check_offline() -> dict[str, int]:
    """Beat: the backstop of the deviceInfoChanged push for swaps waiting for the old unit to
    go offline (devices/services/offline.py)."""
    result = swaps_check_offline_service(max_calls=settings.SWAP_OFFLINE_CHECK_MAX_CALLS)
    return {"expired": result.expired, "checked": result.checked, "released": result.released}


DEVICES_SYNC_SOFT_TIME_LIMIT = settings.DEVICES_SYNC_TIME_LIMIT - 300
# A run stops before its next page once this is spent, well before the soft limit: a page may
# wait a whole flow window for a slot and the platform's read timeout for its answer.
DEVICES_SYNC_BUDGET_SECONDS = DEVICES_SYNC_SOFT_TIME_LIMIT - 180


@shared_task(
    acks_late=True,
    soft_time_limit=DEVICES_SYNC_SOFT_TIME_LIMIT,
    time_limit=settings.DEVICES_SYNC_TIME_LIMIT,
)
def devices_sync() -> None:
    from devices.services.sync import SyncAlreadyRunning
    from devices.services.sync import devices_sync as devices_sync_service

    try:
        result = devices_sync_service(deadline=time.monotonic() + DEVICES_SYNC_BUDGET_SECONDS)
    except SyncAlreadyRunning:
        logger.info("Device sync skipped: another sync is running")
        return
    if not result.finished:
        devices_sync.delay()  # the walk continues where this run stopped
