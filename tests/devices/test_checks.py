"""The platform-subscriptions deployment check: only under `check --deploy`, short timeouts,
a warning for pushes going elsewhere, missing types and an unreachable platform."""

import socket

import pytest
from django.core.checks import registry
from django.core.management import call_command

from devices.checks import platform_subscriptions_check
from devices.platform_wiring import get_client
from devices.services import notifications_subscribe

pytestmark = pytest.mark.django_db

SECRET = "check-test-push-secret"
CALLBACK = f"http://127.0.0.1:8000/platform/push/{SECRET}/"


@pytest.fixture
def check_settings(platform_settings):
    platform_settings.IOT_PUSH_SECRET = SECRET
    platform_settings.IOT_CALLBACK_URL = CALLBACK
    return platform_settings


def test_registered_for_deploy_only():
    assert platform_subscriptions_check not in registry.registry.get_checks(False)
    assert platform_subscriptions_check in registry.registry.get_checks(True)


def test_a_plain_check_never_calls_the_platform(check_settings, sim):
    call_command("check", stdout=None)
    assert not [c for c in sim.calls() if c["path"].startswith("/iocm/")]


def test_in_sync_gives_no_warning(check_settings, sim):
    notifications_subscribe(callback_url=CALLBACK)
    assert platform_subscriptions_check(None) == []


def test_pushes_to_another_url_warn_with_both_urls_masked(check_settings, sim):
    notifications_subscribe(callback_url=CALLBACK)
    client = get_client()
    client.delete_subscriptions(notify_type="bindDevice")
    client.subscribe("bindDevice", "http://10.1.1.1:9000/platform/push/elsewhere-secret/")

    (warning,) = platform_subscriptions_check(None)

    assert warning.id == "iotadmin.W011"
    assert "http://10.1.1.1:9000/platform/push/…/" in warning.msg
    assert "http://127.0.0.1:8000/platform/push/…/" in warning.msg
    assert "elsewhere-secret" not in warning.msg and SECRET not in warning.msg


def test_missing_types_warn(check_settings, sim):
    (warning,) = platform_subscriptions_check(None)
    assert warning.id == "iotadmin.W012"
    assert "bindDevice" in warning.msg


def test_an_unreachable_platform_is_a_clear_warning(check_settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        check_settings.IOT_PLATFORM_URL = f"http://127.0.0.1:{sock.getsockname()[1]}"

    (warning,) = platform_subscriptions_check(None)

    assert warning.id == "iotadmin.W010"
    assert "could not be reached" in warning.msg
