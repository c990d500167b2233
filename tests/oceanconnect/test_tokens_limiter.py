"""The token and flow-limit logic above the store (in-memory store, stand-in login calls)."""

import threading
import time

import pytest

from oceanconnect import (
    AccessToken,
    Lane,
    MemoryStore,
    PlatformPermanentError,
    PlatformThrottled,
    lane_scope,
)
from oceanconnect.limiter import FlowLimiter
from oceanconnect.tokens import TokenManager

from .conftest import make_config


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Platform:
    """Counts logins and refreshes the way the token manager would make them."""

    def __init__(self, *, lifetime: int = 3600, refresh_fails: bool = False) -> None:
        self.logins = 0
        self.refreshes = 0
        self.lifetime = lifetime
        self.refresh_fails = refresh_fails
        self.lock = threading.Lock()

    def login(self, deadline):
        time.sleep(0.05)  # a slow platform widens the race window
        with self.lock:
            self.logins += 1
            n = self.logins
        return AccessToken(
            f"access-{n}", f"refresh-{n}", time.time() + self.lifetime, self.lifetime
        )

    def refresh(self, refresh_token, deadline):
        with self.lock:
            self.refreshes += 1
        if self.refresh_fails:
            raise PlatformPermanentError(code="100006", http_status=400)
        return AccessToken(
            f"refreshed-{self.refreshes}", refresh_token, time.time() + self.lifetime, self.lifetime
        )


def manager(store, platform, **kw):
    return TokenManager(
        store=store,
        login=platform.login,
        refresh=platform.refresh,
        refresh_margin=kw.pop("refresh_margin", 300.0),
        lock_ttl=30.0,
        **kw,
    )


def run_threads(n, target):
    results, errors = [], []

    def work():
        try:
            results.append(target())
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


def test_twenty_threads_starting_cold_log_in_once():
    platform = Platform()
    tokens = manager(MemoryStore(), platform)
    results = run_threads(20, lambda: tokens.access_token(deadline=None))
    assert platform.logins == 1
    assert set(results) == {"access-1"}


def test_a_rejected_token_is_replaced_by_exactly_one_login():
    platform = Platform()
    tokens = manager(MemoryStore(), platform)
    first = tokens.access_token(deadline=None)
    results = run_threads(20, lambda: tokens.replace_rejected(first, deadline=None))
    assert platform.logins == 2
    assert set(results) == {"access-2"}


def test_a_token_near_expiry_is_refreshed_not_logged_in_again():
    platform = Platform(lifetime=100)  # refreshed at half its life with a short lifetime
    store = MemoryStore()
    tokens = manager(store, platform)
    tokens.access_token(deadline=None)
    cached = tokens.cached()
    store.set(
        "token",
        '{"access_token": "access-1", "refresh_token": "refresh-1", '
        f'"expires_at": {time.time() + 40}, "lifetime": 100}}',
    )
    assert cached is not None
    assert tokens.access_token(deadline=None) == "refreshed-1"
    assert (platform.logins, platform.refreshes) == (1, 1)
    assert tokens.access_token(deadline=None) == "refreshed-1"  # fresh again: no more calls
    assert (platform.logins, platform.refreshes) == (1, 1)


def test_a_refused_refresh_falls_back_to_login():
    platform = Platform(refresh_fails=True)
    store = MemoryStore()
    tokens = manager(store, platform)
    store.set(
        "token",
        '{"access_token": "old", "refresh_token": "r", "expires_at": 1.0, "lifetime": 3600}',
    )
    assert tokens.access_token(deadline=None) == "access-1"
    assert (platform.logins, platform.refreshes) == (1, 1)


def test_an_expired_token_is_never_handed_out():
    platform = Platform()
    store = MemoryStore()
    tokens = manager(store, platform)
    store.set(
        "token",
        '{"access_token": "old", "refresh_token": "", "expires_at": 1.0, "lifetime": 3600}',
    )
    assert tokens.access_token(deadline=None) == "access-1"


def test_waiting_for_another_process_login_respects_the_deadline():
    clock = FakeClock()
    platform = Platform()
    store = MemoryStore(clock=clock.time)
    tokens = manager(store, platform, monotonic=clock.time, sleep=clock.sleep)
    assert store.acquire_lock("lock:login", owner="other process", ttl=30)
    with pytest.raises(PlatformThrottled):
        tokens.access_token(deadline=clock.now + 0.2)
    assert platform.logins == 0
    assert clock.sleeps  # it waited on the injected clock, not the real one
    assert 0.2 < sum(clock.sleeps) < 0.2 + 0.08 * 2


def limiter_with_fake_clock(limit, margin=1.0, **overrides):
    clock = FakeClock()
    store = MemoryStore(clock=clock.time)
    config = make_config(
        "http://unused", flow_limit_per_minute=limit, flow_window_margin=margin, **overrides
    )
    return (
        clock,
        store,
        FlowLimiter(
            config=config, store=store, clock=clock.time, sleep=clock.sleep, wall_clock=clock.time
        ),
    )


def test_limiter_spaces_calls_so_no_window_holds_more_than_the_limit():
    clock, _, limiter = limiter_with_fake_clock(limit=3)
    times = []
    for _ in range(7):
        limiter.acquire(deadline=None)
        times.append(clock.now)
    start = times[0]
    assert [round(t - start) for t in times] == [0, 0, 0, 61, 61, 61, 122]
    for t in times:
        assert sum(1 for u in times if t <= u < t + 61) <= 3


def test_limiter_tells_a_caller_who_cannot_wait_how_long_without_reserving():
    clock, store, limiter = limiter_with_fake_clock(limit=2)
    limiter.acquire(deadline=None)
    limiter.acquire(deadline=None)
    with pytest.raises(PlatformThrottled) as caught:
        limiter.acquire(deadline=clock.now + 5)
    assert caught.value.retry_after == pytest.approx(61.0)
    assert len(store.slot_times(window=61.0)) == 2
    assert clock.sleeps == []


def test_bulk_leaves_the_reserve_so_a_technician_gets_a_slot_at_once():
    clock, _, limiter = limiter_with_fake_clock(limit=10, flow_reserve_interactive=3)
    for _ in range(7):
        limiter.acquire(deadline=clock.now, lane=Lane.BULK)
    with pytest.raises(PlatformThrottled) as caught:
        limiter.acquire(deadline=clock.now + 5, lane=Lane.BULK)
    assert caught.value.lane == "bulk"
    with lane_scope(Lane.INTERACTIVE):
        for _ in range(3):
            limiter.acquire(deadline=clock.now)
    usage = limiter.usage()
    assert (usage.used, usage.reserve) == (10, 3)
    assert usage.lanes == {"interactive": 3, "reconcile": 0, "bulk": 7, "background": 0}
    assert clock.sleeps == []


def test_a_refused_wait_says_how_many_calls_are_ahead_and_stops_waiting():
    clock, store, limiter = limiter_with_fake_clock(limit=2, flow_reserve_interactive=0)
    limiter.acquire(deadline=None, lane=Lane.BULK)
    limiter.acquire(deadline=None, lane=Lane.BULK)
    assert store.reserve_slot(limit=2, window=61.0, lane="bulk", ticket="another-row") > 0
    with pytest.raises(PlatformThrottled) as caught:
        limiter.acquire(deadline=clock.now + 1, lane=Lane.INTERACTIVE)
    assert caught.value.queue_position == 0  # the waiting bulk row is not ahead of it
    with pytest.raises(PlatformThrottled) as caught:
        limiter.acquire(deadline=clock.now + 1, lane=Lane.BULK)
    assert caught.value.queue_position == 1
    assert store.waiting() == {"interactive": 0, "reconcile": 0, "bulk": 1, "background": 0}


def test_the_reserve_leaves_a_lower_lane_at_least_one_slot():
    clock, _, limiter = limiter_with_fake_clock(limit=2, flow_reserve_interactive=10)
    assert limiter.reserve == 1
    limiter.acquire(deadline=clock.now, lane=Lane.BACKGROUND)
    with pytest.raises(PlatformThrottled):
        limiter.acquire(deadline=clock.now, lane=Lane.BACKGROUND)


def test_limiter_honours_the_shared_cooldown():
    clock, store, limiter = limiter_with_fake_clock(limit=100)
    store.start_cooldown(seconds=10)
    limiter.acquire(deadline=None)
    assert clock.sleeps and sum(clock.sleeps) >= 10


def test_flow_usage_counts_the_window_and_says_when_a_slot_frees():
    clock, store, limiter = limiter_with_fake_clock(limit=3)
    usage = limiter.usage()
    assert (usage.limit, usage.used, usage.free, usage.seconds_until_free) == (3, 0, 3, 0.0)
    assert usage.window == pytest.approx(61.0)
    limiter.acquire(deadline=None)
    clock.now += 10
    limiter.acquire(deadline=None)
    limiter.acquire(deadline=None)
    usage = limiter.usage()
    assert (usage.used, usage.free, usage.available) == (3, 0, True)
    assert usage.seconds_until_free == pytest.approx(51.0)  # the first call leaves the window
    assert len(store.slot_times(window=61.0)) == 3  # reading reserved nothing


def test_flow_usage_counts_a_cooldown_as_a_full_window():
    _clock, store, limiter = limiter_with_fake_clock(limit=100)
    limiter.acquire(deadline=None)
    store.start_cooldown(seconds=10)
    usage = limiter.usage()
    assert (usage.used, usage.free) == (100, 0)
    assert usage.seconds_until_free == pytest.approx(10.0)


# --- a cipher seals the cached token ------------------------------------------------------------


def _reversing_cipher():
    from oceanconnect import TokenCipher

    def decrypt(value: str) -> str:
        if not value.startswith("sealed:"):
            raise ValueError("not sealed")
        return value[len("sealed:") :][::-1]

    return TokenCipher(encrypt=lambda text: "sealed:" + text[::-1], decrypt=decrypt)


def _manager(store, platform, cipher):
    return TokenManager(
        store=store,
        login=platform.login,
        refresh=platform.refresh,
        refresh_margin=60,
        lock_ttl=5,
        cipher=cipher,
    )


def test_a_cipher_keeps_access_and_refresh_tokens_out_of_the_store_in_clear():
    store, platform = MemoryStore(), Platform()
    manager = _manager(store, platform, _reversing_cipher())
    assert manager.access_token(deadline=None) == "access-1"
    raw = store.get("token")
    assert raw.startswith("sealed:")
    assert "access-1" not in raw and "refresh-1" not in raw
    assert manager.cached().refresh_token == "refresh-1"
    assert manager.access_token(deadline=None) == "access-1"
    assert platform.logins == 1


def test_a_token_cached_in_clear_is_replaced_by_a_new_login_once_a_cipher_is_set():
    store, platform = MemoryStore(), Platform()
    assert _manager(store, platform, None).access_token(deadline=None) == "access-1"
    sealed = _manager(store, platform, _reversing_cipher())
    assert sealed.cached() is None
    assert sealed.access_token(deadline=None) == "access-2"
