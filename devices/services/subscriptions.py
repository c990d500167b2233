"""notifications_subscribe: ask the platform to push device events to our callback URL, audited.

The callback URL carries the push secret as a path segment (IOT_CALLBACK_URL ends in
/platform/push/<IOT_PUSH_SECRET>/): only `callback_url_masked` of it reaches the audit trail,
the logs and the exceptions raised here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from audit.models import AuditAction
from audit.services import audit_record
from devices.platform_wiring import get_client
from oceanconnect import PlatformError, Subscription

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

NOTIFY_TYPES = ("bindDevice", "deviceInfoChanged", "deviceAdded", "deviceDeleted")
MASK = "…"


class CallbackUrlRefused(ValueError):
    """The callback URL is one the platform would refuse; `problem` says why (no secret)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class SubscribeFailed(Exception):
    """The platform refused one notify type; the types before it were subscribed (and audited)."""

    def __init__(
        self, *, notify_type: str, error: PlatformError, subscribed: list[Subscription]
    ) -> None:
        super().__init__(f"subscribing {notify_type} failed ({error.code or 'no code'})")
        self.notify_type = notify_type
        self.error = error
        self.subscribed = subscribed


def callback_url_problem(url: str) -> str | None:
    """Why the platform would refuse this callback URL, or None when it is usable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "it is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "it must be an http:// or https:// URL with a host"
    if port is None:
        return "it must carry an explicit port (e.g. https://iotadmin.example.com:443/...)"
    return None


def callback_url_masked(url: str) -> str:
    """The callback URL to show: the push secret (its last path segment, or any segment equal
    to IOT_PUSH_SECRET), credentials, query and fragment replaced by an ellipsis."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return MASK
    if not parts.hostname:
        return MASK
    secret = settings.IOT_PUSH_SECRET
    segments = parts.path.split("/")
    last = max((i for i, segment in enumerate(segments) if segment), default=None)
    segments = [
        MASK if segment and (i == last or segment == secret) else segment
        for i, segment in enumerate(segments)
    ]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = f"{MASK}@" if parts.username or parts.password else ""
    netloc += host if port is None else f"{host}:{port}"
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            "/".join(segments),
            MASK if parts.query else "",
            MASK if parts.fragment else "",
        )
    )


def notifications_subscribe(
    *, callback_url: str, actor: User | None = None, max_wait: float | None = None
) -> list[Subscription]:
    """Subscribe `callback_url` to the four notify types, in order; one audit event names the
    types subscribed and the masked URL. Subscribing again is harmless (the platform keeps one
    subscription per type and URL).

    Raises CallbackUrlRefused before any call when the URL is unusable, SubscribeFailed at the
    first type the platform refuses (what was subscribed before it is audited first).
    """
    problem = callback_url_problem(callback_url)
    if problem:
        raise CallbackUrlRefused(problem)
    client = get_client()
    subscribed: list[Subscription] = []
    failure: SubscribeFailed | None = None
    for notify_type in NOTIFY_TYPES:
        try:
            subscribed.append(client.subscribe(notify_type, callback_url, max_wait=max_wait))
        except PlatformError as exc:
            failure = SubscribeFailed(notify_type=notify_type, error=exc, subscribed=subscribed)
            break
    shown = callback_url_masked(callback_url)
    if subscribed:
        audit_record(
            action=AuditAction.NOTIFICATIONS_SUBSCRIBED,
            actor=actor,
            after={
                "callback_url": shown,
                "notify_types": [s.notify_type for s in subscribed],
                "subscription_ids": [s.subscription_id for s in subscribed],
            },
            detail=(
                f"Subscribing {failure.notify_type} failed "
                f"(platform error {failure.error.code or 'without a code'})."
                if failure
                else ""
            ),
        )
    if failure is not None:
        logger.warning(
            "subscribing %s to %s failed: %s",
            failure.notify_type,
            shown,
            failure.error.code or "no code",
        )
        raise failure
    logger.info("subscribed %s to %s", ", ".join(NOTIFY_TYPES), shown)
    return subscribed
