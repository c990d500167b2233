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
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parents[3]


def database_url(settings_dict: dict[str, Any]) -> str:
    """A DATABASE_URL for the database a connection uses (the test database in tests)."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    if engine.endswith("postgresql"):
        user = quote(settings_dict.get("USER") or "")
        password = settings_dict.get("PASSWORD") or ""
        auth = f"{user}:{quote(password)}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"
    raise ValueError(f"unsupported database engine {engine}")


def worker_env(
    *,
    platform_url: str,
    app_id: str,
    app_secret: str,
    database: str,
    redis_url: str,
    flow_limit: int,
    var_dir: str,
    prefix: str | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "iotadmin.settings",
        "DJANGO_LOG_LEVEL": "WARNING",
        "IOT_PLATFORM_URL": platform_url,
        "IOT_APP_ID": app_id,
        "IOT_APP_SECRET": app_secret,
        "IOT_CA_FILE": "",
        "IOT_FLOW_LIMIT_PER_MINUTE": str(flow_limit),
        "IOT_STORE_PREFIX": prefix or f"test:{uuid.uuid4().hex}:",
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        # No Redis broker either, or the settings would pick Redis as the store after all.
        "CELERY_BROKER_URL": "filesystem://",
        "IOTADMIN_VAR_DIR": var_dir,
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
def start_workers(count: int, *, threads: int, env: dict[str, str]) -> Iterator[Workers]:
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.devices.platform.platform_worker",
                "--threads",
                str(threads),
            ],
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
