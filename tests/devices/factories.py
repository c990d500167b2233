"""Test data: users in a role, mirrored devices, swaps. Plain functions, unique by counter."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from devices.codes import code_hint, encrypt_code, hash_code
from devices.identifiers import luhn_check_digit
from devices.models import Device, DeviceStatus, NodeIdKind, Swap, SwapState
from devices.roles import FIELD_SERVICE, HELPDESK, SUPERVISOR, sync_role_groups

_counter = itertools.count(1)

# The role names tests may use for the groups.
ROLE_ALIASES = {
    "field_service": FIELD_SERVICE,
    "helpdesk": HELPDESK,
    "supervisor": SUPERVISOR,
}


def make_imei(n: int | None = None) -> str:
    """A valid 15-digit IMEI (correct Luhn check digit), unique per call."""
    body = f"35{(n if n is not None else next(_counter)) % 10**12:012d}"
    return body + str(luhn_check_digit(body))


def make_user(
    *,
    role: str | None = None,
    username: str | None = None,
    perms: tuple[str, ...] | list[str] = (),
    password: str = "pw-for-tests-only",
    **fields: Any,
) -> Any:
    """A user; `role` is a group name ("Helpdesk") or alias ("helpdesk"); `perms` are extra
    "app_label.codename" permissions."""
    user_model = get_user_model()
    user = user_model.objects.create_user(
        username=username or f"user{next(_counter)}", password=password, **fields
    )
    if role:
        name = ROLE_ALIASES.get(role, role)
        if not Group.objects.filter(name=name).exists():
            sync_role_groups()  # a transactional test's flush removed the migration's groups
        user.groups.add(Group.objects.get(name=name))
    for perm in perms:
        app_label, codename = perm.split(".", 1)
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user_model.objects.get(pk=user.pk)  # fresh: no stale permission cache


def make_device(**fields: Any) -> Device:
    n = next(_counter)
    values: dict[str, Any] = {
        "device_id": f"dev-{n:06d}-0000-4000-8000-000000000000",
        "node_id": make_imei(n),
        "name": f"Meter {n:06d}",
        "status": DeviceStatus.OFFLINE,
        "activated": True,
    }
    values.update(fields)
    return Device.objects.create(**values)


def make_swap(*, verify_code: str | None = None, **fields: Any) -> Swap:
    """A swap row written directly (no service, no task); `verify_code` stores an issued code."""
    if "device" not in fields:
        fields["device"] = make_device()
    if "requested_by" not in fields:
        fields["requested_by"] = make_user(role="field_service")
    values: dict[str, Any] = {
        "old_node_id": fields["device"].node_id,
        "new_node_id": make_imei(),
        "node_id_kind": NodeIdKind.IMEI,
        "chipset": "hisilicon",
        "state": SwapState.QUEUED,
    }
    values.update(fields)
    if verify_code is not None:
        if "state" not in fields:
            values["state"] = SwapState.CODE_ISSUED
        values["verify_code_encrypted"] = encrypt_code(verify_code)
        values["verify_code_hint"] = code_hint(verify_code)
        values["verify_code_hash"] = hash_code(verify_code)
    return Swap.objects.create(**values)
