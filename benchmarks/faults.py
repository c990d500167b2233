"""Fault trials: swaps sent by a real worker while something breaks, checked against the platform.

    .venv/bin/python benchmarks/faults.py --trials 150 [--kinds kill_child,late_apply,...]
        [--backend sqlite|postgres] [--timings default|short] [--no-panel] [--seed N]
        [--json FILE]

Each trial requests one swap (a generated code) for a fresh OFFLINE device of the simulator,
breaks one thing while it is being sent, and waits until the swap has settled (its code issued
or the swap failed). Kinds (`KINDS`), drawn at random in turn, with a random moment inside the
held refresh for the process faults:

    kill_child         SIGKILL of the prefork pool child during the held refresh
    kill_worker        SIGKILL of the whole worker during it; a new worker is started
    broker_restart     the private redis-server stopped and started during it (postgres backend);
                       on the filesystem broker (sqlite backend) the worker is killed and
                       restarted instead, the only way that broker "restarts"
    db_restart         the private PostgreSQL stopped (fast) and started during it; postgres only
    no_answer          the refresh is held without an answer (not applied); read timeout
    reset_processed    the refresh is applied, then the connection is reset
    http500_processed  the refresh is applied, then answered 500
    50252_processed    the refresh is applied, then answered 50252
    late_apply         no answer, and the refresh is applied after it arrived, late by the read
                       timeout + twice the retry base + 2 s: after the app's re-send

Everything is private and on loopback: the simulator (`start_simulator`), a prefork worker of one
child (`run_worker`), a scratch folder for SQLite and the filesystem broker, or (--backend
postgres) a PostgreSQL cluster (`initdb`, `pg_ctl`, run as the `postgres` user when started as
root) and a `redis-server` on free ports. Beat is stood in for by the harness, at beat's
intervals: `swaps_recover` every SWAP_RECOVER_INTERVAL_SECONDS and `swaps_sweep` every
SWAP_SWEEP_INTERVAL_SECONDS, and `swap_recover_lapsed` every 2 s as the swap page's panel does
(not with --no-panel: nobody watching the page).

After the last trial (and after every late application is due) each swap is compared with the
simulator's journal of applied refreshes:

    lost          the swap never settled (still queued or sending)
    wrong code    CODE_ISSUED, but the stored code is not the code pending on the platform
    two codes     the platform applied more than one distinct code for the swap
    unjustified   applied refreshes with no SwapAttempt row to justify them
    blind         attempts of one swap that sent different codes (a re-send that could change
                  the pending code)

and the time to settle (request -> settled) is reported per kind as p50 / p95 / max.
`tests/test_faults_short.py` runs one trial of each kind through `run_trials` in `make test`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

REFRESH_PATH = "/iocm/app/reg/v1.1.0/deviceCredentials/"
HOLD_MS = 1500  # the refresh is held this long, so a process fault lands during the call
SIMULATOR_KINDS = (
    "no_answer",
    "reset_processed",
    "http500_processed",
    "50252_processed",
    "late_apply",
)
PROCESS_KINDS = ("kill_child", "kill_worker", "broker_restart", "db_restart")
KINDS = PROCESS_KINDS + SIMULATOR_KINDS
SETTLE_TIMEOUT = 120.0
# Codes outlive the run, so the judge still finds each pending binding on the platform.
CODE_VALIDITY_SECONDS = 6 * 3600
PANEL_POLL_SECONDS = 2.0
OUTAGE_SECONDS = 2.0  # how long a stopped broker or database stays down

# The app's timings during the trials (--timings). "default": none overridden, the settings a
# deployment gets (connect 3 s, read 10 s, lease 20 s, retries from 5 s); "short": a trial
# takes seconds (lease 5.5 s), for `make test` (tests/test_faults_short.py).
TIMINGS: dict[str, dict[str, float]] = {
    "default": {},
    "short": {
        "IOT_CONNECT_TIMEOUT": 1,
        "IOT_READ_TIMEOUT": 2,
        "SWAP_LEASE_MARGIN_SECONDS": 0.5,
        "SWAP_RETRY_BASE_SECONDS": 0.2,
        "SWAP_RETRY_MAX_SECONDS": 1.0,
    },
}
APP_TIMINGS = TIMINGS["short"]


# --- private services ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _applied_twice(sim: Any, device_id: str) -> bool:
    """The simulator's journal holds two refreshes of this device (the late one has landed)."""
    return sum(e["deviceId"] == device_id for e in sim.journal()) >= 2


def _wait_until(predicate: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not within {timeout} s")
        time.sleep(0.05)


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class RedisServer:
    """A private redis-server on a free port (append-only file, so a restart keeps the queue)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--dir", str(self.folder), "--appendonly", "yes", "--save", ""]
        with open(self.folder / "redis.log", "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _wait_until(lambda: _accepts(self.port), timeout=20, what="redis-server listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)

    def restart(self, *, down_for: float) -> None:
        self.stop()
        time.sleep(down_for)  # the outage itself
        self.start()


class PostgresServer:
    """A private PostgreSQL cluster in a scratch folder (as `postgres` when run as root)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not found:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        self.bin = found[-1].parent

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/iotadmin_faults"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    def init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self.folder.parent.chmod(0o755)  # mkdtemp's 0700 would keep `postgres` out
            shutil.chown(self.folder, user="postgres", group="postgres")
        data = str(self.folder / "data")
        self._run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE DATABASE iotadmin_faults")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.folder / "data"), "-o", options, "-w", "-l",
            str(self.folder / "postgres.log"), "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")

    def restart(self, *, down_for: float) -> None:
        self.stop()
        time.sleep(down_for)  # the outage itself
        self.start()


class Worker:
    """The worker under test (tests.support.worker.run_worker), killable and restartable."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._context: contextlib.AbstractContextManager[Any] | None = None
        self.handle: Any = None

    def start(self) -> None:
        from tests.support.worker import run_worker

        self._context = run_worker(self.settings, pool="prefork", concurrency=1)
        self.handle = self._context.__enter__()

    def kill_child(self) -> None:
        for pid in self.handle.pool_children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL of the worker and its pool: nothing acknowledged, nothing cleaned up."""
        children = self.handle.pool_children()
        self.handle.process.send_signal(signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.handle.process.wait(timeout=20)
        self.stop()

    def restart_killed(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = None


@dataclass
class Lab:
    """What the trials run against and may break."""

    sim: Any
    worker: Worker
    redis: RedisServer | None = None
    postgres: PostgresServer | None = None

    def supports(self, kind: str) -> bool:
        return kind != "db_restart" or self.postgres is not None


# --- trials ----------------------------------------------------------------------------------


@dataclass
class Trial:
    kind: str
    swap_id: int
    device_id: str
    settle_seconds: float | None
    note: str = ""


@dataclass
class Verdict:
    kind: str
    swap_id: int
    state: str
    lost: bool
    wrong_code: bool
    two_codes: bool
    unjustified_refreshes: int
    blind_resends: int
    attempts: int
    refreshes: int
    settle_seconds: float | None


def _read_timeout() -> float:
    from django.conf import settings

    return float(settings.IOT_READ_TIMEOUT)


def late_apply_seconds() -> float:
    """Past the read timeout AND past the re-send that follows it (reconcile, then a backoff of
    at most SWAP_RETRY_BASE_SECONDS), so the late refresh lands after the re-sent one."""
    from django.conf import settings

    return _read_timeout() + 2 * float(settings.SWAP_RETRY_BASE_SECONDS) + 2


def arm_fault(sim: Any, kind: str) -> None:
    """The simulator fault for the next refresh (process kinds: the refresh is held)."""
    if kind in PROCESS_KINDS:
        sim.faults(latency_ms=HOLD_MS, count=1, path_contains=REFRESH_PATH)
    elif kind == "no_answer":
        sim.faults(mode="no_answer", count=1, path_contains=REFRESH_PATH)
    elif kind == "late_apply":
        sim.faults(
            mode="no_answer",
            processed=True,
            apply_after_seconds=late_apply_seconds(),
            count=1,
            path_contains=REFRESH_PATH,
        )
    else:
        mode = {"reset_processed": "reset", "http500_processed": "http500"}.get(kind, "50252")
        sim.faults(mode=mode, processed=True, count=1, path_contains=REFRESH_PATH)


def break_process(lab: Lab, kind: str, rng: random.Random) -> str:
    """The process fault, at a random moment of the held refresh; returns a note."""
    time.sleep(rng.uniform(0, HOLD_MS / 1000 * 0.6))  # a random moment inside the hold
    if kind == "kill_child":
        lab.worker.kill_child()
        return ""
    if kind == "kill_worker":
        lab.worker.restart_killed()
        return ""
    if kind == "broker_restart":
        if lab.redis is None:
            lab.worker.restart_killed()
            return "filesystem broker: worker killed and restarted instead"
        lab.redis.restart(down_for=OUTAGE_SECONDS)
        return ""
    if kind == "db_restart":
        assert lab.postgres is not None
        lab.postgres.restart(down_for=OUTAGE_SECONDS)
        return ""
    raise ValueError(kind)


def request_swap(*, device: Any, actor: Any) -> Any:
    from devices.identifiers import NodeId
    from devices.models import Chipset, VerifyCodeMode
    from devices.services import swap_request
    from tests.factories import make_imei

    return swap_request(
        device=device,
        new_node_id=NodeId.from_imei(make_imei(), chipset=Chipset.QUALCOMM),
        verify_code_mode=VerifyCodeMode.PLATFORM,
        timeout_seconds=CODE_VALIDITY_SECONDS,
        actor=actor,
    )


def wait_settled(swap_id: int, *, started: float, timeout: float = SETTLE_TIMEOUT) -> float | None:
    """Seconds from `started` until the swap left QUEUED/SENDING; None when it never did.

    Stands in for beat (swaps_recover, swaps_sweep at their intervals) and for the swap page's
    panel poll (swap_recover_lapsed); a database outage is waited out.
    """
    from django.conf import settings
    from django.db import DatabaseError, close_old_connections

    from devices.models import Swap, SwapState
    from devices.services.lifecycle import swap_recover_lapsed, swaps_recover, swaps_sweep

    beat: dict[str, Any] = settings.CELERY_BEAT_SCHEDULE
    recover_every = float(beat["recover-swaps"]["schedule"])
    sweep_every = float(beat["sweep-swaps"]["schedule"])
    # Beat ticks on its own cadence, not from the request: its first tick falls at a random
    # moment of its interval (the page's poll starts with the page).
    next_poll = time.monotonic()
    next_recover = next_poll + random.uniform(0, recover_every)
    next_sweep = time.monotonic() + sweep_every
    while time.monotonic() - started < timeout:
        now = time.monotonic()
        try:
            swap = Swap.objects.get(pk=swap_id)
            if swap.state not in (SwapState.QUEUED, SwapState.SENDING):
                return now - started
            if now >= next_poll:
                swap_recover_lapsed(swap=swap)
                next_poll = now + PANEL_POLL_SECONDS
            if now >= next_recover:
                swaps_recover()
                next_recover = now + recover_every
            if now >= next_sweep:
                swaps_sweep()
                next_sweep = now + sweep_every
        except DatabaseError:
            close_old_connections()
        except Exception as exc:  # a broker outage while enqueueing: beat would log and go on
            if not _is_outage(exc):
                raise
        time.sleep(0.05)
    return None


def _is_outage(exc: BaseException) -> bool:
    from iotadmin.outages import is_outage

    return is_outage(exc)


def run_trial(lab: Lab, kind: str, *, device: Any, actor: Any, rng: random.Random) -> Trial:
    arm_fault(lab.sim, kind)
    started = time.monotonic()
    swap = request_swap(device=device, actor=actor)
    note = ""
    if kind in PROCESS_KINDS:
        # The refresh has arrived and is held once the simulator has used its fault up.
        _wait_until(
            lambda: lab.sim.faults_in_force()["latency_ms"] == 0,
            timeout=30,
            what="the refresh reaching the simulator",
        )
        note = break_process(lab, kind, rng)
    settled = wait_settled(swap.pk, started=started)
    lab.sim.clear_faults()
    return Trial(kind, swap.pk, device.device_id, settled, note)


def pick_devices(sim: Any, count: int) -> Iterator[Any]:
    """Mirror rows of the simulator's OFFLINE, activated devices of our app, one per trial."""
    from tests.factories import DeviceFactory

    found = sim.devices(
        status="OFFLINE", activated=True, owner=sim.app_id, nbiot=False, limit=count
    )
    if len(found) < count:
        raise RuntimeError(f"{count} trials need {count} offline devices; the simulator has "
                           f"{len(found)} (start it with more --devices)")  # fmt: skip
    for sim_device in found:
        yield DeviceFactory.mirror(sim_device, our_app_id=sim.app_id)


def trial_actor() -> Any:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from devices.roles import FIELD_SERVICE, sync_role_groups

    sync_role_groups()
    user, _ = get_user_model().objects.get_or_create(username=f"faults-{uuid.uuid4().hex[:8]}")
    user.groups.add(Group.objects.get(name=FIELD_SERVICE))
    return user


def run_trials(
    lab: Lab, kinds: Sequence[str], *, trials: int, seed: int, progress: bool = False
) -> list[Verdict]:
    """`trials` trials, kinds in a shuffled round robin, then every swap judged."""
    rng = random.Random(seed)
    usable = [kind for kind in kinds if lab.supports(kind)]
    order: list[str] = []
    while len(order) < trials:
        batch = list(usable)
        rng.shuffle(batch)
        order += batch
    order = order[:trials]
    actor = trial_actor()
    done: list[Trial] = []
    for number, (kind, device) in enumerate(zip(order, pick_devices(lab.sim, trials), strict=True)):
        trial = run_trial(lab, kind, device=device, actor=actor, rng=rng)
        done.append(trial)
        if progress:
            took = "LOST" if trial.settle_seconds is None else f"{trial.settle_seconds:.1f} s"
            print(f"[{number + 1}/{trials}] {kind}: {took} {trial.note}", flush=True)
    wait_for_late_applications(lab.sim, done)
    return judge(lab.sim, done)


def wait_for_late_applications(sim: Any, trials: Sequence[Trial]) -> None:
    """Until each late_apply trial's refresh has landed: its re-send and the late one (2)."""
    for trial in trials:
        if trial.kind != "late_apply":
            continue
        with contextlib.suppress(RuntimeError):  # judged as it stands if it never lands
            _wait_until(
                functools.partial(_applied_twice, sim, trial.device_id),
                timeout=late_apply_seconds() + 10,
                what="the late application",
            )


def judge(sim: Any, trials: Sequence[Trial]) -> list[Verdict]:
    from devices.codes import decrypt_code, hash_code
    from devices.models import Swap, SwapAttempt, SwapState

    journal = sim.journal()
    verdicts = []
    for trial in trials:
        swap = Swap.objects.get(pk=trial.swap_id)
        attempts = list(SwapAttempt.objects.filter(swap=swap))
        applied = [entry for entry in journal if entry["deviceId"] == trial.device_id]
        sent_hashes = {attempt.code_hash for attempt in attempts if attempt.code_hash}
        wrong_code = False
        if swap.state == SwapState.CODE_ISSUED:
            binding = sim.device(trial.device_id)["binding"]
            stored = decrypt_code(swap.verify_code_encrypted)
            # The code pending on the platform: the binding's, or the last applied one's.
            pending = (
                binding["verifyCode"] if binding else (applied[-1]["verifyCode"] if applied else "")
            )
            wrong_code = pending.casefold() != stored.casefold()
        unrecorded = [e for e in applied if hash_code(e["verifyCode"]) not in sent_hashes]
        verdicts.append(
            Verdict(
                kind=trial.kind,
                swap_id=swap.pk,
                state=swap.state,
                lost=trial.settle_seconds is None
                or swap.state in (SwapState.QUEUED, SwapState.SENDING),
                wrong_code=wrong_code,
                two_codes=len({e["verifyCode"].casefold() for e in applied}) > 1,
                unjustified_refreshes=max(len(applied) - len(attempts), len(unrecorded), 0),
                blind_resends=max(len(sent_hashes) - 1, 0),
                attempts=len(attempts),
                refreshes=len(applied),
                settle_seconds=trial.settle_seconds,
            )
        )
    return verdicts


# --- report ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class KindSummary:
    kind: str
    trials: int = 0
    lost: int = 0
    wrong_code: int = 0
    two_codes: int = 0
    unjustified: int = 0
    blind: int = 0
    failed: int = 0
    settle: list[float] = field(default_factory=list)


def summarize(verdicts: Sequence[Verdict]) -> list[KindSummary]:
    by_kind: dict[str, KindSummary] = {}
    for verdict in verdicts:
        summary = by_kind.setdefault(verdict.kind, KindSummary(verdict.kind))
        summary.trials += 1
        summary.lost += verdict.lost
        summary.wrong_code += verdict.wrong_code
        summary.two_codes += verdict.two_codes
        summary.unjustified += verdict.unjustified_refreshes
        summary.blind += verdict.blind_resends
        summary.failed += verdict.state == "failed"
        if verdict.settle_seconds is not None:
            summary.settle.append(verdict.settle_seconds)
    return [by_kind[kind] for kind in KINDS if kind in by_kind]


def markdown(summaries: Sequence[KindSummary]) -> str:
    lines = [
        "| kind | trials | lost | wrong code | two codes | unjustified | blind | failed "
        "| settle p50 | p95 | max |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        times = (
            [f"{percentile(s.settle, q):.1f}" for q in (0.5, 0.95)] + [f"{max(s.settle):.1f}"]
            if s.settle
            else ["-", "-", "-"]
        )
        lines.append(
            f"| {s.kind} | {s.trials} | {s.lost} | {s.wrong_code} | {s.two_codes} "
            f"| {s.unjustified} | {s.blind} | {s.failed} | {' | '.join(times)} |"
        )
    return "\n".join(lines)


# --- command line ------------------------------------------------------------------------------


def _environment(
    folder: Path, *, database_url: str, broker_url: str, timings: dict[str, float]
) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "iotadmin.settings",
            "IOTADMIN_VAR_DIR": str(folder / "var"),
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "IOT_STORE_PREFIX": f"faults:{uuid.uuid4().hex}:",
            "IOT_FLOW_LIMIT_PER_MINUTE": "900",
            "SWAP_APPROVAL_NEVER_EXPIRING": "false",
            "SWAP_APPROVAL_CODE_MODES": "",
            "SWAP_APPROVAL_REPEAT_DAYS": "0",
            "SWAP_APPROVAL_WORKING_HOURS": "",
            **{name: str(value) for name, value in timings.items()},
        }
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=len(KINDS))
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated, from KINDS")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--timings", choices=tuple(TIMINGS), default="default",
        help="default: the deployed settings; short: seconds-long trials (make test)",
    )  # fmt: skip
    parser.add_argument(
        "--no-panel", action="store_true",
        help="nobody watches the swap page: only beat's recovery and the task hand sends over",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write every verdict here")
    args = parser.parse_args(argv)
    kinds = [kind for kind in args.kinds.split(",") if kind]
    if args.no_panel:
        global PANEL_POLL_SECONDS
        PANEL_POLL_SECONDS = math.inf
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")

    from tests.support.simulator import start_simulator

    # SIGTERM unwinds like Ctrl-C, so the worker, Redis and PostgreSQL started here are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    folder = Path(tempfile.mkdtemp(prefix="iotadmin-faults-"))
    redis = postgres = None
    try:
        if args.backend == "postgres":
            postgres = PostgresServer(folder / "postgres")
            postgres.init()
            redis = RedisServer(folder / "redis")
            redis.start()
            _environment(
                folder, database_url=postgres.url, broker_url=redis.url,
                timings=TIMINGS[args.timings],
            )  # fmt: skip
        else:
            _environment(
                folder, database_url=f"sqlite:///{folder / 'faults.sqlite3'}",
                broker_url="filesystem://", timings=TIMINGS[args.timings],
            )  # fmt: skip
        devices = str(max(300, args.trials * 6))  # about a fifth are offline and ours
        with start_simulator("--devices", devices, "--flow-limit", "1000") as sim:
            os.environ.update(
                {"IOT_PLATFORM_URL": sim.url, "IOT_APP_ID": sim.app_id,
                 "IOT_APP_SECRET": sim.app_secret}
            )  # fmt: skip
            import django

            django.setup()
            from django.conf import settings
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
            from devices.services.transitions import swap_lease_seconds

            print(
                f"timings {args.timings}: connect {settings.IOT_CONNECT_TIMEOUT:g} s, read "
                f"{settings.IOT_READ_TIMEOUT:g} s, lease {swap_lease_seconds():g} s, late "
                f"application {late_apply_seconds():g} s; backend {args.backend}, seed "
                f"{args.seed}{'; no panel poll' if args.no_panel else ''}",
                flush=True,
            )
            worker = Worker(settings)
            worker.start()
            lab = Lab(sim=sim, worker=worker, redis=redis, postgres=postgres)
            try:
                verdicts = run_trials(lab, kinds, trials=args.trials, seed=args.seed, progress=True)
            finally:
                worker.stop()
        if "db_restart" in kinds and postgres is None:
            print("db_restart skipped: it needs --backend postgres (a private cluster)")
        print(markdown(summarize(verdicts)))
        if args.json:
            args.json.write_text(json.dumps([asdict(v) for v in verdicts], indent=2))
        bad = [v for v in verdicts if v.lost or v.wrong_code or v.two_codes or v.blind_resends]
        return 1 if bad else 0
    finally:
        if redis is not None:
            redis.stop()
        if postgres is not None:
            with contextlib.suppress(Exception):
                postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
