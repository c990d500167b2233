"""A separate process taking flow-limit slots in one lane on a shared RedisStore (no Django).

Run as `python -m tests.oceanconnect.lane_worker --lane bulk --threads 8 --calls 40`. It uses
the real FlowLimiter on REDIS_URL with the IOT_* settings, except that the window is
LANE_WINDOW seconds instead of 61 (the limiter's logic does not depend on the length), so a
test sees many windows in a few seconds. Each thread takes its share of slots one after the
other; the process prints one JSON line: a list of {"start": t, "granted": t} (unix times).
"""

import argparse
import json
import os
import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace

LANE_WINDOW = 1.0


def main() -> None:
    from oceanconnect import Lane, PlatformConfig, RedisStore
    from oceanconnect.limiter import FlowLimiter

    @dataclass(frozen=True)
    class ShortWindowConfig(PlatformConfig):
        @property
        def flow_window(self) -> float:
            return LANE_WINDOW

    parser = argparse.ArgumentParser()
    parser.add_argument("--lane", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, required=True)
    args = parser.parse_args()
    settings = SimpleNamespace(
        **{name: value for name, value in os.environ.items() if name.startswith("IOT_")}
    )
    base = PlatformConfig.from_settings(settings)
    config = ShortWindowConfig(**{f: getattr(base, f) for f in base.__dataclass_fields__})
    store = RedisStore(os.environ["REDIS_URL"], config.store_prefix)
    first_attempt = threading.local()

    class NotingStore:
        """The store, noting when each thread's call first asked it for a slot (the moment a
        waiting call becomes visible to the other lanes), not when the thread was scheduled."""

        def __getattr__(self, name: str) -> object:
            return getattr(store, name)

        def reserve_slot(self, **kwargs: object) -> float:
            if getattr(first_attempt, "at", None) is None:
                first_attempt.at = time.time()
            return store.reserve_slot(**kwargs)

    limiter = FlowLimiter(config=config, store=NotingStore())
    lane = Lane(args.lane)
    shares = [
        args.calls // args.threads + (i < args.calls % args.threads) for i in range(args.threads)
    ]
    grants: list[dict[str, float]] = []
    lock = threading.Lock()

    def work(share: int) -> None:
        for _ in range(share):
            first_attempt.at = None
            limiter.acquire(deadline=None, lane=lane)
            granted = time.time()
            with lock:
                grants.append({"start": first_attempt.at, "granted": granted})

    threads = [threading.Thread(target=work, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(grants), flush=True)
    store.close()


if __name__ == "__main__":
    main()
