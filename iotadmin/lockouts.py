"""Sign-in lockouts (django-axes): the page a locked-out person sees, and unlocking, audited."""

import math
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audit.models import AuditAction
from audit.services import audit_record

UNLOCK_PERMISSION = "devices.approve_swap"  # helpdesk and supervisor users
LOCKED_OUT_STATUS = 429


class AxesBackend(AxesStandaloneBackend):
    """django-axes' lock check, for sign-ins through a request (the login pages).

    `authenticate()` without a request (a management command, a shell) has no address to lock
    and is left to the next backend instead of raising.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def client_ip(request: HttpRequest) -> str:
    """The client address RequestIdMiddleware resolved (proxies only when trusted)."""
    return request.META.get("REMOTE_ADDR", "")


def minutes_to_wait() -> int:
    cool_off = get_cool_off()
    return math.ceil(cool_off.total_seconds() / 60) if cool_off else 0


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: dict | None = None
) -> HttpResponse:
    """The sign-in page again, saying why and for how long, instead of a bare 403 text."""
    return render(
        request,
        "registration/locked_out.html",
        {"minutes": minutes_to_wait(), "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=LOCKED_OUT_STATUS,
    )


def locked_usernames() -> list[str]:
    """Usernames with at least one locked (address, username) pair, for the unlock page."""
    return sorted(
        set(
            AccessAttempt.objects.filter(failures_since_start__gte=settings.AXES_FAILURE_LIMIT)
            .exclude(username=None)
            .values_list("username", flat=True)
        )
    )


def user_unlock(*, username: str, actor: Any) -> int:
    """Lift every lock on `username` (all addresses); audited. Returns the attempts cleared."""
    if not (getattr(actor, "is_active", False) and actor.has_perm(UNLOCK_PERMISSION)):
        raise PermissionDenied("Only helpdesk or supervisor users may unlock sign-ins.")
    username = username.strip()[:150]
    with transaction.atomic():
        cleared = reset(username=username)
        audit_record(
            action=AuditAction.LOGIN_UNLOCKED,
            actor=actor,
            after={"username": username, "attempts_cleared": cleared},
            detail=f"sign-in unlocked for {username!r}",
        )
    return cleared
