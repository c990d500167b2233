"""Thin Celery tasks of the bulk app: a self-rescheduling dispatcher per batch, and a resumer."""

from __future__ import annotations

from celery import shared_task

from bulk.services import bulk_dispatch_step, bulk_resume_stalled


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def bulk_dispatch(batch_id: int, owner: str) -> None:
    """One step of the batch's dispatcher; it schedules the next step itself, never sleeps."""
    step = bulk_dispatch_step(batch_id=batch_id, owner=owner)
    if step.next_in is not None:
        bulk_dispatch.apply_async((batch_id, owner), countdown=step.next_in)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def bulk_resume() -> int:
    return bulk_resume_stalled()
