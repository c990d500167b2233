"""Benchmark: the time from "Request the new verifyCode" to the code shown, end to end.

    .venv/bin/python benchmarks/swap_latency.py [--samples 20] [--warmup 1]
        [--database-url postgres://postgres@127.0.0.1:5432/iotadmin_bench_latency]
        [--broker-url redis://127.0.0.1:6379/9]
        [--env NAME=VALUE ...] [--panel-poll 2s] [--pool prefork|threads]

Everything is real and on loopback: the platform simulator (`python -m simulator --http`), a
scratch database (SQLite in a temporary folder by default; with a PostgreSQL --database-url the
database is created here and dropped at the end, and must not exist yet), `migrate`,
`sync_devices`, a Celery worker subprocess (the filesystem broker in the temporary folder by
default, or --broker-url), the web app (`manage.py runserver --noreload`) and Debian's
Chromium driven by Playwright, signed in as a Field service user.

For each sample the browser opens a different OFFLINE, activated device's page (from the
simulator's `GET /simulator/devices?status=OFFLINE&activated=true`), types a new HiSilicon IMEI
(valid Luhn), waits for the live nodeId preview, and the clock runs from the click on the
submit button until `#verify-code` is visible (the panel shows the code). Printed per sample and
as median / p90 / min / max, with a breakdown from the database and the simulator's call log:

    page     click -> the swap page has loaded (POST, htmx redirect, GET)
    poll1    click -> the code panel's first poll request starts (browser timing; none when
             the page already showed the code)
    answer   click -> the answer to the last poll (the one with the code) has arrived
    web      click -> swap row created (the POST, with its live get_device pre-check)
    queue    created -> the refresh call reaches the platform (enqueue, broker, worker pick-up)
    send     refresh call arrives -> code_issued_at stored (platform answer, encrypt, commit)
    display  code_issued_at -> code visible (redirect, page load, the panel's poll)
    service  created -> code_issued_at (the service-level timer: queue + send)

--env NAME=VALUE is given to the web app and the worker (e.g. CELERY_BROKER_POLLING_INTERVAL=1
to see the kombu default). --panel-poll serves a patched copy of templates/devices/
swap_detail.html with `hx-trigger="every <value>"`, --panel-poll-pending one that polls at
<value> only while the first attempt is queued or sending (through a settings module that puts
the copy first; the application's files are not touched). All processes started here are stopped,
and the temporary folder removed, on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.simulator import SimulatorHandle, start_simulator  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
USERNAME = "bench-field"
PASSWORD = "bench-latency-pass-2026"
REFRESH_PATH = "/iocm/app/reg/v1.1.0/deviceCredentials/"
STARTUP_TIMEOUT = 60.0
CODE_TIMEOUT_MS = 30_000
PANEL_TEMPLATE = REPO_ROOT / "templates" / "devices" / "swap_detail.html"
PANEL_POLL = re.compile(r"/swaps/\d+/\?v=")
PANEL_TRIGGER = re.compile(r'hx-trigger="every [0-9.]+m?s"')


@dataclass
class Sample:
    device_pk: int
    device_id: str
    imei: str
    clicked: float  # unix time (the browser's clock: same machine as the servers)
    on_swap_page: float
    visible: float
    swap_id: int = 0
    created: float = 0.0
    refresh_arrived: float = 0.0
    code_issued: float = 0.0
    first_poll: float = float("nan")  # unix time the panel's first poll request started
    last_poll_answered: float = float("nan")  # unix time the last poll's answer had arrived
    polls: int = 0

    @property
    def total(self) -> float:
        return self.visible - self.clicked

    @property
    def parts(self) -> dict[str, float]:
        return {
            "page": self.on_swap_page - self.clicked,
            "poll1": self.first_poll - self.clicked,
            "answer": self.last_poll_answered - self.clicked,
            "web": self.created - self.clicked,
            "queue": self.refresh_arrived - self.created,
            "send": self.code_issued - self.refresh_arrived,
            "display": self.visible - self.code_issued,
            "service": self.code_issued - self.created,
        }


def new_imei(n: int) -> str:
    from devices.identifiers import luhn_check_digit

    body = f"8699{os.getpid() % 1000:03d}{n:07d}"
    return body + str(luhn_check_digit(body))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p90 of 20 samples is the 18th smallest)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered) - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


# --- processes ---------------------------------------------------------------------------------


class Processes:
    """Every subprocess started here, stopped (TERM, then KILL) in reverse order."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: prefork children stop with it
        )
        log.close()
        self.started.append((name, process))
        return process

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for _name, process in reversed(self.started):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for _name, process in reversed(self.started):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.started.clear()


def run_manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout.strip()


def wait_until(predicate: Any, what: str, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")
        time.sleep(0.1)


# --- scratch PostgreSQL database -----------------------------------------------------------------


def _admin_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name or ""):
        raise SystemExit(f"--database-url: use a plain database name, not {name!r}")
    return urlunsplit(parts._replace(path="/postgres")), name


@contextlib.contextmanager
def scratch_postgres(url: str) -> Iterator[None]:
    """Create the database named in `url`, drop it afterwards; refuse one that exists."""
    import psycopg

    admin, name = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            raise SystemExit(f"database {name} already exists: pick another name or drop it")
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the patched panel template ------------------------------------------------------------------


def panel_trigger(args: argparse.Namespace) -> str:
    """The patched hx-trigger: one interval, or a faster one only while the first attempt is
    queued or being sent (a swap waiting for a retry keeps the slow poll)."""
    if args.panel_poll_pending:
        rest = args.panel_poll or "2s"
        return (
            'hx-trigger="every {% if swap.state == "sending" or swap.state == "queued" and '
            "not swap.attempts %}"
            f'{args.panel_poll_pending}{{% else %}}{rest}{{% endif %}}"'
        )
    return f'hx-trigger="every {args.panel_poll}"'


def patched_settings(scratch: Path, trigger: str) -> str:
    """A settings module that serves swap_detail.html with another poll trigger."""
    text = PANEL_TEMPLATE.read_text()
    if len(PANEL_TRIGGER.findall(text)) != 1:
        raise SystemExit("templates/devices/swap_detail.html: no single hx-trigger='every …'")
    template_dir = scratch / "patched-templates"
    (template_dir / "devices").mkdir(parents=True)
    (template_dir / "devices" / "swap_detail.html").write_text(
        PANEL_TRIGGER.sub(lambda _match: trigger, text)
    )
    module_dir = scratch / "settings-shim"
    module_dir.mkdir()
    (module_dir / "bench_latency_settings.py").write_text(
        "from iotadmin.settings import *  # noqa: F403\n"
        "from iotadmin.settings import TEMPLATES\n\n"
        f"TEMPLATES[0]['DIRS'] = [{str(template_dir)!r}, *TEMPLATES[0]['DIRS']]\n"
    )
    return str(module_dir)


# --- the measurement -----------------------------------------------------------------------------


def app_environment(
    args: argparse.Namespace, sim: SimulatorHandle, var_dir: Path, database_url: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IOT_", "PYTEST_"))}
    env.pop("REDIS_URL", None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "iotadmin.settings",
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
            "IOTADMIN_VAR_DIR": str(var_dir),
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": args.broker_url or "filesystem://",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "IOT_PLATFORM_URL": sim.url,
            "IOT_CA_FILE": "",
            "IOT_APP_ID": sim.app_id,
            "IOT_APP_SECRET": sim.app_secret,
            "IOT_AUTHORIZING_APP_IDS": sim.second_app_id,
            "IOT_STORE_PREFIX": args.store_prefix,
            "IOT_CALLBACK_URL": "http://127.0.0.1:9/unused/",
            # No four-eyes wait for these swaps, whatever the time of day.
            "SWAP_APPROVAL_WORKING_HOURS": "",
            "SWAP_APPROVAL_REPEAT_DAYS": "0",
            "DJANGO_LOG_LEVEL": "WARNING",
        }
    )
    for item in args.env:
        name, _, value = item.partition("=")
        env[name] = value
    return env


def setup_django(env: dict[str, str]) -> None:
    for name in ("DJANGO_SETTINGS_MODULE", "IOTADMIN_VAR_DIR", "DATABASE_URL"):
        os.environ[name] = env[name]
    for name, value in env.items():
        if name.startswith(("IOT_", "CELERY_", "SWAP_")):
            os.environ[name] = value
    # Playwright's sync API runs an event loop in this thread; the ORM reads here are plain.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    import django

    django.setup()


def create_field_user() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from devices.roles import FIELD_SERVICE

    user = get_user_model().objects.create_user(
        username=USERNAME, password=PASSWORD, first_name="Bench Field"
    )
    user.groups.add(Group.objects.get(name=FIELD_SERVICE))


def pick_devices(sim: SimulatorHandle, count: int) -> list[tuple[int, str]]:
    """(pk, deviceId) of `count` offline, activated devices of our app that the sync mirrored,
    whose nodeId is an IMEI and that present a verifyCode (the common case: not NB-IoT)."""
    from devices.models import Device

    listed = [
        d["deviceId"]
        for d in sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, nbiot=False)
        if re.fullmatch(r"(urn:imei:)?\d{15}", d["nodeId"])
    ]
    mirrored = dict(Device.objects.filter(device_id__in=listed).values_list("device_id", "pk"))
    chosen = [(mirrored[d], d) for d in listed if d in mirrored]
    if len(chosen) < count:
        raise SystemExit(f"only {len(chosen)} offline IMEI devices; asked for {count}")
    return chosen[:count]


def log_in(page: Any, base: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


# Installed in every document: the click on the submit button and the first animation frame
# after #verify-code is in the page with its text, as epoch ms (performance.timeOrigin-based).
# Measured in the browser because Playwright's own waits poll (up to every 500 ms).
BROWSER_CLOCK = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  document.addEventListener("click", (event) => {
    if (event.target.closest && event.target.closest("#swap-form button[type=submit]")) {
      sessionStorage.setItem("benchClickedAt", String(performance.timeOrigin + event.timeStamp));
    }
  }, true);
  let seen = false;
  const check = () => {
    const code = document.getElementById("verify-code");
    if (seen || !code || !code.textContent.trim()) return seen;
    seen = true;
    requestAnimationFrame(() => { window.__benchCodeShownAt = now(); });
    return true;
  };
  const observer = new MutationObserver(() => { if (check()) observer.disconnect(); });
  observer.observe(document, { childList: true, subtree: true, characterData: true });
})();
"""


def one_swap(page: Any, base: str, device_pk: int, device_id: str, imei: str) -> Sample:
    page.goto(f"{base}/devices/{device_pk}/")
    # Kind, IMEI format, code and validity are inferred from the device (the short form).
    page.get_by_label("New unit's identifier").fill(imei)
    # Let the live preview settle first, so the click does not race its request.
    page.locator("#node-preview code", has_text=imei).wait_for()
    button = page.get_by_role("button", name="Request the new verifyCode")
    button.wait_for()
    finished: list[Any] = []

    def record(request: Any) -> None:
        finished.append(request)

    page.on("requestfinished", record)
    button.click()
    page.wait_for_url(re.compile(r".*/swaps/\d+/$"), timeout=CODE_TIMEOUT_MS)
    page.locator("#verify-code").wait_for(state="visible", timeout=CODE_TIMEOUT_MS)
    # The clock is the browser's (epoch ms, see BROWSER_CLOCK): Playwright only synchronises.
    marks = page.wait_for_function(
        "() => window.__benchCodeShownAt && {"
        " clicked: Number(sessionStorage.getItem('benchClickedAt')),"
        " loaded: performance.timeOrigin"
        "  + performance.getEntriesByType('navigation')[0].loadEventEnd,"
        " shown: window.__benchCodeShownAt }"
    ).json_value()
    page.wait_for_timeout(100)  # let the last requestfinished events arrive (not timed)
    page.remove_listener("requestfinished", record)
    clicked, on_swap_page, visible = (marks[k] / 1000 for k in ("clicked", "loaded", "shown"))
    sample = Sample(device_pk, device_id, imei, clicked, on_swap_page, visible)
    # Browser-side start times (epoch ms) of the panel's polls: when the first one went out.
    polls = sorted(
        (r.timing["startTime"] / 1000, r.timing["responseEnd"] / 1000)
        for r in finished
        if PANEL_POLL.search(r.url)
    )
    sample.polls = len(polls)
    if polls:
        sample.first_poll = polls[0][0]
        sample.last_poll_answered = polls[-1][0] + polls[-1][1]
    return sample


def complete_from_records(samples: list[Sample], sim: SimulatorHandle) -> None:
    from devices.models import Swap, SwapState

    calls = [c for c in sim.calls() if c["method"] == "PUT" and c["path"].startswith(REFRESH_PATH)]
    for sample in samples:
        swap = Swap.objects.get(
            device__device_id=sample.device_id, new_node_id__endswith=sample.imei
        )
        if swap.state != SwapState.CODE_ISSUED or swap.code_issued_at is None:
            raise RuntimeError(f"swap {swap.pk} is {swap.state}, not code_issued")
        sample.swap_id = swap.pk
        sample.created = swap.created_at.timestamp()
        sample.code_issued = swap.code_issued_at.timestamp()
        arrivals = [
            c["time"]
            for c in calls
            if c["path"] == REFRESH_PATH + sample.device_id and c["time"] >= sample.created
        ]
        sample.refresh_arrived = min(arrivals) if arrivals else float("nan")


def summarise(name: str, values: list[float]) -> str:
    return (
        f"{name:<8} median {statistics.median(values):6.3f}  p90 {percentile(values, 0.9):6.3f}"
        f"  min {min(values):6.3f}  max {max(values):6.3f}"
    )


def report(samples: list[Sample], warmups: list[Sample], sim: SimulatorHandle) -> dict[str, Any]:
    print()
    print(
        f"{'#':>3} {'swap':>5} {'total':>7} {'page':>7} {'poll1':>7} {'answer':>7} {'web':>7} "
        f"{'queue':>7} "
        f"{'send':>7} {'display':>8} {'service':>8} {'polls':>5}   (seconds)"
    )
    for label, rows in (("warm-up", warmups), ("", samples)):
        for index, sample in enumerate(rows, 1):
            p = sample.parts
            tag = "w" if label else str(index)
            print(
                f"{tag:>3} {sample.swap_id:>5} {sample.total:7.3f} {p['page']:7.3f} "
                f"{p['poll1']:7.3f} {p['answer']:7.3f} {p['web']:7.3f} {p['queue']:7.3f} "
                f"{p['send']:7.3f} {p['display']:8.3f} {p['service']:8.3f} {sample.polls:>5}"
            )
    print()
    totals = [s.total for s in samples]
    print(summarise("total", totals) + "   <- submit to code shown (browser)")
    for part in ("page", "poll1", "answer", "web", "queue", "send", "display", "service"):
        values = [s.parts[part] for s in samples if not math.isnan(s.parts[part])]
        if values:
            print(summarise(part, values))
    calls = [c for c in sim.calls() if c["path"].startswith("/iocm/")]
    throttled = sum(1 for c in calls if c["code"] == "1010009")
    print(f"platform calls: {len(calls)}, 1010009 answers: {throttled}")
    return {
        "samples": [{"total": s.total, **s.parts} for s in samples],
        "median": statistics.median(totals),
        "p90": percentile(totals, 0.9),
        "min": min(totals),
        "max": max(totals),
        "service_median": statistics.median(s.parts["service"] for s in samples),
        "throttled": throttled,
    }


def start_app(
    args: argparse.Namespace,
    sim: SimulatorHandle,
    env: dict[str, str],
    processes: Processes,
    *,
    name: str,
    database_url: str,
    web_env: dict[str, str] | None = None,
    startup_timeout: float = STARTUP_TIMEOUT,
) -> tuple[list[tuple[int, str]], str]:
    """Migrate and sync the scratch database, create the Field service user, start a Celery
    worker (both queues: swap_send is routed to CELERY_SWAP_SEND_QUEUE) and runserver, and wait
    for both. Returns the devices to swap (pk, deviceId) and the web app's base URL."""
    print("migrate, sync_devices ...", flush=True)
    run_manage(env, "migrate", "--noinput", "-v", "0")
    print("  " + run_manage(env, "sync_devices"), flush=True)
    setup_django(env)
    create_field_user()
    devices = pick_devices(sim, args.samples + args.warmup)

    queues = f"celery,{env.get('CELERY_SWAP_SEND_QUEUE', 'platform-send')}"
    worker_command = [sys.executable, "-m", "celery", "-A", "iotadmin", "worker"]
    worker_command += ["--pool", args.pool, "--concurrency", "2", "-Q", queues]
    worker_command += ["--loglevel", "INFO"]
    worker_command += ["--without-heartbeat", "--without-gossip", "--without-mingle"]
    worker_command += ["-n", f"{name}-{uuid.uuid4().hex[:6]}@%h"]
    # INFO: the worker's " ready." line goes through Django's LOGGING (root level).
    worker = processes.start("worker", worker_command, {**env, "DJANGO_LOG_LEVEL": "INFO"})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web_command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    web = processes.start("web", web_command, web_env or env)

    def web_up() -> bool:
        if web.poll() is not None:
            raise RuntimeError(f"runserver exited:\n{processes.log('web')[-3000:]}")
        try:
            return requests.get(f"{base}/login/", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def worker_up() -> bool:
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited:\n{processes.log('worker')[-3000:]}")
        return " ready." in processes.log("worker")

    wait_until(web_up, "runserver", timeout=startup_timeout)
    wait_until(worker_up, "the Celery worker", timeout=startup_timeout)
    return devices, base


def print_log_tails(processes: Processes) -> None:
    """After a failure: the end of the web app's and the worker's logs, on stderr."""
    for name in ("web", "worker"):
        tail = processes.log(name)[-2000:]
        if tail:
            print(f"--- {name} log (tail) ---\n{tail}", file=sys.stderr)


def measure(args: argparse.Namespace, scratch: Path, database_url: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    var_dir = scratch / "var"
    processes = Processes(scratch)
    with start_simulator("--quiet", http=True) as sim:
        env = app_environment(args, sim, var_dir, database_url)
        try:
            web_env = dict(env)
            trigger = panel_trigger(args) if args.panel_poll or args.panel_poll_pending else ""
            if trigger:
                web_env["PYTHONPATH"] = patched_settings(scratch, trigger) + os.pathsep
                web_env["PYTHONPATH"] += str(REPO_ROOT)
                web_env["DJANGO_SETTINGS_MODULE"] = "bench_latency_settings"
            devices, base = start_app(
                args,
                sim,
                env,
                processes,
                name="bench-latency",
                database_url=database_url,
                web_env=web_env,
            )
            print(
                f"web {base} (runserver), worker --pool {args.pool} -c 2, "
                f"database {'SQLite' if database_url.startswith('sqlite') else 'PostgreSQL'}, "
                f"broker {env['CELERY_BROKER_URL']}"
                + (f", patched panel: {trigger}" if trigger else "")
                + (f", env {' '.join(args.env)}" if args.env else ""),
                flush=True,
            )

            samples: list[Sample] = []
            warmups: list[Sample] = []
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    context = browser.new_context(viewport={"width": 1280, "height": 800})
                    context.set_default_timeout(15_000)
                    context.add_init_script(BROWSER_CLOCK)
                    page = context.new_page()
                    log_in(page, base)
                    for n, (pk, device_id) in enumerate(devices):
                        sample = one_swap(page, base, pk, device_id, new_imei(n))
                        is_warmup = n < args.warmup
                        (warmups if is_warmup else samples).append(sample)
                        label = "warm-up" if is_warmup else f"sample {n - args.warmup + 1:2d}"
                        print(f"  {label}: {sample.total:.3f} s", flush=True)
                finally:
                    browser.close()
            complete_from_records(warmups + samples, sim)
            return report(samples, warmups, sim)
        except Exception:
            print_log_tails(processes)
            raise
        finally:
            processes.stop_all()
            from django.db import connections

            connections.close_all()


def clean_redis(url: str, store_prefix: str, *, kombu_keys: bool) -> None:
    """Remove this run's store keys (and kombu's bindings when the database was empty)."""
    import redis

    client = redis.Redis.from_url(url)
    patterns = [f"{store_prefix}*"] + (["_kombu.*"] if kombu_keys else [])
    for pattern in patterns:
        keys = list(client.scan_iter(match=pattern))
        if keys:
            client.delete(*keys)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=1, help="swaps before the measured ones")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp folder")
    parser.add_argument("--broker-url", default="", help="default: filesystem broker (temp)")
    parser.add_argument("--pool", choices=["prefork", "threads", "solo"], default="prefork")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="for web and worker"
    )
    parser.add_argument("--panel-poll", default="", help="e.g. 500ms: a patched panel template")
    parser.add_argument(
        "--panel-poll-pending",
        default="",
        help="e.g. 500ms: patched panel polling this fast only until the first answer",
    )
    parser.add_argument("--json", default="", help="also write the numbers to this file")
    args = parser.parse_args()
    if args.samples < 1:
        parser.error("--samples must be at least 1")
    for value in (args.panel_poll, args.panel_poll_pending):
        if value and not re.fullmatch(r"[0-9.]+m?s", value):
            parser.error("--panel-poll and --panel-poll-pending look like 2s or 500ms")
    if not os.path.exists(CHROMIUM):
        parser.error(f"{CHROMIUM} is missing (apt-get install chromium)")
    return run_in_scratch(args, name="latency", measure=measure)


def run_in_scratch(args: argparse.Namespace, *, name: str, measure: Any) -> int:
    """Refuse a Redis broker with messages waiting, make the scratch folder (and the PostgreSQL
    database), run `measure(args, scratch, database_url)`, clean up, write --json."""
    args.store_prefix = f"bench-{name}:{uuid.uuid4().hex}:"
    redis_was_empty = False
    if args.broker_url.startswith("redis://"):
        import redis

        waiting = redis.Redis.from_url(args.broker_url).llen("celery")
        if waiting:
            raise SystemExit(f"{args.broker_url} already holds {waiting} messages in 'celery'")
        redis_was_empty = redis.Redis.from_url(args.broker_url).dbsize() == 0

    scratch = Path(tempfile.mkdtemp(prefix=f"iotadmin-{name}-"))
    database_url = args.database_url or f"sqlite:///{scratch / 'bench.sqlite3'}"
    postgres = database_url.startswith(("postgres://", "postgresql://"))
    began = datetime.now()
    try:
        with scratch_postgres(database_url) if postgres else contextlib.nullcontext():
            result = measure(args, scratch, database_url)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if args.broker_url.startswith("redis://"):
            clean_redis(args.broker_url, args.store_prefix, kombu_keys=redis_was_empty)
    print(f"run took {(datetime.now() - began).total_seconds():.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
