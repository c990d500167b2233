"""Thin Celery tasks: they take ids, call one service, and turn its answer into a retry."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from devices.services.lifecycle import swap_release_interrupted
from devices.services.lifecycle import swaps_sweep as swaps_sweep_service
from devices.services.send import SwapRetryLater, retry_delay
from devices.services.send import swap_send as swap_send_service

logger = logging.getLogger(__name__)

# Both well under the broker's visibility timeout (3600 s), so a late ack never redelivers.
SWAP_SEND_SOFT_TIME_LIMIT = 60
SWAP_SEND_TIME_LIMIT = 90


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


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def swaps_sweep() -> dict[str, int]:
    result = swaps_sweep_service()
    return {"requeued": result.requeued, "recovered": result.recovered, "expired": result.expired}


@shared_task(acks_late=True, soft_time_limit=1500, time_limit=1800)
def devices_sync() -> None:
    from devices.services.sync import SyncAlreadyRunning
    from devices.services.sync import devices_sync as devices_sync_service

    try:
        devices_sync_service()
    except SyncAlreadyRunning:
        logger.info("Device sync skipped: another sync is running")
