"""Audit events for authentication and for changes of users, groups and permissions.

Business actions (swaps, syncs, pushes) are recorded by their services, not here. The password
hash is never recorded: a change of it shows as "password_changed": true.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model, user_logged_in, user_logged_out, user_login_failed
from django.contrib.auth.models import Group, Permission
from django.db.models import Model
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver
from django.http import HttpRequest

from audit.middleware import current_actor
from audit.models import AuditAction
from audit.services import audit_record

if TYPE_CHECKING:
    from django.contrib.auth.models import User as UserModel

User = get_user_model()

# Recorded user fields; password (the hash) and last_login (every sign-in) are not.
USER_FIELDS = (
    "username",
    "first_name",
    "last_name",
    "email",
    "is_active",
    "is_staff",
    "is_superuser",
)


def _request_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _request_id(request: HttpRequest | None) -> str | None:
    return getattr(request, "request_id", None) if request is not None else None


def _acting_user() -> UserModel | None:
    actor = current_actor.get()
    if actor is None or not actor.is_authenticated:
        return None
    return actor


def _user_fields(user: UserModel) -> dict[str, Any]:
    return {name: getattr(user, name) for name in USER_FIELDS if hasattr(user, name)}


@receiver(user_logged_in, dispatch_uid="audit_login")
def _on_login(sender: Any, request: HttpRequest | None, user: UserModel, **kwargs: Any) -> None:
    audit_record(
        action=AuditAction.LOGIN,
        actor=user,
        ip=_request_ip(request),
        request_id=_request_id(request),
    )


@receiver(user_logged_out, dispatch_uid="audit_logout")
def _on_logout(
    sender: Any, request: HttpRequest | None, user: UserModel | None, **kwargs: Any
) -> None:
    audit_record(
        action=AuditAction.LOGOUT,
        actor=user,
        ip=_request_ip(request),
        request_id=_request_id(request),
    )


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def _on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Only the name tried: Django already masks the password, we do not even keep the mask.
    tried = str(credentials.get(User.USERNAME_FIELD) or credentials.get("username") or "")
    audit_record(
        action=AuditAction.LOGIN_FAILED,
        after={"username": tried[:150]},
        detail=f"failed sign-in as {tried[:150]!r}",
        ip=_request_ip(request),
        request_id=_request_id(request),
    )


@receiver(user_locked_out, dispatch_uid="audit_login_locked")
def _on_locked_out(
    sender: Any, request: HttpRequest | None = None, username: str | None = None, **kwargs: Any
) -> None:
    tried = str(username or "")[:150]
    audit_record(
        action=AuditAction.LOGIN_LOCKED,
        after={"username": tried},
        detail=f"sign-in locked for {tried!r} after repeated failures",
        ip=_request_ip(request),
        request_id=_request_id(request),
    )


def _only_last_login(update_fields: Any) -> bool:
    return update_fields is not None and set(update_fields) <= {"last_login"}


@receiver(pre_save, sender=User, dispatch_uid="audit_user_pre_save")
def _user_pre_save(
    sender: Any, instance: Any, raw: bool, update_fields: Any, **kwargs: Any
) -> None:
    if raw or instance.pk is None or _only_last_login(update_fields):
        return
    stored = (
        sender._default_manager.filter(pk=instance.pk)
        .values(*[f for f in USER_FIELDS if hasattr(instance, f)], "password")
        .first()
    )
    instance._audit_stored = stored


@receiver(post_save, sender=User, dispatch_uid="audit_user_post_save")
def _user_post_save(
    sender: Any, instance: UserModel, created: bool, raw: bool, update_fields: Any, **kwargs: Any
) -> None:
    if raw or _only_last_login(update_fields):
        return
    stored = instance.__dict__.pop("_audit_stored", None)
    if created or stored is None:
        after = _user_fields(instance)
        after["password_set"] = instance.has_usable_password()
        audit_record(
            action=AuditAction.USER_CHANGED,
            actor=_acting_user(),
            after=after,
            detail=f"user {instance.get_username()!r} created",
        )
        return
    current = _user_fields(instance)
    before = {k: stored[k] for k in current if stored.get(k) != current[k]}
    after = {k: current[k] for k in before}
    if stored.get("password") != instance.password:
        after["password_changed"] = True
    if not after:
        return
    audit_record(
        action=AuditAction.USER_CHANGED,
        actor=_acting_user(),
        before=before,
        after=after,
        detail=f"user {instance.get_username()!r} changed",
    )


@receiver(post_delete, sender=User, dispatch_uid="audit_user_post_delete")
def _user_post_delete(sender: Any, instance: UserModel, **kwargs: Any) -> None:
    audit_record(
        action=AuditAction.USER_CHANGED,
        actor=_acting_user(),
        before=_user_fields(instance),
        detail=f"user {instance.get_username()!r} deleted",
    )


@receiver(pre_save, sender=Group, dispatch_uid="audit_group_pre_save")
def _group_pre_save(sender: Any, instance: Group, raw: bool, **kwargs: Any) -> None:
    if raw or instance.pk is None:
        return
    # Stashed on the instance for _group_post_save; not a model field.
    instance._audit_name = (  # type: ignore[attr-defined]
        Group.objects.filter(pk=instance.pk).values_list("name", flat=True).first()
    )


@receiver(post_save, sender=Group, dispatch_uid="audit_group_post_save")
def _group_post_save(sender: Any, instance: Group, created: bool, raw: bool, **kwargs: Any) -> None:
    if raw:
        return
    old_name = instance.__dict__.pop("_audit_name", None)
    if created or old_name is None:
        audit_record(
            action=AuditAction.GROUP_CHANGED,
            actor=_acting_user(),
            after={"name": instance.name},
            detail=f"group {instance.name!r} created",
        )
    elif old_name != instance.name:
        audit_record(
            action=AuditAction.GROUP_CHANGED,
            actor=_acting_user(),
            before={"name": old_name},
            after={"name": instance.name},
            detail=f"group {old_name!r} renamed to {instance.name!r}",
        )


@receiver(post_delete, sender=Group, dispatch_uid="audit_group_post_delete")
def _group_post_delete(sender: Any, instance: Group, **kwargs: Any) -> None:
    audit_record(
        action=AuditAction.GROUP_CHANGED,
        actor=_acting_user(),
        before={"name": instance.name},
        detail=f"group {instance.name!r} deleted",
    )


def _label(obj: Model) -> str:
    if isinstance(obj, Permission):
        return f"{obj.content_type.app_label}.{obj.codename}"
    if isinstance(obj, Group):
        return obj.name
    if isinstance(obj, User):
        return obj.get_username()
    return str(obj)


def _labels(instance: Model, accessor: str) -> list[str]:
    related = getattr(instance, accessor).all()
    if getattr(related, "model", None) is Permission:
        related = related.select_related("content_type")
    return sorted(_label(obj) for obj in related)


# through model -> (forward accessor, reverse accessor, action, forward key, reverse key)
def _m2m_relations() -> dict[Any, tuple[str, str, AuditAction, str, str]]:
    return {
        User.groups.through: ("groups", "user_set", AuditAction.GROUP_CHANGED, "groups", "members"),
        User.user_permissions.through: (
            "user_permissions",
            "user_set",
            AuditAction.PERMISSION_CHANGED,
            "permissions",
            "users",
        ),
        Group.permissions.through: (
            "permissions",
            "group_set",
            AuditAction.PERMISSION_CHANGED,
            "permissions",
            "groups",
        ),
    }


def _on_m2m_changed(
    sender: Any, instance: Model, action: str, reverse: bool, **kwargs: Any
) -> None:
    relation = _m2m_relations().get(sender)
    if relation is None:
        return
    forward_accessor, reverse_accessor, audit_action, forward_key, reverse_key = relation
    accessor = reverse_accessor if reverse else forward_accessor
    key = reverse_key if reverse else forward_key
    stash = f"_audit_m2m_{accessor}"
    if action.startswith("pre_"):
        instance.__dict__[stash] = _labels(instance, accessor)
        return
    before = instance.__dict__.pop(stash, None)
    after = _labels(instance, accessor)
    if before is None or before == after:
        return
    kind = type(instance).__name__.lower()
    name = _label(instance)
    audit_record(
        action=audit_action,
        actor=_acting_user(),
        before={kind: name, key: before},
        after={kind: name, key: after},
        detail=f"{key} of {kind} {name!r} changed",
    )


for _through in (User.groups.through, User.user_permissions.through, Group.permissions.through):
    m2m_changed.connect(_on_m2m_changed, sender=_through, dispatch_uid=f"audit_m2m_{_through}")
