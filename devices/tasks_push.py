"""The Celery task that applies a push after the endpoint has answered the platform."""

from datetime import datetime
from typing import Any

from celery import Task, shared_task
from django.db import DatabaseError


# A database hiccup (a lock, two deviceAdded racing to create one row) is retried; anything
# else, and a hiccup that outlasts the retries, is audited (PUSH_FAILED) and logged.
@shared_task(
    bind=True,
    name="devices.tasks_push.push_process",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
)
def push_process(self: Task, push: dict[str, Any], received_at: str) -> str:
    """`push` is `PushNotification.to_task()` of a body the endpoint validated: never re-parsed."""
    from devices.services.push import PushNotification, push_apply, push_record_failure

    try:
        outcome = push_apply(
            push=PushNotification.from_task(push), received_at=datetime.fromisoformat(received_at)
        )
    except DatabaseError as exc:
        if self.request.retries < (self.max_retries or 0):
            raise
        push_record_failure(push=push, error=exc)
        raise
    except Exception as exc:
        push_record_failure(push=push, error=exc)
        return "failed"
    return outcome.outcome
