"""A log filter that keeps the push endpoint's secret out of every log line.

Loaded by LOGGING before the app registry exists, so it imports nothing from Django.
"""

import logging
import re
from collections.abc import Iterable

_PUSH_PATH = re.compile(r"(/platform/push/)[^/\s\"'?]+")
REDACTED = "<redacted>"


def redact_push_secret(text: str) -> str:
    """`text` with the secret segment of any /platform/push/<secret>/ replaced."""
    if "/platform/push/" not in text:
        return text
    return _PUSH_PATH.sub(r"\1" + REDACTED, text)


class RedactPushSecretFilter(logging.Filter):
    """Replace the secret segment of /platform/push/<secret>/ and any literal secret given.

    Attached to the handlers and to the `django.request`/`django.server` loggers (a logger's
    filter runs before any handler, pytest's and Sentry's included).
    """

    def __init__(self, name: str = "", secrets: Iterable[str] = ()) -> None:
        super().__init__(name)
        # Short values would mask ordinary words; the development default is long enough.
        self.secrets = tuple(s for s in secrets if s and len(s) >= 8)

    def _redact(self, text: str) -> str:
        text = redact_push_secret(text)
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's business
            return True
        redacted = self._redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        return True
