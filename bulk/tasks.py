"""Thin Celery tasks of the bulk app: a self-rescheduling dispatcher per batch, and a resumer."""

from __future__ import annotations

import logging

from celery import shared_task

from bulk.services import bulk_dispatch_step, bulk_resume_stalled

logger = logging.getLogger(__name__)
# After an unexpected error (database locked, store down) the chain tries again after this.
ERROR_PAUSE_SECONDS = 5.0


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def bulk_dispatch(batch_id: int, owner: str) -> None:
    """One step of the batch's dispatcher; it schedules the next step itself, never sleeps."""
    try:
        step = bulk_dispatch_step(batch_id=batch_id, owner=owner)
    except Exception:
        # Every claim in a step is guarded, so running it again is safe; a lost chain would
        # leave the batch to the periodic bulk_resume.
        logger.exception("bulk %s: dispatcher step failed; trying again", batch_id)
        bulk_dispatch.apply_async((batch_id, owner), countdown=ERROR_PAUSE_SECONDS)
        return
    if step.next_in is not None:
        bulk_dispatch.apply_async((batch_id, owner), countdown=step.next_in)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def bulk_resume() -> int:
    return bulk_resume_stalled()
