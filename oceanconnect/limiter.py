"""Flow control shared by every process: a sliding log of call slots in the shared store.

Every call (logins and refreshes included) reserves a slot before it is sent. The window is
60 s plus a small margin, so calls reserved one window apart cannot arrive inside one 60 s
window of the platform even with some network delay. A 1010009 answer starts a shared
cool-down that every process honours before its next call.

Lanes (lanes.py): each call runs in a lane. A call that must wait registers itself as waiting
in the store; a call of a lower lane yields to any registered higher one, so a waiting
technician's call gets the next free slot before the bulk calls waiting with it. The lanes
below INTERACTIVE never fill the last `flow_reserve_interactive` slots of the window: the
reserve is kept always, even when nobody interactive is waiting, because a technician who
arrives while a bulk file is sending must find a slot at once, not after the window slides.
The trade-off: lower lanes send at most `limit - reserve` calls per window (80 of 90 by
default); the reserve is not wasted when interactive traffic uses it, and an operator who
prefers throughput sets it to 0 (then priority still holds, but only among waiting calls).
"""

import contextlib
import random
import time
import uuid
from collections.abc import Callable

from .config import PlatformConfig
from .errors import PlatformThrottled
from .lanes import LANES, Lane, current_lane
from .store import SharedStore, StoreUnavailable
from .types import FlowUsage


class FlowLimiter:
    def __init__(
        self,
        *,
        config: PlatformConfig,
        store: SharedStore,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._sleep = sleep
        # Slots are stamped with wall-clock times (shared between processes and hosts).
        self._wall_clock = wall_clock

    @property
    def reserve(self) -> int:
        """The interactive reserve, clamped so the lower lanes keep at least one slot."""
        limit = max(1, self._config.flow_limit_per_minute)
        return min(max(0, self._config.flow_reserve_interactive), limit - 1)

    def acquire(self, *, deadline: float | None, lane: Lane | None = None) -> None:
        """Reserve a slot for `lane` (default: the current lane scope), waiting while
        `deadline` (on this limiter's clock) allows.

        While waiting the call is registered in the shared store, so lower lanes yield to it.
        Raises PlatformThrottled(retry_after=..., queue_position=...) without reserving when
        the wait would pass the deadline.
        """
        lane = Lane(lane or current_lane())
        limit = max(1, self._config.flow_limit_per_minute)
        ticket = uuid.uuid4().hex
        registered = False
        try:
            while True:
                wait = self._store.reserve_slot(
                    limit=limit,
                    window=self._config.flow_window,
                    lane=lane.value,
                    reserve=self.reserve,
                    ticket=ticket,
                )
                if wait <= 0:
                    registered = False
                    return
                registered = True
                if deadline is not None and self._clock() + wait > deadline:
                    exc = PlatformThrottled(retry_after=wait)
                    exc.lane = lane.value
                    exc.queue_position = self._calls_ahead(lane)
                    raise exc
                # A little jitter so the processes woken together do not all collide again.
                self._sleep(wait + random.uniform(0.0, 0.05))
        finally:
            if registered:
                with contextlib.suppress(StoreUnavailable):
                    self._store.withdraw(lane=lane.value, ticket=ticket)

    def _calls_ahead(self, lane: Lane) -> int:
        """Calls that will be served before one more call of `lane`: those waiting in the
        higher lanes and in this lane (this call excluded)."""
        waiting = self._store.waiting()
        ahead = sum(waiting.get(item.value, 0) for item in LANES[: lane.rank + 1])
        return max(0, ahead - 1)

    def platform_throttled(self) -> float:
        """The platform answered 1010009 anyway: every process pauses; returns the pause."""
        seconds = max(0.0, self._config.flow_cooldown_seconds)
        self._store.start_cooldown(seconds=seconds)
        return seconds

    def usage(self) -> FlowUsage:
        """The calls every process reserved in the current window, and when a slot frees.

        Reads the shared store only (no platform call, reserves nothing); raises
        StoreUnavailable when the store cannot be read. A running cool-down counts as a full
        window until it ends. `lanes` counts the window's calls per lane, `waiting` the calls
        registered as waiting per lane.
        """
        window = self._config.flow_window
        limit = max(1, self._config.flow_limit_per_minute)
        times = sorted(self._store.slot_times(window=window))
        cooldown = self._store.cooldown_remaining()
        used = len(times)
        wait = 0.0
        if used >= limit:
            wait = max(0.0, times[used - limit] + window - self._wall_clock())
        if cooldown > 0:
            used, wait = limit, max(wait, cooldown)
        return FlowUsage(
            limit=limit,
            used=used,
            window=window,
            seconds_until_free=wait,
            reserve=self.reserve,
            lanes=self._store.lane_usage(window=window),
            waiting=self._store.waiting(),
        )
