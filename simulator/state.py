"""Everything the simulated platform remembers: apps, tokens, flow windows, registry, bindings,
subscriptions, faults and the record of calls. One lock guards it all."""

from __future__ import annotations

import bisect
import collections
import datetime as dt
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulator.seed import (
    Device,
    build_registry,
    generated_device,
    generated_device_id,
    generated_index,
    generated_node_index,
    platform_time,
)

MAX_FIELD = 256
MAX_TIMEOUT = 2_147_483_647
DEFAULT_BINDING_TIMEOUT = 180
DEFAULT_REGISTRATION_TIMEOUT = 0
REFRESH_TOKEN_TTL = 30 * 86400
MAX_PAGE_SIZE = 250
DEFAULT_PAGE_SIZE = 25
DEFAULT_SUBSCRIPTION_PAGE_SIZE = 10
MAX_RECORDED_CALLS = 20_000
FAULT_MODES = ("none", "http500", "50252", "reset", "no_answer", "answer")
# Gateway-shaped codes ({"resultcode","resultmsg"}); every other code has the app-layer shape.
GATEWAY_CODES = frozenset({"1010005", "1010009"})
NOTIFY_TYPES = (
    "bindDevice",
    "deviceAdded",
    "deviceInfoChanged",
    "deviceDeleted",
    "deviceDataChanged",
    "deviceDatasChanged",
    "serviceInfoChanged",
    "messageConfirm",
    "commandRsp",
    "deviceEvent",
)
DEVICE_INFO_KEYS = (
    "nodeId",
    "name",
    "description",
    "manufacturerId",
    "manufacturerName",
    "mac",
    "location",
    "deviceType",
    "model",
    "swVersion",
    "fwVersion",
    "hwVersion",
    "protocolType",
    "status",
    "statusDetail",
    "mute",
    "serialNumber",
    "signalStrength",
    "batteryLevel",
)
MODIFIABLE_INFO_KEYS = (
    "name",
    "description",
    "location",
    "deviceType",
    "model",
    "manufacturerId",
    "manufacturerName",
    "protocolType",
    "mute",
)
# Printable ASCII without whitespace: what a device can type into its verifyCode.
VERIFY_CODE_CHARS = frozenset(string.printable) - frozenset(string.whitespace)

# The platform's texts, by code.
ERROR_TEXT = {
    "100003": "Invalid verify code.",
    "100006": "Refresh access token failed.",
    "100007": "Bad request message.",
    "100025": "AppId for auth not exist.",
    "100203": "The application is not existed.",
    "100208": "AppId or secret is not right.",
    "100217": "The application hasn't been authorized.",
    "100218": "The gatewayId and pageNo can't be both null.",
    "100222": "The request callbackurl is illegal.",
    "100225": "The resource is not found.",
    "100227": "The resource is conflicted.",
    "100403": "The device is not existed.",
    "100418": "The deviceData is not existed.",
    "100426": "The nodeId is duplicated.",
    "100610": "Device is not active.",
    "100611": "Device is online.",
    "1010005": "Invalid access token or appId.",
    "1010009": "app throttle exceed.",
    "50252": "Internal server error.",
    "50400": "The input is invalid.",
}


class PlatformAnswer(Exception):
    """An error answer: HTTP status, code, and which of the platform's two body shapes."""

    def __init__(self, status: int, code: str, *, gateway: bool = False, desc: str = "") -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.gateway = gateway
        self.desc = desc or ERROR_TEXT.get(code, "")

    def body(self) -> dict[str, str]:
        if self.gateway:
            return {"resultcode": self.code, "resultmsg": self.desc}
        return {"error_code": self.code, "error_desc": self.desc}


class ControlError(Exception):
    """A bad request to a /simulator/ control endpoint."""


@dataclass
class App:
    app_id: str
    secret: str | None
    # Apps whose devices this app may manage by passing ?appId=<owner>.
    authorizes: set[str] = field(default_factory=set)


@dataclass
class Binding:
    """A pending rebind: the new unit must connect with node_id + verify_code before expiry."""

    device_id: str
    node_id: str
    verify_code: str
    timeout: int
    created_at: float
    expires_at: float | None
    # A registration (register device), not a rebind: when it lapses unbound, the platform
    # deletes the device.
    registration: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "nodeId": self.node_id,
            "verifyCode": self.verify_code,
            "timeout": self.timeout,
            "createdAt": self.created_at,
            "expiresAt": self.expires_at,
        }


@dataclass
class Faults:
    latency_ms: int = 0
    mode: str = "none"
    count: int | None = None
    path_contains: str | None = None
    processed: bool = False
    duplicate_pushes: bool = False
    # no_answer + processed: apply the call this many seconds after it arrived (late), not at once
    apply_after_seconds: float | None = None
    # mode "answer": a documented error answer whose situation the registry cannot model
    # (which one gives 100203 with HTTP 200 or 500 rather than 403 is not documented).
    answer_status: int | None = None
    answer_code: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "mode": self.mode,
            "count": self.count,
            "path_contains": self.path_contains,
            "processed": self.processed,
            "duplicate_pushes": self.duplicate_pushes,
            "apply_after_seconds": self.apply_after_seconds,
            "status": self.answer_status,
            "code": self.answer_code,
        }


@dataclass(frozen=True)
class FaultAction:
    latency_ms: int
    mode: str
    processed: bool
    apply_after_seconds: float | None = None
    answer: PlatformAnswer | None = None


@dataclass
class Config:
    app_id: str = "iotadmin-demo-app"
    app_secret: str = "iotadmin-demo-secret"
    second_app_id: str = "partner-app"
    second_app_secret: str = "partner-app-secret"
    # Exists, but authorizes nobody: asking for its devices gives 100217.
    foreign_app_id: str = "foreign-app"
    flow_limit: int = 100
    flow_window_seconds: float = 60.0
    token_ttl: int = 3600
    devices: int = 300
    seed: int = 42
    # Devices of our app made on demand from their index (seed.generated_device), for runs at
    # a scale the demo registry cannot hold; listed before the demo devices, oldest first.
    generated_devices: int = 0


PushSink = Callable[[str, dict[str, Any]], None]


# NB-IoT units: they attach with their IMEI (the nodeId) and present no verifyCode.
NODE_ID_CODE_PROTOCOLS = frozenset({"COAP", "LWM2M"})


def _attaches_with_node_id(device: Device) -> bool:
    protocol = device.info.get("protocolType")
    return isinstance(protocol, str) and protocol.strip().upper() in NODE_ID_CODE_PROTOCOLS


def _now_text() -> str:
    return platform_time(dt.datetime.now(dt.UTC))


class PlatformState:
    """The whole simulated platform, safe to use from many handler threads."""

    def __init__(self, config: Config, push: PushSink | None = None) -> None:
        self.config = config
        self.lock = threading.RLock()
        self._push = _with_real_extras(push or (lambda notify_type, body: None))
        self.released = threading.Event()  # set by reset/shutdown: held connections let go
        self.reset()

    def set_push_sink(self, push: PushSink) -> None:
        self._push = _with_real_extras(push)

    def duplicate_pushes(self) -> bool:
        with self.lock:
            return self.faults.duplicate_pushes

    # ----------------------------------------------------------------- lifecycle
    def reset(self) -> None:
        c = self.config
        with self.lock:
            self.apps = {
                c.app_id: App(c.app_id, c.app_secret),
                c.second_app_id: App(c.second_app_id, c.second_app_secret, {c.app_id}),
                c.foreign_app_id: App(c.foreign_app_id, None),
            }
            self.devices: dict[str, Device] = build_registry(
                seed=c.seed, count=c.devices, app_id=c.app_id, second_app_id=c.second_app_id
            )
            # Generated devices read or changed so far (changes stay), and those deleted (sorted).
            self.generated_held: dict[str, Device] = {}
            self.generated_deleted: list[int] = []
            self.bindings: dict[str, Binding] = {}
            self.access_tokens: dict[str, tuple[str, float]] = {}
            self.refresh_tokens: dict[str, tuple[str, float]] = {}
            self.windows: dict[str, collections.deque[float]] = {}
            self.flow_limit = c.flow_limit
            self.faults = Faults()
            self.calls: collections.deque[dict[str, Any]] = collections.deque(
                maxlen=MAX_RECORDED_CALLS
            )
            self.subscriptions: dict[str, dict[str, Any]] = {}
            self.journal: list[dict[str, Any]] = []
            old = getattr(self, "released", None)
            self.released = threading.Event()
        if old is not None:
            old.set()

    # ----------------------------------------------------------------- record
    def record_call(
        self,
        *,
        method: str,
        path: str,
        query: dict[str, str],
        app_key: str | None,
        arrived: float,
        status: int | None,
        code: str | None,
        fault: str | None = None,
    ) -> None:
        with self.lock:
            self.calls.append(
                {
                    "method": method,
                    "path": path,
                    "query": query,
                    "app_key": app_key,
                    "time": arrived,
                    "status": status,
                    "code": code,
                    "fault": fault,
                }
            )

    def calls_json(self, *, since: float | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(c) for c in self.calls if since is None or c["time"] >= since]

    # ----------------------------------------------------------------- faults
    def set_faults(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ControlError("body must be a JSON object")
        latency = body.get("latency_ms", 0)
        mode = body.get("mode", "none")
        count = body.get("count")
        path_contains = body.get("path_contains")
        processed = body.get("processed", False)
        duplicate_pushes = body.get("duplicate_pushes", False)
        if not isinstance(latency, int) or isinstance(latency, bool) or latency < 0:
            raise ControlError("latency_ms must be a non-negative integer")
        if mode not in FAULT_MODES:
            raise ControlError(f"mode must be one of {', '.join(FAULT_MODES)}")
        if count is not None and (
            not isinstance(count, int) or isinstance(count, bool) or count < 1
        ):
            raise ControlError("count must be null or a positive integer")
        if path_contains is not None and not isinstance(path_contains, str):
            raise ControlError("path_contains must be null or a string")
        if not isinstance(processed, bool):
            raise ControlError("processed must be true or false")
        if not isinstance(duplicate_pushes, bool):
            raise ControlError("duplicate_pushes must be true or false")
        apply_after = body.get("apply_after_seconds")
        if apply_after is not None:
            if (
                not isinstance(apply_after, int | float)
                or isinstance(apply_after, bool)
                or apply_after < 0
            ):
                raise ControlError("apply_after_seconds must be null or a non-negative number")
            if mode != "no_answer" or not processed:
                raise ControlError("apply_after_seconds needs mode no_answer and processed true")
        status, code = body.get("status"), body.get("code")
        if mode == "answer":
            if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
                raise ControlError("mode answer needs status, an HTTP status 200..599")
            if code not in ERROR_TEXT:
                raise ControlError(f"mode answer needs code, one of {', '.join(ERROR_TEXT)}")
        elif status is not None or code is not None:
            raise ControlError("status and code go with mode answer only")
        with self.lock:
            self.faults = Faults(
                latency,
                mode,
                count,
                path_contains or None,
                processed,
                duplicate_pushes,
                float(apply_after) if apply_after is not None else None,
                status if mode == "answer" else None,
                code if mode == "answer" else None,
            )
            return self.faults.as_json()

    def take_fault(self, path: str) -> FaultAction | None:
        """The fault to apply to this platform call, if any; counts it against `count`."""
        with self.lock:
            f = self.faults
            if f.mode == "none" and f.latency_ms == 0:
                return None
            if f.path_contains and f.path_contains not in path:
                return None
            answer = None
            if f.mode == "answer" and f.answer_status is not None and f.answer_code is not None:
                answer = PlatformAnswer(
                    f.answer_status, f.answer_code, gateway=f.answer_code in GATEWAY_CODES
                )
            action = FaultAction(f.latency_ms, f.mode, f.processed, f.apply_after_seconds, answer)
            if f.count is not None:
                f.count -= 1
                if f.count <= 0:
                    self.faults = Faults(duplicate_pushes=f.duplicate_pushes)
            return action

    # ----------------------------------------------------------------- flow control
    def set_flow_limit(self, limit: Any) -> int:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ControlError("limit must be a positive integer (calls per window)")
        with self.lock:
            self.flow_limit = limit
            return limit

    def admit(self, app: str) -> None:
        """Sliding window per app over admitted calls; over the limit → 403/1010009."""
        now = time.monotonic()
        with self.lock:
            window = self.windows.setdefault(app, collections.deque())
            horizon = now - self.config.flow_window_seconds
            while window and window[0] <= horizon:
                window.popleft()
            if len(window) >= self.flow_limit:
                raise PlatformAnswer(403, "1010009", gateway=True)
            window.append(now)

    # ----------------------------------------------------------------- auth
    def _issue_tokens(self, app_id: str) -> dict[str, Any]:
        now = time.time()
        access = secrets.token_hex(16)
        refresh = secrets.token_hex(16)
        self.access_tokens[app_id] = (access, now + self.config.token_ttl)
        self.refresh_tokens[refresh] = (app_id, now + REFRESH_TOKEN_TTL)
        return {
            "accessToken": access,
            "tokenType": "bearer",
            "refreshToken": refresh,
            "expiresIn": self.config.token_ttl,
            "scope": "default",
        }

    def _check_secret(self, app_id: Any, secret: Any) -> App:
        if not isinstance(app_id, str) or not isinstance(secret, str) or not app_id or not secret:
            raise PlatformAnswer(400, "50400", desc="appId and secret are required.")
        app = self.apps.get(app_id)
        if app is None or app.secret is None or not secrets.compare_digest(app.secret, secret):
            raise PlatformAnswer(401, "100208")
        return app

    def login(self, app_id: Any, secret: Any) -> dict[str, Any]:
        with self.lock:
            app = self._check_secret(app_id, secret)
            return self._issue_tokens(app.app_id)

    def refresh_token(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise PlatformAnswer(400, "100007")
        with self.lock:
            app = self._check_secret(body.get("appId"), body.get("secret"))
            token = body.get("refreshToken")
            entry = self.refresh_tokens.get(token) if isinstance(token, str) else None
            if entry is None or entry[0] != app.app_id or entry[1] < time.time():
                # As the platform: a bad or expired refresh token is 401 / 100208, the same
                # answer as a wrong secret.
                raise PlatformAnswer(401, "100208")
            return self._issue_tokens(app.app_id)

    def authenticate(self, app_key: str | None, authorization: str | None) -> App:
        """The calling app, from app_key and the bearer token (only the newest one is valid)."""
        with self.lock:
            if not app_key:
                raise PlatformAnswer(401, "100025")
            app = self.apps.get(app_key)
            if app is None:
                raise PlatformAnswer(401, "100025")
            token = ""
            if authorization and authorization.lower().startswith("bearer "):
                token = authorization[7:].strip()
            current = self.access_tokens.get(app.app_id)
            if (
                not token
                or current is None
                or not secrets.compare_digest(current[0], token)
                or current[1] < time.time()
            ):
                raise PlatformAnswer(403, "1010005", gateway=True)
            return app

    def invalidate_tokens(self) -> int:
        with self.lock:
            count = len(self.access_tokens)
            self.access_tokens.clear()
            return count

    # ----------------------------------------------------------------- ownership
    def _target_app(self, caller: App, app_id_query: str | None) -> tuple[str, bool]:
        """Whose devices the call is about; the bool says 100217 must come with HTTP 200."""
        if not app_id_query:
            return caller.app_id, False
        if app_id_query == caller.app_id:
            # The catalogue's first row: appId set for our own device → 200 with 100217.
            raise PlatformAnswer(200, "100217")
        owner = self.apps.get(app_id_query)
        if owner is None:
            raise PlatformAnswer(403, "100203")
        if caller.app_id not in owner.authorizes:
            raise PlatformAnswer(403, "100217")
        return owner.app_id, False

    def _device_for(self, caller: App, device_id: str, app_id_query: str | None) -> Device:
        if not device_id or len(device_id) > MAX_FIELD or "/" in device_id:
            raise PlatformAnswer(400, "100007")
        target, _ = self._target_app(caller, app_id_query)
        device = self._find(device_id)
        if device is None:
            raise PlatformAnswer(404, "100403")
        if device.owner_app != target:
            raise PlatformAnswer(404, "100418")
        return device

    def _live_generated_index(self, index: int | None) -> int | None:
        if index is None or index >= self.config.generated_devices:
            return None
        position = bisect.bisect_left(self.generated_deleted, index)
        held = self.generated_deleted
        return None if position < len(held) and held[position] == index else index

    def _generated(self, index: int) -> Device:
        device_id = generated_device_id(index)
        device = self.generated_held.get(device_id)
        if device is None:
            device = generated_device(index, app_id=self.config.app_id)
            self.generated_held[device_id] = device
        return device

    def _find(self, device_id: str) -> Device | None:
        """A device of the registry, generated ones included (held from then on)."""
        device = self.devices.get(device_id)
        if device is not None:
            return device
        index = self._live_generated_index(generated_index(device_id))
        return None if index is None else self._generated(index)

    def _generated_page(self, position: int, count: int) -> list[Device]:
        """`count` live generated devices from `position` in the oldest-first list."""
        index = position
        for deleted in self.generated_deleted:  # skip the deleted ones before the position
            if deleted <= index:
                index += 1
            else:
                break
        out: list[Device] = []
        while len(out) < count and index < self.config.generated_devices:
            if self._live_generated_index(index) is not None:
                device_id = generated_device_id(index)
                held = self.generated_held.get(device_id)
                out.append(held or generated_device(index, app_id=self.config.app_id))
            index += 1
        return out

    # ----------------------------------------------------------------- validation
    @staticmethod
    def _timeout(body: dict[str, Any], *, default: int = DEFAULT_BINDING_TIMEOUT) -> int:
        value = body.get("timeout")
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise PlatformAnswer(400, "50400", desc="timeout must be an integer >= 0.")
        if value < 0 or value > MAX_TIMEOUT:
            raise PlatformAnswer(400, "50400", desc="timeout must be an integer >= 0.")
        return value

    @staticmethod
    def _verify_code(body: dict[str, Any]) -> str | None:
        value = body.get("verifyCode")
        if value is None:
            return None
        if not isinstance(value, str):
            raise PlatformAnswer(400, "50400", desc="verifyCode must be a string.")
        if len(value) > MAX_FIELD:
            raise PlatformAnswer(400, "50400", desc="verifyCode is longer than 256.")
        if not value or any(ch not in VERIFY_CODE_CHARS for ch in value):
            raise PlatformAnswer(400, "100003")
        return value

    @staticmethod
    def _node_id(body: dict[str, Any], *, required: bool) -> str | None:
        value = body.get("nodeId")
        if value is None:
            if required:
                raise PlatformAnswer(400, "50400", desc="nodeId is required.")
            return None
        if not isinstance(value, str) or not value:
            raise PlatformAnswer(400, "50400", desc="nodeId must be a non-empty string.")
        if len(value) > MAX_FIELD:
            raise PlatformAnswer(400, "50400", desc="nodeId is longer than 256.")
        if any(ch not in VERIFY_CODE_CHARS for ch in value):
            raise PlatformAnswer(400, "50400", desc="nodeId contains invalid characters.")
        return value

    def _node_id_taken(self, node_id: str, *, except_device: str | None) -> bool:
        for device in [*self.devices.values(), *self.generated_held.values()]:
            if device.node_id == node_id and device.device_id != except_device:
                return True
        index = self._live_generated_index(generated_node_index(node_id))
        if index is not None and generated_device_id(index) not in self.generated_held:
            if generated_device_id(index) != except_device:
                return True
        return any(
            b.node_id == node_id and b.device_id != except_device for b in self.bindings.values()
        )

    @staticmethod
    def _new_verify_code(node_id: str) -> str:
        while True:
            code = secrets.token_hex(4).upper()
            if code.lower() != node_id.lower():
                return code

    def _pend(
        self,
        device: Device,
        node_id: str,
        verify_code: str,
        timeout: int,
        *,
        registration: bool = False,
    ) -> Binding:
        now = time.time()
        binding = Binding(
            device_id=device.device_id,
            node_id=node_id,
            verify_code=verify_code,
            timeout=timeout,
            created_at=now,
            expires_at=None if timeout == 0 else now + timeout,
            registration=registration,
        )
        self.bindings[device.device_id] = binding  # a new refresh replaces the pending one
        return binding

    # ----------------------------------------------------------------- platform calls
    def refresh_device_key(
        self, caller: App, device_id: str, app_id_query: str | None, body: Any
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise PlatformAnswer(400, "100007")
        with self.lock:
            device = self._device_for(caller, device_id, app_id_query)
            timeout = self._timeout(body)
            verify_code = self._verify_code(body)
            node_id = self._node_id(body, required=False)
            if not device.activated:
                raise PlatformAnswer(400, "100610")
            if device.status == "ONLINE":
                raise PlatformAnswer(400, "100611")
            new_node = node_id if node_id is not None else device.node_id
            if self._node_id_taken(new_node, except_device=device.device_id):
                raise PlatformAnswer(400, "100426")
            code = verify_code if verify_code is not None else self._new_verify_code(new_node)
            self._pend(device, new_node, code, timeout)
            self.journal.append(
                {
                    "deviceId": device.device_id,
                    "nodeId": new_node,
                    "verifyCode": code,
                    "appliedAt": time.time(),
                }
            )
            return {"verifyCode": code, "timeout": timeout}

    def journal_json(self) -> list[dict[str, Any]]:
        """Every refresh-device-key the platform applied, in order (test-only: codes in clear)."""
        with self.lock:
            return [dict(entry) for entry in self.journal]

    def register_device(self, caller: App, app_id_query: str | None, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise PlatformAnswer(400, "100007")
        with self.lock:
            target, _ = self._target_app(caller, app_id_query)
            node_id = self._node_id(body, required=True)
            assert node_id is not None
            # The HTTP reference's default for a registration is 0: the code never expires.
            timeout = self._timeout(body, default=DEFAULT_REGISTRATION_TIMEOUT)
            verify_code = self._verify_code(body)
            info_in = body.get("deviceInfo") or {}
            if not isinstance(info_in, dict):
                raise PlatformAnswer(400, "50400", desc="deviceInfo must be an object.")
            if self._node_id_taken(node_id, except_device=None):
                raise PlatformAnswer(400, "100426")
            now = _now_text()
            info: dict[str, Any] = {
                k: None for k in DEVICE_INFO_KEYS if k not in ("nodeId", "status", "statusDetail")
            }
            for key in MODIFIABLE_INFO_KEYS:
                if isinstance(info_in.get(key), str | int):
                    info[key] = info_in[key]
            device = Device(
                device_id=str(uuid.uuid4()),
                node_id=node_id,
                owner_app=target,
                status="INACTIVE",
                status_detail="NOT_ACTIVE",
                activated=False,
                info=info,
                create_time=now,
                last_modified_time=now,
            )
            self.devices[device.device_id] = device
            code = verify_code if verify_code is not None else self._new_verify_code(node_id)
            self._pend(device, node_id, code, timeout, registration=True)
            added = {
                "notifyType": "deviceAdded",
                "deviceId": device.device_id,
                "gatewayId": device.device_id,
                # A directly connected NB-IoT device is announced as a GATEWAY.
                "nodeType": "GATEWAY",
                "deviceInfo": {
                    "nodeId": node_id,
                    "status": "OFFLINE",
                    "statusDetail": "NOT_ACTIVE",
                },
            }
            answer = {
                "deviceId": device.device_id,
                "verifyCode": code,
                "timeout": timeout,
                "psk": secrets.token_hex(16),
            }
        self._push("deviceAdded", added)
        return answer

    def activation_status(
        self, caller: App, device_id: str, app_id_query: str | None
    ) -> dict[str, Any]:
        with self.lock:
            device = self._device_for(caller, device_id, app_id_query)
            return {
                "deviceId": device.device_id,
                "activated": device.activated,
                "name": device.info.get("name"),
            }

    def get_device(self, caller: App, device_id: str, app_id_query: str | None) -> dict[str, Any]:
        with self.lock:
            return self._device_for(caller, device_id, app_id_query).as_platform_json()

    def list_devices(self, caller: App, query: dict[str, str]) -> dict[str, Any]:
        if not query.get("pageNo") and not query.get("gatewayId"):
            # Huawei's device-list error table: 400 / 100218 (the gatewayId filter itself is
            # not modelled; with one, pageNo defaults to 0).
            raise PlatformAnswer(400, "100218")
        page_no = _int_param(query, "pageNo", 0)
        page_size = _int_param(query, "pageSize", DEFAULT_PAGE_SIZE)
        if page_no < 0 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise PlatformAnswer(400, "50400", desc="pageNo >= 0, 1 <= pageSize <= 250.")
        status = query.get("status") or None
        if status is not None and status not in ("ONLINE", "OFFLINE", "ABNORMAL", "INACTIVE"):
            raise PlatformAnswer(400, "50400", desc="status is invalid.")
        start = _time_param(query, "startTime")
        end = _time_param(query, "endTime")
        # As the platform: newest first (DESC) when `sort` is absent.
        sort = (query.get("sort") or "DESC").upper()
        if sort not in ("ASC", "DESC"):
            raise PlatformAnswer(400, "50400", desc="sort must be ASC or DESC.")
        with self.lock:
            target, _ = self._target_app(caller, query.get("appId") or None)

            def wanted(d: Device) -> bool:
                return (
                    d.owner_app == target
                    and (status is None or d.status == status)
                    and (start is None or d.create_time >= start)
                    and (end is None or d.create_time <= end)
                )

            selected = [d for d in self.devices.values() if wanted(d)]
            generated = 0
            if target == self.config.app_id and self.config.generated_devices:
                if status is None and start is None and end is None:
                    generated = self.config.generated_devices - len(self.generated_deleted)
                else:  # filtered: read them all (slow, but no test walks these at scale)
                    selected += [d for d in self._generated_page(0, 1 << 62) if wanted(d)]
            selected.sort(key=lambda d: (d.create_time, d.device_id), reverse=sort == "DESC")
            total = generated + len(selected)
            first, last = page_no * page_size, min(total, (page_no + 1) * page_size)
            if not generated:
                chunk = selected[first:last]
            elif sort == "ASC":  # generated devices first: they are the oldest
                chunk = self._generated_page(first, max(0, min(last, generated) - first))
                chunk += selected[max(0, first - generated) : max(0, last - generated)]
            else:
                chunk = selected[first:last]
                if last > len(selected):
                    begin = max(first, len(selected)) - len(selected)
                    end_at = last - len(selected)
                    # DESC: newest generated first, i.e. positions generated-1 down.
                    older = self._generated_page(generated - end_at, end_at - begin)
                    chunk += list(reversed(older))
            return {
                "totalCount": total,
                "pageNo": page_no,
                "pageSize": page_size,
                "devices": [d.as_platform_json() for d in chunk],
            }

    def modify_device(
        self, caller: App, device_id: str, app_id_query: str | None, body: Any
    ) -> None:
        if not isinstance(body, dict):
            raise PlatformAnswer(400, "100007")
        with self.lock:
            device = self._device_for(caller, device_id, app_id_query)
            changed: dict[str, Any] = {}
            for key in MODIFIABLE_INFO_KEYS:
                if key in body and body[key] is not None:
                    if not isinstance(body[key], str) or len(body[key]) > MAX_FIELD:
                        raise PlatformAnswer(400, "50400", desc=f"{key} is invalid.")
                    changed[key] = body[key]
            if not changed:
                return
            device.info.update(changed)
            device.last_modified_time = _now_text()
            push = _info_changed(device, changed)
        self._push("deviceInfoChanged", push)

    def delete_device(self, caller: App, device_id: str, app_id_query: str | None) -> None:
        with self.lock:
            device = self._device_for(caller, device_id, app_id_query)
            if self.devices.pop(device.device_id, None) is None:  # a generated device
                self.generated_held.pop(device.device_id, None)
                index = generated_index(device.device_id)
                assert index is not None
                bisect.insort(self.generated_deleted, index)
            self.bindings.pop(device.device_id, None)
            push = _device_deleted(device.device_id)
        self._push("deviceDeleted", push)

    def subscribe(self, caller: App, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise PlatformAnswer(400, "100007")
        notify_type = body.get("notifyType")
        callback_url = body.get("callbackUrl")
        if notify_type not in NOTIFY_TYPES:
            raise PlatformAnswer(400, "50400", desc="notifyType is invalid.")
        if not isinstance(callback_url, str) or not _callback_url_ok(callback_url):
            raise PlatformAnswer(400, "100222")
        with self.lock:
            # One subscription per notifyType and app: a second one is refused whatever its URL.
            if any(
                (sub["appId"], sub["notifyType"]) == (caller.app_id, notify_type)
                for sub in self.subscriptions.values()
            ):
                raise PlatformAnswer(409, "100227")
            sub = {
                "subscriptionId": str(uuid.uuid4()),
                "notifyType": notify_type,
                "callbackUrl": callback_url,
                "appId": caller.app_id,
            }
            self.subscriptions[sub["subscriptionId"]] = sub
            return _public_subscription(sub)

    def list_subscriptions(self, caller: App, query: dict[str, str]) -> dict[str, Any]:
        """The app's subscriptions, oldest first, one page (pageNo from 0)."""
        page_no = _int_param(query, "pageNo", 0)
        page_size = _int_param(query, "pageSize", DEFAULT_SUBSCRIPTION_PAGE_SIZE)
        if page_no < 0 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise PlatformAnswer(400, "50400", desc="pageNo >= 0, 1 <= pageSize <= 250.")
        notify_type = query.get("notifyType") or None
        if notify_type is not None and notify_type not in NOTIFY_TYPES:
            raise PlatformAnswer(400, "50400", desc="notifyType is invalid.")
        with self.lock:
            subs = [
                _public_subscription(s)
                for s in self.subscriptions.values()
                if s["appId"] == caller.app_id
                and (notify_type is None or s["notifyType"] == notify_type)
            ]
        return {
            "totalCount": len(subs),
            "pageNo": page_no,
            "pageSize": page_size,
            "subscriptions": subs[page_no * page_size : (page_no + 1) * page_size],
        }

    def get_subscription(self, caller: App, subscription_id: str) -> dict[str, Any]:
        with self.lock:
            sub = self.subscriptions.get(subscription_id)
            if sub is None or sub["appId"] != caller.app_id:
                raise PlatformAnswer(404, "100225", desc="The resource is not found.")
            return _public_subscription(sub)

    def delete_subscription(self, caller: App, subscription_id: str) -> None:
        with self.lock:
            sub = self.subscriptions.get(subscription_id)
            if sub is None or sub["appId"] != caller.app_id:
                raise PlatformAnswer(404, "100225", desc="The resource is not found.")
            del self.subscriptions[subscription_id]

    def delete_subscriptions(self, caller: App, query: dict[str, str]) -> int:
        """Batch delete: the app's subscriptions matching notifyType and callbackUrl (each
        optional); how many went."""
        notify_type = query.get("notifyType") or None
        callback_url = query.get("callbackUrl") or None
        if notify_type is not None and notify_type not in NOTIFY_TYPES:
            raise PlatformAnswer(400, "50400", desc="notifyType is invalid.")
        with self.lock:
            doomed = [
                sub_id
                for sub_id, s in self.subscriptions.items()
                if s["appId"] == caller.app_id
                and (notify_type is None or s["notifyType"] == notify_type)
                and (callback_url is None or s["callbackUrl"] == callback_url)
            ]
            for sub_id in doomed:
                del self.subscriptions[sub_id]
            return len(doomed)

    def callback_urls(self, notify_type: str) -> list[str]:
        with self.lock:
            urls: list[str] = []
            for sub in self.subscriptions.values():
                if sub["notifyType"] == notify_type and sub["callbackUrl"] not in urls:
                    urls.append(sub["callbackUrl"])
            return urls

    # ----------------------------------------------------------------- device side
    def bind(
        self, node_id: Any, verify_code: Any, *, push_device_info: bool = True
    ) -> tuple[bool, dict[str, Any]]:
        """The new unit connects; (bound, answer). An NB-IoT unit (CoAP/LwM2M) attaches with its
        IMEI and presents no code: it binds only when the pending verifyCode is its nodeId,
        whatever it sends. Any other unit must present the pending verifyCode.
        `push_device_info` False: the bindDevice push leaves out deviceInfo, as Huawei's
        reference allows (optional there)."""
        if not isinstance(node_id, str) or not node_id:
            return False, {"bound": False, "error": "nodeId is required"}
        if verify_code is not None and not isinstance(verify_code, str):
            return False, {"bound": False, "error": "verifyCode must be a string"}
        expired: Binding | None = None
        with self.lock:
            binding = next((b for b in self.bindings.values() if b.node_id == node_id), None)
            if binding is None:
                return False, {"bound": False, "error": "no pending binding for this nodeId"}
            device = self._find(binding.device_id)
            assert device is not None  # a binding's device is deleted with it
            attaches_with_node_id = _attaches_with_node_id(device)
            if binding.expires_at is not None and binding.expires_at <= time.time():
                expired = binding
                answer = {"bound": False, "error": "the pending binding has expired"}
            elif attaches_with_node_id and binding.verify_code.lower() != node_id.lower():
                return False, {
                    "bound": False,
                    "error": "this NB-IoT (CoAP/LwM2M) unit attaches with its nodeId and presents "
                    "no code: the pending verifyCode is not its nodeId",
                }
            elif not attaches_with_node_id and not verify_code:
                return False, {"bound": False, "error": "verifyCode is required"}
            elif (
                not attaches_with_node_id
                and binding.verify_code.lower() != str(verify_code).lower()
            ):
                return False, {"bound": False, "error": "verifyCode does not match"}
            else:
                del self.bindings[device.device_id]
                old_status = device.status
                old_node = device.node_id
                device.node_id = binding.node_id
                device.status = "ONLINE"
                device.status_detail = "NONE"
                device.activated = True
                device.last_modified_time = _now_text()
                bound_push: dict[str, Any] = {
                    "notifyType": "bindDevice",
                    "deviceId": device.device_id,
                    "resultCode": "succeeded",
                }
                if push_device_info:
                    bound_push["deviceInfo"] = device.device_info()
                changed = {}
                if old_node != device.node_id:
                    changed["nodeId"] = device.node_id
                info_push = (
                    _info_changed(device, changed) if old_status != "ONLINE" or changed else None
                )
        if expired is not None:
            self._lapse([expired])
            return False, answer
        self._push("bindDevice", bound_push)
        if info_push is not None:
            self._push("deviceInfoChanged", info_push)
        return True, {"deviceId": bound_push["deviceId"], "bound": True}

    def _lapse(self, candidates: list[Binding]) -> int:
        """Drop lapsed bindings: a rebind pushes bindDevice expired; an unbound registration
        is deleted, as the platform does, and pushes deviceDeleted."""
        pushes: list[tuple[str, dict[str, Any]]] = []
        with self.lock:
            for binding in candidates:
                if self.bindings.get(binding.device_id) is binding:
                    del self.bindings[binding.device_id]
                    if binding.registration:
                        self.devices.pop(binding.device_id, None)
                        pushes.append(("deviceDeleted", _device_deleted(binding.device_id)))
                        continue
                    pushes.append(
                        (
                            "bindDevice",
                            {
                                "notifyType": "bindDevice",
                                "deviceId": binding.device_id,
                                "resultCode": "expired",
                            },
                        )
                    )
        for notify_type, push in pushes:
            self._push(notify_type, push)
        return len(pushes)

    def lapse_expired(self) -> int:
        now = time.time()
        with self.lock:
            due = [
                b
                for b in self.bindings.values()
                if b.expires_at is not None and b.expires_at <= now
            ]
        return self._lapse(due) if due else 0

    def expire_all_bindings(self) -> int:
        with self.lock:
            everything = list(self.bindings.values())
        return self._lapse(everything)

    # ----------------------------------------------------------------- control views
    def device_view(self, device: Device) -> dict[str, Any]:
        binding = self.bindings.get(device.device_id)
        return {
            "deviceId": device.device_id,
            "nodeId": device.node_id,
            "owner": device.owner_app,
            "status": device.status,
            "statusDetail": device.status_detail,
            "activated": device.activated,
            "deviceInfo": device.device_info(),
            "createTime": device.create_time,
            "lastModifiedTime": device.last_modified_time,
            "binding": binding.as_json() if binding else None,
        }

    def control_devices(self, query: dict[str, str]) -> list[dict[str, Any]]:
        status = query.get("status") or None
        owner = query.get("owner") or None
        node_id = query.get("nodeId") or query.get("node_id") or None
        activated_text = (query.get("activated") or "").lower()
        if activated_text not in ("", "true", "false", "1", "0"):
            raise ControlError("activated must be true or false")
        activated = None if not activated_text else activated_text in ("true", "1")
        nbiot_text = (query.get("nbiot") or "").lower()
        if nbiot_text not in ("", "true", "false", "1", "0"):
            raise ControlError("nbiot must be true or false")
        nbiot = None if not nbiot_text else nbiot_text in ("true", "1")
        limit_text = query.get("limit") or ""
        try:
            limit = int(limit_text) if limit_text else None
        except ValueError:
            raise ControlError("limit must be an integer") from None
        with self.lock:
            out = []
            for device in self.devices.values():
                if status and device.status != status:
                    continue
                if owner and device.owner_app != owner:
                    continue
                if node_id and device.node_id != node_id:
                    continue
                if activated is not None and device.activated != activated:
                    continue
                if nbiot is not None and _attaches_with_node_id(device) != nbiot:
                    continue
                out.append(self.device_view(device))
                if limit is not None and len(out) >= limit:
                    break
            return out

    def control_device(self, device_id: str) -> dict[str, Any] | None:
        with self.lock:
            device = self._find(device_id)
            return self.device_view(device) if device else None

    def control_set_device(self, device_id: str, body: Any) -> dict[str, Any] | None:
        if not isinstance(body, dict):
            raise ControlError("body must be a JSON object")
        status = body.get("status")
        activated = body.get("activated")
        node_id = body.get("nodeId")
        if status is not None and status not in ("ONLINE", "OFFLINE", "ABNORMAL", "INACTIVE"):
            raise ControlError("status must be ONLINE, OFFLINE, ABNORMAL or INACTIVE")
        if activated is not None and not isinstance(activated, bool):
            raise ControlError("activated must be true or false")
        if node_id is not None and (not isinstance(node_id, str) or not node_id):
            raise ControlError("nodeId must be a non-empty string")
        push = None
        with self.lock:
            device = self._find(device_id)
            if device is None:
                return None
            before = (device.node_id, device.status, device.status_detail)
            if status == "INACTIVE" or activated is False:
                device.activated = False
                device.status = "INACTIVE"
                device.status_detail = "NOT_ACTIVE"
            if status in ("ONLINE", "OFFLINE", "ABNORMAL"):
                device.status = status
                device.activated = True
                device.status_detail = "NONE"
            elif activated is True and not device.activated:
                device.activated = True
                device.status = "OFFLINE"
                device.status_detail = "NONE"
            changed = {}
            if node_id is not None and node_id != device.node_id:
                if self._node_id_taken(node_id, except_device=device.device_id):
                    raise ControlError("nodeId is in use by another device")
                device.node_id = node_id
                changed["nodeId"] = node_id
            if before != (device.node_id, device.status, device.status_detail):
                device.last_modified_time = _now_text()
                push = _info_changed(device, changed)
            view = self.device_view(device)
        if push is not None:
            self._push("deviceInfoChanged", push)
        return view


# What real pushes carry beyond platform-api.md's examples; a client must ignore them.
REAL_DEVICE_INFO_EXTRAS: dict[str, Any] = {
    "bridgeId": None,
    "supportedSecurity": "NO",
    "isSecurity": "FALSE",
    "sigVersion": None,
    "isHD": False,
}


def _with_real_extras(push: PushSink) -> PushSink:
    """The sink, with the extra fields real pushes carry added to every body that has
    deviceInfo: a top-level `networkStatus` and the deviceInfo keys above."""

    def send(notify_type: str, body: dict[str, Any]) -> None:
        info = body.get("deviceInfo")
        if isinstance(info, dict):
            status = info.get("status")
            body = {
                **body,
                "networkStatus": "ONLINE" if status == "ONLINE" else "OFFLINE",
                "deviceInfo": {**info, **REAL_DEVICE_INFO_EXTRAS},
            }
        push(notify_type, body)

    return send


def _info_changed(device: Device, changed: dict[str, Any]) -> dict[str, Any]:
    """deviceInfoChanged in the platform's style: unchanged fields are explicit nulls."""
    info: dict[str, Any] = {key: None for key in DEVICE_INFO_KEYS}
    info.update(changed)
    info["status"] = device.status
    info["statusDetail"] = device.status_detail
    return {
        "notifyType": "deviceInfoChanged",
        "deviceId": device.device_id,
        "gatewayId": device.device_id,
        "deviceInfo": info,
    }


def _device_deleted(device_id: str) -> dict[str, Any]:
    """deviceDeleted as the reference has it: notifyType, deviceId and gatewayId, all mandatory
    (iot_06_0038). A directly connected device is its own gateway."""
    return {"notifyType": "deviceDeleted", "deviceId": device_id, "gatewayId": device_id}


def _public_subscription(sub: dict[str, Any]) -> dict[str, Any]:
    return {k: sub[k] for k in ("subscriptionId", "notifyType", "callbackUrl")}


def _callback_url_ok(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port is not None


def _int_param(query: dict[str, str], name: str, default: int) -> int:
    text = query.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise PlatformAnswer(400, "50400", desc=f"{name} must be an integer.") from None


def _time_param(query: dict[str, str], name: str) -> str | None:
    text = query.get(name)
    if not text:
        return None
    try:
        dt.datetime.strptime(text, "%Y%m%dT%H%M%SZ")
    except ValueError:
        raise PlatformAnswer(400, "50400", desc=f"{name} must be yyyyMMdd'T'HHmmss'Z'.") from None
    return text
