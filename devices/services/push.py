"""Platform push notifications: validate a body (`push_parse`) and apply it (`push_apply`).

A body is parsed once, at the endpoint; the task gets `PushNotification.to_task()` (plain JSON,
times in UTC ISO 8601 with their sub-seconds) and hands `from_task()` to `push_apply`.

Ordering rule (pushes may arrive twice and out of order):
- A push's time is its explicit event time (top-level `eventTime`/`timestamp`, platform format
  `yyyyMMdd'T'HHmmss'Z'` or ISO 8601) when it carries one, else the moment our endpoint received
  it (stamped before queueing, so the receipt order survives a busy worker).
- `Device.platform_updated_at` is the time of the newest state we hold. A state-changing push
  older than it is ignored ("stale"); a push whose values we already hold writes nothing, so a
  duplicate changes nothing twice.
- deviceIds are never reused: after a deletion, only a deviceAdded with an explicit event time
  newer than the deletion restores the device (a late retry of the original deviceAdded does
  not); deviceInfoChanged and bindDevice never touch a deleted device's fields.
- bindDevice results go to the swap state machine, which is idempotent on its own; an
  "expired" result only closes a swap whose code was issued before the push was received.
Explicit nulls in deviceInfo mean "unchanged". Keys we do not use are ignored: real pushes carry
a top-level `networkStatus`, deviceInfo keys such as `bridgeId`, `supportedSecurity`,
`isSecurity`, `sigVersion`, `isHD`, and `nodeType: "GATEWAY"` in deviceAdded.
A bindDevice push may come without deviceInfo (optional in Huawei's reference): it binds the
device's open swap, whose new nodeId says which unit bound.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import CharField, Q
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from devices.identifiers import node_search_key
from devices.limits import MAX_DEVICE_ID_LENGTH
from devices.models import Device, DeviceStatus, Swap, SwapState
from devices.services.lifecycle import swap_mark_bound, swap_mark_expired
from devices.services.offline import (
    OFFLINE_STATUSES,
    device_live_status_forget,
    swaps_release_offline,
)
from devices.services.sync import device_activated, device_status
from iotadmin.metrics import push_observed

logger = logging.getLogger(__name__)

NOTIFY_TYPES = ("bindDevice", "deviceInfoChanged", "deviceAdded", "deviceDeleted")
BIND_RESULTS = ("succeeded", "expired")
# deviceInfo key on the wire -> the Device field it updates.
_DEVICE_INFO_COLUMNS = {
    "nodeId": "node_id",
    "name": "name",
    "location": "location",
    "manufacturerName": "manufacturer",
    "model": "model",
    "deviceType": "device_type",
    "protocolType": "protocol",
    "status": "status",
    "statusDetail": "status_detail",
}


def _column_length(column: str) -> int:
    field = Device._meta.get_field(column)
    if not isinstance(field, CharField):
        raise TypeError(f"Device.{column} is not a text column")
    return int(field.max_length or 0)


# deviceInfo key on the wire -> (Device field, longest value the column takes).
DEVICE_INFO_FIELDS: dict[str, tuple[str, int]] = {
    key: (column, _column_length(column)) for key, column in _DEVICE_INFO_COLUMNS.items()
}
EVENT_TIME_KEYS = ("eventTime", "timestamp")
# No platform event predates this; an earlier time is a broken clock or a forged body.
PLATFORM_EPOCH = datetime(2015, 1, 1, tzinfo=UTC)


def push_max_future() -> timedelta:
    """How far ahead of our clock a push's event time may be (the platform's clock drifts)."""
    return timedelta(seconds=settings.PUSH_MAX_FUTURE_SECONDS)


class InvalidPush(ValueError):
    """A body we refuse; the message says why and never quotes the body's values."""


@dataclass(frozen=True)
class PushNotification:
    """One validated push: only the fields we use, every one a plain string (or None)."""

    notify_type: str
    device_id: str
    gateway_id: str = ""
    result_code: str = ""
    event_time: datetime | None = None
    device_info: dict[str, str | None] = field(default_factory=dict)

    def to_task(self) -> dict[str, Any]:
        """This push as a JSON-safe task argument that `from_task` turns back into an equal one."""
        return {
            "notify_type": self.notify_type,
            "device_id": self.device_id,
            "gateway_id": self.gateway_id,
            "result_code": self.result_code,
            "event_time": (
                None if self.event_time is None else self.event_time.astimezone(UTC).isoformat()
            ),
            "device_info": dict(self.device_info),
        }

    @classmethod
    def from_task(cls, data: dict[str, Any]) -> PushNotification:
        """The push `to_task` described (it was validated by `push_parse` before queueing)."""
        event_time = data["event_time"]
        return cls(
            notify_type=data["notify_type"],
            device_id=data["device_id"],
            gateway_id=data["gateway_id"],
            result_code=data["result_code"],
            event_time=None if event_time is None else datetime.fromisoformat(event_time),
            device_info=dict(data["device_info"]),
        )


@dataclass(frozen=True)
class PushOutcome:
    """What applying one push did (also the `outcome` recorded in the audit trail)."""

    notify_type: str
    device_id: str
    outcome: str
    changed: bool


def _parse_event_time(raw: object) -> datetime:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidPush("eventTime must be a timestamp like 20151212T121212Z")
    text = raw.strip()
    try:
        parsed = datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidPush("eventTime must be a timestamp like 20151212T121212Z") from None
        if timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _string(value: object, *, name: str, max_length: int = MAX_DEVICE_ID_LENGTH) -> str:
    if not isinstance(value, str):
        raise InvalidPush(f"{name} must be a string")
    if len(value) > max_length:
        raise InvalidPush(f"{name} is longer than {max_length} characters")
    if "\x00" in value:
        raise InvalidPush(f"{name} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # JSON may escape a lone surrogate (\ud800): no database or log line can hold it.
        raise InvalidPush(f"{name} is not valid Unicode text (lone surrogate)") from None
    return value


def _check_event_time(event_time: datetime, *, now: datetime) -> datetime:
    if event_time < PLATFORM_EPOCH:
        raise InvalidPush(f"eventTime is before {PLATFORM_EPOCH:%Y-%m-%d}")
    limit = push_max_future()
    if event_time > now + limit:
        raise InvalidPush(
            f"eventTime is more than {int(limit.total_seconds())} seconds in the future"
        )
    return event_time


def push_parse(*, body: bytes, now: datetime | None = None) -> PushNotification:
    """Validate a push body; raise InvalidPush with a short reason for anything else.

    An event time must lie between PLATFORM_EPOCH and `now` (the clock) + PUSH_MAX_FUTURE_SECONDS:
    a far-future time would make every later push look stale for the device.
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidPush("body is not UTF-8 text") from None
    except (ValueError, RecursionError):
        raise InvalidPush("body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidPush("body is not a JSON object")
    notify_type = data.get("notifyType")
    if notify_type not in NOTIFY_TYPES:
        raise InvalidPush(
            "notifyType is missing" if notify_type is None else "notifyType is not one we handle"
        )
    device_id = data.get("deviceId")
    if device_id is None or device_id == "":
        raise InvalidPush("deviceId is missing")
    device_id = _string(device_id, name="deviceId").strip()
    if not device_id:
        raise InvalidPush("deviceId is missing")
    gateway_id = data.get("gatewayId")
    gateway_id = "" if gateway_id is None else _string(gateway_id, name="gatewayId")

    event_time = None
    for key in EVENT_TIME_KEYS:
        if data.get(key) is not None:
            event_time = _check_event_time(_parse_event_time(data[key]), now=now or timezone.now())
            break

    raw_info = data.get("deviceInfo")
    if raw_info is None:
        raw_info = {}
    if not isinstance(raw_info, dict):
        raise InvalidPush("deviceInfo is not a JSON object")
    device_info: dict[str, str | None] = {}
    for key, (_column, max_length) in DEVICE_INFO_FIELDS.items():
        value = raw_info.get(key)
        device_info[key] = (
            None
            if value is None
            else _string(value, name=f"deviceInfo.{key}", max_length=max_length)
        )
    device_info = {key: value for key, value in device_info.items() if value is not None}

    result_code = ""
    if notify_type == "bindDevice":
        raw_result = data.get("resultCode")
        result_code = raw_result.strip().lower() if isinstance(raw_result, str) else ""
        if result_code not in BIND_RESULTS:
            raise InvalidPush("bindDevice resultCode must be succeeded or expired")
        # deviceInfo is optional in Huawei's reference: without its nodeId the open swap of
        # the device says which unit bound (push_apply).
    return PushNotification(
        notify_type=notify_type,
        device_id=device_id,
        gateway_id=gateway_id,
        result_code=result_code,
        event_time=event_time,
        device_info=device_info,
    )


def _field_values(info: dict[str, str | None]) -> dict[str, Any]:
    """deviceInfo (nulls already dropped) as Device field values."""
    values: dict[str, Any] = {}
    for key, (column, _max) in DEVICE_INFO_FIELDS.items():
        value = info.get(key)
        if value is None:
            continue
        values[column] = device_status(value) if column == "status" else value
    if "node_id" in values:
        values["node_key"] = node_search_key(values["node_id"])
    if "status" in values or "status_detail" in values:
        status = values.get("status")
        detail = values.get("status_detail", "")
        if status not in (None, DeviceStatus.UNKNOWN) or detail:
            values["activated"] = device_activated(status=status or "", status_detail=detail)
    return values


def _apply_fields(device: Device, values: dict[str, Any], *, at: datetime) -> dict[str, Any]:
    """Write the values that differ; return {field: old value} of what changed."""
    before = {
        name: getattr(device, name)
        for name, value in values.items()
        if getattr(device, name) != value
    }
    if not before:
        return {}
    for name in before:
        setattr(device, name, values[name])
    device.platform_updated_at = at
    device.save(update_fields=[*before, "platform_updated_at"])
    return before


def _is_stale(device: Device, at: datetime) -> bool:
    return device.platform_updated_at is not None and at < device.platform_updated_at


@dataclass
class _Applied:
    outcome: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    changed: bool = False


def _changes(device: Device, before: dict[str, Any]) -> dict[str, Any]:
    return {name: getattr(device, name) for name in before}


def _device_added(device: Device | None, push: PushNotification, *, at: datetime) -> _Applied:
    values = _field_values(push.device_info)
    if device is None:
        values.setdefault("node_id", "")
        values.setdefault("node_key", node_search_key(values["node_id"]))
        values.setdefault("status", DeviceStatus.INACTIVE)
        values.setdefault("activated", device_activated(status=values["status"], status_detail=""))
        Device.objects.create(device_id=push.device_id, platform_updated_at=at, **values)
        return _Applied("created", after=values, changed=True)
    if device.deleted_on_platform_at is None:
        return _Applied("no change: already mirrored")
    if push.event_time is None or push.event_time <= device.deleted_on_platform_at:
        return _Applied("ignored: a late deviceAdded for a deleted device")
    deleted_at = device.deleted_on_platform_at
    device.deleted_on_platform_at = None
    device.platform_updated_at = at
    device.save(update_fields=["deleted_on_platform_at", "platform_updated_at"])
    before = _apply_fields(device, values, at=at)
    after = {**_changes(device, before), "deleted_on_platform_at": None}
    return _Applied("restored", {**before, "deleted_on_platform_at": deleted_at}, after, True)


def _device_deleted(device: Device, push: PushNotification, *, at: datetime) -> _Applied:
    if device.deleted_on_platform_at is not None:
        return _Applied("no change: already marked deleted")
    device.deleted_on_platform_at = at
    device.platform_updated_at = max(at, device.platform_updated_at or at)
    device.save(update_fields=["deleted_on_platform_at", "platform_updated_at"])
    return _Applied(
        "marked deleted",
        {"deleted_on_platform_at": None},
        {"deleted_on_platform_at": at},
        changed=True,
    )


def _device_info_changed(device: Device, push: PushNotification, *, at: datetime) -> _Applied:
    if device.deleted_on_platform_at is not None:
        return _Applied("ignored: device is deleted on the platform")
    if _is_stale(device, at):
        return _Applied("ignored: older than the state we hold")
    before = _apply_fields(device, _field_values(push.device_info), at=at)
    if before:
        device_live_status_forget(device=device)
    after = _changes(device, before)
    outcome = "updated" if before else "no change"
    # The old unit went offline: a swap waiting for that is sent now.
    if device_status(push.device_info.get("status") or "") in OFFLINE_STATUSES:
        released = swaps_release_offline(device=device, seen_by="deviceInfoChanged push")
        if released:
            outcome += f"; swap #{released[0]} sent (device offline)"
            after["swapId"] = released[0]
    if not before and outcome == "no change":
        return _Applied(outcome)
    return _Applied(outcome, before, after, changed=True)


def _open_swap_node_id(device: Device) -> str:
    """The new nodeId of the device's open swap (a bindDevice push without deviceInfo)."""
    swap = (
        Swap.objects.filter(device=device)
        .filter(
            Q(state__in=(SwapState.SENDING, SwapState.CODE_ISSUED))
            | Q(state=SwapState.QUEUED, needs_reconcile=True)
        )
        .order_by("-created_at", "-id")
        .first()
    )
    return swap.new_node_id if swap is not None else ""


def _bind_device(
    device: Device, push: PushNotification, *, at: datetime, received_at: datetime
) -> _Applied:
    if device.deleted_on_platform_at is not None:
        return _Applied("ignored: device is deleted on the platform")
    values = _field_values(push.device_info)
    if push.result_code == "succeeded":
        values["activated"] = True
    parts: list[str] = []
    before: dict[str, Any] = {}
    if _is_stale(device, at):
        parts.append("device state older than ours, kept")
    else:
        before = _apply_fields(device, values, at=at)
        parts.append("device updated" if before else "device unchanged")
    after = _changes(device, before)
    changed = bool(before)
    if push.result_code == "succeeded":
        recent_states = dict(
            Swap.objects.filter(device=device)
            .order_by("-created_at", "-id")
            .values_list("pk", "state")[:20]
        )
        node_id = push.device_info.get("nodeId") or _open_swap_node_id(device)
        swap = swap_mark_bound(device_id=device.device_id, node_id=node_id, at=at)
        if swap is None:
            parts.insert(0, "no matching swap")
        elif recent_states.get(swap.pk) != SwapState.BOUND and swap.state == SwapState.BOUND:
            parts.insert(0, f"swap #{swap.pk} bound")
            changed = True
        else:
            parts.insert(0, f"swap #{swap.pk} already {swap.state}")
    else:
        swap = (
            Swap.objects.select_for_update()
            .filter(device=device, state=SwapState.CODE_ISSUED, code_issued_at__lte=received_at)
            .first()
        )
        if swap is not None:
            swap = swap_mark_expired(swap=swap)
            changed = True
        parts.insert(0, f"swap #{swap.pk} expired" if swap is not None else "no open code")
    if swap is not None:
        after["swapId"] = swap.pk
        after["swapState"] = swap.state
    return _Applied("; ".join(parts), before, after, changed)


def push_record_refusal(*, reason: str, size: int) -> None:
    """Audit a body the endpoint refused (the reason never quotes the body's values)."""
    audit_record(
        action=AuditAction.PUSH_REFUSED,
        after={"reason": reason, "bytes": size},
        detail=f"push refused: {reason}",
    )


def push_record_failure(*, push: dict[str, Any], error: BaseException) -> None:
    """Audit and log a validated push the worker could not apply, so it is never lost silently.

    Only the push's type and deviceId and the error's class are recorded: the body's values
    (names, nodeIds) may be what broke, and the error's text may quote them.
    """
    notify_type = str(push.get("notify_type", "?"))
    device_id = str(push.get("device_id", ""))
    safe_device_id = device_id.encode("utf-8", "replace").decode("utf-8")
    audit_record(
        action=AuditAction.PUSH_FAILED,
        device_id=safe_device_id,
        after={"notifyType": notify_type, "error": type(error).__name__},
        detail=f"{notify_type}: not applied ({type(error).__name__})",
    )
    logger.error(
        "Push %s for %s not applied: %s",
        notify_type,
        ascii(safe_device_id),
        type(error).__name__,
    )


def push_apply(*, push: PushNotification, received_at: datetime) -> PushOutcome:
    """Apply one validated platform push; audited as PUSH_RECEIVED whatever it changed."""
    at = push.event_time or received_at
    with transaction.atomic():
        device = Device.objects.select_for_update().filter(device_id=push.device_id).first()
        if push.notify_type == "deviceAdded":
            applied = _device_added(device, push, at=at)
        elif device is None:
            applied = _Applied("ignored: unknown device (the next sync mirrors it)")
        elif push.notify_type == "deviceDeleted":
            applied = _device_deleted(device, push, at=at)
        elif push.notify_type == "deviceInfoChanged":
            applied = _device_info_changed(device, push, at=at)
        else:
            applied = _bind_device(device, push, at=at, received_at=received_at)
        summary: dict[str, Any] = {
            "notifyType": push.notify_type,
            "deviceId": push.device_id,
            "outcome": applied.outcome,
        }
        if push.result_code:
            summary["resultCode"] = push.result_code
        audit_record(
            action=AuditAction.PUSH_RECEIVED,
            device_id=push.device_id,
            before=_jsonable(applied.before) or None,
            after={**summary, **_jsonable(applied.after)},
            detail=f"{push.notify_type}: {applied.outcome}",
        )
    logger.info("Push %s for %s: %s", push.notify_type, push.device_id, applied.outcome)
    push_observed(
        notify_type=push.notify_type, outcome="changed" if applied.changed else "unchanged"
    )
    return PushOutcome(
        notify_type=push.notify_type,
        device_id=push.device_id,
        outcome=applied.outcome,
        changed=applied.changed,
    )


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in values.items()
    }
