"""The push endpoint and push_parse / push_apply, with the bodies of platform-api.md."""

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from devices.models import Device, DeviceStatus, Swap, SwapState
from devices.selectors import device_search
from devices.services.push import PushNotification, push_parse
from devices.tasks_push import push_process
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

SECRET = "test-push-secret-123"
DEVICE_ID = "762634d2-1b1f-4c2e-9a58-5f0c1d2e3f40"


@pytest.fixture(autouse=True)
def push_settings(settings):
    settings.IOT_PUSH_SECRET = SECRET
    settings.IOT_PUSH_MAX_BYTES = 4096
    # These tests date their events in 2030 (after any "now"); the bound has its own tests.
    settings.PUSH_MAX_FUTURE_SECONDS = 20 * 365 * 24 * 3600
    return settings


@pytest.fixture(autouse=True)
def eager_tasks(request):
    """The endpoint's task runs inline, except in the tests that start the real worker."""
    if "celery_worker_process" in request.fixturenames:
        yield
        return
    conf = push_process.app.conf
    previous = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = previous


@pytest.fixture
def push(client, django_capture_on_commit_callbacks):
    """POST a body to the push endpoint and run what it queued on commit."""

    def send(body, *, secret=SECRET, content_type="application/json"):
        data = body if isinstance(body, bytes | str) else json.dumps(body)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(f"/platform/push/{secret}/", data=data, content_type=content_type)

    return send


@pytest.fixture
def device():
    return DeviceFactory(
        device_id=DEVICE_ID,
        node_id="862177041314819",
        node_key="862177041314819",
        name="Water meter 17",
        manufacturer="Kamstrup",
        model="flowIQ 2200",
        status=DeviceStatus.OFFLINE,
        status_detail="NONE",
        activated=True,
        platform_updated_at=timezone.now() - timedelta(hours=1),
    )


def bind_body(result="succeeded", node_id="862177041314827"):
    return {
        "notifyType": "bindDevice",
        "deviceId": DEVICE_ID,
        "resultCode": result,
        "deviceInfo": {
            "nodeId": node_id,
            "name": "Water meter 17",
            "status": "ONLINE",
            "statusDetail": "NONE",
        },
    }


def info_changed_body(status="ONLINE", **extra):
    return {
        "notifyType": "deviceInfoChanged",
        "deviceId": DEVICE_ID,
        "gatewayId": DEVICE_ID,
        "deviceInfo": {"nodeId": None, "status": status, "statusDetail": "NONE"},
        **extra,
    }


def added_body(device_id="5a1e0c3b-7777-4d2e-8f00-aaaabbbbcccc", **extra):
    return {
        "notifyType": "deviceAdded",
        "deviceId": device_id,
        "gatewayId": device_id,
        "nodeType": "GATEWAY",
        "deviceInfo": {
            "nodeId": "AA:BB:CC:00:11:22",
            "status": "OFFLINE",
            "statusDetail": "NOT_ACTIVE",
        },
        **extra,
    }


def deleted_body():
    return {"notifyType": "deviceDeleted", "deviceId": DEVICE_ID, "gatewayId": DEVICE_ID}


def as_task(body):
    """What the endpoint queues for a platform body."""
    return push_parse(body=json.dumps(body).encode()).to_task()


def push_events():
    return list(AuditEvent.objects.filter(action=AuditAction.PUSH_RECEIVED).order_by("id"))


# --- the four notification types ---------------------------------------------------------


def test_device_info_changed_applies_values_and_keeps_nulls_unchanged(push, device):
    response = push(info_changed_body(status="ONLINE"))

    assert response.status_code == 200
    assert response.json() == {"result": "accepted"}
    device.refresh_from_db()
    assert device.status == DeviceStatus.ONLINE
    assert device.node_id == "862177041314819"  # nodeId: null means unchanged
    assert device.name == "Water meter 17"
    [event] = push_events()
    assert event.device_id == DEVICE_ID
    assert event.after["notifyType"] == "deviceInfoChanged"
    assert event.after["outcome"] == "updated"
    assert event.before == {"status": "OFFLINE"}


def test_device_info_changed_updates_the_location_the_search_reads(push, device):
    body = info_changed_body()
    body["deviceInfo"]["location"] = "39 Elm Street"
    response = push(body)

    assert response.status_code == 200
    device.refresh_from_db()
    assert device.location == "39 Elm Street"
    assert device_search(query="elm street").items == [device]


def test_device_added_creates_the_device(push):
    response = push(added_body())

    assert response.status_code == 200
    created = Device.objects.get(device_id="5a1e0c3b-7777-4d2e-8f00-aaaabbbbcccc")
    assert created.node_id == "AA:BB:CC:00:11:22"
    assert created.node_key == "aabbcc001122"
    assert created.status == DeviceStatus.OFFLINE
    assert created.status_detail == "NOT_ACTIVE"
    assert created.activated is False
    assert created.app_id == ""
    assert push_events()[0].after["outcome"] == "created"


def test_device_deleted_marks_the_device_and_keeps_the_row(push, device):
    response = push(deleted_body())

    assert response.status_code == 200
    device.refresh_from_db()
    assert device.deleted_on_platform_at is not None
    assert push_events()[0].after["outcome"] == "marked deleted"


def test_push_for_an_unknown_device_changes_nothing(push):
    response = push(info_changed_body())

    assert response.status_code == 200
    assert Device.objects.count() == 0
    assert push_events()[0].after["outcome"].startswith("ignored: unknown device")


# --- duplicates and out-of-order delivery -------------------------------------------------


def test_duplicate_device_info_changed_changes_nothing_the_second_time(push, device):
    push(info_changed_body(status="ONLINE"))
    device.refresh_from_db()
    first_update = device.platform_updated_at

    push(info_changed_body(status="ONLINE"))

    device.refresh_from_db()
    assert device.platform_updated_at == first_update
    assert [e.after["outcome"] for e in push_events()] == ["updated", "no change"]


def test_duplicate_device_added_creates_one_device(push):
    push(added_body())
    push(added_body())

    assert Device.objects.count() == 1
    assert [e.after["outcome"] for e in push_events()] == [
        "created",
        "no change: already mirrored",
    ]


def test_duplicate_device_deleted_marks_once(push, device):
    push(deleted_body())
    device.refresh_from_db()
    deleted_at = device.deleted_on_platform_at

    push(deleted_body())

    device.refresh_from_db()
    assert device.deleted_on_platform_at == deleted_at
    assert push_events()[1].after["outcome"] == "no change: already marked deleted"


def test_older_event_never_overwrites_a_newer_state(push, device):
    push(info_changed_body(status="ONLINE", eventTime="20300101T120000Z"))
    late = push(info_changed_body(status="OFFLINE", eventTime="20300101T115900Z"))

    assert late.status_code == 200
    device.refresh_from_db()
    assert device.status == DeviceStatus.ONLINE
    assert device.platform_updated_at == datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert push_events()[1].after["outcome"] == "ignored: older than the state we hold"


def test_without_event_times_the_later_receipt_wins(push, device):
    push(info_changed_body(status="ONLINE"))
    push(info_changed_body(status="ABNORMAL"))

    device.refresh_from_db()
    assert device.status == DeviceStatus.ABNORMAL


def test_task_applies_pushes_in_receipt_order_even_when_run_out_of_order(device):
    first_received = timezone.now()
    second_received = first_received + timedelta(seconds=1)

    push_process.apply(
        args=[as_task(info_changed_body(status="ABNORMAL")), second_received.isoformat()]
    )
    push_process.apply(
        args=[as_task(info_changed_body(status="ONLINE")), first_received.isoformat()]
    )

    device.refresh_from_db()
    assert device.status == DeviceStatus.ABNORMAL


def test_info_changed_after_deletion_does_not_touch_the_deleted_device(push, device):
    push(deleted_body())
    push(info_changed_body(status="ONLINE"))

    device.refresh_from_db()
    assert device.status == DeviceStatus.OFFLINE
    assert device.deleted_on_platform_at is not None


def test_late_device_added_does_not_restore_a_deleted_device(push, device):
    push(deleted_body())
    push(added_body(device_id=DEVICE_ID))

    device.refresh_from_db()
    assert device.deleted_on_platform_at is not None
    assert push_events()[1].after["outcome"] == "ignored: a late deviceAdded for a deleted device"


def test_device_added_with_a_newer_event_time_restores_a_deleted_device(push, device):
    Device.objects.filter(pk=device.pk).update(
        deleted_on_platform_at=datetime(2030, 1, 1, tzinfo=UTC)
    )

    push(added_body(device_id=DEVICE_ID, eventTime="20300102T000000Z"))

    device.refresh_from_db()
    assert device.deleted_on_platform_at is None
    assert device.node_id == "AA:BB:CC:00:11:22"
    assert push_events()[0].after["outcome"] == "restored"


# --- event times: parsed once at the endpoint, queued exactly ---------------------------

OFFSET_EVENT_TIME = "2030-01-01T12:00:00.250+02:00"
OFFSET_EVENT_INSTANT = datetime(2030, 1, 1, 10, 0, 0, 250000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "instant"),
    [
        ("20151212T121212Z", datetime(2015, 12, 12, 12, 12, 12, tzinfo=UTC)),
        ("2015-12-12T12:12:12Z", datetime(2015, 12, 12, 12, 12, 12, tzinfo=UTC)),
        (OFFSET_EVENT_TIME, OFFSET_EVENT_INSTANT),
        ("2030-01-01T10:00:00.250", OFFSET_EVENT_INSTANT),
    ],
)
def test_event_time_is_parsed_to_the_utc_instant(raw, instant):
    push = push_parse(body=json.dumps(deleted_body() | {"eventTime": raw}).encode())

    assert push.event_time == instant
    assert push.event_time.utcoffset() == timedelta(0)


def test_task_form_round_trips_through_json_exactly():
    push = push_parse(
        body=json.dumps(bind_body("succeeded") | {"eventTime": OFFSET_EVENT_TIME}).encode()
    )

    task_form = json.loads(json.dumps(push.to_task()))

    assert task_form["event_time"] == "2030-01-01T10:00:00.250000+00:00"
    assert PushNotification.from_task(task_form) == push
    assert PushNotification.from_task(task_form).event_time == OFFSET_EVENT_INSTANT


def test_task_gets_the_validated_push_never_the_raw_body(client, device, monkeypatch):
    queued = []
    monkeypatch.setattr(push_process, "delay", lambda *args: queued.append(args))
    body = info_changed_body(status="ONLINE", eventTime=OFFSET_EVENT_TIME)

    response = client.post(f"/platform/push/{SECRET}/", data=body, content_type="application/json")

    assert response.status_code == 200
    [(task_push, received_at)] = queued
    assert task_push == push_parse(body=json.dumps(body).encode()).to_task()
    push_process.apply(args=json.loads(json.dumps([task_push, received_at])))
    device.refresh_from_db()
    assert device.status == DeviceStatus.ONLINE
    assert device.platform_updated_at == OFFSET_EVENT_INSTANT


# --- bad bodies: 4xx, logged, nothing changed ---------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"this is not json", "body is not JSON"),
        (b"\xff\xfe\x00garbage", "body is not UTF-8 text"),
        (b"[1, 2, 3]", "body is not a JSON object"),
        (b'"just a string"', "body is not a JSON object"),
        (b"{}", "notifyType is missing"),
        (
            b'{"notifyType": "deviceDataChanged", "deviceId": "x"}',
            "notifyType is not one we handle",
        ),
        (b'{"notifyType": "deviceInfoChanged"}', "deviceId is missing"),
        (b'{"notifyType": "deviceInfoChanged", "deviceId": ""}', "deviceId is missing"),
        (b'{"notifyType": "deviceInfoChanged", "deviceId": 42}', "deviceId must be a string"),
        (
            b'{"notifyType": "deviceInfoChanged", "deviceId": "d", "deviceInfo": [1]}',
            "deviceInfo is not a JSON object",
        ),
        (
            b'{"notifyType": "deviceInfoChanged", "deviceId": "d", "deviceInfo": {"nodeId": 8621}}',
            "deviceInfo.nodeId must be a string",
        ),
        (
            b'{"notifyType": "bindDevice", "deviceId": "d", "resultCode": "maybe"}',
            "bindDevice resultCode must be succeeded or expired",
        ),
        (
            b'{"notifyType": "deviceDeleted", "deviceId": "d", "eventTime": "yesterday"}',
            "eventTime must be a timestamp like 20151212T121212Z",
        ),
        (b"[" * 2000 + b"]" * 2000, "body is not JSON"),
        (
            rb'{"notifyType": "deviceDeleted", "deviceId": "d\u0000"}',
            "deviceId contains a NUL character",
        ),
    ],
)
def test_malformed_body_gets_400_with_reason_and_is_logged(push, device, caplog, body, reason):
    caplog.set_level(logging.WARNING, logger="devices.push")
    before = list(Device.objects.values())

    response = push(body)

    assert response.status_code == 400
    assert response.json() == {"error": reason}
    assert list(Device.objects.values()) == before
    assert push_events() == []
    [record] = [r for r in caplog.records if r.name == "devices.push"]
    assert record.levelno == logging.WARNING
    assert reason in record.getMessage()
    assert SECRET not in record.getMessage()


def test_oversized_body_gets_413_and_changes_nothing(push, device, caplog):
    caplog.set_level(logging.WARNING, logger="devices.push")
    body = info_changed_body()
    body["deviceInfo"]["name"] = "x" * 5000

    response = push(body)

    assert response.status_code == 413
    assert "4096" in response.json()["error"]
    device.refresh_from_db()
    assert device.status == DeviceStatus.OFFLINE
    assert push_events() == []
    assert any("limit" in r.getMessage() for r in caplog.records if r.name == "devices.push")


def test_body_is_read_only_up_to_its_declared_length(client, device):
    body = json.dumps(info_changed_body()).encode() + b" " * 5000

    response = client.generic(
        "POST",
        f"/platform/push/{SECRET}/",
        data=body,
        content_type="application/json",
        CONTENT_LENGTH="10",
    )

    assert response.status_code == 400  # only 10 bytes read: not JSON
    assert push_events() == []


def test_over_long_field_is_refused(push, device):
    body = info_changed_body()
    body["deviceInfo"]["nodeId"] = "1" * 257

    response = push(body)

    assert response.status_code == 400
    assert response.json() == {"error": "deviceInfo.nodeId is longer than 256 characters"}


def test_wrong_secret_gets_a_plain_404(push, device):
    response = push(info_changed_body(), secret="not-the-secret")

    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}
    device.refresh_from_db()
    assert device.status == DeviceStatus.OFFLINE
    assert push_events() == []


def test_empty_configured_secret_accepts_nothing(push, settings, device):
    settings.IOT_PUSH_SECRET = ""

    assert push(info_changed_body(), secret="x").status_code == 404


def test_get_is_refused(client):
    response = client.get(f"/platform/push/{SECRET}/")

    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_get_with_a_wrong_secret_says_not_found(client):
    assert client.get("/platform/push/guess/").status_code == 404


def test_endpoint_needs_no_login_and_no_csrf_token(device):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        f"/platform/push/{SECRET}/",
        data=json.dumps(deleted_body()),
        content_type="application/json",
    )

    assert response.status_code == 200


def test_queue_failure_answers_503_so_the_platform_retries(client, device, monkeypatch, caplog):
    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker unreachable")

    monkeypatch.setattr(push_process, "delay", broker_down)

    response = client.post(
        f"/platform/push/{SECRET}/", data=info_changed_body(), content_type="application/json"
    )

    assert response.status_code == 503
    device.refresh_from_db()
    assert device.status == DeviceStatus.OFFLINE


def test_the_secret_never_reaches_a_log_line(push, device, caplog):
    caplog.set_level(logging.DEBUG)

    push(b"garbage")
    push(info_changed_body())

    assert caplog.records
    assert all(SECRET not in r.getMessage() for r in caplog.records)


def test_redacting_filter_hides_the_path_secret():
    from devices.push_logging import RedactPushSecretFilter

    record = logging.LogRecord(
        "django.server",
        logging.WARNING,
        __file__,
        1,
        '"%s" %s %s',
        ("POST /platform/push/s3cret-value/ HTTP/1.1", "400", "35"),
        None,
    )

    assert RedactPushSecretFilter().filter(record)
    assert "s3cret-value" not in record.getMessage()
    assert "/platform/push/<redacted>/" in record.getMessage()


# --- bindDevice closes the swap loop ------------------------------------------------------


@pytest.fixture
def issued_swap(device):
    from tests.factories import SwapFactory

    swap = SwapFactory(
        issued=True, device=device, new_node_id="862177041314827", verify_code="A1B2C3D4"
    )
    Swap.objects.filter(pk=swap.pk).update(
        code_issued_at=timezone.now() - timedelta(seconds=30),
        code_expires_at=timezone.now() + timedelta(seconds=150),
    )
    swap.refresh_from_db()
    return swap


def test_bind_succeeded_marks_the_swap_bound_and_moves_the_device(push, device, issued_swap):
    response = push(bind_body("succeeded"))

    assert response.status_code == 200
    issued_swap.refresh_from_db()
    assert issued_swap.state == SwapState.BOUND
    assert issued_swap.verify_code_encrypted == ""
    device.refresh_from_db()
    assert device.node_id == "862177041314827"
    assert device.node_key == "862177041314827"
    assert device.status == DeviceStatus.ONLINE
    assert device.activated is True
    [event] = push_events()
    assert event.after["outcome"].startswith(f"swap #{issued_swap.pk} bound")
    assert event.after["resultCode"] == "succeeded"
    assert "A1B2C3D4" not in json.dumps([event.before, event.after, event.detail])


def test_duplicate_bind_succeeded_binds_once(push, device, issued_swap):
    push(bind_body("succeeded"))
    push(bind_body("succeeded"))

    assert AuditEvent.objects.filter(action=AuditAction.SWAP_BOUND).count() == 1
    outcomes = [e.after["outcome"] for e in push_events()]
    assert outcomes[0].startswith(f"swap #{issued_swap.pk} bound")
    assert outcomes[1] == f"swap #{issued_swap.pk} already bound; device unchanged"


def test_bind_succeeded_with_another_node_id_leaves_the_swap_open(push, device, issued_swap):
    push(bind_body("succeeded", node_id="AA:BB:CC:DD:EE:FF"))

    issued_swap.refresh_from_db()
    assert issued_swap.state == SwapState.CODE_ISSUED
    assert push_events()[0].after["outcome"].startswith("no matching swap")


def test_bind_expired_expires_the_open_code(push, device, issued_swap):
    body = bind_body("expired", node_id="862177041314819")
    body["deviceInfo"]["status"] = "OFFLINE"

    response = push(body)

    assert response.status_code == 200
    issued_swap.refresh_from_db()
    assert issued_swap.state == SwapState.EXPIRED
    assert issued_swap.verify_code_encrypted == ""
    assert issued_swap.verify_code_hint == "D4"
    device.refresh_from_db()
    assert device.node_id == "862177041314819"
    assert device.status == DeviceStatus.OFFLINE


def test_duplicate_bind_expired_expires_once(push, device, issued_swap):
    push(bind_body("expired", node_id="862177041314819"))
    push(bind_body("expired", node_id="862177041314819"))

    assert AuditEvent.objects.filter(action=AuditAction.SWAP_EXPIRED).count() == 1
    assert push_events()[1].after["outcome"].startswith("no open code")


def test_expired_push_received_before_a_newer_code_was_issued_leaves_it_open(device, issued_swap):
    received_before_issue = issued_swap.code_issued_at - timedelta(seconds=5)

    push_process.apply(
        args=[
            as_task(bind_body("expired", node_id="862177041314819")),
            received_before_issue.isoformat(),
        ]
    )

    issued_swap.refresh_from_db()
    assert issued_swap.state == SwapState.CODE_ISSUED


def test_bind_for_a_device_deleted_on_the_platform_changes_nothing(push, device, issued_swap):
    push(deleted_body())
    push(bind_body("succeeded"))

    issued_swap.refresh_from_db()
    assert issued_swap.state == SwapState.CODE_ISSUED


# --- end to end: simulator -> live server -> real worker ----------------------------------


def _issued_swaps_pushing_to(live_server, sim, platform_settings, count):
    """Mirror the simulator, subscribe its pushes to the live server, and request `count` swaps
    with a generated code for offline units that present one; wait until each shows its code.
    Returns the Field service user and the swaps."""
    from io import StringIO

    from django.core.management import call_command

    from devices.identifiers import NodeId
    from devices.models import VerifyCodeMode
    from devices.services import devices_sync, swap_request
    from tests.factories import UserFactory, make_imei
    from tests.support.worker import wait_for

    platform_settings.IOT_AUTHORIZING_APP_IDS = []
    devices_sync()
    call_command(
        "subscribe_notifications",
        callback_url=f"{live_server.url}/platform/push/{SECRET}/",
        stdout=StringIO(),
    )
    user = UserFactory(field_service=True)
    candidates = sim.devices(
        status="OFFLINE", activated=True, owner=sim.app_id, nbiot=False, limit=count
    )
    swaps = [
        swap_request(
            device=Device.objects.get(device_id=candidate["deviceId"]),
            new_node_id=NodeId.from_imei(make_imei(), chipset="hisilicon"),
            verify_code_mode=VerifyCodeMode.PLATFORM,
            actor=user,
        )
        for candidate in candidates
    ]
    for swap in swaps:
        wait_for(lambda s=swap: Swap.objects.get(pk=s.pk).state == SwapState.CODE_ISSUED)
    return user, [Swap.objects.get(pk=swap.pk) for swap in swaps]


@pytest.mark.django_db(transaction=True)
def test_bind_and_expiry_pushes_arrive_end_to_end(
    platform_settings, sim, live_server, celery_worker_process
):
    from devices.services import swap_reveal_code
    from tests.support.worker import wait_for

    user, (bound_swap, expiring_swap) = _issued_swaps_pushing_to(
        live_server, sim, platform_settings, 2
    )
    code = swap_reveal_code(swap=bound_swap, actor=user)

    assert sim.bind(bound_swap.new_node_id, code)["bound"] is True
    wait_for(lambda: Swap.objects.get(pk=bound_swap.pk).state == SwapState.BOUND)
    sim.expire_bindings()
    wait_for(lambda: Swap.objects.get(pk=expiring_swap.pk).state == SwapState.EXPIRED)

    device = Device.objects.get(pk=bound_swap.device_id)
    assert device.node_id == bound_swap.new_node_id
    assert device.status == DeviceStatus.ONLINE
    received = AuditEvent.objects.filter(
        action=AuditAction.PUSH_RECEIVED, device_id=device.device_id
    )
    assert any(
        e.after["notifyType"] == "bindDevice"
        and f"swap #{bound_swap.pk} bound" in e.after["outcome"]
        for e in received
    )
    assert Swap.objects.get(pk=expiring_swap.pk).verify_code_encrypted == ""
    assert all(p["status"] == 200 for p in sim.pushes() if p["url"].startswith(live_server.url))


@pytest.mark.django_db(transaction=True)
def test_a_bind_push_without_device_info_binds_end_to_end(
    platform_settings, sim, live_server, celery_worker_process
):
    from devices.services import swap_reveal_code
    from tests.support.worker import wait_for

    user, (swap,) = _issued_swaps_pushing_to(live_server, sim, platform_settings, 1)
    code = swap_reveal_code(swap=swap, actor=user)
    new_node_id = swap.new_node_id

    assert sim.bind(new_node_id, code, push_device_info=False)["bound"] is True

    wait_for(lambda: Swap.objects.get(pk=swap.pk).state == SwapState.BOUND)
    bind_pushes = [
        p
        for p in sim.pushes()
        if p["url"].startswith(live_server.url) and p["body"]["notifyType"] == "bindDevice"
    ]
    assert [sorted(p["body"]) for p in bind_pushes] == [["deviceId", "notifyType", "resultCode"]]
    assert all(p["status"] == 200 for p in bind_pushes)
    device = Device.objects.get(pk=swap.device_id)
    assert device.node_id == new_node_id  # taken from the swap: the push carried none


@pytest.mark.django_db(transaction=True)
def test_offset_event_time_keeps_its_utc_instant_through_the_real_worker(
    client, device, celery_worker_process
):
    from tests.support.worker import wait_for

    def send(status, event_time, *, events):
        body = info_changed_body(status=status, eventTime=event_time)
        url = f"/platform/push/{SECRET}/"
        assert client.post(url, data=body, content_type="application/json").status_code == 200
        return wait_for(lambda: len(push_events()) == events and push_events()[-1])

    first = send("ONLINE", OFFSET_EVENT_TIME, events=1)
    device.refresh_from_db()
    assert first.after["outcome"] == "updated"
    assert device.platform_updated_at == OFFSET_EVENT_INSTANT

    older = send("ABNORMAL", "2030-01-01T11:59:59.250+02:00", events=2)  # 1 s older in UTC
    device.refresh_from_db()
    assert older.after["outcome"] == "ignored: older than the state we hold"
    assert device.status == DeviceStatus.ONLINE
    assert device.platform_updated_at == OFFSET_EVENT_INSTANT

    newer = send("ABNORMAL", "2030-01-01T10:00:01.250Z", events=3)  # 1 s newer in UTC
    device.refresh_from_db()
    assert newer.after["outcome"] == "updated"
    assert device.status == DeviceStatus.ABNORMAL
    assert device.platform_updated_at == OFFSET_EVENT_INSTANT + timedelta(seconds=1)


def test_bind_succeeded_without_device_info_binds_the_open_swap(push, device, issued_swap):
    body = bind_body()
    del body["deviceInfo"]  # optional in Huawei's reference

    response = push(body)

    assert response.status_code == 200
    issued_swap.refresh_from_db()
    assert issued_swap.state == SwapState.BOUND
    device.refresh_from_db()
    assert device.node_id == "862177041314827"  # taken from the swap
    assert push_events()[0].after["outcome"].startswith(f"swap #{issued_swap.pk} bound")


def test_bind_succeeded_without_device_info_and_no_open_swap_changes_no_swap(push, device):
    body = bind_body()
    del body["deviceInfo"]

    assert push(body).status_code == 200
    device.refresh_from_db()
    assert device.node_id == "862177041314819"
    assert push_events()[0].after["outcome"].startswith("no matching swap")


REAL_DEVICE_INFO_EXTRAS = {
    "bridgeId": "bridge-1",
    "supportedSecurity": "NO",
    "isSecurity": "FALSE",
    "sigVersion": 2,
    "isHD": False,
}


def test_the_extra_fields_of_real_pushes_are_ignored(push, device, issued_swap):
    bound = bind_body()
    bound["networkStatus"] = "ONLINE"
    bound["deviceInfo"].update(REAL_DEVICE_INFO_EXTRAS)
    changed = info_changed_body(networkStatus="ONLINE")
    changed["deviceInfo"].update(REAL_DEVICE_INFO_EXTRAS)
    added = added_body(networkStatus="OFFLINE")
    added["deviceInfo"].update(REAL_DEVICE_INFO_EXTRAS)

    assert [push(body).status_code for body in (bound, changed, added)] == [200, 200, 200]

    issued_swap.refresh_from_db()
    assert issued_swap.state == SwapState.BOUND
    assert Device.objects.filter(device_id=added["deviceId"]).exists()
