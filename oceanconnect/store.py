"""The store every web and worker process shares: cached token, login lock, flow-limit slots
(each tagged with its lane), the calls waiting for a slot per lane, cool-down.

`SharedStore` is the protocol; `RedisStore` implements it for any number of processes and
hosts. An application may bring its own implementation (iotadmin keeps one on its database).
`MemoryStore` serves one process only: unit tests of the code above the store.
"""

import threading
import time
import uuid
from typing import Any, Protocol

from .lanes import LANES, lane_cap

SLOTS_KEY = "flow:slots"
COOLDOWN_KEY = "flow:cooldown"
# One sorted set (Redis) or set of rows (database) per lane: ticket -> registration expiry.
WAITING_KEY = "flow:waiting:"
# A waiting call re-registers at each attempt; a registration outlives the wait by this much,
# so one left behind by a process that died stops making lower lanes yield soon after.
WAITER_GRACE = 5.0
# How long a lower-lane call yields while a higher lane is waiting but a slot is free (the
# higher call is about to take it).
YIELD_POLL = 0.25


def waiting_key(lane: str) -> str:
    return WAITING_KEY + lane


class StoreUnavailable(Exception):
    """The shared store could not be reached (nothing was sent to the platform)."""


class SharedStore(Protocol):
    """Atomic primitives; keys are relative to the store's prefix."""

    prefix: str

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None: ...

    def delete(self, key: str) -> None: ...

    def acquire_lock(self, key: str, *, owner: str, ttl: float) -> bool:
        """Take the lock if free or expired; True when `owner` now holds it."""
        ...

    def release_lock(self, key: str, *, owner: str) -> None:
        """Free the lock only if `owner` still holds it."""
        ...

    def extend_lock(self, key: str, *, owner: str, ttl: float) -> bool:
        """Hold the lock `ttl` more seconds from now if `owner` still holds it (True); False
        when it lapsed or another owner took it."""
        ...

    def reserve_slot(
        self,
        *,
        limit: int,
        window: float,
        lane: str = "interactive",
        reserve: int = 0,
        ticket: str = "",
    ) -> float:
        """Reserve a call slot for `lane` now if the window, the cool-down and the lanes allow:
        0.0 (and the `ticket`'s waiting registration is removed).

        A lane other than interactive may fill only `limit - reserve` slots (`lane_cap`), and
        no lane takes a slot while a call of a higher lane is registered as waiting. Otherwise
        reserve nothing, register `ticket` (when given) as waiting in `lane` until the wait
        plus WAITER_GRACE, and return the seconds until a slot may be free.
        """
        ...

    def withdraw(self, *, lane: str, ticket: str) -> None:
        """Remove a waiting registration (the caller stopped waiting)."""
        ...

    def lane_usage(self, *, window: float) -> dict[str, int]:
        """Slots reserved within the last `window` seconds, per lane."""
        ...

    def waiting(self) -> dict[str, int]:
        """Calls registered as waiting for a slot, per lane."""
        ...

    def start_cooldown(self, *, seconds: float) -> None:
        """Every process pauses for at least `seconds` (extends, never shortens)."""
        ...

    def cooldown_remaining(self) -> float: ...

    def slot_times(self, *, window: float) -> list[float]:
        """Times of the slots reserved within the last `window` seconds (for tests)."""
        ...

    def close(self) -> None: ...


# KEYS[1] slots (sorted set, member "lane:uuid"), KEYS[2] cool-down, KEYS[3..] the waiting
# sets of every lane, highest first. ARGV limit, window, member, rank of the caller's lane
# (1 = highest), its cap, ticket, grace, poll. Server clock.
_RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[2])
local rank = tonumber(ARGV[4])
local cap = tonumber(ARGV[5])
local ticket = ARGV[6]
local grace = tonumber(ARGV[7])
local function wait_for(w)
  if w < 0.001 then w = 0.001 end
  if ticket ~= '' then
    redis.call('ZADD', KEYS[2 + rank], now + w + grace, ticket)
    redis.call('PEXPIRE', KEYS[2 + rank], math.ceil((window + w + grace) * 1000) + 1000)
  end
  return tostring(w)
end
local cooldown = tonumber(redis.call('GET', KEYS[2]) or '0')
if cooldown > now then
  return wait_for(cooldown - now)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local higher = 0
for i = 1, rank - 1 do
  redis.call('ZREMRANGEBYSCORE', KEYS[2 + i], '-inf', now)
  higher = higher + redis.call('ZCARD', KEYS[2 + i])
end
local used = redis.call('ZCARD', KEYS[1])
if used < cap then
  if higher > 0 then
    return wait_for(tonumber(ARGV[8]))
  end
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
  if ticket ~= '' then
    redis.call('ZREM', KEYS[2 + rank], ticket)
  end
  return '0'
end
local nth = redis.call('ZRANGE', KEYS[1], used - cap, used - cap, 'WITHSCORES')
return wait_for(tonumber(nth[2]) + window - now)
"""

# KEYS the waiting sets of every lane; the live registrations of each.
_WAITING_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local counts = {}
for i = 1, #KEYS do
  counts[i] = redis.call('ZCOUNT', KEYS[i], '(' .. tostring(now), '+inf')
end
return counts
"""

_COOLDOWN_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local untilt = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilt > current then
  redis.call('SET', KEYS[1], tostring(untilt), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
end
return tostring(math.max(untilt, current) - now)
"""

_COOLDOWN_REMAINING_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
return tostring(math.max(0, current - now))
"""

_SLOTS_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf', 'WITHSCORES')
"""

_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_EXTEND_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class RedisStore:
    """Shared store on Redis: Lua scripts make each reservation atomic, on the server's clock."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.prefix = prefix
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._redis: Any = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5
        )
        self._reserve = self._redis.register_script(_RESERVE_LUA)
        self._cooldown = self._redis.register_script(_COOLDOWN_LUA)
        self._cooldown_remaining = self._redis.register_script(_COOLDOWN_REMAINING_LUA)
        self._slots = self._redis.register_script(_SLOTS_LUA)
        self._release = self._redis.register_script(_RELEASE_LUA)
        self._extend = self._redis.register_script(_EXTEND_LUA)
        self._waiting = self._redis.register_script(_WAITING_LUA)

    def __repr__(self) -> str:
        return f"RedisStore(prefix={self.prefix!r})"

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise StoreUnavailable(f"Redis store unavailable ({type(exc).__name__})") from None

    def get(self, key: str) -> str | None:
        value = self._run(self._redis.get, self._k(key))
        return None if value is None else str(value)

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        px = max(1, int(ttl * 1000)) if ttl is not None else None
        self._run(self._redis.set, self._k(key), value, px=px)

    def delete(self, key: str) -> None:
        self._run(self._redis.delete, self._k(key))

    def acquire_lock(self, key: str, *, owner: str, ttl: float) -> bool:
        px = max(1, int(ttl * 1000))
        return bool(self._run(self._redis.set, self._k(key), owner, nx=True, px=px))

    def release_lock(self, key: str, *, owner: str) -> None:
        self._run(self._release, keys=[self._k(key)], args=[owner])

    def extend_lock(self, key: str, *, owner: str, ttl: float) -> bool:
        px = max(1, int(ttl * 1000))
        return bool(self._run(self._extend, keys=[self._k(key)], args=[owner, px]))

    def reserve_slot(
        self,
        *,
        limit: int,
        window: float,
        lane: str = "interactive",
        reserve: int = 0,
        ticket: str = "",
    ) -> float:
        member = f"{lane}:{uuid.uuid4().hex}"
        rank = [item.value for item in LANES].index(lane) + 1
        cap = lane_cap(lane=lane, limit=limit, reserve=reserve)
        waiting_keys = [self._k(waiting_key(item.value)) for item in LANES]
        result = self._run(
            self._reserve,
            keys=[self._k(SLOTS_KEY), self._k(COOLDOWN_KEY), *waiting_keys],
            args=[limit, window, member, rank, cap, ticket, WAITER_GRACE, YIELD_POLL],
        )
        return float(result)

    def withdraw(self, *, lane: str, ticket: str) -> None:
        self._run(self._redis.zrem, self._k(waiting_key(lane)), ticket)

    def lane_usage(self, *, window: float) -> dict[str, int]:
        raw = self._run(self._slots, keys=[self._k(SLOTS_KEY)], args=[window])
        counts = {item.value: 0 for item in LANES}
        for member in raw[0::2]:
            lane = str(member).partition(":")[0]
            # Slots reserved before lanes existed carry no lane: they were interactive.
            lane = lane if lane in counts else LANES[0].value
            counts[lane] += 1
        return counts

    def waiting(self) -> dict[str, int]:
        keys = [self._k(waiting_key(item.value)) for item in LANES]
        raw = self._run(self._waiting, keys=keys)
        return {item.value: int(n) for item, n in zip(LANES, raw, strict=True)}

    def start_cooldown(self, *, seconds: float) -> None:
        self._run(self._cooldown, keys=[self._k(COOLDOWN_KEY)], args=[seconds])

    def cooldown_remaining(self) -> float:
        return float(self._run(self._cooldown_remaining, keys=[self._k(COOLDOWN_KEY)]))

    def slot_times(self, *, window: float) -> list[float]:
        raw = self._run(self._slots, keys=[self._k(SLOTS_KEY)], args=[window])
        return sorted(float(score) for score in raw[1::2])

    def clear(self) -> None:
        """Delete every key under this prefix (tests)."""
        keys = list(self._run(self._redis.scan_iter, match=self.prefix + "*"))
        if keys:
            self._run(self._redis.delete, *keys)

    def close(self) -> None:
        self._redis.close()


class MemoryStore:
    """One process only: for unit tests of the limiter and token logic."""

    def __init__(self, prefix: str = "mem:", clock: Any = time.time) -> None:
        self.prefix = prefix
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, tuple[str, float | None]] = {}
        self._slots: list[tuple[float, str]] = []
        self._waiters: dict[str, dict[str, float]] = {item.value: {} for item in LANES}
        self._cooldown_until = 0.0

    def _live(self, key: str, now: float) -> str | None:
        item = self._values.get(key)
        if item is None:
            return None
        value, expires_at = item
        if expires_at is not None and expires_at <= now:
            del self._values[key]
            return None
        return value

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._live(key, self._clock())

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        with self._lock:
            expires_at = self._clock() + ttl if ttl is not None else None
            self._values[key] = (value, expires_at)

    def delete(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)

    def acquire_lock(self, key: str, *, owner: str, ttl: float) -> bool:
        with self._lock:
            now = self._clock()
            if self._live(key, now) is not None:
                return False
            self._values[key] = (owner, now + ttl)
            return True

    def release_lock(self, key: str, *, owner: str) -> None:
        with self._lock:
            if self._live(key, self._clock()) == owner:
                del self._values[key]

    def extend_lock(self, key: str, *, owner: str, ttl: float) -> bool:
        with self._lock:
            now = self._clock()
            if self._live(key, now) != owner:
                return False
            self._values[key] = (owner, now + ttl)
            return True

    def reserve_slot(
        self,
        *,
        limit: int,
        window: float,
        lane: str = "interactive",
        reserve: int = 0,
        ticket: str = "",
    ) -> float:
        with self._lock:
            now = self._clock()
            waiters = self._waiters[lane]

            def wait_for(wait: float) -> float:
                wait = max(0.001, wait)
                if ticket:
                    waiters[ticket] = now + wait + WAITER_GRACE
                return wait

            if self._cooldown_until > now:
                return wait_for(self._cooldown_until - now)
            self._slots = [slot for slot in self._slots if slot[0] > now - window]
            rank = [item.value for item in LANES].index(lane)
            higher = 0
            for item in LANES[:rank]:
                live = {k: v for k, v in self._waiters[item.value].items() if v > now}
                self._waiters[item.value] = live
                higher += len(live)
            cap = lane_cap(lane=lane, limit=limit, reserve=reserve)
            used = len(self._slots)
            if used < cap:
                if higher:
                    return wait_for(YIELD_POLL)
                self._slots.append((now, lane))
                waiters.pop(ticket, None)
                return 0.0
            times = sorted(at for at, _ in self._slots)
            return wait_for(times[used - cap] + window - now)

    def withdraw(self, *, lane: str, ticket: str) -> None:
        with self._lock:
            self._waiters[lane].pop(ticket, None)

    def lane_usage(self, *, window: float) -> dict[str, int]:
        with self._lock:
            now = self._clock()
            counts = {item.value: 0 for item in LANES}
            for at, lane in self._slots:
                if at > now - window:
                    counts[lane] += 1
            return counts

    def waiting(self) -> dict[str, int]:
        with self._lock:
            now = self._clock()
            return {
                lane: sum(1 for until in waiters.values() if until > now)
                for lane, waiters in self._waiters.items()
            }

    def start_cooldown(self, *, seconds: float) -> None:
        with self._lock:
            self._cooldown_until = max(self._cooldown_until, self._clock() + seconds)

    def cooldown_remaining(self) -> float:
        with self._lock:
            return max(0.0, self._cooldown_until - self._clock())

    def slot_times(self, *, window: float) -> list[float]:
        with self._lock:
            now = self._clock()
            return sorted(at for at, _ in self._slots if at > now - window)

    def close(self) -> None:
        pass
