"""Peak memory of the swap-history CSV export over 100,000 swaps (a benchmark, not a test).

    .venv/bin/python benchmarks/export_memory.py [--rows 100000] [--compare]

1. Creates a scratch SQLite database (in a temporary folder), migrates it and bulk-creates
   `--rows` swaps over 500 devices and 20 technicians.
2. In a fresh process (so the set-up's memory does not count), streams the export through the
   real view (`swap_history_export`, as a supervisor) and reads every byte, measuring
   - the tracemalloc peak (Python allocations while streaming) and
   - the ru_maxrss delta (the process's resident high-water mark, before vs after).
3. With --compare, the same process then materialises the rows (`list(values_list(...))`)
   to show what streaming avoids.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _setup_django(var_dir: Path) -> None:
    os.environ["IOTADMIN_VAR_DIR"] = str(var_dir)
    os.environ["DATABASE_URL"] = f"sqlite:///{var_dir / 'bench.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iotadmin.settings")
    import django

    django.setup()


def populate(var_dir: Path, rows: int) -> None:
    _setup_django(var_dir)
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.utils import timezone

    from devices.models import Chipset, Device, NodeIdKind, Swap, SwapState
    from devices.roles import SUPERVISOR

    call_command("migrate", verbosity=0)
    users = get_user_model()
    supervisor = users.objects.create_user(username="bench-supervisor", password="x")
    supervisor.groups.add(Group.objects.get(name=SUPERVISOR))
    techs = [users.objects.create_user(username=f"tech{n:02d}") for n in range(20)]
    devices = Device.objects.bulk_create(
        Device(device_id=f"bench-{n:06d}", node_id=f"86{n:013d}", name=f"Meter {n:06d}")
        for n in range(500)
    )
    states = [SwapState.BOUND] * 7 + [SwapState.FAILED, SwapState.EXPIRED, SwapState.CANCELLED]
    start = timezone.now() - timedelta(days=400)
    batch: list[Swap] = []
    for n in range(rows):
        state = states[n % len(states)]
        created = start + timedelta(seconds=n * 300)
        batch.append(
            Swap(
                device=devices[n % len(devices)],
                requested_by=techs[n % len(techs)],
                old_node_id=f"86{n:013d}",
                new_node_id=f"urn:imei:87{n:013d}",
                node_id_kind=NodeIdKind.IMEI,
                chipset=Chipset.QUALCOMM,
                timeout_seconds=180,
                reason=f"INC-{n:07d} unit replaced after water damage",
                state=state,
                attempts=1,
                error_code="100611" if state == SwapState.FAILED else "",
                error_text="Take the device offline, then retry."
                if state == SwapState.FAILED
                else "",
                verify_code_hint="7Q",
                code_issued_at=created + timedelta(seconds=2),
                bound_at=created + timedelta(seconds=60 + n % 500)
                if state == SwapState.BOUND
                else None,
            )
        )
        if len(batch) == 5000:
            Swap.objects.bulk_create(batch)
            batch.clear()
    Swap.objects.bulk_create(batch)
    # auto_now_add overwrote created_at with "now"; spread the rows over time again.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE devices_swap"
            " SET created_at = datetime(%s, '+' || ((id - 1) * 300) || ' seconds')",
            [start.strftime("%Y-%m-%d %H:%M:%S")],
        )


def _maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def measure(var_dir: Path, compare: bool) -> None:
    _setup_django(var_dir)
    from typing import cast

    from django.contrib.auth import get_user_model
    from django.http import StreamingHttpResponse
    from django.test import RequestFactory

    from iotadmin.htmx import HtmxHttpRequest
    from reports.export import _EXPORT_COLUMNS
    from reports.selectors import HistoryFilters, history_queryset
    from reports.views import swap_history_export

    user = get_user_model().objects.get(username="bench-supervisor")
    request = RequestFactory().get("/history/export.csv")
    request.user = user
    rss_before = _maxrss_kib()
    tracemalloc.start()
    began = time.perf_counter()
    response = swap_history_export(cast(HtmxHttpRequest, request))
    assert isinstance(response, StreamingHttpResponse), "the export must be streamed"
    total_bytes = 0
    lines = 0
    for piece in response:
        total_bytes += len(piece)
        lines += piece.count(b"\n")
    elapsed = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = _maxrss_kib()
    print(f"rows exported        {lines - 1:>12,}")
    print(f"CSV size             {total_bytes / 1e6:>12.1f} MB")
    print(f"tracemalloc peak     {peak / 1e6:>12.2f} MB   (Python allocations while streaming)")
    print(
        f"ru_maxrss delta      {(rss_after - rss_before) / 1024:>12.2f} MiB "
        f"(before {rss_before / 1024:.1f}, after {rss_after / 1024:.1f})"
    )
    print(f"time (with tracing)  {elapsed:>12.1f} s")
    if compare:
        tracemalloc.start()
        rows = list(history_queryset(filters=HistoryFilters()).values_list(*_EXPORT_COLUMNS))
        _, materialised = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"materialised tuples  {materialised / 1e6:>12.2f} MB   "
            f"({len(rows):,} rows in a list, for comparison)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--compare", action="store_true", help="also materialise the rows")
    parser.add_argument("--populate-only", metavar="VAR_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--measure-only", metavar="VAR_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.populate_only:
        populate(Path(args.populate_only), args.rows)
        return
    if args.measure_only:
        measure(Path(args.measure_only), args.compare)
        return
    # Each phase in its own process: the measuring one starts with no set-up memory in it.
    with tempfile.TemporaryDirectory(prefix="iotadmin-bench-") as tmp:
        began = time.perf_counter()
        script = [sys.executable, __file__]
        subprocess.run([*script, "--rows", str(args.rows), "--populate-only", tmp], check=True)
        print(
            f"created {args.rows:,} swaps in {time.perf_counter() - began:.1f} s (SQLite in {tmp})"
        )
        measure_command = [*script, "--measure-only", tmp]
        if args.compare:
            measure_command.append("--compare")
        subprocess.run(measure_command, check=True)


if __name__ == "__main__":
    main()
