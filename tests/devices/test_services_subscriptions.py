"""notifications_subscribe against the real simulator: the four types, one audit event, and the
push secret (a path segment of the callback URL) never in the audit trail or the logs."""

import json
import logging

import pytest

from audit.models import AuditAction, AuditEvent
from devices.platform_wiring import get_client
from devices.services import notifications_subscribe
from devices.services.subscriptions import (
    NOTIFY_TYPES,
    CallbackUrlRefused,
    SubscribeFailed,
    callback_url_masked,
    notifications_drift,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SUBSCRIBE_PATH = "/iocm/app/sub/v1.2.0/subscriptions"
SECRET = "svc-test-push-secret"
CALLBACK = f"http://127.0.0.1:8000/platform/push/{SECRET}/"


@pytest.fixture
def push_settings(platform_settings):
    platform_settings.IOT_PUSH_SECRET = SECRET
    platform_settings.IOT_CALLBACK_URL = CALLBACK
    return platform_settings


def subscribe_calls(sim):
    return [c for c in sim.calls() if c["method"] == "POST" and c["path"] == SUBSCRIBE_PATH]


def subscribed_events():
    return list(
        AuditEvent.objects.filter(action=AuditAction.NOTIFICATIONS_SUBSCRIBED).order_by("pk")
    )


def dumped(event):
    return json.dumps([event.before, event.after, event.detail, str(event)])


def test_subscribes_the_four_types_and_audits_once_with_the_url_masked(push_settings, sim):
    actor = UserFactory(supervisor=True)

    subscriptions = notifications_subscribe(callback_url=CALLBACK, actor=actor)

    assert [s.notify_type for s in subscriptions] == list(NOTIFY_TYPES)
    calls = subscribe_calls(sim)
    assert len(calls) == 4
    assert all(c["status"] == 201 for c in calls)
    (event,) = subscribed_events()
    assert event.actor_id == actor.pk
    assert event.after["callback_url"] == "http://127.0.0.1:8000/platform/push/…/"
    assert event.after["notify_types"] == list(NOTIFY_TYPES)
    assert event.after["subscription_ids"] == [s.subscription_id for s in subscriptions]
    assert SECRET not in dumped(event)


def test_the_secret_never_reaches_the_logs(push_settings, sim, caplog):
    caplog.set_level(logging.DEBUG)

    notifications_subscribe(callback_url=CALLBACK)

    assert caplog.records
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in repr(record.args)


def test_subscribing_again_is_a_no_op_without_409(push_settings, sim):
    first = notifications_subscribe(callback_url=CALLBACK)
    second = notifications_subscribe(callback_url=CALLBACK)

    assert second == first
    calls = subscribe_calls(sim)
    assert len(calls) == 4  # the second run subscribes nothing
    assert all(c["status"] == 201 for c in calls)
    assert not [c for c in sim.calls() if c["code"] == "100227"]
    assert len(subscribed_events()) == 1  # nothing changed, nothing audited


def test_a_subscription_to_another_url_is_replaced_and_audited_masked(push_settings, sim, caplog):
    caplog.set_level(logging.DEBUG)
    old_secret = "old-push-secret-value"
    old_url = f"http://127.0.0.1:7000/platform/push/{old_secret}/"
    notifications_subscribe(callback_url=old_url)
    old_ids = {s.subscription_id for s in get_client().list_subscriptions()}

    current = notifications_subscribe(callback_url=CALLBACK)

    listed = get_client().list_subscriptions()
    assert {(s.notify_type, s.callback_url) for s in listed} == {
        (t, CALLBACK) for t in NOTIFY_TYPES
    }
    assert {s.subscription_id for s in listed} == {s.subscription_id for s in current}
    assert not old_ids & {s.subscription_id for s in listed}
    deletes = [c for c in sim.calls() if c["method"] == "DELETE" and "/sub/" in c["path"]]
    assert [c["status"] for c in deletes] == [204] * 4
    event = subscribed_events()[-1]
    assert event.before == {"callback_urls": ["http://127.0.0.1:7000/platform/push/…/"]}
    assert event.after["callback_url"] == "http://127.0.0.1:8000/platform/push/…/"
    assert [r["notify_type"] for r in event.after["replaced"]] == list(NOTIFY_TYPES)
    assert {r["old_callback_url"] for r in event.after["replaced"]} == {
        "http://127.0.0.1:7000/platform/push/…/"
    }
    for audited in AuditEvent.objects.all():
        assert SECRET not in dumped(audited) and old_secret not in dumped(audited)
    for record in caplog.records:
        for secret in (SECRET, old_secret):
            assert secret not in record.getMessage()
            assert secret not in repr(record.args)


def test_only_the_drifted_types_change(push_settings, sim):
    notifications_subscribe(callback_url=CALLBACK)
    client = get_client()
    (added,) = client.list_subscriptions(notify_type="deviceAdded")
    client.delete_subscription(added.subscription_id)
    before = len(subscribe_calls(sim))

    notifications_subscribe(callback_url=CALLBACK)

    assert [c["status"] for c in subscribe_calls(sim)[before:]] == [201]
    event = subscribed_events()[-1]
    assert event.after["notify_types"] == ["deviceAdded"]
    assert "replaced" not in event.after


def test_drift_reports_missing_types_and_other_urls_masked(push_settings, sim):
    drift = notifications_drift(callback_url=CALLBACK)
    assert (drift.in_sync, drift.missing, drift.elsewhere) == (False, NOTIFY_TYPES, ())

    notifications_subscribe(callback_url=CALLBACK)
    assert notifications_drift(callback_url=CALLBACK).in_sync

    client = get_client()
    client.delete_subscriptions(notify_type="bindDevice")
    client.subscribe("bindDevice", "http://10.0.0.9:9000/push/other-secret/")
    drift = notifications_drift(callback_url=CALLBACK)
    assert drift.missing == ()
    assert drift.elsewhere == (("bindDevice", "http://10.0.0.9:9000/push/…/"),)


@pytest.mark.parametrize(
    "url",
    [
        f"http://127.0.0.1/platform/push/{SECRET}/",
        f"ftp://127.0.0.1:21/platform/push/{SECRET}/",
        "not a url",
    ],
)
def test_an_unusable_url_is_refused_before_any_call(push_settings, sim, url):
    with pytest.raises(CallbackUrlRefused) as refused:
        notifications_subscribe(callback_url=url)

    assert SECRET not in str(refused.value)
    assert subscribe_calls(sim) == []
    assert subscribed_events() == []


def test_a_platform_error_names_the_type_and_audits_nothing_when_nothing_subscribed(
    push_settings, sim
):
    sim.faults(mode="50252", path_contains="subscriptions")

    with pytest.raises(SubscribeFailed) as failed:
        notifications_subscribe(callback_url=CALLBACK)

    assert failed.value.notify_type == "bindDevice"
    assert failed.value.error.code == "50252"
    assert failed.value.subscribed == []
    assert SECRET not in str(failed.value)
    assert subscribed_events() == []


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (CALLBACK, "http://127.0.0.1:8000/platform/push/…/"),
        (f"https://h.example:443/push/{SECRET}", "https://h.example:443/push/…"),
        (f"https://h.example:443/{SECRET}/hook/", "https://h.example:443/…/…/"),
        (f"https://u:{SECRET}@h.example:443/p/x?k={SECRET}#f", "https://…@h.example:443/p/…?…#…"),
        ("not a url", "…"),
    ],
)
def test_the_masked_url_hides_the_secret_wherever_it_is(push_settings, url, shown):
    assert callback_url_masked(url) == shown
