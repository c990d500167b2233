"""Several machines, for real: two gunicorn web processes, two Celery workers and one beat on
PostgreSQL, RabbitMQ (a private vhost) and Redis (a private prefix), against the simulator.

A technician logs in, requests a swap, reads the code, plugs the unit in (the simulator binds
it and pushes bindDevice) and sees Bound, alternately through both web processes; one worker
is SIGKILLed mid-run. Every swap must end bound, the platform must have seen exactly one login
(the shared token) and no 1010009 (the shared flow limiter).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests

from oceanconnect.catalogue import THROTTLED
from oceanconnect.client import LOGIN_PATH
from tests.factories import make_imei
from tests.support.environment import redis_url, require, tcp_reachable
from tests.support.simulator import start_simulator
from tests.support.worker import wait_for

pytestmark = pytest.mark.multiprocess_deploy

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
SWAPS = 6
KILL_AFTER = 2
PASSWORD = "swap-demo-2026"
FINAL_STATES = {"bound", "expired", "failed", "cancelled", "rejected"}
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CODE = re.compile(r'id="verify-code"[^>]*>([^<]+)<')


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rabbitmqctl(*args: str) -> bool:
    if not shutil.which("rabbitmqctl"):
        return False
    result = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, timeout=60)
    return result.returncode == 0


@contextmanager
def private_broker(name: str) -> Iterator[dict[str, str]]:
    """A private RabbitMQ vhost, or (when it cannot be made) a private queue on "/"."""
    if rabbitmqctl("add_vhost", name) and rabbitmqctl(
        "set_permissions", "-p", name, "guest", ".*", ".*", ".*"
    ):
        try:
            yield {"CELERY_BROKER_URL": f"{AMQP_URL}/{name}"}
        finally:
            rabbitmqctl("delete_vhost", name)
    else:
        yield {
            "CELERY_BROKER_URL": f"{AMQP_URL}//",
            "CELERY_TASK_DEFAULT_QUEUE": name,
            "CELERY_SWAP_SEND_QUEUE": f"{name}-send",
        }


@contextmanager
def private_database(name: str) -> Iterator[str]:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Processes:
    """Started processes, each logging to its own file; stopped (or killed) at the end."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = env
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *command: str, **extra_env: str) -> subprocess.Popen[bytes]:
        with open(self.folder / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                list(command),
                cwd=REPO_ROOT,
                env={**self.env, **extra_env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.started[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{self.log(name)[-3000:]}" for name in self.started)

    def stop_all(self) -> None:
        for process in self.started.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "python"), "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, (result.stdout + result.stderr).decode()[-4000:]
    return result.stdout.decode()


def page_with_csrf(session: requests.Session, url: str) -> str:
    answer = session.get(url, timeout=10)
    answer.raise_for_status()
    match = CSRF.search(answer.text)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def technician_swap(*, web: str, device_pk: int, sim, imei: str) -> str:
    """Log in, request a swap, read the code, plug the unit in, see Bound. Returns the swap URL."""
    session = requests.Session()
    session.trust_env = False
    token = page_with_csrf(session, f"{web}/login/")
    login = session.post(
        f"{web}/login/",
        data={"username": "field", "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{web}/login/"},
        timeout=10,
    )
    assert login.ok and "/login/" not in login.url, login.text[:500]

    device_url = f"{web}/devices/{device_pk}/"
    token = page_with_csrf(session, device_url)
    requested = session.post(
        device_url,
        data={
            "csrfmiddlewaretoken": token,
            "kind": "imei",
            "chipset": "qualcomm",
            "new_identifier": imei,
            "verify_code_mode": "platform",
            "custom_verify_code": "",
            "validity": "other",
            "validity_minutes": "10",
            "reason": "INC-42 several machines",
        },
        headers={"Referer": device_url},
        timeout=10,
    )
    assert requested.ok and "/swaps/" in requested.url, requested.text[-2000:]
    swap_url = requested.url

    def code_on_page() -> str | None:
        match = CODE.search(session.get(swap_url, timeout=10).text)
        return match.group(1).strip() if match else None

    code = wait_for(code_on_page, timeout=40, interval=0.2)
    bound = sim.bind(f"urn:imei:{imei}", code)
    assert bound.get("bound") is True, bound
    wait_for(lambda: "✓ Bound" in session.get(swap_url, timeout=10).text, timeout=40)
    return swap_url


def test_two_webs_two_workers_one_beat_share_one_login_and_the_flow_limit(tmp_path):
    require(tcp_reachable(POSTGRES_URL, 5432), f"no PostgreSQL at {POSTGRES_URL}")
    require(tcp_reachable(AMQP_URL, 5672), f"no RabbitMQ at {AMQP_URL}")
    require(tcp_reachable(redis_url(), 6379), f"no Redis at {redis_url()}")
    import psycopg

    run = uuid.uuid4().hex[:10]
    with ExitStack() as stack:
        sim = stack.enter_context(start_simulator("--quiet", http=True))
        database = stack.enter_context(private_database(f"iotadmin_mp_{run}"))
        broker = stack.enter_context(private_broker(f"iotadmin-test-{run}"))
        webs = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(
                ("DJANGO_", "IOT_", "DATABASE_", "CELERY_", "REDIS_", "PYTEST_", "SWAP_")
            )
        }
        env.update(broker)
        env.update(
            {
                "PYTHONPATH": str(REPO_ROOT),
                "PYTHONUNBUFFERED": "1",
                "DJANGO_SETTINGS_MODULE": "iotadmin.settings",
                "DJANGO_SECRET_KEY": f"multiprocess-test-{run}-" + "k" * 40,
                "IOTADMIN_VAR_DIR": str(tmp_path),
                "DATABASE_URL": database,
                "REDIS_URL": redis_url(),
                "IOT_STORE_PREFIX": f"test:mp:{run}:",
                "IOT_PLATFORM_URL": sim.url,
                "IOT_APP_ID": sim.app_id,
                "IOT_APP_SECRET": sim.app_secret,
                "IOT_CA_FILE": "",
                "IOT_PUSH_SECRET": f"push-{run}",
                "IOT_CALLBACK_URL": f"{webs[0]}/platform/push/push-{run}/",
                "SWAP_APPROVAL_NEVER_EXPIRING": "false",
                "SWAP_APPROVAL_CODE_MODES": "",
                "SWAP_APPROVAL_REPEAT_DAYS": "0",
                "SWAP_APPROVAL_WORKING_HOURS": "",
                "HEARTBEAT_INTERVAL_SECONDS": "1",
                "HEARTBEAT_MAX_AGE_SECONDS": "5",
                "DEMO_PASSWORD": PASSWORD,
            }
        )
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "demo_bootstrap", "--wait", "10")  # sync, subscribe, users: the one login

        processes = Processes(tmp_path, env)
        stack.callback(processes.stop_all)
        for index, web in enumerate(webs):
            processes.start(
                f"web{index}",
                str(BIN / "gunicorn"),
                "-c",
                "gunicorn.conf.py",
                GUNICORN_BIND=web.removeprefix("http://"),
                GUNICORN_WORKERS="2",
            )
        # Every worker takes both queues: the default one and the swap sends' own.
        queues = ",".join(
            (
                env.get("CELERY_TASK_DEFAULT_QUEUE", "celery"),
                env.get("CELERY_SWAP_SEND_QUEUE", "platform-send"),
            )
        )
        worker_command = [
            *(str(BIN / "celery"), "-A", "iotadmin", "worker", "--pool", "threads"),
            *("-Q", queues),
        ]
        workers = [
            processes.start(
                f"worker{index}",
                *worker_command,
                "--concurrency",
                "2",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
                "-n",
                f"mp{index}-{run}@%h",
            )
            for index in range(2)
        ]
        processes.start("beat", str(BIN / "celery"), "-A", "iotadmin", "beat", "--loglevel", "INFO")

        def ready() -> bool:
            try:
                answers = [requests.get(f"{web}/readyz", timeout=5) for web in webs]
            except requests.RequestException:  # not listening, or no worker booted yet
                return False
            checks = answers[-1].json()["checks"]
            return all(a.status_code == 200 for a in answers) and checks["workers"]["alive"] == 2

        try:
            wait_for(ready, timeout=45, interval=0.2)
        except AssertionError:
            raise AssertionError(f"the deployment did not get ready:\n{processes.logs()}") from None

        with psycopg.connect(database, autocommit=True) as db:
            candidates = sim.devices(
                status="OFFLINE", activated=True, owner=sim.app_id, nbiot=False
            )
            offline = [device["deviceId"] for device in candidates]
            pks = [
                db.execute(
                    "SELECT id FROM devices_device WHERE device_id = %s", (device_id,)
                ).fetchone()[0]
                for device_id in offline[:SWAPS]
            ]
        assert len(pks) == SWAPS

        try:
            for index, device_pk in enumerate(pks):
                if index == KILL_AFTER:
                    workers[0].send_signal(signal.SIGKILL)
                    workers[0].wait(timeout=10)
                technician_swap(web=webs[index % 2], device_pk=device_pk, sim=sim, imei=make_imei())
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{processes.logs()}") from None

        with psycopg.connect(database, autocommit=True) as db:
            states = [row[0] for row in db.execute("SELECT state FROM devices_swap").fetchall()]
        assert len(states) == SWAPS
        assert set(states) <= FINAL_STATES
        assert states == ["bound"] * SWAPS

        calls = sim.calls()
        assert [c["path"] for c in calls if c["path"] == LOGIN_PATH] == [LOGIN_PATH]
        assert [c for c in calls if c["code"] == THROTTLED] == []
        secret_leaks = [name for name in processes.started if f"push-{run}/" in processes.log(name)]
        assert secret_leaks == []
