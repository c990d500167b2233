"""The swap task through a real Celery worker on the configured broker, against the simulator."""

import pytest

from audit.models import AuditAction, AuditEvent
from devices.codes import decrypt_code
from devices.identifiers import NodeId
from devices.models import Chipset, Swap, SwapState, VerifyCodeMode
from devices.services import swap_mark_bound, swap_request
from tests.factories import DeviceFactory, SwapFactory, UserFactory, make_imei
from tests.support.worker import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

REFRESH_PATH = "/iocm/app/reg/v1.1.0/deviceCredentials/"


@pytest.fixture
def fast_retries(settings):
    """Short backoff so a retry happens within the test (the worker reads these at start)."""
    settings.SWAP_RETRY_BASE_SECONDS = 0.2
    settings.SWAP_RETRY_MAX_SECONDS = 1.0
    return settings


@pytest.fixture
def device(sim, platform_settings):
    found = sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, nbiot=False, limit=1)[0]
    return DeviceFactory(
        device_id=found["deviceId"],
        node_id=found["nodeId"],
        name=found["deviceInfo"]["name"],
        status=found["status"],
        activated=True,
    )


def request(device, **kw):
    return swap_request(
        device=device,
        new_node_id=NodeId.from_imei(make_imei(), chipset=Chipset.HISILICON),
        verify_code_mode=VerifyCodeMode.PLATFORM,
        actor=UserFactory(field_service=True),
        **kw,
    )


def settled(swap, states=(SwapState.CODE_ISSUED, SwapState.FAILED, SwapState.BOUND)):
    def check():
        swap.refresh_from_db()
        return swap.state in states and swap

    return wait_for(check, timeout=60)


def refresh_calls(sim, device):
    return [
        c
        for c in sim.calls()
        if c["method"] == "PUT" and c["path"] == REFRESH_PATH + device.device_id
    ]


def test_worker_issues_the_code(sim, device, fast_retries, celery_worker_process):
    swap = settled(request(device))
    code = sim.device(device.device_id)["binding"]["verifyCode"]
    assert swap.state == SwapState.CODE_ISSUED
    assert swap.attempts == 1
    assert decrypt_code(swap.verify_code_encrypted) == code
    assert len(refresh_calls(sim, device)) == 1
    # The worker did the work, and its log (task receipts included) never shows the code.
    assert f"swap {swap.pk}: code issued" in celery_worker_process.log()
    assert code not in celery_worker_process.log()


def test_worker_fails_an_online_device_with_the_platform_code(
    sim, device, fast_retries, celery_worker_process
):
    # The device went online after the pre-checks: the platform itself refuses (100611).
    from devices.tasks import swap_send

    sim.set_device(device.device_id, status="ONLINE")
    swap = SwapFactory(device=device, new_node_id=make_imei(), chipset="hisilicon")
    swap_send.delay(swap.pk)
    swap = settled(swap)
    assert swap.state == SwapState.FAILED
    assert swap.error_code == "100611"
    assert "offline" in swap.error_text.lower()
    assert len(refresh_calls(sim, device)) == 1


def test_worker_retries_a_platform_fault_and_succeeds_on_attempt_2(
    sim, device, fast_retries, celery_worker_process
):
    sim.faults(mode="50252", count=1, path_contains=REFRESH_PATH)
    swap = settled(request(device))
    assert swap.state == SwapState.CODE_ISSUED
    assert swap.attempts == 2
    assert [c["code"] for c in refresh_calls(sim, device)] == ["50252", None]


def test_worker_reconciles_an_unanswered_send_before_sending_again(
    sim, device, fast_retries, celery_worker_process
):
    sim.faults(mode="no_answer", count=1, path_contains=REFRESH_PATH)
    swap = settled(request(device))
    assert swap.state == SwapState.CODE_ISSUED
    calls = [
        (c["method"], c["path"])
        for c in sim.calls()
        if device.device_id in c["path"] and c["method"] in ("PUT", "GET")
    ]
    put = ("PUT", REFRESH_PATH + device.device_id)
    puts = [i for i, call in enumerate(calls) if call == put]
    assert len(puts) == 2
    reconcile = ("GET", f"/iocm/app/dm/v1.4.0/devices/{device.device_id}")
    assert reconcile in calls[puts[0] + 1 : puts[1]]


def test_code_issued_by_the_worker_binds_and_closes_the_swap(
    sim, device, fast_retries, celery_worker_process
):
    swap = settled(request(device))
    code = decrypt_code(swap.verify_code_encrypted)
    assert sim.bind(swap.new_node_id, code)["bound"] is True
    swap_mark_bound(device_id=device.device_id, node_id=swap.new_node_id, at=None)
    swap.refresh_from_db()
    device.refresh_from_db()
    assert swap.state == SwapState.BOUND
    assert swap.verify_code_encrypted == ""
    assert device.node_id == swap.new_node_id
    assert sim.device(device.device_id)["nodeId"] == swap.new_node_id
    actions = set(AuditEvent.objects.filter(swap_id=swap.pk).values_list("action", flat=True))
    assert {AuditAction.SWAP_SENT, AuditAction.CODE_ISSUED, AuditAction.SWAP_BOUND} <= actions


def test_a_double_submit_sends_once(sim, device, fast_retries, celery_worker_process):
    from devices.services import SwapRefused

    swap = request(device)
    with pytest.raises(SwapRefused):
        request(device)
    settled(swap)
    assert Swap.objects.filter(device=device).count() == 1
    assert len(refresh_calls(sim, device)) == 1
