"""Several real processes sharing one store: one login, one re-login, one flow limit.

Each worker process builds its client like an application process does (here: the plain
package on a RedisStore; tests/devices/test_platform_wiring.py runs the same with the
project's settings and its database store); the assertions are on the simulator's record of
what arrived.
"""

import json
import subprocess
import sys
import time

import pytest

from oceanconnect import RedisStore

from .processes import PLAIN_WORKER, REPO_ROOT, start_workers, worker_env

LOGIN = "/iocm/app/sec/v1.1.0/login"


def platform_calls(sim):
    return [c for c in sim.calls() if c["path"].startswith("/iocm/")]


def logins(sim):
    return sum(1 for c in platform_calls(sim) if c["path"] == LOGIN)


def a_device(sim):
    """An offline unit that presents its verifyCode (an NB-IoT one would need code == nodeId)."""
    found = sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, nbiot=False)
    return found[0]["deviceId"]


def many_threads_log_in_once_and_log_in_again_once(sim, *, env, module, threads=20):
    """Three processes of `module` x `threads` threads: one login, then one re-login after the
    platform dropped every token."""
    device_id = a_device(sim)
    with start_workers(3, threads=threads, env=env, module=module) as workers:
        cold = workers.round([threads] * 3, device_id)
        assert [(r["ok"], r["errors"]) for r in cold] == [(threads, [])] * 3
        assert logins(sim) == 1

        sim.invalidate_tokens()
        after = workers.round([threads] * 3, device_id)
        assert [(r["ok"], r["errors"]) for r in after] == [(threads, [])] * 3
        assert logins(sim) == 2
    rejected = [c for c in platform_calls(sim) if c["code"] == "1010005"]
    accepted = [c for c in platform_calls(sim) if c["path"] != LOGIN and c["status"] == 200]
    assert len(accepted) == 6 * threads
    assert len(rejected) <= 3 * threads  # each call was retried at most once


@pytest.mark.redis
def test_many_threads_in_three_processes_log_in_once_and_log_in_again_once(sim, require_redis):
    sim.flow_limit(1000)  # this test is about tokens, not flow control
    env = worker_env(
        platform_url=sim.url,
        app_id=sim.app_id,
        app_secret=sim.app_secret,
        flow_limit=1000,
        redis_url=require_redis,
    )
    many_threads_log_in_once_and_log_in_again_once(sim, env=env, module=PLAIN_WORKER)


def max_calls_in_any_window(times, window=60.0):
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_window_counter_counts_arrivals_within_sixty_seconds():
    assert max_calls_in_any_window([0, 1, 59.9, 60.0, 61]) == 3
    assert max_calls_in_any_window([0] * 5 + [120] * 2) == 5


# --- lanes: three processes on one store ------------------------------------------------------

LANE_WORKER = "tests.oceanconnect.lane_worker"


def lane_process(lane, *, calls, threads, env):
    command = [sys.executable, "-m", LANE_WORKER, "--lane", lane]
    command.extend(["--calls", str(calls), "--threads", str(threads)])
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def grants_of(process):
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out)


def wait_until_bulk_waits(store, *, bulk_cap):
    """Until the bulk processes filled their share of the window and have calls waiting."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if store.lane_usage(window=1.0)["bulk"] >= bulk_cap and store.waiting()["bulk"] > 0:
            return
        time.sleep(0.02)  # polling the condition above, not standing in for it
    raise AssertionError("the bulk processes never saturated the window")


@pytest.mark.redis
@pytest.mark.parametrize(("reserve", "calls"), [(0, 4), (2, 2)])
def test_a_waiting_interactive_call_is_served_before_the_waiting_bulk_calls(
    sim, require_redis, reserve, calls
):
    """Two processes send a bulk file (8 threads each, always waiting for slots); a third, a
    technician, asks for slots meanwhile. With no reserve the technician's call takes the next
    slot that frees, ahead of every waiting bulk call; with a reserve of 2 the technician's two
    calls never wait at all, although bulk started first. The store's rule: a lower lane takes
    a slot only while more slots are free than higher-lane calls wait for."""
    limit = 6
    env = worker_env(
        platform_url=sim.url,
        app_id=sim.app_id,
        app_secret=sim.app_secret,
        flow_limit=limit,
        redis_url=require_redis,
        extra={"IOT_FLOW_RESERVE_INTERACTIVE": str(reserve)},
    )
    store = RedisStore(require_redis, env["IOT_STORE_PREFIX"])
    try:
        bulk = [lane_process("bulk", calls=40, threads=8, env=env) for _ in range(2)]
        wait_until_bulk_waits(store, bulk_cap=limit - reserve)
        technician = lane_process("interactive", calls=calls, threads=1, env=env)
        mine = grants_of(technician)
        bulk_grants = [g["granted"] for p in bulk for g in grants_of(p)]
    finally:
        store.clear()
        store.close()
    assert len(mine) == calls and len(bulk_grants) == 80
    # The bulk processes were still sending when the technician finished.
    assert max(bulk_grants) > max(g["granted"] for g in mine)
    for call in mine:
        waited = call["granted"] - call["start"]
        overtaken = [t for t in bulk_grants if call["start"] + 0.05 < t < call["granted"]]
        if reserve:
            assert waited < 0.3, call  # the reserve was free: served at once
        else:
            assert waited < 1.0 + 0.3, call  # at most until the oldest slot left the window
        # Slots free together when the oldest ones leave the window: the waiting technician's
        # call takes one of them and bulk may take the others, but bulk never takes every slot
        # that frees while the technician waits (first come, first served would: 16 bulk
        # threads against one).
        assert len(overtaken) <= limit - 1, (call, overtaken)
