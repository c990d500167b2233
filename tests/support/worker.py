"""Fixture `celery_worker_process`: a real `celery worker` subprocess on the configured broker.

It shares the test database (SQLite file or the PostgreSQL test database) and the current,
possibly overridden, settings (platform URL, store prefix, timeouts, ...) through environment
variables. Tests using it are `@pytest.mark.django_db(transaction=True)`: the worker cannot see
rows inside the test's own transaction.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 60.0
# The default queue and the swap send queue (settings.SWAP_SEND_QUEUE): the worker takes both.
QUEUES = ("celery", "platform-send")

# Settings handed to the worker as environment variables of the same name.
_PASSED_SETTINGS = {
    "CELERY_BROKER_URL": "CELERY_BROKER_URL",
    "REDIS_URL": "REDIS_URL",
    "SECRET_KEY": "DJANGO_SECRET_KEY",
    "IOT_PLATFORM_URL": "IOT_PLATFORM_URL",
    "IOT_APP_ID": "IOT_APP_ID",
    "IOT_APP_SECRET": "IOT_APP_SECRET",
    "IOT_CA_FILE": "IOT_CA_FILE",
    "IOT_CLIENT_CERT": "IOT_CLIENT_CERT",
    "IOT_CLIENT_KEY": "IOT_CLIENT_KEY",
    "IOT_VERIFY_HOSTNAME": "IOT_VERIFY_HOSTNAME",
    "IOT_FLOW_LIMIT_PER_MINUTE": "IOT_FLOW_LIMIT_PER_MINUTE",
    "IOT_FLOW_RESERVE_INTERACTIVE": "IOT_FLOW_RESERVE_INTERACTIVE",
    "IOT_STORE_PREFIX": "IOT_STORE_PREFIX",
    "IOT_CONNECT_TIMEOUT": "IOT_CONNECT_TIMEOUT",
    "IOT_READ_TIMEOUT": "IOT_READ_TIMEOUT",
    "IOT_PLATFORM_GENERATES_CODES": "IOT_PLATFORM_GENERATES_CODES",
    "IOT_LATE_APPLY_SECONDS": "IOT_LATE_APPLY_SECONDS",
    "SWAP_LEASE_MARGIN_SECONDS": "SWAP_LEASE_MARGIN_SECONDS",
    "IOT_APP_KEY_HEADER": "IOT_APP_KEY_HEADER",
    "IOT_CODE_ENCRYPTION_KEY": "IOT_CODE_ENCRYPTION_KEY",
    "IOT_AUTHORIZING_APP_IDS": "IOT_AUTHORIZING_APP_IDS",
    "IOT_SYNC_LOCK_TTL_SECONDS": "IOT_SYNC_LOCK_TTL_SECONDS",
    "IOT_PUSH_SECRET": "IOT_PUSH_SECRET",
    "IOT_CALLBACK_URL": "IOT_CALLBACK_URL",
    "SWAP_MAX_ATTEMPTS": "SWAP_MAX_ATTEMPTS",
    "SWAP_RETRY_BASE_SECONDS": "SWAP_RETRY_BASE_SECONDS",
    "SWAP_RETRY_MAX_SECONDS": "SWAP_RETRY_MAX_SECONDS",
    "SWAP_EXPIRY_GRACE_SECONDS": "SWAP_EXPIRY_GRACE_SECONDS",
    "SWAP_APPROVAL_NEVER_EXPIRING": "SWAP_APPROVAL_NEVER_EXPIRING",
    "SWAP_APPROVAL_CODE_MODES": "SWAP_APPROVAL_CODE_MODES",
    "SWAP_APPROVAL_REPEAT_DAYS": "SWAP_APPROVAL_REPEAT_DAYS",
    "SWAP_APPROVAL_WORKING_HOURS": "SWAP_APPROVAL_WORKING_HOURS",
    "SWAP_APPROVAL_WORKING_DAYS": "SWAP_APPROVAL_WORKING_DAYS",
}


class WorkerHandle:
    """A running worker process and its log."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path, env: dict[str, str]):
        self.process = process
        self.log_path = log_path
        self.env = env

    def pool_children(self) -> list[int]:
        """Pids of the worker's child processes (the prefork pool's), from /proc."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def _as_env(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def database_url(settings_dict: dict[str, Any]) -> str:
    """A DATABASE_URL for the database this connection uses right now (the test database)."""
    engine = settings_dict["ENGINE"]
    name = str(settings_dict["NAME"])
    if engine in ("django.db.backends.sqlite3", "iotadmin.db.sqlite3"):
        return f"sqlite:///{name}"
    if engine.startswith("django.db.backends.postgresql"):
        user = quote(settings_dict.get("USER") or "", safe="")
        password = quote(settings_dict.get("PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{auth}{host}:{port}/{quote(name, safe='')}"
    raise RuntimeError(f"the worker fixture does not know the database engine {engine}")


def worker_environment(settings: Any) -> dict[str, str]:
    from django.db import connection

    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "iotadmin.settings",
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": database_url(connection.settings_dict),
            "IOTADMIN_VAR_DIR": str(settings.VAR_DIR),
            "CELERY_TASK_ALWAYS_EAGER": "false",
        }
    )
    for setting, variable in _PASSED_SETTINGS.items():
        if hasattr(settings, setting):
            env[variable] = _as_env(getattr(settings, setting))
    return env


def purge_queue(settings: Any) -> None:
    """Drop messages a previous run left on the broker (private folder or test broker)."""
    from kombu import Connection

    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    with Connection(settings.CELERY_BROKER_URL, transport_options=options) as conn:
        channel = conn.default_channel
        for queue in QUEUES:
            try:
                channel.queue_purge(queue)
            except Exception:  # a queue that was never declared has nothing to purge
                pass
        # Redis keeps the messages a killed worker had taken but not acknowledged (acks_late) in
        # its "unacked" keys and puts them back on the queue once the visibility timeout passes:
        # minutes later, into another test's worker (a killed sync resumed in the wrong test).
        unacked_keys = [
            getattr(channel, name, None)
            for name in ("unacked_key", "unacked_index_key", "unacked_mutex_key")
        ]
        client = getattr(channel, "client", None)
        if client is not None and all(unacked_keys):
            client.delete(*unacked_keys)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # warm shutdown: finishes (and acks) running tasks
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def run_worker(
    settings: Any, *, pool: str = "threads", concurrency: int = 2
) -> Iterator[WorkerHandle]:
    """A `celery worker` subprocess (its pool: threads, or prefork for child processes)."""
    env = worker_environment(settings)
    purge_queue(settings)
    log_path = Path(tempfile.mkstemp(prefix="iotadmin-worker-", suffix=".log")[1])
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "iotadmin",
        "worker",
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "-Q",
        ",".join(QUEUES),
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
        "-n",
        f"test-{uuid.uuid4().hex[:8]}@%h",
    ]
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    handle = WorkerHandle(process, log_path, env)
    deadline = time.monotonic() + READY_TIMEOUT
    try:
        while " ready." not in handle.log():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start:\n{handle.log()[-4000:]}")
            time.sleep(0.1)
        yield handle
    finally:
        _stop(process)
        if os.environ.get("IOTADMIN_KEEP_WORKER_LOG"):
            print(f"worker log kept at {log_path}")
        else:
            log_path.unlink(missing_ok=True)


@pytest.fixture
def celery_worker_process(
    request: pytest.FixtureRequest, settings: Any, transactional_db: None
) -> Iterator[WorkerHandle]:
    """A `celery worker` subprocess sharing the test database and settings; stopped after."""
    if "platform_settings" in request.fixturenames:
        request.getfixturevalue("platform_settings")  # its overrides must reach the worker
    with run_worker(settings) as handle:
        yield handle


@pytest.fixture
def celery_prefork_worker_process(
    request: pytest.FixtureRequest, settings: Any, transactional_db: None
) -> Iterator[WorkerHandle]:
    """The same with a prefork pool of one child (`handle.pool_children()`), the process that
    runs every task: a test may kill it mid-task (killing an idle child could leave the pool's
    shared queue lock held)."""
    if "platform_settings" in request.fixturenames:
        request.getfixturevalue("platform_settings")
    with run_worker(settings, pool="prefork", concurrency=1) as handle:
        yield handle


def wait_for(predicate: Any, *, timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll `predicate()` until it returns something truthy; fail with the last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        time.sleep(interval)
        value = predicate()
    return value
