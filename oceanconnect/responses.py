"""Turning the platform's answers into data or typed errors.

Two error body shapes (application layer `error_code`/`error_desc`, API gateway
`resultcode`/`resultmsg`), error codes inside HTTP 200, and bodies that are not JSON at all.
"""

import json
import re
from collections.abc import Mapping
from typing import Any

from . import catalogue
from .errors import (
    PlatformError,
    PlatformPermanentError,
    PlatformRetryableError,
    PlatformThrottled,
)

_CODE_FIELDS = ("error_code", "resultcode", "errorCode", "resultCode")
_TEXT_FIELDS = ("error_desc", "resultmsg", "errorDesc", "resultMsg", "error_msg", "message")
# Success bodies of some calls carry a result code of zero; that is not an error.
_SUCCESS_CODES = frozenset({"0", "00000000", "200"})
_WHITESPACE = re.compile(r"\s+")


def _snippet(text: str, limit: int = 200) -> str:
    return _WHITESPACE.sub(" ", text).strip()[:limit]


def error_code_of(payload: Any) -> tuple[str | None, str]:
    """The error code and text a parsed body carries, in either shape (None when none)."""
    if not isinstance(payload, Mapping):
        return None, ""
    code: str | None = None
    for name in _CODE_FIELDS:
        value = payload.get(name)
        if value is not None and not isinstance(value, (dict, list, bool)) and str(value).strip():
            code = str(value).strip()
            break
    if code is None or code in _SUCCESS_CODES:
        return None, ""
    text = ""
    for name in _TEXT_FIELDS:
        value = payload.get(name)
        if isinstance(value, str) and value.strip():
            text = value.strip()
            break
    return code, text


def error_for_code(
    code: str, *, http_status: int | None, platform_text: str, retry_after: float = 10.0
) -> PlatformError:
    handling = catalogue.handling_text(code)
    if code == catalogue.THROTTLED:
        return PlatformThrottled(
            code=code,
            http_status=http_status,
            platform_text=platform_text,
            handling_text=handling,
            retry_after=retry_after,
        )
    cls = PlatformRetryableError if catalogue.is_retryable_code(code) else PlatformPermanentError
    return cls(
        code=code, http_status=http_status, platform_text=platform_text, handling_text=handling
    )


class UnreadableAnswer(PlatformRetryableError):
    """A success status whose body is not the JSON object the call returns."""


def interpret(status: int, text: str, *, throttle_retry_after: float = 10.0) -> dict[str, Any]:
    """The JSON object of a successful answer; raises the typed error for anything else."""
    payload: Any = None
    parsed = False
    if text.strip():
        try:
            payload = json.loads(text)
            parsed = True
        except ValueError:
            parsed = False
    code, platform_text = error_code_of(payload)
    if code is not None:
        raise error_for_code(
            code,
            http_status=status,
            platform_text=platform_text,
            retry_after=throttle_retry_after,
        )
    snippet = "" if parsed else _snippet(text)
    if 200 <= status < 300:
        if not text.strip():
            return {}
        if isinstance(payload, dict):
            return payload
        raise UnreadableAnswer(
            http_status=status,
            platform_text=snippet,
            handling_text=catalogue.UNREADABLE_ANSWER_HANDLING,
        )
    if status == 429:
        raise PlatformThrottled(
            http_status=status, platform_text=snippet, retry_after=throttle_retry_after
        )
    if status >= 500:
        raise PlatformRetryableError(
            http_status=status,
            platform_text=snippet,
            handling_text=catalogue.SERVER_ERROR_HANDLING,
        )
    raise PlatformPermanentError(
        http_status=status, platform_text=snippet, handling_text=catalogue.CLIENT_ERROR_HANDLING
    )
