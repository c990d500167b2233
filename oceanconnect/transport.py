"""The process's one requests.Session, with TLS set up exactly as configured.

The CA bundle, the client certificate and the hostname check go into one ssl.SSLContext.
With IOT_VERIFY_HOSTNAME off the chain is still verified against the CA; only the name
check is skipped (test CAs on platforms are often issued for another name).
"""

import ssl
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from .config import PlatformConfig


class TlsConfigurationError(Exception):
    """The configured CA, certificate or key cannot be used (a message without secrets)."""


def build_ssl_context(config: PlatformConfig) -> ssl.SSLContext:
    if config.ca_file:
        # Only the configured CA is trusted: not the system store, not SSL_CERT_FILE.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_verify_locations(cafile=config.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TlsConfigurationError(
                f"the CA file IOT_CA_FILE={config.ca_file} cannot be read as PEM "
                f"({type(exc).__name__})"
            ) from None
    else:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if config.client_cert:
        try:
            context.load_cert_chain(certfile=config.client_cert, keyfile=config.client_key or None)
        except (OSError, ssl.SSLError) as exc:
            raise TlsConfigurationError(
                f"the client certificate IOT_CLIENT_CERT={config.client_cert} or its key "
                f"cannot be loaded ({type(exc).__name__})"
            ) from None
    context.check_hostname = config.verify_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class PlatformAdapter(HTTPAdapter):
    """Uses our SSL context for every HTTPS connection instead of requests' defaults."""

    def __init__(self, config: PlatformConfig) -> None:
        self._config = config
        self._context: ssl.SSLContext | None = None
        super().__init__(
            pool_connections=2, pool_maxsize=config.pool_size, max_retries=0, pool_block=False
        )

    def ssl_context(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = build_ssl_context(self._config)
        return self._context

    def build_connection_pool_key_attributes(
        self, request: Any, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, _ = super().build_connection_pool_key_attributes(request, verify, None)
        if host_params.get("scheme") != "https":
            return host_params, {}
        pool_kwargs: dict[str, Any] = {
            "ssl_context": self.ssl_context(),
            "cert_reqs": "CERT_REQUIRED",
        }
        if not self._config.verify_hostname:
            pool_kwargs["assert_hostname"] = False
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # Everything is in our SSL context; keep requests from adding certifi or env bundles.
        return None


def build_session(config: PlatformConfig) -> requests.Session:
    session = requests.Session()
    # Environment proxies, netrc and REQUESTS_CA_BUNDLE must not change who we talk to.
    session.trust_env = False
    adapter = PlatformAdapter(config)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update({"Accept": "application/json", "User-Agent": "iotadmin/0.1"})
    return session
