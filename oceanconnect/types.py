"""Plain typed values the client returns, and their parsing from the platform's JSON.

Parsing is lenient about what the platform leaves out (absent, null, garbled values become
None) and strict about nothing: the platform is the source of truth for what it sends.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"


def parse_timestamp(value: Any) -> datetime | None:
    """`yyyyMMdd'T'HHmmss'Z'` (UTC) to an aware datetime; None when absent or garbled."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    try:
        if len(text) == 16 and text[8] == "T" and text[15] == "Z" and text.isascii():
            # The platform's own form, read without strptime (a list page carries 500 times).
            digits = text[:8] + text[9:15]
            if digits.isdigit():
                return datetime(
                    int(text[0:4]), int(text[4:6]), int(text[6:8]),
                    int(text[9:11]), int(text[11:13]), int(text[13:15]), tzinfo=UTC,
                )  # fmt: skip
        return datetime.strptime(text, _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def format_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_TIMESTAMP_FORMAT)


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _mask(secret: str | None) -> str:
    if not secret:
        return repr(secret)
    return "'***'"


@dataclass(frozen=True)
class AccessToken:
    """The platform's login answer: only the newest access token is honoured."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float  # unix time
    lifetime: float = 3600.0  # expiresIn, seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "lifetime": self.lifetime,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "AccessToken":
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=str(data.get("refresh_token") or ""),
            expires_at=float(data["expires_at"]),
            lifetime=float(data.get("lifetime") or 3600.0),
        )

    @classmethod
    def from_login_answer(cls, data: Mapping[str, Any], *, now: float) -> "AccessToken":
        """The login/refreshToken answer; raises ValueError when it has no access token."""
        access = _str(data.get("accessToken"))
        if not access:
            raise ValueError("login answer without accessToken")
        lifetime = _int(data.get("expiresIn"))
        lifetime = lifetime if lifetime and lifetime > 0 else 3600
        return cls(
            access_token=access,
            refresh_token=_str(data.get("refreshToken")) or "",
            expires_at=now + lifetime,
            lifetime=float(lifetime),
        )


@dataclass(frozen=True)
class RefreshDeviceKeyResult:
    """The one-time verifyCode a replacement unit must present, and its validity (0 = never)."""

    verify_code: str = field(repr=False)
    timeout: int | None

    def __repr__(self) -> str:
        return (
            f"RefreshDeviceKeyResult(verify_code={_mask(self.verify_code)}, "
            f"timeout={self.timeout!r})"
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "RefreshDeviceKeyResult":
        return cls(
            verify_code=_str(data.get("verifyCode")) or "", timeout=_int(data.get("timeout"))
        )


@dataclass(frozen=True)
class ActivationStatus:
    device_id: str
    activated: bool | None
    name: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, device_id: str) -> "ActivationStatus":
        return cls(
            device_id=_str(data.get("deviceId")) or device_id,
            activated=_bool(data.get("activated")),
            name=_str(data.get("name")),
        )


@dataclass(frozen=True)
class DeviceInfo:
    node_id: str | None = None
    name: str | None = None
    description: str | None = None
    manufacturer_id: str | None = None
    manufacturer_name: str | None = None
    mac: str | None = None
    location: str | None = None
    model: str | None = None
    device_type: str | None = None
    protocol_type: str | None = None
    sw_version: str | None = None
    fw_version: str | None = None
    hw_version: str | None = None
    status: str | None = None
    status_detail: str | None = None
    mute: str | None = None
    serial_number: str | None = None
    signal_strength: int | None = None
    battery_level: int | None = None

    @classmethod
    def from_json(cls, data: Any) -> "DeviceInfo":
        d = _mapping(data)
        return cls(
            node_id=_str(d.get("nodeId")),
            name=_str(d.get("name")),
            description=_str(d.get("description")),
            manufacturer_id=_str(d.get("manufacturerId")),
            manufacturer_name=_str(d.get("manufacturerName")),
            mac=_str(d.get("mac")),
            location=_str(d.get("location")),
            model=_str(d.get("model")),
            device_type=_str(d.get("deviceType")),
            protocol_type=_str(d.get("protocolType")),
            sw_version=_str(d.get("swVersion")),
            fw_version=_str(d.get("fwVersion")),
            hw_version=_str(d.get("hwVersion")),
            status=_str(d.get("status")),
            status_detail=_str(d.get("statusDetail")),
            mute=_str(d.get("mute")),
            serial_number=_str(d.get("serialNumber")),
            signal_strength=_int(d.get("signalStrength")),
            battery_level=_int(d.get("batteryLevel")),
        )

    def to_json(self) -> dict[str, Any]:
        """The platform's camelCase shape, without the fields left unset (for registration)."""
        names = {
            "node_id": "nodeId",
            "name": "name",
            "description": "description",
            "manufacturer_id": "manufacturerId",
            "manufacturer_name": "manufacturerName",
            "mac": "mac",
            "location": "location",
            "model": "model",
            "device_type": "deviceType",
            "protocol_type": "protocolType",
            "sw_version": "swVersion",
            "fw_version": "fwVersion",
            "hw_version": "hwVersion",
            "status": "status",
            "status_detail": "statusDetail",
            "mute": "mute",
            "serial_number": "serialNumber",
            "signal_strength": "signalStrength",
            "battery_level": "batteryLevel",
        }
        return {
            camel: getattr(self, attr)
            for attr, camel in names.items()
            if getattr(self, attr) is not None
        }


@dataclass(frozen=True)
class PlatformDevice:
    device_id: str
    gateway_id: str | None
    node_type: str | None
    create_time: datetime | None
    last_modified_time: datetime | None
    info: DeviceInfo

    @classmethod
    def from_json(cls, data: Any) -> "PlatformDevice":
        d = _mapping(data)
        return cls(
            device_id=_str(d.get("deviceId")) or "",
            gateway_id=_str(d.get("gatewayId")),
            node_type=_str(d.get("nodeType")),
            create_time=parse_timestamp(d.get("createTime")),
            last_modified_time=parse_timestamp(d.get("lastModifiedTime")),
            info=DeviceInfo.from_json(d.get("deviceInfo")),
        )


@dataclass(frozen=True)
class DevicePage:
    page_no: int
    page_size: int
    total_count: int
    devices: tuple[PlatformDevice, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, page_no: int, page_size: int) -> "DevicePage":
        raw = data.get("devices")
        devices = tuple(
            PlatformDevice.from_json(item)
            for item in (raw if isinstance(raw, list) else [])
            if isinstance(item, Mapping)
        )
        page = _int(data.get("pageNo"))
        size = _int(data.get("pageSize"))
        total = _int(data.get("totalCount"))
        return cls(
            page_no=page if page is not None else page_no,
            page_size=size if size is not None else page_size,
            total_count=total if total is not None else len(devices),
            devices=devices,
        )


@dataclass(frozen=True)
class RegisteredDevice:
    device_id: str
    verify_code: str = field(repr=False)
    timeout: int | None
    psk: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (
            f"RegisteredDevice(device_id={self.device_id!r}, "
            f"verify_code={_mask(self.verify_code)}, timeout={self.timeout!r}, "
            f"psk={_mask(self.psk)})"
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "RegisteredDevice":
        return cls(
            device_id=_str(data.get("deviceId")) or "",
            verify_code=_str(data.get("verifyCode")) or "",
            timeout=_int(data.get("timeout")),
            psk=_str(data.get("psk")),
        )


@dataclass(frozen=True)
class Subscription:
    subscription_id: str | None
    notify_type: str
    # The callback path carries the push secret: shown only up to the host in reprs.
    callback_url: str = field(repr=False)

    def __repr__(self) -> str:
        parts = urlsplit(self.callback_url)
        shown = f"{parts.scheme}://{parts.netloc}/***" if parts.netloc else "***"
        return (
            f"Subscription(subscription_id={self.subscription_id!r}, "
            f"notify_type={self.notify_type!r}, callback_url={shown!r})"
        )

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], *, notify_type: str, callback_url: str
    ) -> "Subscription":
        return cls(
            subscription_id=_str(data.get("subscriptionId")),
            notify_type=_str(data.get("notifyType")) or notify_type,
            callback_url=_str(data.get("callbackUrl")) or callback_url,
        )


@dataclass(frozen=True)
class SubscriptionPage:
    """One page of `GET .../subscriptions` (pageNo from 0)."""

    page_no: int
    page_size: int
    total_count: int
    subscriptions: tuple[Subscription, ...]

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], *, page_no: int, page_size: int
    ) -> "SubscriptionPage":
        raw = data.get("subscriptions")
        items = raw if isinstance(raw, list) else []
        subscriptions = tuple(
            Subscription.from_json(item, notify_type="", callback_url="")
            for item in items
            if isinstance(item, Mapping)
        )
        total = _int(data.get("totalCount"))
        return cls(
            page_no=page_no,
            page_size=page_size,
            total_count=total if total is not None else len(subscriptions),
            subscriptions=subscriptions,
        )


@dataclass(frozen=True)
class FlowUsage:
    """The shared flow limiter right now: calls reserved in its window, and when one frees.

    `used` counts every process's calls in the window (a running cool-down counts as full);
    `seconds_until_free` is 0.0 while a slot is free. `lanes` counts the window's calls per
    lane, `waiting` the calls waiting for a slot per lane; `reserve` is the number of slots the
    lanes below interactive may never fill.
    """

    limit: int
    used: int
    window: float
    seconds_until_free: float
    available: bool = True
    reserve: int = 0
    lanes: Mapping[str, int] = field(default_factory=dict)
    waiting: Mapping[str, int] = field(default_factory=dict)

    @property
    def free(self) -> int:
        return max(0, self.limit - self.used)


@dataclass(frozen=True)
class SimulatorBinding:
    """The simulator's answer to a device-side bind (a test and demo control call only).

    `reason` says why the simulator refused (at most 200 characters, never the verifyCode).
    """

    bound: bool
    http_status: int
    device_id: str | None = None
    reason: str = ""
