"""Roles (Django groups) and the object-level checks views and services share.

The groups are created by a data migration from ROLE_PERMISSIONS; `sync_role_groups` is the
same code for a fresh database and for a running one (`manage.py migrate` re-applies nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devices.permissions import Perm

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from devices.models import Swap

FIELD_SERVICE = "Field service"
HELPDESK = "Helpdesk"
SUPERVISOR = "Supervisor"

# The Device/Swap permissions are declared in devices/models.py.
_FIELD_SERVICE_PERMS: tuple[Perm, ...] = (
    Perm.SEARCH_DEVICES,
    Perm.REQUEST_SWAP,
    Perm.VIEW_OWN_CODES,
)
ROLE_PERMISSIONS: dict[str, tuple[Perm, ...]] = {
    FIELD_SERVICE: _FIELD_SERVICE_PERMS,
    HELPDESK: (
        *_FIELD_SERVICE_PERMS,
        Perm.MANAGE_ANY_SWAP,
        Perm.BULK_SWAP,
        Perm.APPROVE_SWAP,
    ),
    # Supervisors read everything but never see a verifyCode.
    SUPERVISOR: (
        Perm.SEARCH_DEVICES,
        Perm.VIEW_HISTORY,
        Perm.APPROVE_SWAP,
        Perm.VIEW_SWAP,
    ),
}


def sync_role_groups(apps: Any = None) -> None:
    """Create the groups and give each exactly its permissions (used by the data migration)."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; a data migration must create them itself.
    for app_label in ("devices", "auth"):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)

    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for group_name, perms in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=group_name)
        wanted = []
        for perm in perms:
            wanted.append(
                permission_model.objects.get(
                    content_type__app_label=perm.app_label, codename=perm.codename
                )
            )
        group.permissions.set(wanted)


def _is_active(user: User) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def can_view_swap(user: User, swap: Swap) -> bool:
    """The swap page itself (state, history): requester, helpdesk, supervisors."""
    if not _is_active(user):
        return False
    if swap.requested_by_id == user.pk:
        return True
    return bool(
        user.has_perm(Perm.MANAGE_ANY_SWAP)
        or user.has_perm(Perm.VIEW_SWAP)
        or user.has_perm(Perm.VIEW_HISTORY)
    )


def can_view_attempts(user: User) -> bool:
    """Each platform call of a swap (never its code): helpdesk and supervisors."""
    if not _is_active(user):
        return False
    return bool(user.has_perm("devices.manage_any_swap") or user.has_perm("devices.view_history"))


def can_see_code(user: User, swap: Swap) -> bool:
    """Only the requester (with view_own_codes) or helpdesk; never a read-only role."""
    if not _is_active(user):
        return False
    if user.has_perm(Perm.MANAGE_ANY_SWAP):
        return True
    return swap.requested_by_id == user.pk and user.has_perm(Perm.VIEW_OWN_CODES)


def can_manage_swap(user: User, swap: Swap) -> bool:
    """Cancel and re-issue: the requester (who may still request swaps) or helpdesk."""
    if not _is_active(user):
        return False
    if user.has_perm(Perm.MANAGE_ANY_SWAP):
        return True
    return swap.requested_by_id == user.pk and user.has_perm(Perm.REQUEST_SWAP)
