"""The project's wiring of the `oceanconnect` client: built from Django settings, one per process.

`get_client()` builds the process-wide client from Django settings (one requests.Session per
process, rebuilt after a fork) with the shared store: Redis when REDIS_URL is set, else the
database store from devices/platform_db_store.py. Its calls and flow-slot waits are observed
by the Prometheus metrics (iotadmin/metrics.py). The cached access and refresh tokens are
sealed there with the verifyCode keys (devices/codes.py), so the store holds no usable token.
"""

import os
import threading
from typing import Any

from oceanconnect import PlatformClient, PlatformConfig, RedisStore, SharedStore, TokenCipher

__all__ = ["build_client", "build_store", "get_client", "reset_client"]

_lock = threading.Lock()
_client: PlatformClient | None = None
_client_pid: int | None = None


def build_store(settings: Any) -> SharedStore:
    """The shared store the settings select: Redis when REDIS_URL is set, else the database."""
    prefix = str(getattr(settings, "IOT_STORE_PREFIX", "iotadmin:"))
    redis_url = str(getattr(settings, "REDIS_URL", "") or "")
    if redis_url:
        return RedisStore(redis_url, prefix)
    from devices.platform_db_store import DatabaseStore

    return DatabaseStore(prefix)


def token_cipher() -> TokenCipher:
    """Fernet with IOT_CODE_ENCRYPTION_KEY's keys (read at each use, so key rotation applies)."""
    from devices.codes import decrypt_code, encrypt_code

    return TokenCipher(encrypt=encrypt_code, decrypt=decrypt_code)


def build_client(settings: Any = None) -> PlatformClient:
    """A new client from settings (Django's when not given)."""
    if settings is None:
        from django.conf import settings as django_settings

        settings = django_settings
    from iotadmin.metrics import flow_slot_wait_observed, platform_call_observed

    return PlatformClient(
        config=PlatformConfig.from_settings(settings),
        store=build_store(settings),
        on_call=platform_call_observed,
        on_slot_wait=flow_slot_wait_observed,
        token_cipher=token_cipher(),
    )


def get_client() -> PlatformClient:
    """The process's client; a forked child (Celery prefork) builds its own."""
    global _client, _client_pid
    with _lock:
        if _client is None or _client_pid != os.getpid():
            _client = build_client()
            _client_pid = os.getpid()
        return _client


def reset_client() -> None:
    """Forget the process's client (after settings change, in tests)."""
    global _client, _client_pid
    with _lock:
        if _client is not None and _client_pid == os.getpid():
            _client.close()
        _client = None
        _client_pid = None
