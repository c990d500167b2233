"""The OceanConnect northbound API client: typed calls over one requests.Session.

Every call: a shared access token (tokens.py), a slot from the shared flow limiter
(limiter.py), one HTTP exchange with connect and read timeouts, and the answer turned into a
typed value or a typed error (responses.py). On 1010005 exactly one re-login and one retry;
on 1010009 a shared cool-down, then the call is tried again if the caller can wait.
Every call takes `lane=` (lanes.py; default: the current `lane_scope`, else INTERACTIVE).
Inside `exchange_guard(check)` every HTTP exchange (logins and token refreshes included) first
calls `check()`; if it raises, that exchange is not sent and the exception ends the call.
"""

import contextvars
import ipaddress
import logging
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.exceptions import SSLError as Urllib3SSLError

from . import catalogue
from .config import PlatformConfig
from .errors import (
    PlatformError,
    PlatformOutcomeUnknown,
    PlatformPermanentError,
    PlatformRetryableError,
    PlatformThrottled,
)
from .lanes import Lane, current_lane, lane_scope
from .limiter import FlowLimiter
from .responses import UnreadableAnswer, interpret
from .store import SharedStore, StoreUnavailable
from .tokens import TokenCipher, TokenManager
from .transport import TlsConfigurationError, build_session
from .types import (
    AccessToken,
    ActivationStatus,
    DeviceInfo,
    DevicePage,
    FlowUsage,
    PlatformDevice,
    RefreshDeviceKeyResult,
    RegisteredDevice,
    SimulatorBinding,
    Subscription,
    SubscriptionPage,
)

log = logging.getLogger("oceanconnect")

LOGIN_PATH = "/iocm/app/sec/v1.1.0/login"
REFRESH_TOKEN_PATH = "/iocm/app/sec/v1.1.0/refreshToken"
CREDENTIALS_PATH = "/iocm/app/reg/v1.1.0/deviceCredentials"
DEVICE_CREDENTIALS_PATH = "/iocm/app/reg/v1.1.0/deviceCredentials/{deviceId}"
DEVICES_PATH = "/iocm/app/dm/v1.4.0/devices"
DEVICE_PATH = "/iocm/app/dm/v1.4.0/devices/{deviceId}"
SUBSCRIPTIONS_PATH = "/iocm/app/sub/v1.2.0/subscriptions"
SUBSCRIPTION_PATH = "/iocm/app/sub/v1.2.0/subscriptions/{subscriptionId}"
# The simulator's device-side control endpoint (tests and demos); the real platform has none.
SIMULATOR_BIND_PATH = "/simulator/bind"
SIMULATOR_REASON_KEYS = ("error", "reason", "message", "detail", "error_desc")
MAX_REASON_LENGTH = 200

MAX_PAGE_SIZE = 250
SUBSCRIPTION_PAGE_SIZE = 100
MAX_FIELD_LENGTH = 256
MAX_VERIFY_TIMEOUT = 2_147_483_647
# After this many 1010009 answers in a row the call gives up (PlatformThrottled) even if the
# caller would wait longer: the platform's limit is then lower than ours.
MAX_THROTTLED_ANSWERS = 6

STORE_UNAVAILABLE_HANDLING = (
    "The dashboard's shared store (Redis or the database) is unavailable, so nothing was sent "
    "to the platform. The request will be tried again later."
)


@dataclass(frozen=True)
class _Request:
    method: str
    template: str  # the path as logged, e.g. /devices/{deviceId}
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    form: Mapping[str, str] | None = None
    idempotent: bool = True
    authenticated: bool = True


def _check_text(name: str, value: str | None, *, required: bool = False) -> None:
    if value is None:
        if required:
            raise ValueError(f"{name} is required")
        return
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f"{name} must be a non-empty string")
    if len(value) > MAX_FIELD_LENGTH:
        raise ValueError(f"{name} is longer than {MAX_FIELD_LENGTH} characters")


def _check_timeout(timeout: int | None) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, int):
        raise ValueError("timeout must be a whole number of seconds")
    if not 0 <= timeout <= MAX_VERIFY_TIMEOUT:
        raise ValueError(f"timeout must be between 0 and {MAX_VERIFY_TIMEOUT} seconds")


def _caused_by(exc: BaseException, *types: type[BaseException]) -> bool:
    """Whether `exc` or anything in its cause chain or arguments is one of `types`."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, types):
            return True
        todo.extend([item.__cause__, item.__context__, getattr(item, "reason", None)])
        todo.extend(arg for arg in item.args if isinstance(arg, BaseException))
    return False


# on_call(method, path_template, http_status or None, platform code or None, seconds)
CallHook = Callable[[str, str, int | None, str | None, float], None]

_exchange_guard: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "oceanconnect_exchange_guard", default=None
)


@contextmanager
def exchange_guard(check: Callable[[], None]) -> Iterator[None]:
    """Every HTTP exchange made inside the block (a login, a token refresh, the call, a retry)
    first calls `check()`, in the calling thread; an exception it raises is not caught: the
    exchange is not sent and the exception ends the call. A caller that holds a lease renews
    it here, so each exchange starts with a whole lease (connect + read timeout) ahead of it.
    """
    token = _exchange_guard.set(check)
    try:
        yield
    finally:
        _exchange_guard.reset(token)


class PlatformClient:
    """One per process, shared by its threads; every process shares `store`."""

    def __init__(
        self,
        *,
        config: PlatformConfig,
        store: SharedStore,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_call: CallHook | None = None,
        on_slot_wait: Callable[[float, str], None] | None = None,
        token_cipher: TokenCipher | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self._session = session or build_session(config)
        self._sleep = sleep
        # Observers (metrics): every exchange with the platform, every wait for a flow slot.
        self.on_call = on_call
        self.on_slot_wait = on_slot_wait
        self.limiter = FlowLimiter(config=config, store=store, sleep=sleep)
        lock_ttl = config.flow_window + config.connect_timeout + config.read_timeout + 10
        self.tokens = TokenManager(
            store=store,
            login=self._login,
            refresh=self._refresh_token,
            refresh_margin=config.token_refresh_margin,
            lock_ttl=lock_ttl,
            sleep=sleep,
            cipher=token_cipher,
        )

    def __repr__(self) -> str:
        return f"PlatformClient(base_url={self.config.base_url!r}, store={self.store!r})"

    def close(self) -> None:
        self._session.close()
        self.store.close()

    # --- the calls -----------------------------------------------------------------------

    def refresh_device_key(
        self,
        device_id: str,
        *,
        node_id: str | None = None,
        verify_code: str | None = None,
        timeout: int | None = None,
        app_id: str | None = None,
        max_wait: float | None = None,
        lane: Lane | None = None,
    ) -> RefreshDeviceKeyResult:
        """Rebind the device to a new nodeId; returns the verifyCode the new unit must present.

        Not idempotent: an answer that never arrives raises PlatformOutcomeUnknown.
        """
        _check_text("device_id", device_id, required=True)
        _check_text("node_id", node_id)
        _check_text("verify_code", verify_code)
        _check_timeout(timeout)
        body: dict[str, Any] = {}
        if verify_code is not None:
            body["verifyCode"] = verify_code
        if node_id is not None:
            body["nodeId"] = node_id
        if timeout is not None:
            body["timeout"] = timeout
        data = self._call(
            _Request(
                method="PUT",
                template=DEVICE_CREDENTIALS_PATH,
                path=DEVICE_CREDENTIALS_PATH.format(deviceId=quote(device_id, safe="")),
                params={"appId": app_id} if app_id else None,
                json=body,
                idempotent=False,
            ),
            max_wait=max_wait,
            lane=lane,
        )
        return RefreshDeviceKeyResult.from_json(data)

    def activation_status(
        self,
        device_id: str,
        *,
        app_id: str | None = None,
        max_wait: float | None = None,
        lane: Lane | None = None,
    ) -> ActivationStatus:
        _check_text("device_id", device_id, required=True)
        data = self._call(
            _Request(
                method="GET",
                template=DEVICE_CREDENTIALS_PATH,
                path=DEVICE_CREDENTIALS_PATH.format(deviceId=quote(device_id, safe="")),
                params={"appId": app_id} if app_id else None,
            ),
            max_wait=max_wait,
            lane=lane,
        )
        return ActivationStatus.from_json(data, device_id=device_id)

    def get_device(
        self,
        device_id: str,
        *,
        app_id: str | None = None,
        max_wait: float | None = None,
        lane: Lane | None = None,
    ) -> PlatformDevice:
        _check_text("device_id", device_id, required=True)
        data = self._call(
            _Request(
                method="GET",
                template=DEVICE_PATH,
                path=DEVICE_PATH.format(deviceId=quote(device_id, safe="")),
                params={"appId": app_id} if app_id else None,
            ),
            max_wait=max_wait,
            lane=lane,
        )
        return PlatformDevice.from_json(data)

    def iter_device_pages(
        self,
        *,
        page_size: int = MAX_PAGE_SIZE,
        app_id: str | None = None,
        max_wait: float | None = None,
        lane: Lane | None = None,
        start_page: int = 0,
    ) -> Iterator[DevicePage]:
        """Every page of the device list (oldest first, `sort=ASC`), from pageNo `start_page`
        (0: the first; a walk resumed later passes the next page it has not read) until
        totalCount devices were seen."""
        if isinstance(page_size, bool) or not isinstance(page_size, int):
            raise ValueError("page_size must be a whole number")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if isinstance(start_page, bool) or not isinstance(start_page, int) or start_page < 0:
            raise ValueError("start_page must be a whole number >= 0")
        page_no = start_page
        seen = start_page * page_size
        while True:
            # The platform sorts newest first unless told otherwise: oldest first keeps a
            # device registered during the walk from shifting the pages already read.
            params: dict[str, Any] = {"pageNo": page_no, "pageSize": page_size, "sort": "ASC"}
            if app_id:
                params["appId"] = app_id
            data = self._call(
                _Request(method="GET", template=DEVICES_PATH, path=DEVICES_PATH, params=params),
                max_wait=max_wait,
                lane=lane,
            )
            page = DevicePage.from_json(data, page_no=page_no, page_size=page_size)
            yield page
            seen += len(page.devices)
            if not page.devices or seen >= page.total_count:
                return
            page_no += 1

    def register_device(
        self,
        node_id: str,
        *,
        verify_code: str | None = None,
        timeout: int | None = None,
        device_info: DeviceInfo | None = None,
        max_wait: float | None = None,
        lane: Lane | None = None,
    ) -> RegisteredDevice:
        """Register a new device. Not idempotent: a lost answer raises PlatformOutcomeUnknown."""
        _check_text("node_id", node_id, required=True)
        _check_text("verify_code", verify_code)
        _check_timeout(timeout)
        body: dict[str, Any] = {"nodeId": node_id}
        if verify_code is not None:
            body["verifyCode"] = verify_code
        if timeout is not None:
            body["timeout"] = timeout
        if device_info is not None:
            info = device_info.to_json()
            info.pop("nodeId", None)
            body["deviceInfo"] = info
        data = self._call(
            _Request(
                method="POST",
                template=CREDENTIALS_PATH,
                path=CREDENTIALS_PATH,
                json=body,
                idempotent=False,
            ),
            max_wait=max_wait,
            lane=lane,
        )
        return RegisteredDevice.from_json(data)

    def subscribe(
        self,
        notify_type: str,
        callback_url: str,
        *,
        max_wait: float | None = None,
        lane: Lane | None = None,
    ) -> Subscription:
        _check_text("notify_type", notify_type, required=True)
        if not isinstance(callback_url, str) or not callback_url.startswith(
            ("http://", "https://")
        ):
            raise ValueError("callback_url must be an http(s) URL")
        data = self._call(
            _Request(
                method="POST",
                template=SUBSCRIPTIONS_PATH,
                path=SUBSCRIPTIONS_PATH,
                json={"notifyType": notify_type, "callbackUrl": callback_url},
            ),
            max_wait=max_wait,
            lane=lane,
        )
        return Subscription.from_json(data, notify_type=notify_type, callback_url=callback_url)

    def list_subscriptions(
        self,
        *,
        notify_type: str | None = None,
        page_size: int = SUBSCRIPTION_PAGE_SIZE,
        max_wait: float | None = None,
        lane: Lane | None = None,
    ) -> list[Subscription]:
        """Every subscription of our application (of one notify type when given), walking the
        pages from pageNo 0 until totalCount were seen."""
        _check_text("notify_type", notify_type)
        if isinstance(page_size, bool) or not isinstance(page_size, int):
            raise ValueError("page_size must be a whole number")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        found: list[Subscription] = []
        page_no = 0
        while True:
            params: dict[str, Any] = {"pageNo": page_no, "pageSize": page_size}
            if notify_type:
                params["notifyType"] = notify_type
            data = self._call(
                _Request(
                    method="GET",
                    template=SUBSCRIPTIONS_PATH,
                    path=SUBSCRIPTIONS_PATH,
                    params=params,
                ),
                max_wait=max_wait,
                lane=lane,
            )
            page = SubscriptionPage.from_json(data, page_no=page_no, page_size=page_size)
            found.extend(page.subscriptions)
            if not page.subscriptions or len(found) >= page.total_count:
                return found
            page_no += 1

    def get_subscription(
        self, subscription_id: str, *, max_wait: float | None = None, lane: Lane | None = None
    ) -> Subscription:
        _check_text("subscription_id", subscription_id, required=True)
        data = self._call(
            _Request(
                method="GET",
                template=SUBSCRIPTION_PATH,
                path=SUBSCRIPTION_PATH.format(subscriptionId=quote(subscription_id, safe="")),
            ),
            max_wait=max_wait,
            lane=lane,
        )
        return Subscription.from_json(data, notify_type="", callback_url="")

    def delete_subscription(
        self, subscription_id: str, *, max_wait: float | None = None, lane: Lane | None = None
    ) -> None:
        """Delete one subscription (204). Deleting twice is idempotent for our purpose: the
        platform then answers an error for the missing subscription, raised as usual."""
        _check_text("subscription_id", subscription_id, required=True)
        self._call(
            _Request(
                method="DELETE",
                template=SUBSCRIPTION_PATH,
                path=SUBSCRIPTION_PATH.format(subscriptionId=quote(subscription_id, safe="")),
            ),
            max_wait=max_wait,
            lane=lane,
        )

    def delete_subscriptions(
        self,
        *,
        notify_type: str | None,
        callback_url: str | None = None,
        max_wait: float | None = None,
        lane: Lane | None = None,
    ) -> None:
        """Batch delete: every subscription of `notify_type` (and `callback_url` when given).
        `notify_type=None` with no URL would delete all of them, so one of the two is required."""
        _check_text("notify_type", notify_type)
        if not notify_type and not callback_url:
            raise ValueError("notify_type or callback_url is required")
        params: dict[str, Any] = {}
        if notify_type:
            params["notifyType"] = notify_type
        if callback_url:
            params["callbackUrl"] = callback_url
        self._call(
            _Request(
                method="DELETE", template=SUBSCRIPTIONS_PATH, path=SUBSCRIPTIONS_PATH, params=params
            ),
            max_wait=max_wait,
            lane=lane,
        )

    # --- the shared flow limiter --------------------------------------------------------

    def flow_usage(self) -> FlowUsage:
        """How much of the flow limit every process has used right now (no platform call).

        Raises StoreUnavailable when the shared store cannot be read.
        """
        return self.limiter.usage()

    # --- the simulator's control endpoint (tests and demos only) ------------------------

    def simulator_bind(self, *, node_id: str, verify_code: str) -> SimulatorBinding:
        """Make the platform simulator connect the unit `node_id` with `verify_code`.

        A test and demo control call: `POST {base_url}/simulator/bind` exists only on the
        simulator (`python -m simulator`), never on the real OceanConnect platform. It goes
        over this client's session and TLS settings (CA, client certificate, hostname check)
        but needs no token and takes no flow-limit slot. A refusal is an answer
        (`bound=False` with the simulator's reason); no answer at all raises the transport's
        typed error (PlatformRetryableError, PlatformPermanentError for TLS,
        PlatformOutcomeUnknown when the answer was lost).
        """
        _check_text("node_id", node_id, required=True)
        _check_text("verify_code", verify_code)
        request = _Request(
            method="POST",
            template=SIMULATOR_BIND_PATH,
            path=SIMULATOR_BIND_PATH,
            json={"nodeId": node_id, "verifyCode": verify_code},
            idempotent=False,
            authenticated=False,
        )
        started = time.monotonic()
        error: PlatformError | None = None
        try:
            response = self._send(request, token=None)
        except TlsConfigurationError as exc:
            error = PlatformPermanentError(str(exc), handling_text=catalogue.TLS_HANDLING)
        except requests.RequestException as exc:
            error = self._transport_error(exc, request)
        if error is not None:
            self._log(request, None, error.code, started, type(error).__name__)
            raise error
        status = response.status_code
        body = _json_or_none(response)
        bound = status == 200
        self._log(request, status, None, started, "bound" if bound else "refused")
        device_id = body.get("deviceId") if isinstance(body, dict) else None
        return SimulatorBinding(
            bound=bound,
            http_status=status,
            device_id=device_id if isinstance(device_id, str) else None,
            reason="" if bound else _simulator_reason(status, body, verify_code=verify_code),
        )

    # --- authentication (called by TokenManager under the shared login lock) --------------

    def _login(self, deadline: float | None) -> AccessToken:
        data = self._exchange_with_slot(
            _Request(
                method="POST",
                template=LOGIN_PATH,
                path=LOGIN_PATH,
                form={"appId": self.config.app_id, "secret": self.config.app_secret},
                authenticated=False,
            ),
            deadline=deadline,
        )
        return self._token_from(data)

    def _refresh_token(self, refresh_token: str, deadline: float | None) -> AccessToken:
        data = self._exchange_with_slot(
            _Request(
                method="POST",
                template=REFRESH_TOKEN_PATH,
                path=REFRESH_TOKEN_PATH,
                json={
                    "appId": self.config.app_id,
                    "secret": self.config.app_secret,
                    "refreshToken": refresh_token,
                },
                authenticated=False,
            ),
            deadline=deadline,
        )
        return self._token_from(data)

    def _token_from(self, data: Mapping[str, Any]) -> AccessToken:
        try:
            return AccessToken.from_login_answer(data, now=time.time())
        except ValueError:
            raise UnreadableAnswer(
                http_status=200, handling_text=catalogue.UNREADABLE_ANSWER_HANDLING
            ) from None

    def _exchange_with_slot(self, request: _Request, *, deadline: float | None) -> dict[str, Any]:
        throttled = 0
        while True:
            self._acquire_slot(deadline)
            try:
                return self._exchange(request, token=None)
            except PlatformThrottled as exc:
                throttled += 1
                if exc.code != catalogue.THROTTLED or throttled >= MAX_THROTTLED_ANSWERS:
                    raise
                exc.retry_after = self.limiter.platform_throttled()

    # --- one call: token, slot, exchange, typed answer -----------------------------------

    def _call(
        self, request: _Request, *, max_wait: float | None, lane: Lane | None = None
    ) -> dict[str, Any]:
        """`lane` (default: the current lane scope) also covers the login or token refresh
        this call may need."""
        deadline = None if max_wait is None else time.monotonic() + max(0.0, max_wait)
        try:
            with lane_scope(lane or current_lane()):
                return self._call_with_retries(request, deadline=deadline)
        except StoreUnavailable as exc:
            error = PlatformRetryableError(
                f"shared store unavailable: {exc}", handling_text=STORE_UNAVAILABLE_HANDLING
            )
        raise error

    def _call_with_retries(self, request: _Request, *, deadline: float | None) -> dict[str, Any]:
        relogged = False
        throttled = 0
        while True:
            token = self.tokens.access_token(deadline=deadline)
            self._acquire_slot(deadline)
            try:
                return self._exchange(request, token=token)
            except PlatformPermanentError as exc:
                if exc.code != catalogue.TOKEN_INVALID or relogged:
                    raise
                relogged = True
                log.info("platform token rejected (1010005); logging in again once")
                self.tokens.replace_rejected(token, deadline=deadline)
            except PlatformThrottled as exc:
                if exc.code != catalogue.THROTTLED:
                    raise
                throttled += 1
                pause = self.limiter.platform_throttled()
                exc.retry_after = pause
                if throttled >= MAX_THROTTLED_ANSWERS:
                    raise
                if deadline is not None and time.monotonic() + pause > deadline:
                    raise
                log.warning("platform answered 1010009; all processes pause %.0f s", pause)

    def _acquire_slot(self, deadline: float | None) -> None:
        started = time.monotonic()
        self.limiter.acquire(deadline=deadline)
        if self.on_slot_wait is not None:
            try:
                self.on_slot_wait(time.monotonic() - started, current_lane().value)
            except Exception:  # an observer never breaks a call
                log.warning("on_slot_wait hook failed", exc_info=True)

    def _headers(self, token: str | None, request: _Request) -> dict[str, str]:
        headers: dict[str, str] = {}
        if request.authenticated:
            headers[self.config.app_key_header] = self.config.app_id
            headers["Authorization"] = f"Bearer {token}"
        if request.json is not None:
            headers["Content-Type"] = "application/json"
        return headers

    def _send(self, request: _Request, *, token: str | None) -> requests.Response:
        """One HTTP exchange over the session, with the configured timeouts, no redirects."""
        return self._session.request(
            request.method,
            self.config.base_url + request.path,
            params=request.params,
            json=request.json,
            data=request.form,
            headers=self._headers(token, request),
            timeout=(self.config.connect_timeout, self.config.read_timeout),
            allow_redirects=False,
        )

    def _exchange(self, request: _Request, *, token: str | None) -> dict[str, Any]:
        """Send once; return the JSON object of a success or raise the typed error."""
        check = _exchange_guard.get()
        if check is not None:
            check()  # may raise: then nothing is sent
        started = time.monotonic()
        status: int | None = None
        error: PlatformError | None = None
        text = ""
        try:
            response = self._send(request, token=token)
            status = response.status_code
            text = response.text
        except TlsConfigurationError as exc:
            error = PlatformPermanentError(str(exc), handling_text=catalogue.TLS_HANDLING)
        except requests.RequestException as exc:
            error = self._transport_error(exc, request)
        # Raised outside the except blocks: no request, header or body rides along as context.
        if error is None:
            assert status is not None
            try:
                data = interpret(
                    status, text, throttle_retry_after=self.config.flow_cooldown_seconds
                )
            except UnreadableAnswer as exc:
                error = exc
                if not request.idempotent:
                    error = PlatformOutcomeUnknown(
                        "the platform accepted the request but its answer could not be read",
                        http_status=status,
                        platform_text=exc.platform_text,
                    )
            except PlatformError as exc:
                error = exc
                if not request.idempotent and status == 504 and exc.code is None:
                    # A gateway gave up waiting for the platform, which may have applied it.
                    error = PlatformOutcomeUnknown(
                        "the platform's gateway timed out", http_status=status
                    )
            else:
                self._log(request, status, None, started, "ok")
                return data
        self._log(request, status, error.code, started, type(error).__name__)
        raise error

    def _transport_error(self, exc: requests.RequestException, request: _Request) -> PlatformError:
        url = self.config.base_url
        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
            return PlatformPermanentError(
                f"IOT_PLATFORM_URL is not a usable URL: {url}",
                handling_text="Check IOT_PLATFORM_URL in the server settings.",
            )
        if isinstance(exc, requests.exceptions.SSLError) or _caused_by(
            exc, Urllib3SSLError, ssl.SSLError
        ):
            reason = _tls_reason(exc, base_url=url)
            if "handshake" in reason and not self.config.client_cert:
                reason += "; no client certificate is configured (IOT_CLIENT_CERT)"
            return PlatformPermanentError(
                f"TLS with the platform at {url} failed ({reason})",
                handling_text=catalogue.TLS_HANDLING,
            )
        if isinstance(exc, requests.exceptions.ConnectTimeout) or _caused_by(
            exc, NewConnectionError, ConnectTimeoutError, ConnectionRefusedError
        ):
            return PlatformRetryableError(
                f"could not connect to the platform at {url} ({type(exc).__name__})",
                handling_text=catalogue.UNREACHABLE_HANDLING,
            )
        timed_out = isinstance(exc, requests.exceptions.ReadTimeout)
        what = (
            f"no answer within {self.config.read_timeout:g} s"
            if timed_out
            else "the connection broke before the answer arrived"
        )
        if not request.idempotent:
            return PlatformOutcomeUnknown(f"{request.method} {request.template}: {what}")
        return PlatformRetryableError(
            f"{request.method} {request.template}: {what}",
            handling_text=catalogue.NO_ANSWER_HANDLING,
        )

    def _log(
        self, request: _Request, status: int | None, code: str | None, started: float, outcome: str
    ) -> None:
        seconds = time.monotonic() - started
        log.info(
            "platform %s %s -> %s code=%s %s in %.0f ms",
            request.method,
            request.template,
            status if status is not None else "-",
            code or "-",
            outcome,
            seconds * 1000,
        )
        if self.on_call is not None:
            try:
                self.on_call(request.method, request.template, status, code, seconds)
            except Exception:  # an observer never breaks a call
                log.warning("on_call hook failed", exc_info=True)


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _simulator_reason(status: int, body: Any, *, verify_code: str) -> str:
    """The simulator's reason for a refusal; never the verifyCode itself."""
    reason = f"HTTP {status}"
    if isinstance(body, dict):
        for key in SIMULATOR_REASON_KEYS:
            value = body.get(key)
            if isinstance(value, str) and value:
                reason = value[:MAX_REASON_LENGTH]
                break
    if verify_code and verify_code.lower() in reason.lower():
        return "it did not accept the unit"
    return reason


def _host_is_ip(base_url: str) -> bool:
    try:
        ipaddress.ip_address(urlsplit(base_url).hostname or "")
    except ValueError:
        return False
    return True


def _tls_reason(exc: BaseException, *, base_url: str) -> str:
    text = str(exc)
    if "Hostname mismatch" in text or "IP address mismatch" in text or "doesn't match" in text:
        if _host_is_ip(base_url):
            return (
                "the platform's certificate does not name the IP address in IOT_PLATFORM_URL; "
                "set IOT_VERIFY_HOSTNAME=false for an IP-address endpoint (the chain is still "
                "verified against IOT_CA_FILE)"
            )
        return (
            "the platform's certificate does not name the host in IOT_PLATFORM_URL; use a name "
            "the certificate holds in IOT_PLATFORM_URL, or set IOT_VERIFY_HOSTNAME=false (the "
            "chain is still verified against IOT_CA_FILE)"
        )
    for marker, reason in (
        (
            "certificate has expired",
            "the platform's certificate, or the CA in IOT_CA_FILE that signed it, has expired "
            "(update IOT_CA_FILE, or ask the platform operator)",
        ),
        (
            "certificate is not yet valid",
            "the platform's certificate, or the CA in IOT_CA_FILE that signed it, is not yet "
            "valid (check this server's clock and IOT_CA_FILE)",
        ),
        (
            "CERTIFICATE_EXPIRED",
            "the platform refused our client certificate as expired (IOT_CLIENT_CERT / "
            "IOT_CLIENT_P12)",
        ),
        ("CERTIFICATE_VERIFY_FAILED", "the platform's certificate is not signed by IOT_CA_FILE"),
        ("certificate verify failed", "the platform's certificate is not signed by IOT_CA_FILE"),
        ("CERTIFICATE_REQUIRED", "the platform requires a client certificate"),
        ("certificate required", "the platform requires a client certificate"),
        ("BAD_CERTIFICATE", "the platform refused our client certificate"),
        ("UNKNOWN_CA", "the platform does not trust our client certificate"),
        ("unknown ca", "the platform does not trust our client certificate"),
        ("bad certificate", "the platform refused our client certificate"),
        ("Hostname mismatch", "the certificate's name does not match (IOT_VERIFY_HOSTNAME)"),
        ("doesn't match", "the certificate's name does not match (IOT_VERIFY_HOSTNAME)"),
        ("WRONG_VERSION_NUMBER", "the platform did not answer with TLS (http vs https?)"),
        (
            "EOF occurred in violation of protocol",
            "the platform closed the TLS handshake: it may require a client certificate or "
            "not accept ours",
        ),
    ):
        if marker in text:
            return reason
    return "handshake failed"
