"""Idle session timeout: a session unused for longer than SESSION_IDLE_TIMEOUT_MINUTES ends."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

LAST_SEEN_KEY = "iotadmin_last_seen"
# Noting every request would write the session each time; a minute's precision is enough.
LAST_SEEN_RESOLUTION_SECONDS = 60


def idle_timeout(user: object) -> timedelta:
    """The idle limit for this user: supervisors may get a shorter one."""
    minutes = settings.SESSION_IDLE_TIMEOUT_MINUTES
    supervisor_minutes = settings.SESSION_IDLE_TIMEOUT_SUPERVISOR_MINUTES
    has_perm = getattr(user, "has_perm", None)
    if supervisor_minutes and has_perm is not None and has_perm("devices.view_history"):
        minutes = min(minutes, supervisor_minutes)
    return timedelta(minutes=minutes)


@receiver(user_logged_in, dispatch_uid="iotadmin_session_last_seen")
def _note_sign_in(sender: object, request: HttpRequest | None, **kwargs: object) -> None:
    # Saved with the sign-in's own session write, so the next request has nothing to write.
    if request is not None and hasattr(request, "session"):
        request.session[LAST_SEEN_KEY] = timezone.now().timestamp()


class IdleSessionTimeoutMiddleware:
    """Sign out a user whose previous request is older than the idle limit.

    Every request counts as activity, htmx partials (polling panels) included: a page left open
    with a polling panel keeps its session, as the person is watching it; a closed one does not.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> None:
        # A view open to anyone (probes, the push endpoint) reads no session: not activity.
        if not getattr(view_func, "login_required", True):
            return
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = timezone.now()
            last_seen = request.session.get(LAST_SEEN_KEY)
            if last_seen is not None and now.timestamp() - last_seen > (
                idle_timeout(user).total_seconds()
            ):
                logout(request)
            elif last_seen is None or now.timestamp() - last_seen >= LAST_SEEN_RESOLUTION_SECONDS:
                request.session[LAST_SEEN_KEY] = now.timestamp()
