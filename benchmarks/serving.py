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


def run_wrk_with_cpu(
    base: str,
    page: Page,
    cookie: str,
    *,
    gunicorn_pid: int,
    database_url: str,
    script: Path,
    duration: int,
    connections: int,
) -> tuple[Result, CpuShare]:
    """run_wrk, and the CPU its requests cost each process that served them."""
    import resource

    workers = children_of(gunicorn_pid)
    app_before = sum(process_cpu_seconds(pid) for pid in workers)
    # Persistent connections, but one older than DATABASE_CONN_MAX_AGE is replaced: a server
    # process that appears during the run counts whole, one that ends loses its last share.
    db_before = {pid: process_cpu_seconds(pid) for pid in postgres_backends(database_url)}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_before = children.ru_utime + children.ru_stime
    result = run_wrk(base, page, cookie, script=script, duration=duration, connections=connections)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_seconds = children.ru_utime + children.ru_stime - wrk_before
    app_seconds = sum(process_cpu_seconds(pid) for pid in workers) - app_before
    db_seconds = sum(
        max(process_cpu_seconds(pid) - db_before.get(pid, 0.0), 0.0)
        for pid in set(postgres_backends(database_url)) | set(db_before)
    )
    per = 1000 / max(result.requests, 1)
    return result, CpuShare(app_seconds * per, db_seconds * per, wrk_seconds * per)


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


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (any user's: /proc/PID/stat is world-readable); 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of proc(5)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def postgres_backends(database_url: str) -> list[int]:
    """The server processes serving the benchmark database (persistent connections)."""
    import psycopg

    admin, name = data._admin_url(database_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return [int(row[0]) for row in rows]


@dataclass
class CpuShare:
    """CPU milliseconds per request under wrk: gunicorn's workers, PostgreSQL, wrk itself."""

    app_ms: float
    db_ms: float
    wrk_ms: float

    @property
    def total_ms(self) -> float:
        return self.app_ms + self.db_ms + self.wrk_ms

    @property
    def ceiling_rps(self) -> float:  # 2 cores, nothing else running
        return 2000 / self.total_ms if self.total_ms else 0.0


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


def cpu_report(pages: list[Page], cpu: list[dict[str, CpuShare]]) -> str:
    """CPU ms per request (median over rounds) and the ceiling it sets on 2 cores."""
    lines = [
        "| page | gunicorn worker CPU ms | PostgreSQL CPU ms | wrk CPU ms | total | "
        "ceiling on 2 cores (2000 / total) |",
        "|---|---|---|---|---|---|",
    ]
    for page in pages:
        shares = sorted((r[page.label] for r in cpu), key=lambda c: c.total_ms)
        mid = shares[len(shares) // 2]
        lines.append(
            f"| {page.label} | {mid.app_ms:.2f} | {mid.db_ms:.2f} | {mid.wrk_ms:.2f} | "
            f"{mid.total_ms:.2f} | {mid.ceiling_rps:,.0f} req/s |"
        )
    return "\n".join(lines)


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


# Where a request's CPU goes: functions whose cumulative CPU time is a component. They nest
# (a template's lazy query is ORM inside the template), so the shares do not add up to 100 %.
COMPONENTS = [
    ("whole request (Django handler)", "django/core/handlers/base.py", "get_response"),
    ("  middleware and handler around the view", "", ""),  # computed: handler - view
    ("  the view (templates, queries, ...)", "django/core/handlers/base.py", "_get_response"),
    ("    template rendering (+ lazy queries)", "django/template/backends/django.py", "render"),
    ("    ORM: compiling SQL", "django/db/models/sql/compiler.py", "as_sql"),
    ("    ORM: building querysets (filter)", "django/db/models/query.py", "_filter_or_exclude"),
    ("    ORM: model instances from rows", "django/db/models/base.py", "from_db"),
    ("    database driver (psycopg, CPU)", "django/db/backends/utils.py", "_execute"),
    ("    cache reads (Redis)", "django/core/cache/backends/redis.py", "get"),
    ("    session load", "django/contrib/sessions/backends/base.py", "_get_session"),
    ("    auth: request.user", "django/contrib/auth/__init__.py", "get_user"),
    ("    permission checks (has_perm)", "django/contrib/auth/models.py", "has_perm"),
    ("    the header's roles", "devices/templatetags/devices_ui.py", "user_roles"),
    ("    search rows (device_rows)", "devices/templatetags/devices_ui.py", "device_rows"),
    ("    form widgets (radio buttons)", "django/forms/boundfield.py", "tag"),
    ("    QR code (segno)", "devices/qr.py", "qr_svg"),
    ("test client around the handler", "django/test/client.py", "request"),
]


def _cumulative(stats: pstats.Stats, file_suffix: str, function: str) -> float:
    total = 0.0
    for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if name == function and filename.endswith(file_suffix):
            total += cumulative
    return total


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
        backend = connection.connection.info.backend_pid if connection.connection else 0
        db_began = process_cpu_seconds(backend) if backend else 0.0
        began, cpu_began = time.perf_counter(), time.process_time()
        for _ in range(requests):
            client.get(page.path, secure=True)
        wall_ms = (time.perf_counter() - began) / requests * 1000
        cpu_ms = (time.process_time() - cpu_began) / requests * 1000
        db_ms = (process_cpu_seconds(backend) - db_began) / requests * 1000 if backend else 0.0
        with CaptureQueriesContext(connection) as queries:
            client.get(page.path, secure=True)
        print(
            f"\n=== {page.label}: {wall_ms:.2f} ms a request in this process, {cpu_ms:.2f} ms of"
            f" it CPU (Python), PostgreSQL backend {db_ms:.2f} ms CPU,"
            f" {len(queries.captured_queries)} queries"
        )
        # CPU time, not wall time: other engineers' load on the machine does not count.
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for _ in range(requests):
            client.get(page.path, secure=True)
        profiler.disable()
        stats = pstats.Stats(profiler, stream=io.StringIO())
        profiled = stats.total_tt  # type: ignore[attr-defined]
        handler = _cumulative(stats, "django/core/handlers/base.py", "get_response")
        view = _cumulative(stats, "django/core/handlers/base.py", "_get_response")
        print(
            f"--- by component: share of the CPU under cProfile ({profiled / requests * 1000:.2f}"
            f" ms a request; its overhead inflates call-heavy code), times the unprofiled"
            f" {cpu_ms:.2f} ms; nested parts overlap"
        )
        for label, file_suffix, function in COMPONENTS:
            if not file_suffix:
                part = handler - view
            else:
                part = _cumulative(stats, file_suffix, function)
            if part:
                share = part / profiled
                print(f"  {label:<48} {share * 100:5.1f} %  {share * cpu_ms:6.2f} ms")
        print(f"--- top by own CPU time ({requests} requests)")
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(15)
        print(re.sub(r"\n\s*\n", "\n", out.getvalue().split("ncalls", 1)[-1]).rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--no-redis", action="store_true", help="locmem cache, db sessions")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="0: only --profile")
    parser.add_argument("--duration", type=int, default=15, help="seconds per page and round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="use an existing loaded database")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--profile", type=int, default=0, help="profile N requests per page")
    args = parser.parse_args()
    if args.rounds and shutil.which("wrk") is None:
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
            if args.rounds == 0:  # --profile alone: no gunicorn, no wrk
                if args.profile:
                    profile(pages, cookie, args.profile)
                connections.close_all()
                return 0
            process = start_gunicorn(env, log_path)
            try:
                wait_until_serving(process, base, log_path)
                check_pages(base, pages, cookie)
                options = {"script": script, "connections": args.connections}
                for page in pages:
                    run_wrk(base, page, cookie, duration=3, **options)  # warm-up
                cpu_options = {"gunicorn_pid": process.pid, "database_url": args.database_url}
                rounds: list[dict[str, Result]] = []
                cpu: list[dict[str, CpuShare]] = []
                loads: list[str] = []
                for number in range(1, args.rounds + 1):
                    loads.append(load_average())
                    print(f"round {number}: load {loads[-1]}; busiest: {busy_processes()}")
                    found = {}
                    cpu.append({})
                    for page in pages:
                        result, share = run_wrk_with_cpu(
                            base, page, cookie, duration=args.duration, **options, **cpu_options
                        )
                        found[page.label] = result
                        cpu[-1][page.label] = share
                        print(
                            f"  {page.label:<28} {result.rps:8.1f} req/s  p50 "
                            f"{result.p50_ms:6.1f} ms  p95 {result.p95_ms:6.1f} ms"
                            + f"  CPU ms/request: app {share.app_ms:.2f} db {share.db_ms:.2f}"
                            f" wrk {share.wrk_ms:.2f}"
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
            print()
            print(cpu_report(pages, cpu))
            if args.profile:
                profile(pages, cookie, args.profile)
            connections.close_all()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
