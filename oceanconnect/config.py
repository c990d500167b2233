"""The client's configuration as one plain value (`PlatformConfig.from_settings` reads IOT_*)."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PlatformConfig:
    """Where the platform is, who we are, and how hard we may call it."""

    base_url: str
    app_id: str
    app_secret: str = field(repr=False)
    ca_file: str = ""
    client_cert: str = ""
    client_key: str = ""
    # The password of an encrypted client key (Huawei's PEM); never logged.
    client_cert_password: str = field(default="", repr=False)
    # A PKCS#12 bundle (certificate + key) instead of client_cert/client_key.
    client_p12: str = ""
    client_p12_password: str = field(default="", repr=False)
    verify_hostname: bool = True
    flow_limit_per_minute: int = 90
    # Slots of the window the lanes below interactive never fill (lanes.py).
    flow_reserve_interactive: int = 10
    # Added to the 60 s window so calls reserved 60 s apart cannot arrive inside one window.
    flow_window_margin: float = 1.0
    # How long every process pauses after the platform still answered 1010009.
    flow_cooldown_seconds: float = 10.0
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    app_key_header: str = "app_key"
    store_prefix: str = "iotadmin:"
    # A token this close to expiry is refreshed with the refresh token before use.
    token_refresh_margin: float = 300.0
    pool_size: int = 32

    @property
    def flow_window(self) -> float:
        return 60.0 + max(0.0, self.flow_window_margin)

    @property
    def is_https(self) -> bool:
        return self.base_url.lower().startswith("https://")

    @classmethod
    def from_settings(cls, settings: Any) -> "PlatformConfig":
        """From any object with IOT_* attributes (Django's settings, a SimpleNamespace, ...);
        a missing attribute takes its default."""

        def get(name: str, default: Any) -> Any:
            return getattr(settings, name, default)

        return cls(
            base_url=str(get("IOT_PLATFORM_URL", "https://127.0.0.1:8743")).rstrip("/"),
            app_id=str(get("IOT_APP_ID", "")),
            app_secret=str(get("IOT_APP_SECRET", "")),
            ca_file=str(get("IOT_CA_FILE", "") or ""),
            client_cert=str(get("IOT_CLIENT_CERT", "") or ""),
            client_key=str(get("IOT_CLIENT_KEY", "") or ""),
            client_cert_password=str(get("IOT_CLIENT_CERT_PASSWORD", "") or ""),
            client_p12=str(get("IOT_CLIENT_P12", "") or ""),
            client_p12_password=str(get("IOT_CLIENT_P12_PASSWORD", "") or ""),
            verify_hostname=bool(get("IOT_VERIFY_HOSTNAME", True)),
            flow_limit_per_minute=int(get("IOT_FLOW_LIMIT_PER_MINUTE", 90)),
            flow_reserve_interactive=int(get("IOT_FLOW_RESERVE_INTERACTIVE", 10)),
            flow_window_margin=float(get("IOT_FLOW_WINDOW_MARGIN", 1.0)),
            flow_cooldown_seconds=float(get("IOT_FLOW_COOLDOWN_SECONDS", 10.0)),
            connect_timeout=float(get("IOT_CONNECT_TIMEOUT", 3.0)),
            read_timeout=float(get("IOT_READ_TIMEOUT", 10.0)),
            app_key_header=str(get("IOT_APP_KEY_HEADER", "app_key") or "app_key"),
            store_prefix=str(get("IOT_STORE_PREFIX", "iotadmin:")),
        )
