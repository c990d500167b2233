"""The device sync survives a worker killed outright (SIGKILL) mid-walk: a real simulator, real
`celery worker` processes. The next run continues from the saved position: no page read
before the kill is read again, except the one in flight, and every device ends mirrored."""

import collections
import os
import signal

import pytest

from devices import tasks
from devices.models import Device, SyncWalk
from devices.platform_wiring import get_client, reset_client
from devices.services.sync import SYNC_LOCK_KEY
from tests.support.worker import run_worker, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

GENERATED = 6_000  # with the demo devices: 26 pages of ours, 1 of the partner's
DEVICES_PATH = "/iocm/app/dm/v1.4.0/devices"


@pytest.fixture
def walk_platform(platform_settings, start_simulator):
    """A private simulator whose list pages each take a moment, so the walk is still going when
    the worker is killed; a short sync lock, so the killed worker's lock lapses soon."""
    with start_simulator("--generated-devices", str(GENERATED), "--quiet") as sim:
        sim.faults(latency_ms=150, path_contains=DEVICES_PATH)
        platform_settings.IOT_PLATFORM_URL = sim.url
        platform_settings.IOT_AUTHORIZING_APP_IDS = [sim.second_app_id]
        platform_settings.IOT_SYNC_LOCK_TTL_SECONDS = 3.0
        reset_client()
        yield sim
    reset_client()


def page_reads(sim):
    return [
        (c["query"].get("appId", ""), int(c["query"]["pageNo"]))
        for c in sim.calls()
        if c["method"] == "GET" and c["path"] == DEVICES_PATH and c["status"] == 200
    ]


def kill(worker):
    """SIGKILL the pool's child and the main process: nothing runs a shutdown handler."""
    for pid in worker.pool_children():
        os.kill(pid, signal.SIGKILL)
    worker.process.send_signal(signal.SIGKILL)
    worker.process.wait(timeout=30)


def open_walk():
    return SyncWalk.objects.filter(finished_at__isnull=True).first()


def test_a_sync_resumes_after_its_worker_is_killed_without_starting_over(walk_platform, settings):
    sim = walk_platform
    expected = GENERATED + len(sim.devices())

    with run_worker(settings, pool="prefork", concurrency=1) as first:
        tasks.devices_sync.delay()
        wait_for(lambda: (walk := open_walk()) is not None and walk.pages >= 5, timeout=120)
        kill(first)

    walk = open_walk()
    assert walk is not None
    killed_at = (walk.app_index, walk.page_no)
    pages_before = walk.pages
    reads_before = page_reads(sim)
    assert Device.objects.count() < expected  # killed mid-walk, not after it
    assert Device.objects.count() == walk.created  # the saved position matches the rows
    # The killed worker's lock lapses by itself (IOT_SYNC_LOCK_TTL_SECONDS).
    wait_for(lambda: get_client().store.get(SYNC_LOCK_KEY) is None, timeout=60)

    with run_worker(settings, pool="prefork", concurrency=1):
        tasks.devices_sync.delay()
        wait_for(
            lambda: SyncWalk.objects.filter(pk=walk.pk, finished_at__isnull=False).exists(),
            timeout=180,
        )

    walk.refresh_from_db()
    reads = page_reads(sim)
    counts = collections.Counter(reads)
    read_twice = [read for read, n in counts.items() if n > 1]
    in_flight = (walk.app_ids[killed_at[0]], killed_at[1])
    assert set(read_twice) <= {in_flight}, (read_twice, killed_at, reads_before)
    # Every page of the first run before the kill was read once only, and the walk's first
    # page was not read again: the second run did not start over.
    assert ("", 0) in reads_before and counts[("", 0)] == 1
    assert all(counts[read] == 1 for read in reads_before if read != in_flight)
    assert len(set(reads)) == walk.pages > pages_before
    assert SyncWalk.objects.count() == 1  # the same walk, continued
    assert Device.objects.count() == expected == walk.created
    assert not Device.objects.filter(deleted_on_platform_at__isnull=False).exists()
    assert not Device.objects.filter(last_synced_at__isnull=True).exists()
