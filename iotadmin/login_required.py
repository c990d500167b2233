"""The login requirement, asking the view before the user (a module of its own: the request-id
middleware is imported while logging is configured, before the auth models can be).

An htmx request without a session (never signed in, or signed out for idling by
iotadmin/sessions.py, which runs before this middleware) gets no 302: htmx would follow it and
swap the login page into the panel. It gets a 401 with `HX-Redirect` to the login page instead,
whose `next` is the page the person was on (HX-Current-URL, same origin, path and query only).
"""

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.contrib.auth import middleware as auth_middleware
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme


def htmx_next_path(request: HttpRequest) -> str:
    """The path (and query) of the page an htmx request came from, or "" when the browser's
    HX-Current-URL is missing or not on this site."""
    current = request.headers.get("HX-Current-URL", "")
    if not current or not url_has_allowed_host_and_scheme(
        current, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    parts = urlsplit(current)
    if not parts.path.startswith("/") or parts.path.startswith("//"):
        return ""
    return parts.path + (f"?{parts.query}" if parts.query else "")


class LoginRequiredMiddleware(auth_middleware.LoginRequiredMiddleware):
    """Django's, asking the view first: a view marked login_not_required (probes, the push
    endpoint, the metrics scrape) then loads no session and no user (Django's asks the user
    first, a session read and a query per probe)."""

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponseBase],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        if not getattr(view_func, "login_required", True):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)

    # The stubs promise a redirect; an htmx request gets a 401 carrying HX-Redirect instead.
    def handle_no_permission(  # type: ignore[override]
        self, request: HttpRequest, view_func: Callable[..., HttpResponseBase]
    ) -> HttpResponseBase:
        if not request.headers.get("HX-Request"):
            return super().handle_no_permission(request, view_func)
        login_url = resolve_url(self.get_login_url(view_func))
        next_path = htmx_next_path(request)
        if next_path:
            query = urlencode({self.get_redirect_field_name(view_func): next_path})
            login_url = f"{login_url}?{query}"
        response = HttpResponse("Signed out: sign in again.", status=401)
        response["HX-Redirect"] = login_url
        return response
