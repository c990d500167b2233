"""Writing to the audit trail: the one way anything is recorded."""

from typing import TYPE_CHECKING

from audit.models import AuditAction, AuditEvent
from iotadmin.middleware import current_client_ip, current_request_id

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


def _actor_and_name(
    actor: "User | AnonymousUser | None",
) -> "tuple[User | None, str]":
    if actor is None or not actor.is_authenticated or actor.pk is None:
        return None, ""
    return actor, actor.get_username()


def audit_record(
    *,
    action: AuditAction,
    actor: "User | AnonymousUser | None" = None,
    device_id: str = "",
    swap_id: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
    detail: str = "",
    request_id: str | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Append one event to the chain and return it.

    request_id and ip default to the current request's. Values under secret-like keys
    (verify_code, password, app_secret, token, psk, ...) in before/after, and "key=value"
    secrets in detail, are replaced by "[redacted]" and a warning naming the key is logged.
    The chain lock is held until the caller's transaction ends: call this last in a
    transaction, and never before a platform call inside the same transaction.
    """
    if request_id is None:
        request_id = current_request_id.get()
        if request_id == "-":
            request_id = ""
    if ip is None:
        ip = current_client_ip.get()
    actor_obj, actor_name = _actor_and_name(actor)
    event = AuditEvent(
        action=AuditAction(action),
        actor=actor_obj,
        actor_name=actor_name,
        ip=ip,
        request_id=request_id,
        device_id=device_id or "",
        swap_id=swap_id,
        before=before,
        after=after,
        detail=detail or "",
    )
    event.save()
    return event
