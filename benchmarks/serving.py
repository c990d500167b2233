"""Benchmark: the pages as production serves them, gunicorn under wrk, over a million devices.

    .venv/bin/python benchmarks/serving.py [--rounds 3] [--duration 15] [--connections 16]
        [--workers 3] [--database-url postgres://postgres@127.0.0.1:5432/iotadmin_serving_bench]
        [--redis-url redis://127.0.0.1:6379/0 | --no-redis] [--reuse] [--keep] [--profile 200]

The environment is deploy/env.example's (DEBUG off, JSON logs, HSTS, TLS redirect, persistent
database connections) with a test secret key and Fernet key, the scratch database, Redis for
the cache and sessions (a private key prefix; `--no-redis`: locmem cache, database sessions),
a temporary IOTADMIN_VAR_DIR (collectstatic runs into it: the manifest storage needs it) and
IOTADMIN_BENCH_BARE_VIEW=1, which adds /bench/bare: a view that returns "ok" behind the whole
middleware stack, the ceiling the pages are compared with. wrk sends X-Forwarded-Proto: https,
as nginx does (gunicorn believes it from 127.0.0.1), so no page is a TLS redirect.

The database (`iotadmin_serving_bench`, must not exist unless --reuse) is loaded with the rows
of benchmarks/search_million.py (COPY) and dropped at the end unless --keep. A Field service
user is signed in with Django's test client (the session lands in the configured session
store) and wrk sends its cookie. Pages: the device search with a query returning 25 rows, a
device page, a swap page showing its verifyCode, the login page (anonymous) and the bare view.

Each round runs wrk (`--latency`, a Lua `done` hook for p95) against every page in turn, after
one warm-up run per page; the report gives, per page, the best round's req/s, p50 and p95, the
spread of req/s over the rounds, and the ratio to the bare view, plus the load average before
each round. `--profile N` then profiles N requests of each page in this process (cProfile,
the same settings) and prints the top functions.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import json
import os
import pstats
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(REPO_ROOT))

import search_million as data  # noqa: E402  (benchmarks/ is not a package)

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/iotadmin_serving_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
ENV_EXAMPLE = REPO_ROOT / "deploy" / "env.example"
SEARCH_QUERY = "gas"  # a name prefix matching about 1/8 of the devices: a full page of 25
STARTUP_TIMEOUT = 60.0
BENCH_USERNAME = "bench-field-service"
BENCH_CODE = "K7Q2M9XZ4B"
WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, '
    .. '"p50_us": %d, "p95_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


@dataclass
class Page:
    label: str
    path: str
    logged_in: bool
    must_show: str  # a string the 200 answer must contain
    count: int = 1  # ... this many times


@dataclass
class Result:
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    status_errors: int  # answers of 400 and more
    socket_errors: int  # wrk's connect/read/write errors and timeouts (no answer within 2 s)

    @property
    def errors(self) -> int:
        return self.status_errors + self.socket_errors


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def production_environment(
    *, database_url: str, redis_url: str, var_dir: Path, port: int, workers: int
) -> dict[str, str]:
    """deploy/env.example, with what a benchmark on this machine needs instead."""
    env: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    run = uuid.uuid4().hex[:12]
    env.update(
        {
            "DJANGO_SECRET_KEY": "benchmark-only-secret-key-" + "x" * 40,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_CSRF_TRUSTED_ORIGINS": "https://127.0.0.1",
            "DJANGO_LOG_LEVEL": "WARNING",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": f"bench-serving-{run}",
            "IOT_STORE_PREFIX": f"bench-serving-{run}:",
            "CELERY_BROKER_URL": "filesystem://",
            # Fixed (a reused database keeps its encrypted code): a test key, never a real one.
            "IOT_CODE_ENCRYPTION_KEY": base64.urlsafe_b64encode(
                b"serving-benchmark-test-key-32byt"
            ).decode(),
            "IOTADMIN_VAR_DIR": str(var_dir),
            "PROMETHEUS_MULTIPROC_DIR": str(var_dir / "metrics"),
            "IOTADMIN_BENCH_BARE_VIEW": "1",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": str(workers),
            # Recycling a worker mid-run would time a cold start; production recycles every 1000.
            "GUNICORN_MAX_REQUESTS": "0",
        }
    )
    return env


def prepare(rows: int, *, new: bool) -> tuple[str, list[Page]]:
    """Load the devices (when new), collect static files, sign the user in; the pages."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from devices.codes import code_hint, encrypt_code, hash_code
    from devices.models import Device, NodeIdKind, Swap, SwapState
    from devices.roles import FIELD_SERVICE

    if new:
        data.populate(rows, "postgresql")
    call_command("collectstatic", interactive=False, verbosity=0)
    user, created = get_user_model().objects.get_or_create(username=BENCH_USERNAME)
    if created:
        user.set_unusable_password()
        user.save()
        user.groups.add(Group.objects.get(name=FIELD_SERVICE))
    device = Device.objects.get(node_id=data.node_id_for(rows // 2 + 1))
    swap_device = Device.objects.get(node_id=data.node_id_for(rows // 3 + 1))
    swap = Swap.objects.filter(device=swap_device, state=SwapState.CODE_ISSUED).first()
    if swap is None:
        swap = Swap.objects.create(
            device=swap_device,
            requested_by=user,
            old_node_id=swap_device.node_id,
            new_node_id=data.imei(rows + 7),
            node_id_kind=NodeIdKind.IMEI,
            chipset="hisilicon",
            state=SwapState.CODE_ISSUED,
            timeout_seconds=0,  # never expires during the run
            verify_code_encrypted=encrypt_code(BENCH_CODE),
            verify_code_hint=code_hint(BENCH_CODE),
            verify_code_hash=hash_code(BENCH_CODE),
            code_issued_at=timezone.now(),
        )
    client = Client()
    client.force_login(user)
    from django.conf import settings

    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    pages = [
        Page("device search, 25 rows", f"/?q={SEARCH_QUERY}", True, 'class="device-item"', 25),
        Page("device page", f"/devices/{device.pk}/", True, device.node_id),
        Page("swap page with its code", f"/swaps/{swap.pk}/", True, BENCH_CODE),
        Page("login page (anonymous)", "/login/", False, 'name="password"'),
        Page("bare view (ceiling)", "/bench/bare", True, "ok"),
    ]
    return cookie, pages


def start_gunicorn(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [gunicorn, "-c", "gunicorn.conf.py"],
            cwd=REPO_ROOT,
            env={**os.environ, **env, "PYTHONPATH": str(REPO_ROOT)},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    return process


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect (to the login page, say) is an answer to check, not to follow


def fetch(base: str, page: Page, cookie: str) -> tuple[int, str]:
    headers = {"X-Forwarded-Proto": "https"}
    if page.logged_in:
        headers["Cookie"] = cookie
    request = urllib.request.Request(base + page.path, headers=headers)
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def wait_until_serving(process: subprocess.Popen[bytes], base: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            raise SystemExit("gunicorn exited:\n" + log_path.read_text())
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("gunicorn did not answer:\n" + log_path.read_text()) from None
            time.sleep(0.1)


def check_pages(base: str, pages: list[Page], cookie: str) -> None:
    for page in pages:
        status, body = fetch(base, page, cookie)
        shown = body.count(page.must_show)
        if status != 200 or shown < page.count:
            raise SystemExit(
                f"{page.label}: HTTP {status}, {shown} x {page.must_show!r}:\n{body[:2000]}"
            )


def run_wrk(
    base: str, page: Page, cookie: str, *, script: Path, duration: int, connections: int
) -> Result:
    command = [
        "wrk", "--latency", "-t", "2", "-c", str(connections), "-d", f"{duration}s",
        "-s", str(script), "-H", "X-Forwarded-Proto: https",
    ]  # fmt: skip
    if page.logged_in:
        command += ["-H", f"Cookie: {cookie}"]
    output = subprocess.run(
        [*command, base + page.path], capture_output=True, text=True, check=True
    ).stdout
    found = json.loads(next(line for line in output.splitlines() if line.startswith("{")))
    seconds = found["duration_us"] / 1e6
    return Result(
        rps=found["requests"] / seconds,
        p50_ms=found["p50_us"] / 1000,
        p95_ms=found["p95_us"] / 1000,
        p99_ms=found["p99_us"] / 1000,
        requests=found["requests"],
        status_errors=found["status_errors"],
        socket_errors=found["socket_errors"],
    )


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def busy_processes() -> str:
    """What else used the CPU just now (other engineers' test runs, say): top's busiest 5."""
    output = subprocess.run(
        ["top", "-b", "-n", "1", "-o", "%CPU", "-w", "200"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    header = next((i for i, line in enumerate(output) if line.lstrip().startswith("PID")), None)
    if header is None:
        return "?"
    busiest = []
    for line in output[header + 1 : header + 6]:
        fields = line.split()
        busiest.append(f"{fields[8]}% {fields[11]}")
    return ", ".join(busiest)


def report(pages: list[Page], rounds: list[dict[str, Result]], loads: list[str]) -> str:
    bare = max(r["bare view (ceiling)"].rps for r in rounds)
    lines = [
        "| page | req/s (best) | spread over rounds | p50 ms | p95 ms | p99 ms | vs bare view |",
        "|---|---|---|---|---|---|---|",
    ]
    for page in pages:
        results = [r[page.label] for r in rounds]
        best = max(results, key=lambda r: r.rps)
        spread = f"{min(r.rps for r in results):,.0f}-{max(r.rps for r in results):,.0f}"
        status = sum(r.status_errors for r in results)
        sockets = sum(r.socket_errors for r in results)
        label = page.label + (f" ({status} HTTP errors)" if status else "")
        label += f" ({sockets} timeouts or socket errors)" if sockets else ""
        lines.append(
            f"| {label} | **{best.rps:,.0f}** | {spread} | {best.p50_ms:.1f} | "
            f"{best.p95_ms:.1f} | {best.p99_ms:.1f} | {best.rps / bare:.2f} |"
        )
    lines.append("")
    lines.append("Load average (1, 5, 15 min) before each round: " + "; ".join(loads))
    return "\n".join(lines)


def profile(pages: list[Page], cookie: str, requests: int) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    _name, _, value = cookie.partition("=")
    for page in pages:
        client = Client(HTTP_HOST="127.0.0.1")
        if page.logged_in:
            client.cookies[_name] = value
        for _ in range(5):
            client.get(page.path, secure=True)
        began, cpu_began = time.perf_counter(), time.process_time()
        for _ in range(requests):
            client.get(page.path, secure=True)
        wall_ms = (time.perf_counter() - began) / requests * 1000
        cpu_ms = (time.process_time() - cpu_began) / requests * 1000
        with CaptureQueriesContext(connection) as queries:
            client.get(page.path, secure=True)
        print(
            f"\n=== {page.label}: {wall_ms:.2f} ms a request in this process, {cpu_ms:.2f} ms of"
            f" it CPU (Python), {len(queries.captured_queries)} queries"
        )
        profiler = cProfile.Profile()
        began = time.perf_counter()
        profiler.enable()
        for _ in range(requests):
            client.get(page.path, secure=True)
        profiler.disable()
        per_request = (time.perf_counter() - began) / requests * 1000
        print(f"--- profiled: {requests} requests, {per_request:.2f} ms each; top by own time")
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(15)
        print(re.sub(r"\n\s*\n", "\n", out.getvalue().split("ncalls", 1)[-1]).rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--no-redis", action="store_true", help="locmem cache, db sessions")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=15, help="seconds per page and round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="use an existing loaded database")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--profile", type=int, default=0, help="profile N requests per page")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    scratch = Path(tempfile.mkdtemp(prefix="iotadmin-serving-"))
    port = free_port()
    env = production_environment(
        database_url=args.database_url,
        redis_url="" if args.no_redis else args.redis_url,
        var_dir=scratch,
        port=port,
        workers=args.workers,
    )
    (scratch / "metrics").mkdir()
    script = scratch / "report.lua"
    script.write_text(WRK_SCRIPT)
    log_path = scratch / "gunicorn.log"
    base = f"http://127.0.0.1:{port}"
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "iotadmin.settings"
    try:
        with data.scratch_postgres(args.database_url, reuse=args.reuse, keep=args.keep) as new:
            import django

            django.setup()
            cookie, pages = prepare(args.rows, new=new)
            print(data.database_facts("postgresql"))
            from django.db import connections

            connections.close_all()
            process = start_gunicorn(env, log_path)
            try:
                wait_until_serving(process, base, log_path)
                check_pages(base, pages, cookie)
                options = {"script": script, "connections": args.connections}
                for page in pages:
                    run_wrk(base, page, cookie, duration=3, **options)  # warm-up
                rounds: list[dict[str, Result]] = []
                loads: list[str] = []
                for number in range(1, args.rounds + 1):
                    loads.append(load_average())
                    print(f"round {number}: load {loads[-1]}; busiest: {busy_processes()}")
                    found = {}
                    for page in pages:
                        found[page.label] = result = run_wrk(
                            base, page, cookie, duration=args.duration, **options
                        )
                        print(
                            f"  {page.label:<28} {result.rps:8.1f} req/s  p50 "
                            f"{result.p50_ms:6.1f} ms  p95 {result.p95_ms:6.1f} ms"
                            + (
                                f"  {result.status_errors} HTTP errors,"
                                f" {result.socket_errors} timeouts or socket errors"
                                if result.errors
                                else ""
                            ),
                            flush=True,
                        )
                    rounds.append(found)
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
            print()
            print(
                f"gunicorn {args.workers} workers, wrk 2 threads {args.connections} connections"
                f" {args.duration} s per page, {args.rounds} rounds, "
                + ("Redis cache and cached_db sessions" if not args.no_redis else "no Redis")
            )
            print(report(pages, rounds, loads))
            if args.profile:
                profile(pages, cookie, args.profile)
            connections.close_all()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
