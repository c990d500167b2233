"""The store every web and worker process shares: cached token, login lock, flow-limit slots,
cool-down.

`SharedStore` is the protocol; `RedisStore` implements it for any number of processes and
hosts. An application may bring its own implementation (iotadmin keeps one on its database).
`MemoryStore` serves one process only: unit tests of the code above the store.
"""

import threading
import time
import uuid
from typing import Any, Protocol

SLOTS_KEY = "flow:slots"
COOLDOWN_KEY = "flow:cooldown"


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

    def reserve_slot(self, *, limit: int, window: float) -> float:
        """Reserve a call slot now if the window and the cool-down allow: 0.0.

        Otherwise reserve nothing and return the seconds until a slot may be free.
        """
        ...

    def start_cooldown(self, *, seconds: float) -> None:
        """Every process pauses for at least `seconds` (extends, never shortens)."""
        ...

    def cooldown_remaining(self) -> float: ...

    def slot_times(self, *, window: float) -> list[float]:
        """Times of the slots reserved within the last `window` seconds (for tests)."""
        ...

    def close(self) -> None: ...


# KEYS[1] slots (sorted set), KEYS[2] cool-down; ARGV limit, window, member. Server clock.
_RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cooldown = tonumber(redis.call('GET', KEYS[2]) or '0')
if cooldown > now then
  return tostring(cooldown - now)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now
if wait < 0.001 then wait = 0.001 end
return tostring(wait)
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

    def reserve_slot(self, *, limit: int, window: float) -> float:
        member = uuid.uuid4().hex
        result = self._run(
            self._reserve,
            keys=[self._k(SLOTS_KEY), self._k(COOLDOWN_KEY)],
            args=[limit, window, member],
        )
        return float(result)

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
        self._slots: list[float] = []
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

    def reserve_slot(self, *, limit: int, window: float) -> float:
        with self._lock:
            now = self._clock()
            if self._cooldown_until > now:
                return self._cooldown_until - now
            self._slots = [t for t in self._slots if t > now - window]
            if len(self._slots) < limit:
                self._slots.append(now)
                return 0.0
            return max(0.001, min(self._slots) + window - now)

    def start_cooldown(self, *, seconds: float) -> None:
        with self._lock:
            self._cooldown_until = max(self._cooldown_until, self._clock() + seconds)

    def cooldown_remaining(self) -> float:
        with self._lock:
            return max(0.0, self._cooldown_until - self._clock())

    def slot_times(self, *, window: float) -> list[float]:
        with self._lock:
            now = self._clock()
            return sorted(t for t in self._slots if t > now - window)

    def close(self) -> None:
        pass
