"""The login requirement, asking the view before the user (a module of its own: the request-id
middleware is imported while logging is configured, before the auth models can be)."""

from collections.abc import Callable
from typing import Any

from django.contrib.auth import middleware as auth_middleware
from django.http import HttpRequest, HttpResponseBase


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
