"""Benchmark: a bulk file of 500 rows sent by a real Celery worker within a 600 calls/min limit.

    .venv/bin/python benchmarks/bulk_rate.py [--rows 500] [--limit 600]

Runs the same scenario as tests/bulk/test_rate.py (a private simulator at --flow-limit, the
client's IOT_FLOW_LIMIT_PER_MINUTE equal to it, a real worker, the test database) through
pytest with a private IOTADMIN_VAR_DIR, then prints what the simulator recorded: refresh calls,
their rate between the first and the last one against the limit (the ratio; target >= 90%),
1010009 answers (target 0) and the most calls of any kind in one 60 s window (<= the limit).
Whatever broker and database the environment selects are used (DATABASE_URL, CELERY_BROKER_URL,
REDIS_URL); by default SQLite and the filesystem broker.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--limit", type=int, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="iotadmin-bulk-rate-") as scratch:
        report_path = Path(scratch) / "report.json"
        env = {
            **os.environ,
            "IOTADMIN_VAR_DIR": str(Path(scratch) / "var"),
            "BULK_RATE_REPORT": str(report_path),
            "BULK_RATE_ROWS": str(args.rows),
            "BULK_RATE_LIMIT": str(args.limit),
        }
        command = [
            sys.executable,
            "-m",
            "pytest",
            "tests/bulk/test_rate.py",
            "-q",
            "-p",
            "no:warnings",
        ]
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if not report_path.exists():
            print(result.stdout[-4000:], result.stderr[-2000:], sep="\n")
            print("no report: the scenario did not finish")
            return 1
        report = json.loads(report_path.read_text())
    print(f"rows                     {report['rows']}")
    print(f"refresh calls            {report['refresh_calls']} (+{report['other_calls']} other)")
    print(f"first to last refresh    {report['first_to_last_refresh_seconds']:.1f} s")
    print(f"achieved                 {report['achieved_per_minute']:.0f} calls/min")
    print(f"limit                    {report['limit_per_minute']} calls/min")
    print(f"ratio                    {report['ratio']:.0%} (target >= 90%)")
    print(f"1010009 answers          {report['throttled_answers']} (target 0)")
    print(f"busiest 60 s window      {report['busiest_60s_window']} calls")
    print(f"codes issued             {report['codes_issued']}")
    print(f"test                     {'passed' if result.returncode == 0 else 'FAILED'}")
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
