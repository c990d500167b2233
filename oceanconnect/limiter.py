"""Flow control shared by every process: a sliding log of call slots in the shared store.

Every call (logins and refreshes included) reserves a slot before it is sent. The window is
60 s plus a small margin, so calls reserved one window apart cannot arrive inside one 60 s
window of the platform even with some network delay. A 1010009 answer starts a shared
cool-down that every process honours before its next call.
"""

import random
import time
from collections.abc import Callable

from .config import PlatformConfig
from .errors import PlatformThrottled
from .store import SharedStore
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

    def acquire(self, *, deadline: float | None) -> None:
        """Reserve a slot, waiting while `deadline` (on this limiter's clock) allows.

        Raises PlatformThrottled(retry_after=...) without reserving when the wait would
        pass the deadline.
        """
        limit = max(1, self._config.flow_limit_per_minute)
        while True:
            wait = self._store.reserve_slot(limit=limit, window=self._config.flow_window)
            if wait <= 0:
                return
            if deadline is not None and self._clock() + wait > deadline:
                raise PlatformThrottled(retry_after=wait)
            # A little jitter so the processes woken together do not all collide again.
            self._sleep(wait + random.uniform(0.0, 0.05))

    def platform_throttled(self) -> float:
        """The platform answered 1010009 anyway: every process pauses; returns the pause."""
        seconds = max(0.0, self._config.flow_cooldown_seconds)
        self._store.start_cooldown(seconds=seconds)
        return seconds

    def usage(self) -> FlowUsage:
        """The calls every process reserved in the current window, and when a slot frees.

        Reads the shared store only (no platform call, reserves nothing); raises
        StoreUnavailable when the store cannot be read. A running cool-down counts as a full
        window until it ends.
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
        return FlowUsage(limit=limit, used=used, window=window, seconds_until_free=wait)
