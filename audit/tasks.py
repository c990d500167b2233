"""Celery beat: a signed checkpoint of the audit chain head every few minutes."""

from celery import shared_task


@shared_task(name="audit.tasks.audit_checkpoint", ignore_result=True)
def audit_checkpoint() -> int | None:
    from audit.checkpoints import audit_checkpoint_write

    checkpoint = audit_checkpoint_write()
    return None if checkpoint is None else checkpoint.seq
