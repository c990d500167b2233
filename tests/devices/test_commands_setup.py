"""sync_devices, subscribe_notifications and demo_bootstrap against the real simulator."""

import socket
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditAction, AuditEvent
from devices.models import Device
from devices.platform_wiring import reset_client
from devices.roles import FIELD_SERVICE, HELPDESK, SUPERVISOR
from oceanconnect import handling_text

pytestmark = pytest.mark.django_db

SUBSCRIBE_PATH = "/iocm/app/sub/v1.2.0/subscriptions"
CALLBACK = "http://127.0.0.1:8000/platform/push/cmd-test-secret/"


@pytest.fixture
def command_settings(platform_settings, sim):
    platform_settings.IOT_AUTHORIZING_APP_IDS = [sim.second_app_id]
    platform_settings.IOT_CALLBACK_URL = CALLBACK
    platform_settings.DEBUG = True
    return platform_settings


def run(*args, **options):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def subscribe_calls(sim):
    return [c for c in sim.calls() if c["method"] == "POST" and c["path"] == SUBSCRIBE_PATH]


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# --- sync_devices ---------------------------------------------------------------------------


def test_sync_devices_prints_a_one_line_summary(command_settings, sim):
    out = run("sync_devices")

    assert out.count("\n") == 1
    assert f"{len(sim.devices())} created" in out
    assert "0 marked deleted" in out
    assert Device.objects.count() == len(sim.devices())


def test_sync_devices_error_shows_code_and_handling_text(command_settings, sim):
    sim.faults(mode="50252")

    with pytest.raises(CommandError) as raised:
        run("sync_devices")

    message = str(raised.value)
    assert "50252" in message
    assert handling_text("50252") in message
    assert "nothing marked deleted" in message
    assert Device.objects.count() == 0


# --- subscribe_notifications -----------------------------------------------------------------


def test_subscribe_notifications_subscribes_the_four_types(command_settings, sim):
    out = run("subscribe_notifications")

    calls = subscribe_calls(sim)
    assert len(calls) == 4
    assert all(c["status"] == 201 for c in calls)
    for notify_type in ("bindDevice", "deviceInfoChanged", "deviceAdded", "deviceDeleted"):
        assert f"Subscribed {notify_type}" in out
    assert "cmd-test-secret" not in out


def test_subscribe_notifications_is_audited_without_the_secret(command_settings, sim):
    run("subscribe_notifications")

    (event,) = AuditEvent.objects.filter(action=AuditAction.NOTIFICATIONS_SUBSCRIBED)
    assert event.after["callback_url"] == "http://127.0.0.1:8000/platform/push/…/"
    assert "cmd-test-secret" not in f"{event.before} {event.after} {event.detail}"


def test_subscribe_notifications_runs_again_without_error(command_settings, sim):
    run("subscribe_notifications")
    out = run("subscribe_notifications")

    assert len(subscribe_calls(sim)) == 4  # the second run had nothing to do
    assert out.count("Subscribed") == 4
    assert not [c for c in sim.calls() if c["code"] == "100227"]


def test_subscribe_notifications_check_exits_non_zero_on_drift_and_changes_nothing(
    command_settings, sim
):
    with pytest.raises(CommandError) as drifted:
        run("subscribe_notifications", "--check")
    assert "bindDevice is not subscribed" in str(drifted.value)

    run("subscribe_notifications")
    other = "http://10.0.0.9:9000/platform/push/other-secret/"
    run("subscribe_notifications", "--callback-url", other)  # moves every type elsewhere
    calls_before = len(sim.calls())
    with pytest.raises(CommandError) as drifted:
        run("subscribe_notifications", "--check")
    message = str(drifted.value)
    assert "deviceAdded is pushed to another URL: http://10.0.0.9:9000/platform/push/…/" in message
    assert "other-secret" not in message and "cmd-test-secret" not in message
    assert all(c["method"] == "GET" for c in sim.calls()[calls_before:])  # read only


def test_subscribe_notifications_check_exits_zero_when_in_sync(command_settings, sim):
    run("subscribe_notifications")

    out = run("subscribe_notifications", "--check")

    assert "In sync" in out
    assert out.count("/platform/push/…/") == 5
    assert "cmd-test-secret" not in out


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/platform/push/s/",
        "https://iotadmin.example.com/platform/push/s/",
        "ftp://127.0.0.1:21/platform/push/s/",
        "not a url",
        "http://127.0.0.1:99999/platform/push/s/",
    ],
)
def test_subscribe_notifications_refuses_a_callback_without_usable_port(command_settings, sim, url):
    command_settings.IOT_CALLBACK_URL = url

    with pytest.raises(CommandError, match="IOT_CALLBACK_URL cannot be subscribed"):
        run("subscribe_notifications")

    assert subscribe_calls(sim) == []


def test_subscribe_notifications_reports_a_platform_error(command_settings, sim):
    sim.faults(mode="50252", path_contains="subscriptions")

    with pytest.raises(CommandError, match="Subscribing bindDevice failed: platform error 50252"):
        run("subscribe_notifications")


# --- demo_bootstrap -------------------------------------------------------------------------


def test_demo_bootstrap_refuses_without_debug(command_settings, sim):
    command_settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG is off"):
        run("demo_bootstrap")

    assert get_user_model().objects.count() == 0
    assert sim.calls() == []


def test_demo_bootstrap_syncs_subscribes_and_creates_one_user_per_role(
    command_settings, sim, monkeypatch
):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)

    out = run("demo_bootstrap")

    assert Device.objects.count() == len(sim.devices())
    assert len(subscribe_calls(sim)) == 4
    for username, group in (
        ("field", FIELD_SERVICE),
        ("helpdesk", HELPDESK),
        ("supervisor", SUPERVISOR),
    ):
        user = authenticate(username=username, password="swap-demo-2026")
        assert user is not None
        assert list(user.groups.values_list("name", flat=True)) == [group]
        assert f"{username}" in out
    assert "http://127.0.0.1:8000/" in out
    assert "swap-demo-2026" in out
    box = [line for line in out.splitlines() if line.startswith(("+", "|"))]
    assert len(box) >= 7 and box[0] == box[-1]


def test_demo_bootstrap_twice_keeps_three_users_and_uses_demo_password(
    command_settings, sim, monkeypatch
):
    monkeypatch.setenv("DEMO_PASSWORD", "another-demo-pass")
    run("demo_bootstrap")
    run("demo_bootstrap")

    assert get_user_model().objects.count() == 3
    assert authenticate(username="helpdesk", password="another-demo-pass") is not None
    assert authenticate(username="helpdesk", password="swap-demo-2026") is None


def test_demo_bootstrap_says_clearly_when_nothing_answers(command_settings):
    command_settings.IOT_PLATFORM_URL = closed_port_url()
    reset_client()

    with pytest.raises(CommandError, match=r"Nothing answers at IOT_PLATFORM_URL=.* after 1 s"):
        run("demo_bootstrap", wait=1)

    assert get_user_model().objects.count() == 0


def test_demo_bootstrap_stops_at_once_on_bad_credentials(command_settings, sim):
    command_settings.IOT_APP_SECRET = "wrong-secret"
    reset_client()

    with pytest.raises(CommandError) as raised:
        run("demo_bootstrap", wait=30)

    assert "100208" in str(raised.value)
    assert "wrong-secret" not in str(raised.value)
    assert get_user_model().objects.count() == 0
