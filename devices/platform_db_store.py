"""The platform client's shared store on the database, for deployments without Redis.

Each primitive is one short transaction. On SQLite the settings make transactions IMMEDIATE
(the write lock is taken at BEGIN), which serialises them across processes; on PostgreSQL
every primitive first locks one row in PlatformStoreEntry with SELECT ... FOR UPDATE.
Call the platform outside a transaction of your own: slots reserved inside one stay invisible
to other processes until it commits.

Flow-limit slots live in PlatformCallSlot, which has no prefix column: all clients using this
database share one flow window (which is what one platform application needs anyway). Each
slot records its lane; a call waiting for a slot is one PlatformStoreEntry row
`<prefix>flow:waiting:<lane>:<ticket>` whose expires_at is the end of its registration.
"""

import functools
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Count, Q

from devices.models import PlatformCallSlot, PlatformStoreEntry
from oceanconnect.lanes import LANES, lane_cap
from oceanconnect.store import (
    COOLDOWN_KEY,
    WAITER_GRACE,
    WAITING_KEY,
    YIELD_POLL,
    StoreUnavailable,
    waiting_key,
)

_GUARD_KEY = "store:guard"

F = TypeVar("F", bound=Callable[..., Any])


def _store_errors(method: F) -> F:
    """Database failures (locked, gone) surface as StoreUnavailable: nothing was sent."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except DatabaseError as exc:
            raise StoreUnavailable(f"database store unavailable ({type(exc).__name__})") from None

    return cast(F, wrapper)  # functools.wraps keeps the signature mypy cannot follow


class DatabaseStore:
    """Shared store on the default database (PlatformStoreEntry and PlatformCallSlot)."""

    def __init__(self, prefix: str, clock: Callable[[], float] = time.time) -> None:
        self.prefix = prefix
        self._clock = clock
        self._guard_ready = False

    def __repr__(self) -> str:
        return f"DatabaseStore(prefix={self.prefix!r})"

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _ensure_guard(self) -> None:
        if self._guard_ready:
            return
        try:
            with transaction.atomic():
                PlatformStoreEntry.objects.get_or_create(key=self._k(_GUARD_KEY))
        except IntegrityError:
            pass  # another process created it first
        self._guard_ready = True

    def _lock_guard(self) -> dict[str, float]:
        """Serialise with every other process (row lock on PostgreSQL; a no-op on SQLite,
        whose IMMEDIATE transaction already holds the database write lock).

        Returns what the guard row remembers: per lane, the latest expiry of a waiting
        registration, so a reservation asks for the registrations only when one may be live.
        """
        raw = list(
            PlatformStoreEntry.objects.select_for_update()
            .filter(key=self._k(_GUARD_KEY))
            .values_list("value", flat=True)
        )
        try:
            remembered = json.loads(raw[0]) if raw and raw[0] else {}
        except ValueError:
            remembered = {}
        return remembered if isinstance(remembered, dict) else {}

    def _atomic_guarded(self) -> transaction.Atomic:
        self._ensure_guard()
        return transaction.atomic()

    @_store_errors
    def get(self, key: str) -> str | None:
        now = self._clock()
        row = (
            PlatformStoreEntry.objects.filter(key=self._k(key))
            .values_list("value", "expires_at")
            .first()
        )
        if row is None:
            return None
        value, expires_at = row
        if expires_at is not None and expires_at <= now:
            return None
        return value

    @_store_errors
    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        expires_at = self._clock() + ttl if ttl is not None else None
        with self._atomic_guarded():
            self._lock_guard()
            PlatformStoreEntry.objects.update_or_create(
                key=self._k(key), defaults={"value": value, "expires_at": expires_at}
            )

    @_store_errors
    def delete(self, key: str) -> None:
        PlatformStoreEntry.objects.filter(key=self._k(key)).delete()

    @_store_errors
    def acquire_lock(self, key: str, *, owner: str, ttl: float) -> bool:
        with self._atomic_guarded():
            self._lock_guard()
            now = self._clock()
            row = PlatformStoreEntry.objects.filter(key=self._k(key)).first()
            if row is not None and row.value and (row.expires_at is None or row.expires_at > now):
                return False
            PlatformStoreEntry.objects.update_or_create(
                key=self._k(key), defaults={"value": owner, "expires_at": now + ttl}
            )
            return True

    @_store_errors
    def release_lock(self, key: str, *, owner: str) -> None:
        PlatformStoreEntry.objects.filter(key=self._k(key), value=owner).delete()

    @_store_errors
    def extend_lock(self, key: str, *, owner: str, ttl: float) -> bool:
        now = self._clock()
        held = PlatformStoreEntry.objects.filter(key=self._k(key), value=owner, expires_at__gt=now)
        return held.update(expires_at=now + ttl) == 1

    @_store_errors
    def reserve_slot(
        self,
        *,
        limit: int,
        window: float,
        lane: str = "interactive",
        reserve: int = 0,
        ticket: str = "",
    ) -> float:
        with self._atomic_guarded():
            waiting_until = self._lock_guard()
            now = self._clock()
            mine = self._k(waiting_key(lane)) + ":" + ticket

            def wait_for(wait: float) -> float:
                wait = max(0.001, wait)
                if ticket:
                    until = now + wait + WAITER_GRACE
                    # Registrations left behind by a process that died are cleared here, off
                    # the path of a granted slot.
                    PlatformStoreEntry.objects.filter(
                        key__startswith=self._k(WAITING_KEY), expires_at__lte=now
                    ).delete()
                    PlatformStoreEntry.objects.update_or_create(
                        key=mine, defaults={"value": lane, "expires_at": until}
                    )
                    waiting_until[lane] = max(float(waiting_until.get(lane, 0.0)), until)
                    PlatformStoreEntry.objects.filter(key=self._k(_GUARD_KEY)).update(
                        value=json.dumps(waiting_until)
                    )
                return wait

            cooldown = self._cooldown_until()
            if cooldown > now:
                return wait_for(cooldown - now)
            PlatformCallSlot.objects.filter(at__lte=now - window).delete()
            rank = [item.value for item in LANES].index(lane)
            higher = LANES[:rank]
            maybe_higher = any(float(waiting_until.get(i.value, 0.0)) > now for i in higher)
            maybe_mine = bool(ticket) and float(waiting_until.get(lane, 0.0)) > now
            found: set[str] = set()
            if maybe_higher or maybe_mine:
                # One query: live registrations of the higher lanes, and this ticket's own.
                wanted = Q(key=mine)
                for item in higher:
                    wanted |= Q(key__startswith=self._k(waiting_key(item.value)) + ":")
                found = set(
                    PlatformStoreEntry.objects.filter(wanted, expires_at__gt=now).values_list(
                        "key", flat=True
                    )
                )
            cap = lane_cap(lane=lane, limit=limit, reserve=reserve)
            used = PlatformCallSlot.objects.count()
            if used < cap:
                if found - {mine}:
                    return wait_for(YIELD_POLL)
                PlatformCallSlot.objects.create(at=now, lane=lane)
                if mine in found:
                    PlatformStoreEntry.objects.filter(key=mine).delete()
                return 0.0
            nth = PlatformCallSlot.objects.order_by("at").values_list("at", flat=True)[used - cap]
            return wait_for(nth + window - now)

    @_store_errors
    def withdraw(self, *, lane: str, ticket: str) -> None:
        PlatformStoreEntry.objects.filter(key=self._k(waiting_key(lane)) + ":" + ticket).delete()

    @_store_errors
    def lane_usage(self, *, window: float) -> dict[str, int]:
        now = self._clock()
        counts = {item.value: 0 for item in LANES}
        rows = (
            PlatformCallSlot.objects.filter(at__gt=now - window)
            .values_list("lane")
            .annotate(n=Count("id"))
        )
        for lane, n in rows:
            counts[lane if lane in counts else LANES[0].value] += n
        return counts

    @_store_errors
    def waiting(self) -> dict[str, int]:
        now = self._clock()
        counts = {item.value: 0 for item in LANES}
        lanes = PlatformStoreEntry.objects.filter(
            key__startswith=self._k("flow:waiting:"), expires_at__gt=now
        ).values_list("value", flat=True)
        for lane in lanes:
            if lane in counts:
                counts[lane] += 1
        return counts

    def _cooldown_until(self) -> float:
        raw = (
            PlatformStoreEntry.objects.filter(key=self._k(COOLDOWN_KEY))
            .values_list("value", flat=True)
            .first()
        )
        try:
            return float(raw) if raw else 0.0
        except ValueError:
            return 0.0

    @_store_errors
    def start_cooldown(self, *, seconds: float) -> None:
        with self._atomic_guarded():
            self._lock_guard()
            now = self._clock()
            until = max(self._cooldown_until(), now + seconds)
            PlatformStoreEntry.objects.update_or_create(
                key=self._k(COOLDOWN_KEY), defaults={"value": repr(until), "expires_at": until}
            )

    @_store_errors
    def cooldown_remaining(self) -> float:
        now = self._clock()
        return max(0.0, self._cooldown_until() - now)

    @_store_errors
    def slot_times(self, *, window: float) -> list[float]:
        now = self._clock()
        return list(
            PlatformCallSlot.objects.filter(at__gt=now - window)
            .order_by("at")
            .values_list("at", flat=True)
        )

    def clear(self) -> None:
        """Delete every entry under this prefix and every slot (tests)."""
        PlatformStoreEntry.objects.filter(key__startswith=self.prefix).delete()
        PlatformCallSlot.objects.all().delete()
        self._guard_ready = False

    def close(self) -> None:
        pass


__all__ = ["DatabaseStore", "StoreUnavailable"]
