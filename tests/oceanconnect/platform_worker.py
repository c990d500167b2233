"""A separate process that uses the plain oceanconnect client the way an application would.

Run as `python -m tests.oceanconnect.platform_worker --threads N`. It builds its client with
`PlatformConfig.from_settings` from the IOT_* environment variables and a RedisStore on
REDIS_URL, so several of these share one store exactly as real processes do (no Django). It
prints `ready`, then for each line `go <calls> <device_id>` on stdin runs <calls> calls
spread over its threads (all starting together) and prints one JSON line:
{"ok": n, "errors": [...], "seconds": s}. tests/devices/platform_worker.py is the same with
the project's Django wiring.
"""

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any


def run_round(
    client: Any,
    *,
    threads: int,
    calls: int,
    device_id: str,
    thread_finished: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """`calls` activation-status calls spread over `threads` threads that start together."""
    from oceanconnect import PlatformError

    shares = [calls // threads + (1 if i < calls % threads else 0) for i in range(threads)]
    barrier = threading.Barrier(threads)
    lock = threading.Lock()
    result: dict[str, Any] = {"ok": 0, "errors": []}

    def work(share: int) -> None:
        barrier.wait()
        try:
            for _ in range(share):
                try:
                    client.activation_status(device_id)
                    with lock:
                        result["ok"] += 1
                except PlatformError as exc:
                    with lock:
                        result["errors"].append(f"{type(exc).__name__}:{exc.code}:{exc}")
        finally:
            thread_finished()

    started = time.monotonic()
    workers = [threading.Thread(target=work, args=(share,)) for share in shares]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    result["seconds"] = time.monotonic() - started
    return result


def serve(client: Any, *, threads: int, thread_finished: Callable[[], None]) -> None:
    """Print `ready`, then run one round per `go` line on stdin."""
    print("ready", flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] != "go":
            break
        result = run_round(
            client,
            threads=threads,
            calls=int(parts[1]),
            device_id=parts[2],
            thread_finished=thread_finished,
        )
        print(json.dumps(result), flush=True)


def main() -> None:
    from oceanconnect import PlatformClient, PlatformConfig, RedisStore

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=20)
    args = parser.parse_args()
    settings = SimpleNamespace(
        **{name: value for name, value in os.environ.items() if name.startswith("IOT_")}
    )
    if hasattr(settings, "IOT_VERIFY_HOSTNAME"):
        settings.IOT_VERIFY_HOSTNAME = settings.IOT_VERIFY_HOSTNAME.lower() in ("1", "true", "yes")
    config = PlatformConfig.from_settings(settings)
    client = PlatformClient(
        config=config, store=RedisStore(os.environ["REDIS_URL"], config.store_prefix)
    )
    serve(client, threads=args.threads, thread_finished=lambda: None)


if __name__ == "__main__":
    main()
