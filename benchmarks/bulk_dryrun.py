"""Benchmark: the bulk dry run (bulk.checks.check_bulk_lines) of a file of N rows.

    .venv/bin/python benchmarks/bulk_dryrun.py [--rows 5000] [--root PATH]

Creates a scratch SQLite database in a temporary folder (IOTADMIN_VAR_DIR), migrates it,
mirrors N devices (bulk_create, each with a fresh IMEI), writes a CSV naming each of them with
a new IMEI, then parses and dry-runs it once, counting the SQL queries and timing it. `--root`
runs the code of another checkout (e.g. the main branch, for a before/after) with this script.
Prints one JSON line: rows, queries, seconds (dry run only, not the parsing).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bulk-dryrun-") as var_dir:
        os.environ.pop("DATABASE_URL", None)
        os.environ["IOTADMIN_VAR_DIR"] = var_dir
        os.environ["DJANGO_SETTINGS_MODULE"] = "iotadmin.settings"
        sys.path.insert(0, str(args.root.resolve()))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        result = _run(args.rows)
    print(json.dumps(result))
    return 0


def _run(rows: int) -> dict[str, object]:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from bulk.checks import check_bulk_lines
    from bulk.csv_parsing import parse_bulk_file
    from devices.identifiers import node_search_key
    from devices.models import Device
    from tests.factories import make_imei

    Device.objects.bulk_create(
        Device(
            device_id=f"bench-{n:06d}-0000-4000-8000-000000000000",
            node_id=(node := make_imei()),
            node_key=node_search_key(node),
            status="OFFLINE",
            activated=True,
        )
        for n in range(rows)
    )
    header = "device,new_node_id,kind,chipset,verify_code_mode,ticket"
    lines = [header] + [
        f"bench-{n:06d}-0000-4000-8000-000000000000,{make_imei()},imei,hisilicon,platform,T-{n}"
        for n in range(rows)
    ]
    parsed = parse_bulk_file(("\r\n".join(lines) + "\r\n").encode(), max_rows=rows)
    actor = get_user_model().objects.create_user(username="bench")
    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    started = time.perf_counter()
    with connection.execute_wrapper(count):
        verdicts = check_bulk_lines(parsed, actor=actor)
    seconds = time.perf_counter() - started
    assert all(v.ok for v in verdicts), next(v.message for v in verdicts if not v.ok)
    return {"rows": rows, "queries": queries, "seconds": round(seconds, 3)}


if __name__ == "__main__":
    sys.exit(main())
