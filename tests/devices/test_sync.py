"""devices_sync against the real simulator: every page, bulk writes, deletions marked."""

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from devices.identifiers import node_search_key
from devices.models import Device, DeviceStatus
from devices.platform_wiring import get_client, reset_client
from devices.services.sync import SYNC_LOCK_KEY, SyncAlreadyRunning, devices_sync
from oceanconnect import PlatformError, PlatformPermanentError

pytestmark = pytest.mark.django_db


@pytest.fixture
def sync_settings(platform_settings, sim):
    platform_settings.IOT_AUTHORIZING_APP_IDS = [sim.second_app_id]
    return platform_settings


def platform_delete(sim, device_id):
    """Delete a device on the platform through its own northbound API."""
    login = requests.post(
        f"{sim.url}/iocm/app/sec/v1.1.0/login",
        data={"appId": sim.app_id, "secret": sim.app_secret},
        timeout=5,
    )
    token = login.json()["accessToken"]
    answer = requests.delete(
        f"{sim.url}/iocm/app/dm/v1.4.0/devices/{device_id}",
        params={"cascade": "true"},
        headers={"app_key": sim.app_id, "Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert answer.status_code in (200, 204), answer.text


def test_first_sync_mirrors_every_device_of_every_app(sync_settings, sim):
    platform_devices = {d["deviceId"]: d for d in sim.devices()}

    result = devices_sync()

    assert result.created == len(platform_devices) == Device.objects.count()
    assert result.updated == result.marked_deleted == result.restored == 0
    ours = [d for d in platform_devices.values() if d["owner"] == sim.app_id]
    partners = [d for d in platform_devices.values() if d["owner"] == sim.second_app_id]
    assert ours and partners
    assert result.pages == -(-len(ours) // 250) + -(-len(partners) // 250)
    assert Device.objects.filter(app_id="").count() == len(ours)
    assert Device.objects.filter(app_id=sim.second_app_id).count() == len(partners)


def test_synced_device_carries_the_platform_fields(sync_settings, sim):
    never_active = sim.devices(activated=False, owner=sim.app_id, limit=1)[0]
    online = sim.devices(status="ONLINE", owner=sim.app_id, limit=1)[0]

    devices_sync()

    mirrored = Device.objects.get(device_id=online["deviceId"])
    info = online["deviceInfo"]
    assert mirrored.node_id == online["nodeId"]
    assert mirrored.node_key == node_search_key(online["nodeId"])
    assert mirrored.name == info["name"]
    assert mirrored.manufacturer == info.get("manufacturerName", "")
    assert mirrored.model == info.get("model", "")
    assert mirrored.device_type == info.get("deviceType", "")
    assert mirrored.protocol == info.get("protocolType", "")
    assert mirrored.location == info.get("location", "")
    assert mirrored.location  # the simulator's devices have a street address
    assert mirrored.status == DeviceStatus.ONLINE
    assert mirrored.activated is True
    assert mirrored.last_synced_at is not None
    assert mirrored.platform_updated_at is not None
    inactive = Device.objects.get(device_id=never_active["deviceId"])
    assert inactive.status == DeviceStatus.INACTIVE
    assert inactive.status_detail == "NOT_ACTIVE"
    assert inactive.activated is False


def test_second_sync_changes_nothing(sync_settings):
    devices_sync()

    result = devices_sync()

    assert (result.created, result.updated, result.marked_deleted, result.restored) == (0, 0, 0, 0)


def test_a_status_change_on_the_platform_is_an_update(sync_settings, sim):
    offline = sim.devices(status="OFFLINE", owner=sim.app_id, limit=1)[0]
    devices_sync()
    sim.set_device(offline["deviceId"], status="ONLINE")

    result = devices_sync()

    assert (result.created, result.updated) == (0, 1)
    assert Device.objects.get(device_id=offline["deviceId"]).status == DeviceStatus.ONLINE


def test_a_device_deleted_on_the_platform_is_marked_not_dropped(sync_settings, sim):
    victim = sim.devices(owner=sim.app_id, limit=1)[0]["deviceId"]
    devices_sync()
    platform_delete(sim, victim)

    result = devices_sync()

    assert result.marked_deleted == 1
    device = Device.objects.get(device_id=victim)
    assert device.deleted_on_platform_at is not None
    assert Device.objects.filter(deleted_on_platform_at__isnull=False).count() == 1


def test_a_device_seen_again_is_restored(sync_settings, sim):
    devices_sync()
    device = Device.objects.filter(app_id="").first()
    Device.objects.filter(pk=device.pk).update(deleted_on_platform_at=timezone.now())

    result = devices_sync()

    assert result.restored == 1
    device.refresh_from_db()
    assert device.deleted_on_platform_at is None


def test_a_failed_sync_marks_nothing_deleted(sync_settings, sim):
    stray = Device.objects.create(device_id="gone-from-the-platform", node_id="X1")
    sim.faults(mode="50252", path_contains="/devices")

    with pytest.raises(PlatformError) as raised:
        devices_sync()

    assert raised.value.code == "50252"
    stray.refresh_from_db()
    assert stray.deleted_on_platform_at is None
    assert not AuditEvent.objects.filter(action=AuditAction.DEVICES_SYNCED).exists()


def test_a_sync_failing_after_some_pages_keeps_them_and_marks_nothing(sync_settings, sim):
    stray = Device.objects.create(device_id="gone-from-the-platform", node_id="X1")
    sync_settings.IOT_AUTHORIZING_APP_IDS = ["no-such-app"]  # our pages work, this list fails

    with pytest.raises(PlatformPermanentError) as raised:
        devices_sync()

    assert raised.value.code == "100203"
    ours = Device.objects.filter(app_id="").exclude(pk=stray.pk)
    assert ours.count() == len(sim.devices(owner=sim.app_id))
    stray.refresh_from_db()
    assert stray.deleted_on_platform_at is None


def test_sync_is_audited_with_its_counts(sync_settings):
    result = devices_sync()

    event = AuditEvent.objects.get(action=AuditAction.DEVICES_SYNCED)
    assert event.after == result.as_dict()
    assert event.actor is None


def test_a_newer_push_state_is_not_overwritten_by_an_older_page(sync_settings, sim):
    online = sim.devices(status="ONLINE", owner=sim.app_id, limit=1)[0]
    devices_sync()
    device = Device.objects.get(device_id=online["deviceId"])
    # A push received "after" the next page is fetched (the future, for this test).
    later = timezone.now() + timezone.timedelta(minutes=5)
    Device.objects.filter(pk=device.pk).update(
        status=DeviceStatus.ABNORMAL, platform_updated_at=later
    )

    result = devices_sync()

    device.refresh_from_db()
    assert device.status == DeviceStatus.ABNORMAL
    assert device.last_synced_at is not None and device.last_synced_at < later
    assert result.updated == 0 and result.marked_deleted == 0


def _sync_queries():
    """(result, queries on the mirror's table, all queries incl. the client's shared store)."""
    with CaptureQueriesContext(connection) as queries:
        result = devices_sync()
    mirror = [q for q in queries.captured_queries if '"devices_device"' in q["sql"]]
    return result, len(mirror), len(queries)


# One SELECT, the upsert (SQLite's 999-parameter limit splits 250 rows into 4 statements;
# PostgreSQL sends one), at most one UPDATE for rows a push overtook.
MIRROR_QUERIES_PER_PAGE = 6


def test_mirror_queries_per_page_are_constant_not_per_device(sync_settings, start_simulator):
    """300 and 1200 devices: the mirror's queries grow with pages, never with devices."""
    small, small_mirror, _ = _sync_queries()  # the session simulator: 300 devices
    _, resync_mirror, _ = _sync_queries()

    with start_simulator("--devices", "1200", "--quiet") as big:
        sync_settings.IOT_PLATFORM_URL = big.url
        reset_client()
        Device.objects.all().delete()
        large, large_mirror, _ = _sync_queries()
    reset_client()

    numbers = (small, small_mirror, resync_mirror, large, large_mirror)
    assert large.pages > small.pages, numbers
    assert large.created > 3 * small.created, numbers
    # +1: the final UPDATE marking unseen rows.
    assert small_mirror <= MIRROR_QUERIES_PER_PAGE * small.pages + 1, numbers
    assert resync_mirror <= MIRROR_QUERIES_PER_PAGE * small.pages + 1, numbers
    assert large_mirror <= MIRROR_QUERIES_PER_PAGE * large.pages + 1, numbers
    assert large_mirror < large.created / 20, numbers


def test_query_budget_for_300_devices(sync_settings, django_assert_max_num_queries):
    """Everything, the client's token and flow-limiter bookkeeping included (database store)."""
    # Per page: the mirror's writes, the limiter's bookkeeping, the walk's position (saved with
    # each page) and the sync lock's renewal.
    with django_assert_max_num_queries(28 * 3 + 20):
        result = devices_sync()
    assert result.created >= 300 and result.pages == 3


def test_platform_values_are_fitted_to_their_columns():
    from devices.services.sync import _device_from_platform
    from oceanconnect import DeviceInfo, PlatformDevice

    listed = PlatformDevice(
        device_id="d-1",
        gateway_id=None,
        node_type=None,
        create_time=None,
        last_modified_time=None,
        info=DeviceInfo(
            node_id="AA:BB:CC:DD:EE:FF", name="n" * 300, protocol_type="CoAP\x00", status="NEW"
        ),
    )

    device = _device_from_platform(listed, app_id="", fetched_at=timezone.now())

    assert device.name == "n" * 256
    assert device.protocol == "CoAP"
    assert device.status == DeviceStatus.UNKNOWN
    assert device.node_key == "aabbccddeeff"
    assert device.activated is True


def test_a_second_sync_while_one_runs_is_refused_and_changes_nothing(sync_settings, sim):
    store = get_client().store
    assert store.acquire_lock(SYNC_LOCK_KEY, owner="other-process", ttl=60)
    try:
        with pytest.raises(SyncAlreadyRunning, match="Another device sync is running"):
            devices_sync()
        assert Device.objects.count() == 0
    finally:
        store.release_lock(SYNC_LOCK_KEY, owner="other-process")
    assert devices_sync().created > 0


def test_the_sync_lock_is_released_when_the_sync_fails(sync_settings, sim):
    sim.faults(mode="50252", count=None, path_contains="/devices")
    with pytest.raises(PlatformError):
        devices_sync()
    sim.faults(mode="none")
    assert devices_sync().created > 0


def test_a_deletion_during_the_walk_shifts_pages_but_marks_only_the_deleted_device(
    sync_settings, sim, monkeypatch
):
    """Pages are oldest first: deleting a device of page 0 after it was read moves the first
    device of page 1 onto page 0, so one walk misses it. The direct read finds it."""
    sync_settings.IOT_AUTHORIZING_APP_IDS = []
    devices_sync()
    monkeypatch.setattr("devices.services.sync.PAGE_SIZE", 10)
    client = get_client()
    walk = client.iter_device_pages
    deleted = []

    def deleting_walk(**kwargs):
        for page in walk(**kwargs):
            yield page
            if page.page_no == 0:
                deleted.append(page.devices[0].device_id)
                platform_delete(sim, deleted[0])

    monkeypatch.setattr(client, "iter_device_pages", deleting_walk)

    result = devices_sync()

    # The deleted device was on page 0, read before it went: seen this run, not marked yet.
    # The device the shift hid was missing from the walk: read directly, found, not marked.
    assert result.marked_deleted == 0
    assert not Device.objects.filter(deleted_on_platform_at__isnull=False).exists()
    direct_reads = [
        c for c in sim.calls() if c["method"] == "GET" and c["path"].count("/devices/") == 1
    ]
    assert [c["status"] for c in direct_reads] == [200]

    monkeypatch.setattr(client, "iter_device_pages", walk)
    again = devices_sync()

    marked = list(Device.objects.filter(deleted_on_platform_at__isnull=False))
    assert [d.device_id for d in marked] == deleted
    assert again.marked_deleted == 1


def test_an_unseen_device_the_direct_read_cannot_settle_is_not_marked(sync_settings, sim):
    stray = Device.objects.create(device_id="unsettled-device", node_id="X2")
    sim.faults(mode="50252", path_contains="/devices/unsettled-device")

    with pytest.raises(PlatformError):
        devices_sync()

    stray.refresh_from_db()
    assert stray.deleted_on_platform_at is None


def _page_reads(sim):
    return [
        (c["query"].get("appId", ""), c["query"].get("pageNo"))
        for c in sim.calls()
        if c["method"] == "GET" and c["path"] == "/iocm/app/dm/v1.4.0/devices"
    ]


def test_a_sync_stopped_mid_walk_resumes_without_reading_a_page_twice(sync_settings, sim):
    """A budget of one page per run (as a task stopping before its time limit would): each run
    continues the walk where the last stopped; the audit counts the whole walk."""
    from devices.models import SyncWalk

    platform_devices = sim.devices()
    first = devices_sync(max_pages=1)
    assert (first.finished, first.pages) == (False, 1)
    walk = SyncWalk.objects.get(finished_at__isnull=True)
    assert (walk.app_index, walk.page_no, walk.pages) == (0, 1, 1)
    assert not AuditEvent.objects.filter(action=AuditAction.DEVICES_SYNCED).exists()

    second = devices_sync(max_pages=1)
    assert (second.finished, second.pages) == (False, 2)
    rest = devices_sync()

    assert rest.finished
    assert rest.created == len(platform_devices) == Device.objects.count()
    reads = _page_reads(sim)
    assert len(reads) == len(set(reads)) == rest.pages  # no page read twice
    walk.refresh_from_db()
    assert walk.finished_at is not None
    event = AuditEvent.objects.get(action=AuditAction.DEVICES_SYNCED)
    assert event.after == rest.as_dict()


def test_a_sync_interrupted_mid_page_reads_only_that_page_again(sync_settings, sim):
    from celery.exceptions import SoftTimeLimitExceeded

    import devices.services.sync as sync_module

    devices_sync(max_pages=1)
    real_write = sync_module._write_page

    def interrupted(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    sync_module._write_page = interrupted
    try:
        with pytest.raises(SoftTimeLimitExceeded):
            devices_sync()
    finally:
        sync_module._write_page = real_write
    result = devices_sync()
    assert result.finished and result.created == Device.objects.count()
    reads = _page_reads(sim)
    twice = [read for read in set(reads) if reads.count(read) > 1]
    assert twice == [("", "1")]  # the one in flight when the run was stopped


def test_the_sync_task_stops_within_its_budget_and_enqueues_the_rest(
    sync_settings, sim, monkeypatch
):
    from devices import tasks

    enqueued = []
    monkeypatch.setattr(tasks, "DEVICES_SYNC_BUDGET_SECONDS", -1.0)  # spent at once
    monkeypatch.setattr(tasks.devices_sync, "delay", lambda: enqueued.append(1))
    tasks.devices_sync.run()
    assert enqueued == [1]
    assert _page_reads(sim) == []


def test_device_refresh_reads_one_device_and_updates_its_row(sync_settings, sim):
    from devices.services.sync import device_refresh

    devices_sync()
    device = Device.objects.filter(app_id="").first()
    sim.set_device(device.device_id, status="ONLINE")
    before, synced = len(sim.calls()), device.last_synced_at
    refreshed = device_refresh(device=device, actor=None)
    assert refreshed.status == "ONLINE"
    assert refreshed.last_synced_at > synced
    calls = sim.calls()[before:]
    assert [(c["method"], c["path"].rsplit("/", 1)[-1]) for c in calls] == [
        ("GET", device.device_id)
    ]


def test_a_row_with_a_future_push_time_is_repaired_by_the_listing(sync_settings, sim):
    online = sim.devices(status="ONLINE", owner=sim.app_id, limit=1)[0]
    devices_sync()
    device = Device.objects.get(device_id=online["deviceId"])
    # A forged or broken clock: far beyond PUSH_MAX_FUTURE_SECONDS.
    far_future = timezone.now() + timezone.timedelta(days=365)
    Device.objects.filter(pk=device.pk).update(
        status=DeviceStatus.ABNORMAL, platform_updated_at=far_future
    )

    devices_sync()

    device.refresh_from_db()
    assert device.status == DeviceStatus.ONLINE
    assert device.platform_updated_at < far_future
