"""The one rule for "fragment or full page", and the request type views declare.

A view renders the partial for an htmx request and the whole page otherwise; a boosted link or
form (hx-boost) swaps the whole body, so it gets the whole page too.
"""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from iotadmin.http import AuthenticatedHttpRequest


class HtmxHttpRequest(AuthenticatedHttpRequest):
    """A signed-in request that went through django_htmx's HtmxMiddleware (settings.MIDDLEWARE)."""

    htmx: HtmxDetails


def is_partial(request: HttpRequest) -> bool:
    """True when the answer should be only the partial that changed."""
    htmx: HtmxDetails | None = getattr(request, "htmx", None)
    return bool(htmx and not htmx.boosted)
