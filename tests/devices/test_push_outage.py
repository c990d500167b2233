"""The push endpoint during an outage: 503 so the platform keeps retrying, never a lost 200."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import OperationalError

from audit.models import AuditAction, AuditEvent
from devices.models import DeviceStatus
from tests.factories import DeviceFactory
from tests.support.broker import broker_unreachable

pytestmark = pytest.mark.django_db

SECRET = "test-push-secret-outage"
DEVICE_ID = "0c3b6f1a-2222-4d2e-8f00-aaaabbbbcccc"


@pytest.fixture(autouse=True)
def push_settings(settings: Any) -> Any:
    settings.IOT_PUSH_SECRET = SECRET
    return settings


@pytest.fixture
def device() -> Any:
    return DeviceFactory(device_id=DEVICE_ID, status=DeviceStatus.OFFLINE)


def post_push(client: Any) -> Any:
    body = {
        "notifyType": "deviceInfoChanged",
        "deviceId": DEVICE_ID,
        "gatewayId": DEVICE_ID,
        "deviceInfo": {"nodeId": None, "status": "ONLINE", "statusDetail": "NONE"},
    }
    return client.post(
        f"/platform/push/{SECRET}/", data=json.dumps(body), content_type="application/json"
    )


def test_an_unreachable_broker_answers_503_and_records_nothing(client: Any, device: Any) -> None:
    with broker_unreachable():
        response = post_push(client)

    assert response.status_code == 503
    assert not AuditEvent.objects.filter(action=AuditAction.PUSH_RECEIVED).exists()
    device.refresh_from_db()
    assert device.status == DeviceStatus.OFFLINE
    assert post_push(client).status_code == 200  # the broker is back: the retry is taken


def test_an_unreachable_database_answers_503_before_queueing(
    client: Any, device: Any, monkeypatch: Any
) -> None:
    queued = []
    monkeypatch.setattr("devices.push.push_process.delay", lambda *args: queued.append(args))

    class DownConnection:
        def cursor(self) -> Any:
            raise OperationalError("could not connect to server")

    with monkeypatch.context() as patch:
        patch.setattr("devices.push.connection", DownConnection())
        response = post_push(client)

    assert response.status_code == 503
    assert queued == []
    assert post_push(client).status_code == 200
    assert len(queued) == 1
