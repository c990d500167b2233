"""Test data: factory_boy factories for users in a role, mirrored devices and swaps.

One home for every test package (devices, bulk, reports, browser, query counts): the rows they
build are the same. Values are unique per call (sequences, one IMEI counter); traits name the
states a test starts from, e.g. `SwapFactory(issued=True)`, `UserFactory(helpdesk=True)`.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any, cast

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.utils import timezone
from factory.django import DjangoModelFactory

from devices.codes import code_hint, encrypt_code, hash_code
from devices.identifiers import luhn_check_digit
from devices.models import Device, DeviceStatus, NodeIdKind, Swap, SwapState, VerifyCodeMode
from devices.roles import FIELD_SERVICE, HELPDESK, SUPERVISOR, sync_role_groups

PASSWORD = "pw-for-tests-only"
# The code a `pending_approval` swap's requester chose (the custom verifyCode mode).
CUSTOM_CODE = "Secret-Custom-Code-77"
ISSUED_CODE = "A1B2C3D4"
PARTNER_APP_ID = "partner-app-0001"

_imeis = itertools.count(1)


# The short role names tests use ("helpdesk") for the group names devices/roles.py creates.
ROLE_ALIASES = {
    "field_service": FIELD_SERVICE,
    "helpdesk": HELPDESK,
    "supervisor": SUPERVISOR,
}


def make_imei(n: int | None = None) -> str:
    """A valid 15-digit IMEI (correct Luhn check digit), unique per call (one shared counter, so
    a device's nodeId never equals a new nodeId drawn for a swap)."""
    body = f"35{(n if n is not None else next(_imeis)) % 10**12:012d}"
    return body + str(luhn_check_digit(body))


class UserFactory(DjangoModelFactory):
    """A user; `role` is a group name ("Helpdesk") or alias ("helpdesk"), or use a trait:
    `field_service`, `helpdesk`, `supervisor`. `perms` are extra "app_label.codename"
    permissions. `password=None` stores an unusable password."""

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    class Params:
        field_service = factory.Trait(role="field_service")
        helpdesk = factory.Trait(role="helpdesk")
        supervisor = factory.Trait(role="supervisor")

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(PASSWORD)

    role: str | None = None
    perms: tuple[str, ...] | list[str] = ()

    @classmethod
    def _build(cls, model_class: Any, *args: Any, role: Any = None, perms: Any = (), **kw: Any):
        assert not role and not perms, "roles and permissions need a saved user: use create"
        return super()._build(model_class, *args, **kw)

    @classmethod
    def _create(cls, model_class: Any, *args: Any, role: Any = None, perms: Any = (), **kw: Any):
        user = super()._create(model_class, *args, **kw)
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
        return model_class.objects.get(pk=user.pk)  # fresh: no stale permission cache


class DeviceFactory(DjangoModelFactory):
    """A mirrored device: offline and activated in our own app unless a trait says otherwise
    (`online`, `offline`, `partner`: owned by another app)."""

    class Meta:
        model = Device

    class Params:
        online = factory.Trait(status=DeviceStatus.ONLINE)
        offline = factory.Trait(status=DeviceStatus.OFFLINE)
        partner = factory.Trait(app_id=PARTNER_APP_ID)

    device_id = factory.Sequence(lambda n: f"dev-{n:06d}-0000-4000-8000-000000000000")
    node_id = factory.LazyFunction(make_imei)
    name = factory.Sequence(lambda n: f"Meter {n:06d}")
    status = DeviceStatus.OFFLINE
    activated = True

    @classmethod
    def mirror(cls, found: dict[str, Any], *, our_app_id: str = "", **fields: Any) -> Device:
        """The row a sync would write for a platform (simulator) device `found`; a device
        owned by another app than `our_app_id` keeps its owner in app_id."""
        info = found.get("deviceInfo") or {}
        owner = found.get("owner") or our_app_id
        values: dict[str, Any] = {
            "device_id": found["deviceId"],
            "node_id": found["nodeId"],
            "name": info.get("name") or "",
            "model": info.get("model") or "",
            "protocol": info.get("protocolType") or "",
            "status": found["status"],
            "activated": found["activated"],
            "app_id": "" if not our_app_id or owner == our_app_id else owner,
        }
        return cast(Device, cls(**{**values, **fields}))


class SwapFactory(DjangoModelFactory):
    """A swap row written directly (no service, no task), queued by a field service user.

    Traits: `queued`, `issued` (code issued: encrypted code, hint, hash and expiry stored, like
    swap_send writes them; `verify_code=` picks the code), `bound`, `pending_approval` (a custom
    verifyCode waiting for a second person), `expired`, `failed`, `cancelled`. `verify_code=`
    on its own stores that code whatever the state; `created_at=` backdates the request
    (auto_now_add is overwritten after the insert).
    """

    class Meta:
        model = Swap
        skip_postgeneration_save = True

    class Params:
        verify_code = None
        custom_code = None
        queued = factory.Trait(state=SwapState.QUEUED)
        issued = factory.Trait(
            state=SwapState.CODE_ISSUED,
            verify_code=ISSUED_CODE,
            code_issued_at=factory.LazyFunction(timezone.now),
            code_expires_at=factory.LazyAttribute(
                lambda o: (
                    o.code_issued_at + timedelta(seconds=o.timeout_seconds)
                    if o.timeout_seconds
                    else None
                )  # 0 = never expires
            ),
        )
        bound = factory.Trait(
            state=SwapState.BOUND,
            bound_at=factory.LazyFunction(timezone.now),
            finished_at=factory.SelfAttribute("bound_at"),
        )
        pending_approval = factory.Trait(
            state=SwapState.PENDING_APPROVAL,
            needs_approval=True,
            approval_reasons=["The verifyCode is a custom one chosen by the requester."],
            verify_code_mode=VerifyCodeMode.CUSTOM,
            custom_code=CUSTOM_CODE,
            reason="INC-1 replaced after a flood",
        )
        expired = factory.Trait(
            state=SwapState.EXPIRED, finished_at=factory.LazyFunction(timezone.now)
        )
        failed = factory.Trait(
            state=SwapState.FAILED, finished_at=factory.LazyFunction(timezone.now)
        )
        cancelled = factory.Trait(
            state=SwapState.CANCELLED, finished_at=factory.LazyFunction(timezone.now)
        )

    device = factory.SubFactory(DeviceFactory)
    requested_by = factory.SubFactory(UserFactory, field_service=True)
    old_node_id = factory.SelfAttribute("device.node_id")
    new_node_id = factory.LazyFunction(make_imei)
    node_id_kind = NodeIdKind.IMEI
    chipset = "hisilicon"
    state = SwapState.QUEUED
    timeout_seconds = 180
    custom_verify_code_encrypted = factory.Maybe(
        "custom_code", factory.LazyAttribute(lambda o: encrypt_code(o.custom_code)), ""
    )
    verify_code_encrypted = factory.Maybe(
        "verify_code", factory.LazyAttribute(lambda o: encrypt_code(o.verify_code)), ""
    )
    verify_code_hint = factory.Maybe(
        "verify_code", factory.LazyAttribute(lambda o: code_hint(o.verify_code)), ""
    )
    verify_code_hash = factory.Maybe(
        "verify_code", factory.LazyAttribute(lambda o: hash_code(o.verify_code)), ""
    )

    @factory.post_generation
    def created_at(swap: Swap, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted is not None:
            Swap.objects.filter(pk=swap.pk).update(created_at=extracted)
            swap.refresh_from_db()
