"""Fixtures that start the platform simulator (`python -m simulator`) and drive it.

- `simulator` (session): one plain-HTTP simulator for the whole run.
- `sim` (function): the same process, reset to its seeded state before the test.
- `start_simulator(*args, http=True, control_verify=None)`: a private process with its own
  options (also a fixture). `control_verify`: what the helper's own control session trusts
  instead of the generated ca.pem, for a simulator started with a broken `--server-cert`
  (False: no check, for the control channel only; the client under test never skips it).
- `platform_settings`: Django settings pointing the platform client at `sim`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 20.0
DEFAULT_APP_ID = "iotadmin-demo-app"
DEFAULT_APP_SECRET = "iotadmin-demo-secret"
DEFAULT_SECOND_APP_ID = "partner-app"
DEFAULT_SECOND_APP_SECRET = "partner-app-secret"


class SimulatorHandle:
    """A running simulator process and its control endpoints (tests and demos only)."""

    def __init__(
        self,
        *,
        url: str,
        process: subprocess.Popen[bytes],
        cert_dir: Path,
        log_path: Path,
        app_id: str,
        app_secret: str,
        second_app_id: str,
        second_app_secret: str,
        https: bool,
        client_cert_required: bool,
        control_verify: str | bool | None = None,
    ) -> None:
        self.url = url
        self.process = process
        self.cert_dir = cert_dir
        self.log_path = log_path
        self.app_id = app_id
        self.app_secret = app_secret
        self.second_app_id = second_app_id
        self.second_app_secret = second_app_secret
        self.https = https
        self.session = requests.Session()
        # Not the environment's REQUESTS_CA_BUNDLE (it would override session.verify) nor proxies.
        self.session.trust_env = False
        if https:
            self.session.verify = str(self.ca_file) if control_verify is None else control_verify
            if client_cert_required:
                self.session.cert = (str(self.client_cert), str(self.client_key))

    # certificate files (HTTPS only)
    @property
    def ca_file(self) -> Path:
        return self.cert_dir / "ca.pem"

    @property
    def client_cert(self) -> Path:
        return self.cert_dir / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.cert_dir / "client-key.pem"

    def log(self) -> str:
        """What the process wrote to stdout/stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # control endpoints
    def _get(self, path: str, **params: Any) -> Any:
        answer = self.session.get(self.url + path, params=params, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def _post(self, path: str, body: Any = None, *, ok_statuses: tuple[int, ...] = (200,)) -> Any:
        answer = self.session.post(self.url + path, json=body or {}, timeout=10)
        if answer.status_code not in ok_statuses:
            raise AssertionError(
                f"simulator {path} answered {answer.status_code}: {answer.text[:500]}"
            )
        return answer.json()

    def health(self) -> dict[str, Any]:
        return self._get("/simulator/health")

    def reset(self) -> dict[str, Any]:
        return self._post("/simulator/reset")

    def calls(self, *, since: float | None = None) -> list[dict[str, Any]]:
        params = {"since": since} if since is not None else {}
        return self._get("/simulator/calls", **params)["calls"]

    def faults(self, **kw: Any) -> dict[str, Any]:
        """e.g. faults(mode="reset", count=1, path_contains="deviceCredentials", latency_ms=0)."""
        return self._post("/simulator/faults", kw)

    def journal(self) -> list[dict[str, Any]]:
        """The refreshes the simulator applied, oldest first: deviceId, nodeId, verifyCode,
        appliedAt (unix time)."""
        return self._get("/simulator/journal")["refreshes"]

    def faults_in_force(self) -> dict[str, Any]:
        return self._get("/simulator/faults")

    def clear_faults(self) -> dict[str, Any]:
        return self._post("/simulator/faults", {})

    def invalidate_tokens(self) -> dict[str, Any]:
        return self._post("/simulator/invalidate-tokens")

    def flow_limit(self, n: int) -> dict[str, Any]:
        return self._post("/simulator/flow-limit", {"limit": n})

    def bind(
        self, node_id: str, verify_code: str | None = None, *, push_device_info: bool = True
    ) -> dict[str, Any]:
        """The new unit connects; {"deviceId", "bound": True} or {"bound": False, "error"}.
        No verify_code: the unit presents none (an NB-IoT unit attaching with its IMEI).
        push_device_info=False: its bindDevice push has no deviceInfo (optional on the platform)."""
        body: dict[str, Any] = {"nodeId": node_id, "pushDeviceInfo": push_device_info}
        if verify_code is not None:
            body["verifyCode"] = verify_code
        return self._post("/simulator/bind", body, ok_statuses=(200, 400))

    def devices(self, **filters: Any) -> list[dict[str, Any]]:
        """Filters: status, activated (bool), owner, nodeId, nbiot (bool: CoAP/LWM2M), limit."""
        params = {
            k: (str(v).lower() if isinstance(v, bool) else v)
            for k, v in filters.items()
            if v is not None
        }
        return self._get("/simulator/devices", **params)["devices"]

    def device(self, device_id: str) -> dict[str, Any]:
        return self._get(f"/simulator/devices/{device_id}")

    def set_device(self, device_id: str, **state: Any) -> dict[str, Any]:
        """status="ONLINE"|..., activated=bool, nodeId="..."; sends deviceInfoChanged."""
        return self._post(f"/simulator/devices/{device_id}", state)

    def expire_bindings(self) -> dict[str, Any]:
        return self._post("/simulator/expire-bindings")

    def pushes(self) -> list[dict[str, Any]]:
        return self._get("/simulator/pushes")["pushes"]

    def wait_for_pushes(
        self, predicate: Any = None, *, count: int = 1, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Pushes matching `predicate(push)`, once at least `count` of them were attempted."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [p for p in self.pushes() if predicate is None or predicate(p)]
            if len(matching) >= count or time.monotonic() > deadline:
                return matching
            time.sleep(0.05)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _option(args: tuple[str, ...], name: str, default: str) -> str:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _wait_until_serving(handle: SimulatorHandle) -> bool:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline and handle.process.poll() is None:
        try:
            if handle.session.get(handle.url + "/simulator/health", timeout=1).ok:
                return True
        except (requests.RequestException, OSError):
            pass  # not listening yet, or ca.pem not written yet
        time.sleep(0.05)
    return False


def _launch(
    args: tuple[str, ...], http: bool, control_verify: str | bool | None = None
) -> SimulatorHandle:
    own_dir = "--cert-dir" not in " ".join(args)
    cert_dir = Path(
        tempfile.mkdtemp(prefix="iotadmin-sim-") if own_dir else _option(args, "--cert-dir", "")
    )
    log_path = Path(tempfile.mkstemp(prefix="iotadmin-sim-", suffix=".log")[1])
    require_client_cert = "--require-client-cert" in args
    last_error = ""
    for _ in range(3):  # a free port can be taken by someone else before we bind it
        port = _free_port()
        command = [sys.executable, "-m", "simulator", "--port", str(port), "--exit-with-parent"]
        if own_dir:
            command += ["--cert-dir", str(cert_dir)]
        if http:
            command.append("--http")
        command += list(args)
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
            )
        handle = SimulatorHandle(
            url=f"{'http' if http else 'https'}://127.0.0.1:{port}",
            process=process,
            cert_dir=cert_dir,
            log_path=log_path,
            app_id=_option(args, "--app-id", DEFAULT_APP_ID),
            app_secret=_option(args, "--app-secret", DEFAULT_APP_SECRET),
            second_app_id=_option(args, "--second-app-id", DEFAULT_SECOND_APP_ID),
            second_app_secret=_option(args, "--second-app-secret", DEFAULT_SECOND_APP_SECRET),
            https=not http,
            client_cert_required=require_client_cert,
            control_verify=control_verify,
        )
        serving = False
        try:
            serving = _wait_until_serving(handle)
        finally:
            if not serving:
                _stop(process)  # never leave an orphan behind, whatever went wrong
        if serving:
            handle.own_cert_dir = own_dir  # type: ignore[attr-defined]
            return handle
        last_error = handle.log()
        if "cannot listen" not in last_error:
            break
    raise RuntimeError(f"the simulator did not start ({' '.join(args)}):\n{last_error}")


def _close(handle: SimulatorHandle) -> None:
    handle.session.close()
    _stop(handle.process)
    if getattr(handle, "own_cert_dir", False):
        shutil.rmtree(handle.cert_dir, ignore_errors=True)
    handle.log_path.unlink(missing_ok=True)


@contextlib.contextmanager
def start_simulator(
    *args: str, http: bool = True, control_verify: str | bool | None = None
) -> Iterator[SimulatorHandle]:
    """A private simulator process with its own options, on a free port, stopped on exit."""
    handle = _launch(tuple(args), http, control_verify)
    try:
        yield handle
    finally:
        _close(handle)


@pytest.fixture(name="start_simulator")
def start_simulator_fixture() -> Any:
    """The `start_simulator` context manager, for tests that prefer a fixture to an import."""
    return start_simulator


@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorHandle]:
    """One plain-HTTP simulator for the whole test session."""
    with start_simulator("--quiet", http=True) as handle:
        yield handle


@pytest.fixture
def sim(simulator: SimulatorHandle) -> Iterator[SimulatorHandle]:
    """The session simulator, back to its seeded state (no faults, tokens, calls, pushes)."""
    simulator.reset()
    yield simulator


@pytest.fixture
def platform_settings(settings: Any, sim: SimulatorHandle) -> Iterator[Any]:
    """Django settings pointing the platform client at `sim`, with a private store prefix."""
    from devices.platform_wiring import reset_client

    settings.IOT_PLATFORM_URL = sim.url
    settings.IOT_APP_ID = sim.app_id
    settings.IOT_APP_SECRET = sim.app_secret
    settings.IOT_CA_FILE = ""
    settings.IOT_CLIENT_CERT = ""
    settings.IOT_CLIENT_KEY = ""
    settings.IOT_STORE_PREFIX = f"test:{uuid.uuid4().hex}:"
    settings.IOT_CONNECT_TIMEOUT = 2
    settings.IOT_READ_TIMEOUT = 3
    reset_client()
    yield settings
    reset_client()
