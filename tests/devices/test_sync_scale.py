"""The device sync at scale against the real simulator: 100,000 generated devices all mirrored,
with the same number of queries for the last page as for the first."""

import collections
import itertools

import pytest
from django.db import connection

import devices.services.sync as sync_module
from devices.models import Device, SyncWalk
from devices.platform_wiring import reset_client
from devices.services.sync import PAGE_SIZE, devices_sync

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

GENERATED = 100_000
GENERATED_PREFIX = "6e000000-0000-4000-8000-"  # simulator.seed.GENERATED_ID_PREFIX
# Every query one page costs, the flow limiter's and the walk's bookkeeping included: the page's
# SELECT ... FOR UPDATE and upsert, the walk's position, the sync lock's renewal, the slot
# reservation in the database store and the savepoints (14 on SQLite as measured).
MAX_QUERIES_PER_PAGE = 16


@pytest.fixture
def big_platform(platform_settings, start_simulator):
    """A simulator with 100,000 generated devices and a flow limit no walk reaches (the limiter
    is exercised elsewhere; here the subject is the mirror's cost per page)."""
    with start_simulator(
        "--generated-devices", str(GENERATED), "--flow-limit", "100000", "--quiet"
    ) as sim:
        platform_settings.IOT_PLATFORM_URL = sim.url
        platform_settings.IOT_FLOW_LIMIT_PER_MINUTE = 100_000
        platform_settings.IOT_AUTHORIZING_APP_IDS = [sim.second_app_id]
        reset_client()
        yield sim
    reset_client()


def test_a_sync_of_100000_devices_mirrors_every_one_in_constant_queries_per_page(
    big_platform, monkeypatch
):
    seeded = big_platform.devices()  # the demo devices, ours and the partner's
    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    page_starts: list[int] = []
    real_write = sync_module._write_page

    def write_page(devices, **kwargs):
        page_starts.append(queries)
        return real_write(devices, **kwargs)

    monkeypatch.setattr(sync_module, "_write_page", write_page)
    with connection.execute_wrapper(count):
        result = devices_sync()
    page_starts.append(queries)

    expected = GENERATED + len(seeded)
    assert result.finished
    assert result.created == expected == Device.objects.count()
    assert Device.objects.filter(device_id__startswith=GENERATED_PREFIX).count() == GENERATED
    assert not Device.objects.filter(deleted_on_platform_at__isnull=False).exists()
    assert not Device.objects.filter(last_synced_at__isnull=True).exists()
    assert result.pages == len(page_starts) - 1 >= GENERATED // PAGE_SIZE
    # Queries from one page's start to the next (the last: to the end, the final checks too).
    per_page = [b - a for a, b in itertools.pairwise(page_starts)][:-1]
    assert max(per_page) <= MAX_QUERIES_PER_PAGE, collections.Counter(per_page)
    # No growth with the page number: the last tenth of the walk costs what the first did
    # (a page may carry one more query now and then: the flow limiter's housekeeping).
    tenth = len(per_page) // 10
    first, last = sorted(per_page[:tenth]), sorted(per_page[-tenth:])
    assert last[len(last) // 2] <= first[len(first) // 2], (first, last)
    assert max(last) <= max(first) + 1, (first, last)
    assert not SyncWalk.objects.filter(finished_at__isnull=True).exists()
