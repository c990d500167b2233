"""Optional error reporting to Sentry: only when SENTRY_DSN is set and sentry-sdk is installed
(`pip install iotadmin[sentry]`). No personal data, no request bodies, no secrets."""

import logging
import re
from typing import Any

logger = logging.getLogger(__name__)

# Field names whose values are dropped wherever they appear in an event.
SECRET_FIELD = re.compile(
    r"verify_?code|secret|password|passwd|token|authorization|api_?key|cookie|session|"
    r"encryption_?key|dsn",
    re.IGNORECASE,
)
_PUSH_PATH = re.compile(r"(/platform/push/)[^/\s\"'?]+")
FILTERED = "[Filtered]"


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: FILTERED if isinstance(key, str) and SECRET_FIELD.search(key) else _scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    if isinstance(value, str):
        return _PUSH_PATH.sub(r"\1<redacted>", value)
    return value


def before_send(event: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    """Drop request bodies, cookies and headers' secrets; blank every secret-looking field."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)
        request.pop("cookies", None)
    return _scrub(event)


def sentry_init(*, dsn: str, environment: str) -> bool:
    """Start Sentry when sentry-sdk is installed; False (and a warning) when it is not."""
    try:
        import sentry_sdk
        from sentry_sdk.integrations.celery import CeleryIntegration
        from sentry_sdk.integrations.django import DjangoIntegration
    except ImportError:
        logger.warning("SENTRY_DSN is set but sentry-sdk is not installed (iotadmin[sentry])")
        return False
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        send_default_pii=False,
        max_request_body_size="never",
        before_send=before_send,
        integrations=[DjangoIntegration(), CeleryIntegration()],
    )
    return True
