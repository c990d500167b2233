"""Start several platform_worker processes that share one store, and drive them in rounds."""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
# Builds a plain oceanconnect client on a RedisStore from IOT_* and REDIS_URL (no Django).
PLAIN_WORKER = "tests.oceanconnect.platform_worker"


def worker_env(
    *,
    platform_url: str,
    app_id: str,
    app_secret: str,
    redis_url: str,
    flow_limit: int,
    prefix: str | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONUNBUFFERED": "1",
        "IOT_PLATFORM_URL": platform_url,
        "IOT_APP_ID": app_id,
        "IOT_APP_SECRET": app_secret,
        "IOT_CA_FILE": "",
        "IOT_FLOW_LIMIT_PER_MINUTE": str(flow_limit),
        "IOT_STORE_PREFIX": prefix or f"test:{uuid.uuid4().hex}:",
        "REDIS_URL": redis_url,
    }
    env.pop("IOT_APP_SECRET_FILE", None)
    env.update(extra or {})
    return env


class Workers:
    def __init__(self, processes: list[subprocess.Popen[str]]) -> None:
        self.processes = processes

    def round(self, calls_per_process: list[int], device_id: str) -> list[dict[str, Any]]:
        """Every process makes its share of calls at once; returns their reports."""
        for process, calls in zip(self.processes, calls_per_process, strict=True):
            assert process.stdin is not None
            process.stdin.write(f"go {calls} {device_id}\n")
            process.stdin.flush()
        return [self._read(process) for process in self.processes]

    @staticmethod
    def _read(process: subprocess.Popen[str]) -> dict[str, Any]:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker died:\n{process.stderr.read() if process.stderr else ''}")
        return json.loads(line)


@contextmanager
def start_workers(
    count: int, *, threads: int, env: dict[str, str], module: str = PLAIN_WORKER
) -> Iterator[Workers]:
    """`count` processes of `module` (run with `-m`), each making its calls on `threads`."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", module, "--threads", str(threads)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            if line != "ready":
                err = process.stderr.read() if process.stderr else ""
                raise RuntimeError(f"worker did not start: {line!r}\n{err}")
        yield Workers(processes)
    finally:
        for process in processes:
            if process.stdin:
                process.stdin.close()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
