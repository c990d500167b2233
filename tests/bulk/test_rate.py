"""500 bulk rows against the simulator at 600 calls/min, sent by a real worker: every row gets its
code, no 1010009, and no 60 s window of the simulator's record above the limit. The rate itself is
a wall-clock figure that benchmarks/bulk_rate.py measures (benchmarks/README.md)."""

import os
import uuid

import pytest

from tests.bulk.rate_scenario import run_bulk_rate_scenario
from tests.support.simulator import start_simulator

# benchmarks/bulk_rate.py may ask for another size; the test itself is 500 rows at 600/min.
ROWS = int(os.environ.get("BULK_RATE_ROWS", "500"))
LIMIT = int(os.environ.get("BULK_RATE_LIMIT", "600"))


@pytest.fixture
def rate_sim():
    with start_simulator(
        "--flow-limit", str(LIMIT), "--devices", str(ROWS * 5 + 200), "--quiet", http=True
    ) as handle:
        yield handle


@pytest.fixture
def rate_settings(settings, rate_sim):
    from devices.platform_wiring import reset_client

    settings.IOT_PLATFORM_URL = rate_sim.url
    settings.IOT_APP_ID = rate_sim.app_id
    settings.IOT_APP_SECRET = rate_sim.app_secret
    settings.IOT_CA_FILE = ""
    settings.IOT_FLOW_LIMIT_PER_MINUTE = LIMIT
    settings.IOT_STORE_PREFIX = f"test:{uuid.uuid4().hex}:"
    reset_client()
    yield settings
    reset_client()


@pytest.fixture
def rate_worker(request, rate_settings):
    # After rate_settings, so the worker gets the simulator's URL and the limit.
    return request.getfixturevalue("celery_worker_process")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_500_rows_at_600_per_minute_without_throttling(rate_sim, rate_settings, rate_worker):
    report = run_bulk_rate_scenario(sim=rate_sim, rows=ROWS, limit=LIMIT)
    print(report.as_text())
    assert report.throttled_answers == 0
    assert report.refresh_calls == ROWS
    assert report.codes_issued == ROWS
    assert report.busiest_60s_window <= LIMIT, report.as_text()
