"""A log filter that keeps the push endpoint's path secret out of every log line.

Loaded by LOGGING before the app registry exists, so it imports nothing from Django.
"""

import logging
import re

_PUSH_PATH = re.compile(r"(/platform/push/)[^/\s\"'?]+")


def redact_push_secret(text: str) -> str:
    """`text` with the secret segment of any /platform/push/<secret>/ replaced."""
    if "/platform/push/" not in text:
        return text
    return _PUSH_PATH.sub(r"\1<redacted>", text)


class RedactPushSecretFilter(logging.Filter):
    """Replace the secret segment of /platform/push/<secret>/ (runserver logs 4xx paths)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's business
            return True
        if "/platform/push/" in message:
            record.msg = redact_push_secret(message)
            record.args = ()
        return True
