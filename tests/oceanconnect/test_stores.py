"""The shared-store contract, on every implementation: memory and real Redis here, the
project's database store in tests/devices/test_platform_wiring.py (the same contract)."""

import threading
import time
import uuid

import pytest

from oceanconnect.store import MemoryStore, RedisStore


class FakeClock:
    """The clock the memory and database stores are given; tests move it forward."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SharedStoreContract:
    """What every SharedStore must do; a subclass provides the `store` fixture (built with the
    `clock` fixture where the store takes an injected clock)."""

    @pytest.fixture
    def clock(self):
        return FakeClock()

    @pytest.fixture
    def advance(self, store, clock):
        """Let `seconds` pass: the fake clock, or real time for Redis (its server clock)."""
        if isinstance(store, RedisStore):
            return lambda seconds: time.sleep(seconds + 0.1)
        return clock.advance

    def thread_finished(self):
        """Called at the end of each thread a test starts (a store may clean up there)."""

    def test_values_are_read_back_and_deleted(self, store):
        assert store.get("token") is None
        store.set("token", '{"a": 1}')
        assert store.get("token") == '{"a": 1}'
        store.set("token", "replaced")
        assert store.get("token") == "replaced"
        store.delete("token")
        assert store.get("token") is None

    def test_values_with_a_ttl_expire(self, store, advance):
        store.set("short", "v", ttl=0.2)
        store.set("long", "v", ttl=60)
        assert store.get("short") == "v"
        advance(0.25)
        assert store.get("short") is None
        assert store.get("long") == "v"

    def test_a_lock_has_one_owner_until_released_by_that_owner(self, store):
        assert store.acquire_lock("lock:login", owner="a", ttl=30)
        assert not store.acquire_lock("lock:login", owner="b", ttl=30)
        store.release_lock("lock:login", owner="b")  # not b's: stays held
        assert not store.acquire_lock("lock:login", owner="b", ttl=30)
        store.release_lock("lock:login", owner="a")
        assert store.acquire_lock("lock:login", owner="b", ttl=30)

    def test_an_expired_lock_can_be_taken_over(self, store, advance):
        assert store.acquire_lock("lock:login", owner="crashed", ttl=0.2)
        assert not store.acquire_lock("lock:login", owner="b", ttl=30)
        advance(0.25)
        assert store.acquire_lock("lock:login", owner="b", ttl=30)
        store.release_lock("lock:login", owner="crashed")  # a late release frees nothing
        assert not store.acquire_lock("lock:login", owner="c", ttl=30)

    def test_a_lock_is_extended_only_by_its_live_owner(self, store, advance):
        assert store.acquire_lock("lock:sync", owner="a", ttl=0.2)
        assert not store.extend_lock("lock:sync", owner="b", ttl=30)
        assert store.extend_lock("lock:sync", owner="a", ttl=30)
        advance(0.25)  # past the first ttl: the extension holds it
        assert not store.acquire_lock("lock:sync", owner="b", ttl=30)
        store.release_lock("lock:sync", owner="a")
        assert store.acquire_lock("lock:sync", owner="b", ttl=0.2)
        advance(0.25)
        assert not store.extend_lock("lock:sync", owner="b", ttl=30)  # lapsed: not revived
        assert store.acquire_lock("lock:sync", owner="c", ttl=30)

    def test_slots_are_granted_up_to_the_limit_then_a_wait_is_given(self, store):
        grants = [store.reserve_slot(limit=3, window=60.0) for _ in range(3)]
        assert grants == [0.0, 0.0, 0.0]
        wait = store.reserve_slot(limit=3, window=60.0)
        assert 59.0 < wait <= 60.0
        assert len(store.slot_times(window=60.0)) == 3  # the refused one reserved nothing

    def test_slots_leave_the_window(self, store, advance):
        assert store.reserve_slot(limit=1, window=0.3) == 0.0
        assert store.reserve_slot(limit=1, window=0.3) > 0
        advance(0.35)
        assert store.reserve_slot(limit=1, window=0.3) == 0.0

    def test_cooldown_pauses_every_reservation_and_never_shortens(self, store):
        store.start_cooldown(seconds=5.0)
        store.start_cooldown(seconds=1.0)
        remaining = store.cooldown_remaining()
        assert 4.0 < remaining <= 5.0
        wait = store.reserve_slot(limit=100, window=60.0)
        assert 4.0 < wait <= 5.0
        assert store.slot_times(window=60.0) == []

    def test_concurrent_reservations_never_exceed_the_limit(self, store):
        granted = []
        lock = threading.Lock()

        def worker():
            try:
                for _ in range(10):
                    if store.reserve_slot(limit=25, window=60.0) == 0.0:
                        with lock:
                            granted.append(1)
            finally:
                self.thread_finished()

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(granted) == 25
        assert len(store.slot_times(window=60.0)) == 25

    def test_lower_lanes_never_fill_the_interactive_reserve(self, store):
        lanes = dict(limit=5, window=60.0, reserve=2)
        assert [store.reserve_slot(lane="bulk", **lanes) for _ in range(3)] == [0.0] * 3
        assert store.reserve_slot(lane="bulk", **lanes) > 0
        assert store.reserve_slot(lane="background", **lanes) > 0
        assert store.reserve_slot(lane="reconcile", **lanes) > 0
        assert [store.reserve_slot(lane="interactive", **lanes) for _ in range(2)] == [0.0] * 2
        assert store.reserve_slot(lane="interactive", **lanes) > 0
        assert store.lane_usage(window=60.0) == {
            "interactive": 2,
            "reconcile": 0,
            "bulk": 3,
            "background": 0,
        }

    def test_a_waiting_higher_lane_gets_the_next_free_slot(self, store, advance):
        lanes = dict(limit=2, window=0.3, reserve=0)
        assert store.reserve_slot(lane="bulk", **lanes) == 0.0
        assert store.reserve_slot(lane="bulk", **lanes) == 0.0
        assert store.reserve_slot(lane="interactive", ticket="tech", **lanes) > 0
        assert store.reserve_slot(lane="bulk", ticket="row", **lanes) > 0
        assert store.waiting() == {"interactive": 1, "reconcile": 0, "bulk": 1, "background": 0}
        advance(0.35)  # both slots are free again: the bulk call yields to the waiting one
        assert store.reserve_slot(lane="bulk", ticket="row", **lanes) > 0
        assert store.reserve_slot(lane="background", **lanes) > 0
        assert store.reserve_slot(lane="interactive", ticket="tech", **lanes) == 0.0
        assert store.waiting()["interactive"] == 0  # served: no longer waiting
        assert store.reserve_slot(lane="bulk", ticket="row", **lanes) == 0.0
        assert store.waiting()["bulk"] == 0

    def test_a_withdrawn_waiter_no_longer_holds_lower_lanes_back(self, store, advance):
        lanes = dict(limit=1, window=0.3, reserve=0)
        assert store.reserve_slot(lane="bulk", **lanes) == 0.0
        assert store.reserve_slot(lane="reconcile", ticket="check", **lanes) > 0
        store.withdraw(lane="reconcile", ticket="check")
        assert store.waiting()["reconcile"] == 0
        advance(0.35)
        assert store.reserve_slot(lane="bulk", **lanes) == 0.0


class TestSharedStores(SharedStoreContract):
    @pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
    def store(self, request, clock):
        if request.param == "memory":
            yield MemoryStore(clock=clock)
            return
        url = request.getfixturevalue("require_redis")
        redis_store = RedisStore(url, f"test:{uuid.uuid4().hex}:")
        yield redis_store
        redis_store.clear()
        redis_store.close()
