"""The production recipe, exercised: gunicorn with gunicorn.conf.py, and `check --deploy` with
the environment documented in deploy/env.example."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from devices.services.subscriptions import NOTIFY_TYPES
from oceanconnect import MemoryStore, PlatformClient, PlatformConfig
from tests.support.simulator import start_simulator

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = REPO_ROOT / "deploy" / "env.example"
PUSH_SECRET = "gunicorn-push-secret-5678"
STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def documented_environment() -> dict[str, str]:
    env = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    return env


def test_gunicorn_serves_and_masks_the_push_secret_in_its_access_log(tmp_path):
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "IOTADMIN_VAR_DIR": str(tmp_path),
        "IOT_PUSH_SECRET": PUSH_SECRET,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
    }
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    # Its own database (a refused push is audited): migrated before gunicorn starts.
    env = {key: value for key, value in env.items() if key != "DATABASE_URL"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [gunicorn, "-c", "gunicorn.conf.py"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                health = requests.get(f"{base}/healthz", timeout=5)
                break
            except requests.RequestException:  # not listening, or no worker booted yet
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
        assert health.json() == {"status": "ok"}
        push = requests.post(
            f"{base}/platform/push/{PUSH_SECRET}/",
            data=b"{}",
            headers={"Referer": f"{base}/platform/push/{PUSH_SECRET}/"},
            timeout=5,
        )
        assert push.status_code == 400  # the secret matched; the body is not a push
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    log = log_path.read_text()
    assert '"GET /healthz HTTP/1.1" 200' in log
    assert "POST /platform/push/<redacted>/" in log
    assert PUSH_SECRET not in log


@pytest.fixture
def private_sim():
    with start_simulator(
        "--quiet", "--app-secret", "a-production-like-app-secret-5xQ", http=True
    ) as handle:
        yield handle


def test_check_deploy_passes_with_the_documented_production_environment(
    tmp_path, private_sim, require_redis
):
    documented = documented_environment()
    assert documented["DJANGO_DEBUG"] == "false"
    # The deploy checks ask the platform where it pushes: here the platform is a simulator
    # (plain HTTP, an app whose secret is not the demo one), already pushing the four types to
    # the documented callback URL; the shared store (tokens, flow limit) is this machine's Redis.
    sim = private_sim
    platform = {
        "REDIS_URL": require_redis,
        "IOT_STORE_PREFIX": f"test:deploy:{uuid.uuid4().hex}:",
        "IOT_PLATFORM_URL": sim.url,
        "IOT_APP_ID": sim.app_id,
        "IOT_APP_SECRET": sim.app_secret,
        "IOT_CA_FILE": "",
        "IOT_CLIENT_CERT": "",
        "IOT_CLIENT_KEY": "",
    }
    client = PlatformClient(
        config=PlatformConfig.from_settings(SimpleNamespace(**platform)), store=MemoryStore()
    )
    try:
        for notify_type in NOTIFY_TYPES:
            client.subscribe(notify_type, documented["IOT_CALLBACK_URL"])
    finally:
        client.close()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "IOT_", "DATABASE_", "CELERY_", "REDIS_", "PYTEST_"))
    }
    env.update(documented)
    env.update(platform)
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "IOTADMIN_VAR_DIR": str(tmp_path),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "iotadmin.settings",
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


def test_check_deploy_fails_with_the_development_defaults(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "IOT_", "PYTEST_"))
    }
    env.update({"PYTHONPATH": str(REPO_ROOT), "IOTADMIN_VAR_DIR": str(tmp_path)})
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert b"iotadmin.E001" in result.stderr
