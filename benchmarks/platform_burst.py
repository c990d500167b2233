"""Benchmark: a burst of platform calls from several processes against the flow limit.

    .venv/bin/python benchmarks/platform_burst.py [--calls 300] [--processes 3] [--threads 5]
                                                 [--limit 100] [--store auto|database|redis]

Starts a private simulator (limit --limit per 60 s) and --processes worker processes that
share one store (Redis when REDIS_URL is set or --store redis, else a fresh SQLite database),
then makes --calls platform calls in total: one login and the rest activation-status calls.
Prints the time taken against the minimum the limit allows (the last of N calls cannot arrive
before floor((N - 1) / limit) windows after the first), the ratio (target <= 1.10), the login
count, 1010009 answers and the most calls the simulator saw in any 60 s window.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.devices.platform_processes import DJANGO_WORKER, django_worker_env  # noqa: E402
from tests.oceanconnect.processes import start_workers  # noqa: E402
from tests.oceanconnect.test_multiprocess import max_calls_in_any_window  # noqa: E402
from tests.support.simulator import start_simulator  # noqa: E402

LOGIN = "/iocm/app/sec/v1.1.0/login"


def migrated_sqlite(var_dir: str) -> str:
    url = f"sqlite:///{var_dir}/burst.sqlite3"
    env = {**os.environ, "DATABASE_URL": url, "IOTADMIN_VAR_DIR": var_dir}
    env.pop("REDIS_URL", None)
    env["CELERY_BROKER_URL"] = "filesystem://"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
    )
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="platform calls, login included")
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=5, help="threads per process")
    parser.add_argument("--limit", type=int, default=100, help="calls per 60 s (both sides)")
    parser.add_argument("--store", choices=["auto", "database", "redis"], default="auto")
    args = parser.parse_args()

    redis_url = os.environ.get("REDIS_URL", "")
    if args.store == "redis":
        redis_url = redis_url or "redis://127.0.0.1:6379/7"
    elif args.store == "database":
        redis_url = ""
    var_dir = tempfile.mkdtemp(prefix="iotadmin-burst-")
    database = migrated_sqlite(var_dir)
    api_calls = args.calls - 1
    shares = [
        api_calls // args.processes + (1 if i < api_calls % args.processes else 0)
        for i in range(args.processes)
    ]

    with start_simulator("--quiet", "--flow-limit", str(args.limit), http=True) as sim:
        env = django_worker_env(
            platform_url=sim.url,
            app_id=sim.app_id,
            app_secret=sim.app_secret,
            database=database,
            redis_url=redis_url,
            flow_limit=args.limit,
            var_dir=var_dir,
        )
        device_id = sim.devices(owner=sim.app_id, activated=True)[0]["deviceId"]
        store = f"Redis {redis_url}" if redis_url else "database (SQLite)"
        print(
            f"{args.calls} calls ({api_calls} + login) from {args.processes} processes x "
            f"{args.threads} threads, limit {args.limit}/min, store: {store}",
            flush=True,
        )
        with start_workers(
            args.processes, threads=args.threads, env=env, module=DJANGO_WORKER
        ) as workers:
            started = time.monotonic()
            reports = workers.round(shares, device_id)
            elapsed = time.monotonic() - started
        calls = [c for c in sim.calls() if c["path"].startswith("/iocm/")]

    errors = [e for r in reports for e in r["errors"]]
    times = sorted(c["time"] for c in calls)
    windows = (len(calls) - 1) // args.limit
    minimum = windows * 60.0
    span = times[-1] - times[0] if times else 0.0
    print(f"calls seen by the platform: {len(calls)}; errors at the callers: {len(errors)}")
    print(f"logins: {sum(1 for c in calls if c['path'] == LOGIN)}")
    print(f"1010009 answers: {sum(1 for c in calls if c['code'] == '1010009')}")
    print(f"most calls in any 60 s window: {max_calls_in_any_window(times)} (limit {args.limit})")
    print(f"first to last arrival: {span:.1f} s")
    print(f"time taken: {elapsed:.1f} s; minimum the limit allows: {minimum:.0f} s")
    if minimum:
        print(f"ratio: {elapsed / minimum:.3f} (target <= 1.10)")
    for error in errors[:5]:
        print("error:", error)


if __name__ == "__main__":
    main()
