"""Push event times are bounded, lone surrogates refused, and a push the worker cannot apply is
audited (PUSH_FAILED) instead of lost."""

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from devices.models import Device
from devices.services.push import InvalidPush, push_parse
from devices.tasks_push import push_process
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

SECRET = "test-push-secret-bounds"
DEVICE_ID = "0b5e1c2d-1111-4c2e-9a58-5f0c1d2e3f40"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def push_settings(settings):
    settings.IOT_PUSH_SECRET = SECRET
    settings.PUSH_MAX_FUTURE_SECONDS = 300


def body(**extra):
    return {
        "notifyType": "deviceInfoChanged",
        "deviceId": DEVICE_ID,
        "deviceInfo": {"status": "ONLINE"},
        **extra,
    }


def encoded(data) -> bytes:
    return json.dumps(data).encode()


def test_an_event_time_within_the_bound_is_accepted():
    push = push_parse(body=encoded(body(eventTime="20260301T120400Z")), now=NOW)
    assert push.event_time == NOW + timedelta(minutes=4)


def test_an_event_time_too_far_in_the_future_is_refused():
    with pytest.raises(InvalidPush, match="more than 300 seconds in the future"):
        push_parse(body=encoded(body(eventTime="20260301T120600Z")), now=NOW)


def test_an_event_time_before_the_platform_epoch_is_refused():
    with pytest.raises(InvalidPush, match="before 2015-01-01"):
        push_parse(body=encoded(body(eventTime="20141231T235959Z")), now=NOW)


def test_a_lone_surrogate_is_refused():
    raw = b'{"notifyType":"deviceInfoChanged","deviceId":"d1","deviceInfo":{"name":"x\\ud800"}}'
    with pytest.raises(InvalidPush, match="lone surrogate"):
        push_parse(body=raw, now=NOW)


def test_the_endpoint_answers_400_with_the_reason_and_audits_it(client):
    future = (timezone.now() + timedelta(days=2)).strftime("%Y%m%dT%H%M%SZ")
    response = client.post(
        f"/platform/push/{SECRET}/",
        data=encoded(body(eventTime=future)),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "in the future" in response.json()["error"]
    [event] = AuditEvent.objects.filter(action=AuditAction.PUSH_REFUSED)
    assert "in the future" in event.detail


def test_the_endpoint_refuses_a_lone_surrogate_with_400(client):
    raw = b'{"notifyType":"deviceInfoChanged","deviceId":"d1","deviceInfo":{"name":"\\ud800"}}'
    response = client.post(f"/platform/push/{SECRET}/", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert AuditEvent.objects.filter(action=AuditAction.PUSH_REFUSED).count() == 1


def test_a_push_the_worker_cannot_apply_is_audited_and_logged_not_lost(caplog):
    DeviceFactory(device_id=DEVICE_ID)
    task_push = {
        "notify_type": "deviceInfoChanged",
        "device_id": DEVICE_ID,
        "gateway_id": "",
        "result_code": "",
        "event_time": None,
        "device_info": {"name": "broken \ud800 name"},  # bypassed the endpoint's check
    }
    with caplog.at_level(logging.ERROR):
        outcome = push_process.apply(args=[task_push, timezone.now().isoformat()]).get()
    assert outcome == "failed"
    [event] = AuditEvent.objects.filter(action=AuditAction.PUSH_FAILED)
    assert event.device_id == DEVICE_ID
    assert event.after["notifyType"] == "deviceInfoChanged"
    assert any("not applied" in r.getMessage() for r in caplog.records)
    assert Device.objects.get(device_id=DEVICE_ID).name != "broken \ud800 name"
