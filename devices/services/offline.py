""" "Send it when the old unit goes offline": swaps waiting in WAITING_OFFLINE, and the device
page's live status that tells a technician, before typing, that the old unit is still online.

A refresh is accepted only while the device is offline (100611 otherwise). A technician who
finds the old unit still attached requests the swap anyway with a wait (minutes, their choice):
the swap is created WAITING_OFFLINE (an open swap: it blocks a second one on the device) and
is handed to the ordinary send path (QUEUED, `swap_enqueue_send`) the moment the device is seen
offline:
- a deviceInfoChanged push saying OFFLINE or ABNORMAL (`push_apply` calls
  `swaps_release_offline`);
- the periodic check (`swaps_check_offline`, beat), the backstop when a push is lost: at most
  `max_calls` reads a run in the background lane, none when no slot is free at once, the
  longest-unchecked swap first;
- a live status read of the device page that finds it offline.
A wait that lapses unsent ends CANCELLED with error_code `offline_wait_expired` (audited).
Every change is a guarded UPDATE from WAITING_OFFLINE: a duplicate push changes nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.models import AuditAction
from devices.limits import MAX_OFFLINE_WAIT_MINUTES
from devices.models import Device, DeviceStatus, Swap, SwapState
from devices.selectors import LiveStatus, device_live_status
from devices.services.checks import SwapRefused
from devices.services.transitions import swap_audit, swap_enqueue_send

logger = logging.getLogger(__name__)

# A status in which the platform accepts a refresh (not ONLINE; INACTIVE is never a swap's).
OFFLINE_STATUSES = (DeviceStatus.OFFLINE, DeviceStatus.ABNORMAL)
OFFLINE_WAIT_EXPIRED = "offline_wait_expired"
OFFLINE_WAIT_EXPIRED_TEXT = (
    "Not sent: the old unit was still online when the wait ended, so the platform would have "
    "refused the refresh. Switch the old unit off or disconnect it, then re-issue the swap."
)
# Seconds the device page's live read waits for a flow-limit slot (then: status unknown).
LIVE_STATUS_MAX_WAIT = 2.0
# An error answer is shared for less long than a status, so a recovered platform shows soon.
LIVE_STATUS_ERROR_CACHE_SECONDS = 5


def check_offline_wait(*, minutes: int) -> int:
    """The wait as stored: a whole number of minutes from 1 to MAX_OFFLINE_WAIT_MINUTES."""
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise SwapRefused(
            "The wait is a whole number of minutes.",
            code="invalid_offline_wait",
            field="offline_wait_minutes",
        )
    if not 1 <= minutes <= MAX_OFFLINE_WAIT_MINUTES:
        raise SwapRefused(
            f"The wait is between 1 and {MAX_OFFLINE_WAIT_MINUTES} minutes.",
            code="invalid_offline_wait",
            field="offline_wait_minutes",
        )
    return minutes


# --- leaving WAITING_OFFLINE ------------------------------------------------------------------


def _expire(swap: Swap, *, now: datetime) -> bool:
    """WAITING_OFFLINE -> CANCELLED (offline_wait_expired), audited; False if it had moved."""
    with transaction.atomic():
        ended = Swap.objects.filter(pk=swap.pk, state=SwapState.WAITING_OFFLINE).update(
            state=SwapState.CANCELLED,
            error_code=OFFLINE_WAIT_EXPIRED,
            error_text=OFFLINE_WAIT_EXPIRED_TEXT,
            custom_verify_code_encrypted="",
            finished_at=now,
            updated_at=now,
        )
        if ended:
            swap_audit(
                swap=swap,
                action=AuditAction.SWAP_CANCELLED,
                before={"state": SwapState.WAITING_OFFLINE},
                after={
                    "state": SwapState.CANCELLED,
                    "reason": OFFLINE_WAIT_EXPIRED,
                    "offline_wait_until": _iso(swap.offline_wait_until),
                },
                detail="The old unit did not go offline before the wait ended; nothing was sent.",
            )
    if ended:
        logger.info("swap %s: the wait for the old unit to go offline ended unsent", swap.pk)
    return bool(ended)


def _release(swap: Swap, *, now: datetime, seen_by: str) -> bool:
    """WAITING_OFFLINE -> QUEUED and enqueue the send after commit, audited."""
    with transaction.atomic():
        released = Swap.objects.filter(
            pk=swap.pk, state=SwapState.WAITING_OFFLINE, offline_wait_until__gt=now
        ).update(state=SwapState.QUEUED, next_attempt_at=None, updated_at=now)
        if released:
            swap_audit(
                swap=swap,
                action=AuditAction.SWAP_OFFLINE_SEEN,
                before={"state": SwapState.WAITING_OFFLINE},
                after={"state": SwapState.QUEUED, "seen_by": seen_by},
                detail=f"The device was seen offline ({seen_by}): the swap is being sent.",
            )
            swap_enqueue_send(swap_id=swap.pk)
    if released:
        logger.info("swap %s: device seen offline (%s), sending", swap.pk, seen_by)
    return bool(released)


def swaps_release_offline(
    *, device: Device, seen_by: str, now: datetime | None = None
) -> list[int]:
    """The device was seen offline: send its waiting swap (at most one is open), or end it when
    its wait has already lapsed. Returns the ids of the swaps released to the send path."""
    now = now or timezone.now()
    released = []
    for swap in Swap.objects.select_related("device").filter(
        device=device, state=SwapState.WAITING_OFFLINE
    ):
        if swap.offline_wait_until is None or swap.offline_wait_until <= now:
            _expire(swap, now=now)
        elif _release(swap, now=now, seen_by=seen_by):
            released.append(swap.pk)
    return released


def swap_expire_offline_wait(*, swap: Swap, now: datetime | None = None) -> bool:
    """End one waiting swap whose wait has lapsed (the swap page's poll; no platform call)."""
    now = now or timezone.now()
    if swap.state != SwapState.WAITING_OFFLINE or swap.offline_wait_until is None:
        return False
    if swap.offline_wait_until > now:
        return False
    return _expire(swap, now=now)


def swaps_expire_offline_waits(*, now: datetime | None = None, limit: int = 500) -> int:
    """End every waiting swap whose wait has lapsed (no platform call)."""
    now = now or timezone.now()
    lapsed = Swap.objects.select_related("device").filter(
        state=SwapState.WAITING_OFFLINE, offline_wait_until__lte=now
    )[:limit]
    return sum(1 for swap in lapsed if _expire(swap, now=now))


@dataclass(frozen=True)
class OfflineCheckResult:
    expired: int = 0
    checked: int = 0
    released: int = 0
    # The flow limiter had no slot at once: the run stopped (the next one continues).
    throttled: bool = False


def swaps_check_offline(*, max_calls: int, now: datetime | None = None) -> OfflineCheckResult:
    """The periodic backstop of the push: expire lapsed waits, then ask the platform about at
    most `max_calls` waiting devices (longest unchecked first) and send those now offline.

    Background lane, no wait for a slot: it never delays a person's call nor takes the
    interactive reserve, and stops at the first call the limiter holds back.
    """
    from oceanconnect import StoreUnavailable

    now = now or timezone.now()
    expired = swaps_expire_offline_waits(now=now)
    waiting = (
        Swap.objects.select_related("device")
        .filter(state=SwapState.WAITING_OFFLINE, offline_wait_until__gt=now)
        .order_by(F("offline_checked_at").asc(nulls_first=True), "pk")[: max(0, max_calls)]
    )
    checked = released = 0
    throttled = False
    for swap in waiting:
        try:
            live = device_live_status(device=swap.device, max_wait=0.0, lane="background")
        except (StoreUnavailable, ValueError):
            live = LiveStatus(error="The platform client's store cannot be read.", retryable=True)
        if live.throttled:
            throttled = True
            break
        checked += 1
        Swap.objects.filter(pk=swap.pk).update(offline_checked_at=now)
        if live.error:
            continue
        _mirror_status(swap.device, live)
        if live.status in OFFLINE_STATUSES and _release(swap, now=now, seen_by="periodic check"):
            released += 1
    if expired or checked or throttled:
        logger.info(
            "offline check: %s expired, %s checked, %s sent%s",
            expired,
            checked,
            released,
            " (flow limit: stopped)" if throttled else "",
        )
    return OfflineCheckResult(
        expired=expired, checked=checked, released=released, throttled=throttled
    )


# --- the device page's live status --------------------------------------------------------------


@dataclass(frozen=True)
class LiveStatusReading:
    """The device's status as the platform gave it, when, and whether it came from the cache."""

    live: LiveStatus
    checked_at: datetime
    cached: bool = False

    @property
    def known(self) -> bool:
        return not self.live.error and self.live.status is not None

    @property
    def online(self) -> bool:
        return self.known and self.live.status == DeviceStatus.ONLINE


def live_status_cache_key(device: Device) -> str:
    # The store prefix names the platform deployment (and each test run its own).
    return f"{settings.IOT_STORE_PREFIX}live-status:{device.device_id}"


def device_live_status_peek(*, device: Device) -> LiveStatusReading | None:
    """The shared live status if one was read recently (no platform call, no query)."""
    reading = cache.get(live_status_cache_key(device))
    if not isinstance(reading, LiveStatusReading):
        return None
    return LiveStatusReading(live=reading.live, checked_at=reading.checked_at, cached=True)


def device_live_status_read(*, device: Device, now: datetime | None = None) -> LiveStatusReading:
    """The device page's live status: the shared recent reading, else one interactive call
    (waiting at most LIVE_STATUS_MAX_WAIT for a slot), shared for
    DEVICE_LIVE_STATUS_CACHE_SECONDS. Updates the mirror's status, and sends the device's
    waiting swap when the platform says it is offline. Never raises for the platform."""
    from oceanconnect import StoreUnavailable

    peeked = device_live_status_peek(device=device)
    if peeked is not None:
        return peeked
    now = now or timezone.now()
    try:
        live = device_live_status(device=device, max_wait=LIVE_STATUS_MAX_WAIT)
    except (StoreUnavailable, ValueError):
        live = LiveStatus(error="The platform client's store cannot be read.", retryable=True)
    reading = LiveStatusReading(live=live, checked_at=now)
    seconds = int(settings.DEVICE_LIVE_STATUS_CACHE_SECONDS)
    if reading.live.error:
        seconds = min(seconds, LIVE_STATUS_ERROR_CACHE_SECONDS)
    if seconds > 0:
        cache.set(live_status_cache_key(device), reading, seconds)
    if reading.known:
        _mirror_status(device, live)
        if live.status in OFFLINE_STATUSES:
            swaps_release_offline(device=device, seen_by="live status", now=now)
    return reading


def device_live_status_forget(*, device: Device) -> None:
    """Drop the shared reading (the device changed under it: a push, a refresh)."""
    cache.delete(live_status_cache_key(device))


def _mirror_status(device: Device, live: LiveStatus) -> None:
    """The mirror learns the live status (as the swap pre-check does)."""
    fields = []
    if live.status in DeviceStatus.values and live.status != device.status:
        device.status = live.status
        fields.append("status")
    if live.status_detail is not None and live.status_detail[:64] != device.status_detail:
        device.status_detail = live.status_detail[:64]
        fields.append("status_detail")
    if fields:
        device.save(update_fields=fields)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def offline_wait_until(*, minutes: int, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(minutes=minutes)
