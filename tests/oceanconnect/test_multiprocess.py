"""Several real processes sharing one store: one login, one re-login, one flow limit.

Each worker process builds its client from settings like a web or Celery process does; the
assertions are on the simulator's record of what arrived.
"""

import tempfile

import pytest
from django.conf import settings
from django.db import connection

from .processes import database_url, start_workers, worker_env

LOGIN = "/iocm/app/sec/v1.1.0/login"


@pytest.fixture(
    params=[
        pytest.param("database", marks=pytest.mark.django_db(transaction=True)),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def store_env(request):
    """Environment for worker processes sharing the database store or a Redis store."""
    var_dir = tempfile.mkdtemp(prefix="iotadmin-platform-")
    if request.param == "database":
        return {
            "database": database_url(connection.settings_dict),
            "redis_url": "",
            "var_dir": var_dir,
        }
    url = request.getfixturevalue("require_redis")
    return {"database": f"sqlite:///{var_dir}/unused.sqlite3", "redis_url": url, "var_dir": var_dir}


def platform_calls(sim):
    return [c for c in sim.calls() if c["path"].startswith("/iocm/")]


def logins(sim):
    return sum(1 for c in platform_calls(sim) if c["path"] == LOGIN)


def a_device(sim):
    return sim.devices(status="OFFLINE", activated=True, owner=sim.app_id)[0]["deviceId"]


def test_many_threads_in_three_processes_log_in_once_and_log_in_again_once(sim, store_env):
    sim.flow_limit(1000)  # this test is about tokens, not flow control
    env = worker_env(
        platform_url=sim.url,
        app_id=sim.app_id,
        app_secret=sim.app_secret,
        flow_limit=1000,
        **store_env,
    )
    device_id = a_device(sim)
    with start_workers(3, threads=20, env=env) as workers:
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


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_three_hundred_calls_from_three_processes_stay_under_the_platform_limit(sim):
    """300 calls (one login + 299 API calls) against a platform limit of 100 per minute."""
    var_dir = tempfile.mkdtemp(prefix="iotadmin-platform-")
    redis = settings.REDIS_URL
    env = worker_env(
        platform_url=sim.url,
        app_id=sim.app_id,
        app_secret=sim.app_secret,
        flow_limit=100,
        database=database_url(connection.settings_dict),
        redis_url=redis or "",
        var_dir=var_dir,
    )
    sim.flow_limit(100)
    device_id = a_device(sim)
    with start_workers(3, threads=5, env=env) as workers:
        reports = workers.round([100, 100, 99], device_id)
    assert [r["errors"] for r in reports] == [[], [], []]
    assert sum(r["ok"] for r in reports) == 299
    calls = platform_calls(sim)
    assert len(calls) == 300
    assert logins(sim) == 1
    assert [c for c in calls if c["code"] == "1010009"] == []
    assert max_calls_in_any_window([c["time"] for c in calls]) <= 100
