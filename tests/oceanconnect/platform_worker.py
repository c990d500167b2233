"""A separate process that uses the platform client the way a web or worker process does.

Run as `python -m tests.devices.platform.platform_worker --threads N`. It builds its client
from settings (environment variables: IOT_*, REDIS_URL, DATABASE_URL, IOTADMIN_VAR_DIR), so
several of these share one store exactly as real processes do. It prints `ready`, then for
each line `go <calls> <device_id>` on stdin runs <calls> calls spread over its threads (all
starting together) and prints one JSON line: {"ok": n, "errors": [...], "seconds": s}.
"""

import argparse
import json
import os
import sys
import threading
import time
from typing import Any


def run_round(client: Any, *, threads: int, calls: int, device_id: str) -> dict[str, Any]:
    """`calls` activation-status calls spread over `threads` threads that start together."""
    from django.db import connection

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
            connection.close()

    started = time.monotonic()
    workers = [threading.Thread(target=work, args=(share,)) for share in shares]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    result["seconds"] = time.monotonic() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iotadmin.settings")
    import django

    django.setup()
    from devices.platform_wiring import get_client

    client = get_client()
    print("ready", flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] != "go":
            break
        result = run_round(client, threads=args.threads, calls=int(parts[1]), device_id=parts[2])
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
