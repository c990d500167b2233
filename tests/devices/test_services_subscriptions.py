"""notifications_subscribe against the real simulator: the four types, one audit event, and the
push secret (a path segment of the callback URL) never in the audit trail or the logs."""

import json
import logging

import pytest

from audit.models import AuditAction, AuditEvent
from devices.services import notifications_subscribe
from devices.services.subscriptions import (
    NOTIFY_TYPES,
    CallbackUrlRefused,
    SubscribeFailed,
    callback_url_masked,
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
    return list(AuditEvent.objects.filter(action=AuditAction.NOTIFICATIONS_SUBSCRIBED))


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


def test_subscribing_again_is_harmless_and_audited_again(push_settings, sim):
    notifications_subscribe(callback_url=CALLBACK)
    notifications_subscribe(callback_url=CALLBACK)

    assert len(subscribe_calls(sim)) == 8
    assert len(subscribed_events()) == 2


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
