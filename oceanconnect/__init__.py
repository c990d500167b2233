"""oceanconnect: a typed client for Huawei's OceanConnect (IoT platform) northbound API.

Plain typed values in, plain typed values (or typed errors) out; no web framework needed.
One `PlatformClient` per process holds one `requests.Session` whose TLS is exactly as
configured (your CA only, an optional client certificate, an optional hostname check).
Processes that share a `SharedStore` (`RedisStore`, or your own implementation of the
protocol; `MemoryStore` within one process) share one access token, one login at a time and
one flow limit: every call, logins included, first reserves a slot in a sliding window, and
a 1010009 answer pauses every process. Calls run in lanes (`Lane`: interactive, reconcile,
bulk, background; `lane=` per call or `lane_scope(...)`): a waiting higher lane is served
first, and the lower lanes leave `flow_reserve_interactive` slots of the window free.
Inside `exchange_guard(check)` every HTTP exchange (logins included) first calls `check()`;
an exception it raises stops that exchange before it is sent (a caller renews a lease there).
Each documented platform code becomes a typed error
(`PlatformRetryableError`, `PlatformThrottled`, `PlatformPermanentError`,
`PlatformOutcomeUnknown`) carrying the platform's code and a handling text for people.

Usage::

    from oceanconnect import PlatformClient, PlatformConfig, PlatformError, RedisStore

    config = PlatformConfig(base_url="https://iot.example.com:8743", app_id="my-app",
                            app_secret="...", ca_file="/etc/iot/ca.pem")
    client = PlatformClient(config=config, store=RedisStore("redis://localhost/0", "my-app:"))
    try:
        result = client.refresh_device_key("DEVICE-ID", node_id="862177041314827", timeout=300)
        show_to_technician(result.verify_code, result.timeout)  # a secret: shown, never logged
    except PlatformError as exc:
        print(exc.code, exc.handling_text)
    print(client.flow_usage())

`PlatformConfig.from_settings(obj)` reads the same values from any object with IOT_*
attributes. `client.simulator_bind(...)` is a control call of the test simulator only.
The package is typed (PEP 561); its public API is `__all__`.
"""

from .catalogue import CATALOGUE, handling_text
from .client import PlatformClient, exchange_guard
from .config import PlatformConfig
from .errors import (
    PlatformError,
    PlatformOutcomeUnknown,
    PlatformPermanentError,
    PlatformRetryableError,
    PlatformThrottled,
)
from .lanes import Lane, current_lane, lane_scope
from .store import MemoryStore, RedisStore, SharedStore, StoreUnavailable
from .tokens import TokenCipher
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
    parse_timestamp,
)

__all__ = [
    "CATALOGUE",
    "AccessToken",
    "ActivationStatus",
    "DeviceInfo",
    "DevicePage",
    "FlowUsage",
    "Lane",
    "MemoryStore",
    "PlatformClient",
    "PlatformConfig",
    "PlatformDevice",
    "PlatformError",
    "PlatformOutcomeUnknown",
    "PlatformPermanentError",
    "PlatformRetryableError",
    "PlatformThrottled",
    "RedisStore",
    "RefreshDeviceKeyResult",
    "RegisteredDevice",
    "SharedStore",
    "SimulatorBinding",
    "StoreUnavailable",
    "Subscription",
    "SubscriptionPage",
    "TokenCipher",
    "current_lane",
    "exchange_guard",
    "handling_text",
    "lane_scope",
    "parse_timestamp",
]
