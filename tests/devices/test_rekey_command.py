"""`manage.py rekey` through the same services; the task runs inline (always-eager) here."""

import io
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditAction, AuditEvent
from devices.models import Swap, SwapState
from iotadmin.celery import app as celery_app
from tests.factories import DeviceFactory, UserFactory, make_imei
from tests.support.broker import closed_port, unreachable_broker_url
from tests.support.worker import REPO_ROOT, worker_environment

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eager(monkeypatch):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)


@pytest.fixture
def device(sim, platform_settings):
    found = sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, limit=1)[0]
    return DeviceFactory(device_id=found["deviceId"], node_id=found["nodeId"], activated=True)


def rekey(*args):
    out = io.StringIO()
    call_command("rekey", *args, stdout=out)
    return out.getvalue()


def test_wait_prints_the_code_and_its_expiry(sim, device, eager):
    imei = make_imei()
    out = rekey(device.device_id, "--node-id", imei, "--chipset", "hisilicon", "--wait")
    code = sim.device(device.device_id)["binding"]["verifyCode"]
    assert f"verifyCode: {code}" in out
    assert "expires: 20" in out
    swap = Swap.objects.get(device=device)
    assert swap.state == SwapState.CODE_ISSUED
    assert swap.new_node_id == imei
    assert swap.requested_by.username == "cli"
    assert AuditEvent.objects.filter(
        swap_id=swap.pk, action=AuditAction.CODE_VIEWED, actor=swap.requested_by
    ).exists()


def test_qualcomm_is_implied_by_a_typed_urn_and_same_as_node_id_is_sent(sim, device, eager):
    imei = make_imei()
    user = UserFactory(field_service=True)
    out = rekey(
        device.device_id,
        "--node-id",
        f"urn:imei:{imei}",
        "--verify-code-same-as-node-id",
        "--user",
        user.username,
        "--wait",
    )
    assert f"verifyCode: urn:imei:{imei}" in out
    assert Swap.objects.get(device=device).requested_by == user


def test_platform_error_is_printed_with_code_and_handling_text(sim, device, eager):
    # A nodeId the platform knows on another device (not in our mirror): 100426.
    taken = next(d for d in sim.devices(limit=50) if d["deviceId"] != device.device_id)
    with pytest.raises(CommandError) as info:
        rekey(device.device_id, "--node-id", taken["nodeId"], "--kind", "other", "--wait")
    assert "failed error 100426" in str(info.value)
    assert Swap.objects.get(device=device).state == SwapState.FAILED


def test_online_device_is_refused_before_anything_is_queued(sim, device, eager):
    sim.set_device(device.device_id, status="ONLINE")
    with pytest.raises(CommandError, match="Take the device offline"):
        rekey(device.device_id, "--node-id", make_imei(), "--chipset", "qualcomm")
    assert not Swap.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--node-id", "86217704131482"], "An IMEI has 15 digits; you typed 14."),
        (["--node-id", "862177041314820", "--chipset", "qualcomm"], "check digit does not match"),
        (["--node-id", "862177041314827"], "An IMEI needs --chipset"),
        (["--node-id", "aa:bb", "--kind", "mac"], "12 hexadecimal digits"),
        (["--node-id", "SN-1", "--kind", "serial", "--user", "nobody"], "Unknown user 'nobody'"),
        (["--node-id", "SN-1", "--kind", "serial", "--timeout", "-5"], "between 0 and"),
    ],
)
def test_bad_input_is_a_clear_error(device, args, message):
    with pytest.raises(CommandError) as info:
        rekey(device.device_id, *args)
    assert message in str(info.value)
    assert not Swap.objects.exists()


def test_unknown_device_exits_1_with_a_message_and_no_traceback(settings):
    result = subprocess.run(
        [sys.executable, "manage.py", "rekey", "no-such-device", "--node-id", "SN-1"],
        cwd=REPO_ROOT,
        env=worker_environment(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Unknown device 'no-such-device'" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_broker_exits_1_with_the_reason_and_records_nothing(settings):
    device = DeviceFactory(activated=True)
    env = worker_environment(settings)
    env["CELERY_BROKER_URL"] = unreachable_broker_url()
    env.pop("REDIS_URL", None)
    args = ["rekey", device.device_id, "--node-id", make_imei(), "--chipset", "hisilicon"]
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "the message broker is unreachable" in result.stderr
    assert "Traceback" not in result.stderr
    assert not Swap.objects.exists()


def test_an_unreachable_database_exits_1_with_the_reason(settings):
    env = worker_environment(settings)
    env["DATABASE_URL"] = f"postgres://nobody@127.0.0.1:{closed_port()}/nothing"
    result = subprocess.run(
        [sys.executable, "manage.py", "rekey", "some-device", "--node-id", "SN-1"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "the database is unreachable" in result.stderr
    assert "Traceback" not in result.stderr


def test_when_offline_lets_an_online_device_wait_instead_of_being_refused(sim, device, eager):
    sim.set_device(device.device_id, status="ONLINE")
    out = rekey(
        device.device_id, "--node-id", make_imei(), "--chipset", "hisilicon", "--when-offline", "20"
    )
    swap = Swap.objects.get(device=device)
    assert swap.state == SwapState.WAITING_OFFLINE
    assert f"Swap #{swap.pk} waiting for the old unit to go offline" in out
    assert sim.device(device.device_id)["binding"] is None


def test_without_when_offline_an_online_device_is_refused(sim, device, eager):
    sim.set_device(device.device_id, status="ONLINE")
    with pytest.raises(CommandError, match="Take the device offline"):
        rekey(device.device_id, "--node-id", make_imei(), "--chipset", "hisilicon")
    assert not Swap.objects.exists()
