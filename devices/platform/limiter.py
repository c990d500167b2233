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


class FlowLimiter:
    def __init__(
        self,
        *,
        config: PlatformConfig,
        store: SharedStore,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._sleep = sleep

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
