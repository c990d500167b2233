"""Typed platform errors: every failure carries its code, HTTP status, the platform's text and
a handling text for staff, and says whether sending the same request again later is safe.

Messages never contain a secret: only codes, statuses, the platform's own (short) error text
and our handling text. Request objects, headers and bodies are never attached.
"""

from typing import Any

from . import catalogue

_MAX_PLATFORM_TEXT = 300


class PlatformError(Exception):
    """A call to the platform failed."""

    retryable: bool = False

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        http_status: int | None = None,
        platform_text: str = "",
        handling_text: str = "",
    ) -> None:
        self.code = code
        self.http_status = http_status
        self.platform_text = (platform_text or "")[:_MAX_PLATFORM_TEXT]
        self.handling_text = handling_text or (
            catalogue.handling_text(code) if code else catalogue.CLIENT_ERROR_HANDLING
        )
        self.message = message or self._default_message()
        super().__init__(self.message)

    def _default_message(self) -> str:
        parts = ["platform error"]
        if self.code:
            parts.append(self.code)
        if self.http_status is not None:
            parts.append(f"(HTTP {self.http_status})")
        text = " ".join(parts)
        return f"{text}: {self.platform_text}" if self.platform_text else text

    def _state(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "code": self.code,
            "http_status": self.http_status,
            "platform_text": self.platform_text,
            "handling_text": self.handling_text,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields survive pickling (Celery, multiprocessing).
        return (_rebuild, (type(self), self._state()))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, http_status={self.http_status!r}, "
            f"retryable={self.retryable!r}, message={self.message!r})"
        )


def _rebuild(cls: type[PlatformError], state: dict[str, Any]) -> PlatformError:
    message = state.pop("message")
    return cls(message, **state)


class PlatformRetryableError(PlatformError):
    """Nothing changed on the platform; the same request may be sent again later."""

    retryable = True

    def __init__(self, message: str = "", *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "retry_after": self.retry_after}


class PlatformThrottled(PlatformRetryableError):
    """The flow limit (the platform's 1010009 or our own limiter) forbids a call right now.

    `retry_after` is the number of seconds after which a new attempt can expect a slot. When
    our own limiter refused, `lane` is the caller's lane and `queue_position` the number of
    calls waiting ahead of it (in its lane and the higher ones) at that moment.
    """

    lane: str = ""
    queue_position: int = 0

    def __init__(self, message: str = "", *, retry_after: float = 1.0, **kw: Any) -> None:
        kw.setdefault("handling_text", catalogue.THROTTLED_LOCALLY_HANDLING)
        super().__init__(message, retry_after=max(0.0, float(retry_after)), **kw)

    def _default_message(self) -> str:
        base = super()._default_message() if self.code else "platform flow limit reached"
        return f"{base}; retry after {self.retry_after:.1f} s"


class PlatformPermanentError(PlatformError):
    """The platform refused the request; sending it again unchanged will not help."""

    retryable = False


class PlatformOutcomeUnknown(PlatformError):
    """A non-idempotent request was sent but its answer never arrived.

    The platform may or may not have applied it: never re-send blindly, reconcile first
    (activation status, device info).
    """

    retryable = False

    def __init__(self, message: str = "", **kw: Any) -> None:
        kw.setdefault("handling_text", catalogue.OUTCOME_UNKNOWN_HANDLING)
        super().__init__(message, **kw)
