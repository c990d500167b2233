"""The bulk rate scenario shared by tests/bulk/test_rate.py and benchmarks/bulk_rate.py:
N rows sent by a real worker against a simulator whose flow limit equals the client's."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

REFRESH_PATH = "/iocm/app/reg/v1.1.0/deviceCredentials/"
THROTTLED = "1010009"


@dataclass(frozen=True)
class RateReport:
    rows: int
    limit_per_minute: int
    refresh_calls: int
    other_calls: int
    throttled_answers: int
    first_to_last_refresh_seconds: float
    achieved_per_minute: float
    ratio: float  # achieved / limit
    busiest_60s_window: int  # most calls of any kind the simulator saw within 60 s
    codes_issued: int

    def as_text(self) -> str:
        return (
            f"{self.refresh_calls} refresh calls ({self.other_calls} other calls) in "
            f"{self.first_to_last_refresh_seconds:.1f} s: {self.achieved_per_minute:.0f}/min vs "
            f"limit {self.limit_per_minute}/min = {self.ratio:.0%}; 1010009 answers: "
            f"{self.throttled_answers}; busiest 60 s window: {self.busiest_60s_window} calls; "
            f"codes issued: {self.codes_issued}/{self.rows}"
        )


def busiest_window(times: list[float], seconds: float = 60.0) -> int:
    times = sorted(times)
    best = start = 0
    for end, at in enumerate(times):
        while times[start] <= at - seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


def rate_report(calls: list[dict[str, Any]], *, rows: int, limit: int, codes: int) -> RateReport:
    refreshes = sorted(
        c["time"] for c in calls if c["method"] == "PUT" and REFRESH_PATH in c["path"]
    )
    span = refreshes[-1] - refreshes[0] if len(refreshes) > 1 else 0.0
    # n calls make n-1 intervals: the rate between the first and the last call.
    achieved = (len(refreshes) - 1) * 60.0 / span if span > 0 else float("inf")
    return RateReport(
        rows=rows,
        limit_per_minute=limit,
        refresh_calls=len(refreshes),
        other_calls=len(calls) - len(refreshes),
        throttled_answers=sum(1 for c in calls if str(c.get("code")) == THROTTLED),
        first_to_last_refresh_seconds=round(span, 3),
        achieved_per_minute=round(achieved, 1),
        ratio=round(achieved / limit, 3),
        busiest_60s_window=busiest_window([c["time"] for c in calls]),
        codes_issued=codes,
    )


def run_bulk_rate_scenario(
    *, sim: Any, rows: int, limit: int, timeout: float = 300.0
) -> RateReport:
    """Upload and confirm `rows` lines, wait until every row is done, read the call record."""
    from bulk.models import RowState
    from bulk.selectors import batch_progress
    from bulk.services import bulk_confirm, bulk_upload
    from devices.models import Swap, SwapState
    from tests.bulk.helpers import csv_bytes, line, mirror_sim_devices
    from tests.factories import UserFactory, make_imei

    uploader: Any = UserFactory(helpdesk=True)
    devices = mirror_sim_devices(sim, rows)
    data = csv_bytes(*[line(d.device_id, make_imei()) for d in devices])
    batch = bulk_upload(actor=uploader, filename="rate.csv", data=data)
    assert batch.ready_count == rows, list(batch.rows.exclude(state=RowState.READY)[:3])
    started = time.monotonic()
    bulk_confirm(batch=batch, actor=uploader)
    while not batch_progress(batch=batch, with_eta=False).finished:
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not finished in {timeout} s: {batch_progress(batch=batch)}")
        time.sleep(0.5)
    codes = Swap.objects.filter(state=SwapState.CODE_ISSUED).count()
    report = rate_report(sim.calls(), rows=rows, limit=limit, codes=codes)
    target = os.environ.get("BULK_RATE_REPORT")
    if target:
        with open(target, "w", encoding="utf-8") as handle:
            json.dump(asdict(report), handle, indent=2)
    return report
