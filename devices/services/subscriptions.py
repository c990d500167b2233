"""notifications_subscribe: ask the platform to push device events to our callback URL, audited.

The callback URL carries the push secret as a path segment (IOT_CALLBACK_URL ends in
/platform/push/<IOT_PUSH_SECRET>/): only `callback_url_masked` of it reaches the audit trail,
the logs and the exceptions raised here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from audit.models import AuditAction
from audit.services import audit_record
from devices.platform_wiring import get_client
from oceanconnect import Lane, PlatformClient, PlatformError, Subscription

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


@dataclass(frozen=True)
class SubscriptionDrift:
    """How the platform's subscriptions differ from ours: the notify types it does not push
    at all, and those it pushes to other URLs (masked). `subscriptions` are all of the app's."""

    subscriptions: tuple[Subscription, ...]
    missing: tuple[str, ...]
    elsewhere: tuple[tuple[str, str], ...]  # (notify type, masked other URL)

    @property
    def in_sync(self) -> bool:
        return not self.missing and not self.elsewhere


def notifications_drift(
    *, callback_url: str, max_wait: float | None = None, client: PlatformClient | None = None
) -> SubscriptionDrift:
    """Read the app's subscriptions and compare them with `callback_url`; changes nothing.
    Raises PlatformError when the platform cannot be read."""
    client = client or get_client()
    existing = tuple(client.list_subscriptions(max_wait=max_wait, lane=Lane.BACKGROUND))
    missing: list[str] = []
    elsewhere: list[tuple[str, str]] = []
    for notify_type in NOTIFY_TYPES:
        urls = [s.callback_url for s in existing if s.notify_type == notify_type]
        if not urls:
            missing.append(notify_type)
        elsewhere.extend(
            (notify_type, callback_url_masked(url)) for url in urls if url != callback_url
        )
    return SubscriptionDrift(
        subscriptions=existing, missing=tuple(missing), elsewhere=tuple(elsewhere)
    )


def notifications_subscribe(
    *, callback_url: str, actor: User | None = None, max_wait: float | None = None
) -> list[Subscription]:
    """Make the platform push the four notify types to `callback_url`; returns the four
    subscriptions in NOTIFY_TYPES order. Idempotent: a type already subscribed to this URL is
    left alone (the platform refuses a second subscription of a type: 409 / 100227); one
    subscribed to another URL is deleted and subscribed again (replaced). One audit event names
    what changed, every URL masked; nothing changed, nothing audited.

    Raises CallbackUrlRefused before any call when the URL is unusable, SubscribeFailed at the
    first type the platform refuses (what changed before it is audited first).
    """
    problem = callback_url_problem(callback_url)
    if problem:
        raise CallbackUrlRefused(problem)
    client = get_client()
    current: list[Subscription] = []
    subscribed: list[Subscription] = []
    replaced: list[dict[str, str]] = []
    failure: SubscribeFailed | None = None
    try:
        existing = client.list_subscriptions(max_wait=max_wait, lane=Lane.BACKGROUND)
    except PlatformError as exc:
        raise SubscribeFailed(notify_type=NOTIFY_TYPES[0], error=exc, subscribed=[]) from None
    for notify_type in NOTIFY_TYPES:
        ours = [s for s in existing if s.notify_type == notify_type]
        same = next((s for s in ours if s.callback_url == callback_url), None)
        try:
            if same is not None:
                others = [s for s in ours if s is not same]
            else:
                others = ours
            for other in others:
                if other.subscription_id:
                    client.delete_subscription(
                        other.subscription_id, max_wait=max_wait, lane=Lane.BACKGROUND
                    )
                else:
                    client.delete_subscriptions(
                        notify_type=notify_type,
                        callback_url=other.callback_url,
                        max_wait=max_wait,
                        lane=Lane.BACKGROUND,
                    )
                replaced.append(
                    {
                        "notify_type": notify_type,
                        "old_callback_url": callback_url_masked(other.callback_url),
                        "old_subscription_id": other.subscription_id or "",
                    }
                )
            if same is not None:
                current.append(same)
                continue
            subscription = client.subscribe(
                notify_type, callback_url, max_wait=max_wait, lane=Lane.BACKGROUND
            )
        except PlatformError as exc:
            failure = SubscribeFailed(
                notify_type=notify_type, error=exc, subscribed=current + subscribed
            )
            break
        subscribed.append(subscription)
        current.append(subscription)
    shown = callback_url_masked(callback_url)
    if subscribed or replaced:
        audit_record(
            action=AuditAction.NOTIFICATIONS_SUBSCRIBED,
            actor=actor,
            before=(
                {"callback_urls": sorted({r["old_callback_url"] for r in replaced})}
                if replaced
                else None
            ),
            after={
                "callback_url": shown,
                "notify_types": [s.notify_type for s in subscribed],
                "subscription_ids": [s.subscription_id for s in subscribed],
                **({"replaced": replaced} if replaced else {}),
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
    for change in replaced:
        logger.info(
            "replaced the %s subscription to %s with %s",
            change["notify_type"],
            change["old_callback_url"],
            shown,
        )
    if subscribed:
        logger.info("subscribed %s to %s", ", ".join(s.notify_type for s in subscribed), shown)
    else:
        logger.info("%s already subscribed to %s", ", ".join(NOTIFY_TYPES), shown)
    return current
