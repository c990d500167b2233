"""Every documented push body (fixtures/push_*.json) is accepted by the real push endpoint.

The platform retries whatever is not answered 200, so a documented body (extra keys, explicit
nulls, optional parts left out) answered 400 would be retried for minutes and then lost. Each
body is POSTed to the endpoint, must be answered 200, and the queued task (run inline here)
must apply it and record it in the audit trail.
"""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from devices.models import Device, DeviceStatus
from devices.tasks_push import push_process
from tests.conformance import documents

pytestmark = pytest.mark.django_db

SECRET = "conformance-push-secret-42"


@pytest.fixture(autouse=True)
def push_settings(settings):
    settings.IOT_PUSH_SECRET = SECRET
    return settings


@pytest.fixture(autouse=True)
def eager_tasks():
    conf = push_process.app.conf
    previous = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = previous


def _known_device(device_id: str) -> Device:
    return Device.objects.create(
        device_id=device_id,
        node_id="862177041314819",
        node_key="862177041314819",
        name="Water meter 17",
        status=DeviceStatus.OFFLINE,
        status_detail="NONE",
        activated=True,
        platform_updated_at=timezone.now() - timedelta(hours=1),
    )


@pytest.mark.parametrize(("document", "entry"), documents.push_params())
def test_documented_push_body_is_accepted_and_applied(
    client, django_capture_on_commit_callbacks, document, entry
):
    body = entry["body"]
    if body["notifyType"] != "deviceAdded":
        _known_device(body["deviceId"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/platform/push/{SECRET}/", data=json.dumps(body), content_type="application/json"
        )
    where = documents.cited(document, entry)
    answered = f"{response.status_code} {response.content!r}"
    assert response.status_code == 200, f"{where}: answered {answered}"
    events = AuditEvent.objects.filter(action=AuditAction.PUSH_RECEIVED, device_id=body["deviceId"])
    assert [e.after["notifyType"] for e in events] == [body["notifyType"]], (
        f"{where}: the push was not applied"
    )
