"""Several real processes sharing one store: one login, one re-login, one flow limit.

Each worker process builds its client like an application process does (here: the plain
package on a RedisStore; tests/devices/test_platform_wiring.py runs the same with the
project's settings and its database store); the assertions are on the simulator's record of
what arrived.
"""

import pytest

from .processes import PLAIN_WORKER, start_workers, worker_env

LOGIN = "/iocm/app/sec/v1.1.0/login"


def platform_calls(sim):
    return [c for c in sim.calls() if c["path"].startswith("/iocm/")]


def logins(sim):
    return sum(1 for c in platform_calls(sim) if c["path"] == LOGIN)


def a_device(sim):
    """An offline unit that presents its verifyCode (an NB-IoT one would need code == nodeId)."""
    found = sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, nbiot=False)
    return found[0]["deviceId"]


def many_threads_log_in_once_and_log_in_again_once(sim, *, env, module):
    """Three processes of `module` x 20 threads: one login, then one re-login after the
    platform dropped every token."""
    device_id = a_device(sim)
    with start_workers(3, threads=20, env=env, module=module) as workers:
        cold = workers.round([20, 20, 20], device_id)
        assert [(r["ok"], r["errors"]) for r in cold] == [(20, [])] * 3
        assert logins(sim) == 1

        sim.invalidate_tokens()
        after = workers.round([20, 20, 20], device_id)
        assert [(r["ok"], r["errors"]) for r in after] == [(20, [])] * 3
        assert logins(sim) == 2
    rejected = [c for c in platform_calls(sim) if c["code"] == "1010005"]
    accepted = [c for c in platform_calls(sim) if c["path"] != LOGIN and c["status"] == 200]
    assert len(accepted) == 120
    assert len(rejected) <= 60  # each call was retried at most once


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
