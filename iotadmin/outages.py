"""Outages answered honestly: a database or broker that cannot be reached is a 503, not a 500.

`ServiceUnavailableMiddleware` answers what a view raises; `server_error` (handler500) answers
what the middleware chain raises (a session or user read). Both render without the request's
context: the base template reads the user, and the database may be the thing that is down.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.db import InterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 60
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    DatabaseOperationalError,
    InterfaceError,
    BrokerOperationalError,
    RedisConnectionError,
)
UNAVAILABLE_TEXT = (
    "The service is temporarily unavailable; your swap is safe. Try again in a minute."
)


def is_outage(exc: BaseException | None) -> bool:
    """True for a database or broker that cannot be reached (also when wrapped once)."""
    while exc is not None:
        if isinstance(exc, OUTAGE_ERRORS):
            return True
        exc = exc.__cause__
    return False


def outage_reason(exc: BaseException) -> str:
    """Which service is out, in words for a person (no hosts, no credentials)."""
    if isinstance(exc, DatabaseOperationalError | InterfaceError):
        return "the database is unreachable"
    return "the message broker is unreachable"


def outage_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """The 503 page, or for an htmx request a small fragment the page shows in its banner."""
    logger.error("service unavailable (%s): %s", outage_reason(exc), type(exc).__name__)
    is_htmx = request.headers.get("HX-Request") == "true"
    template = "503.html#unavailable" if is_htmx else "503.html"
    response = HttpResponse(loader.get_template(template).render({}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    # Logged above without the path (the push endpoint's path carries its secret).
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


class ServiceUnavailableMiddleware:
    """A view that hits a database or broker outage answers 503 with Retry-After."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_outage(exception):
            return None
        return outage_response(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: an outage raised outside a view is a 503 too; anything else stays a 500."""
    exc = sys.exc_info()[1]
    if exc is not None and is_outage(exc):
        return outage_response(request, exc)
    return HttpResponseServerError(loader.get_template("500.html").render({}))
