"""Who is acting in this request, for audit events raised by signals (user and group changes)."""

import contextvars
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

# Holds request.user (lazy: only evaluated when a signal actually records something).
current_actor: "contextvars.ContextVar[User | AnonymousUser | None]" = contextvars.ContextVar(
    "current_actor", default=None
)


class AuditActorMiddleware:
    """Place after AuthenticationMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = current_actor.set(getattr(request, "user", None))
        try:
            return self.get_response(request)
        finally:
            current_actor.reset(token)
