"""The one rule for "fragment or full page", and the request type views declare.

A view renders the partial for an htmx request and the whole page otherwise; a boosted link or
form (hx-boost) swaps the whole body, so it gets the whole page too.
"""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A request that went through django_htmx's HtmxMiddleware (settings.MIDDLEWARE)."""

    htmx: HtmxDetails


def is_partial(request: HtmxHttpRequest) -> bool:
    """True when the answer should be only the partial that changed."""
    return bool(request.htmx) and not request.htmx.boosted
