"""Helpers shared by the swap service tests (test_services_*.py), against the real simulator."""

from audit.models import AuditAction, AuditEvent
from devices.identifiers import NodeId
from devices.models import Chipset, Swap, VerifyCodeMode
from devices.services import swap_request, swap_send
from tests.factories import DeviceFactory, make_imei

REFRESH_PATH = "/iocm/app/reg/v1.1.0/deviceCredentials/"


def offline_device(sim):
    """The mirror of a device that is offline, activated and ours on the simulator, and presents
    its verifyCode (not an NB-IoT unit, which binds only with verifyCode == nodeId)."""
    found = sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, nbiot=False, limit=1)
    return DeviceFactory.mirror(found[0], our_app_id=sim.app_id)


def new_node():
    return NodeId.from_imei(make_imei(), chipset=Chipset.QUALCOMM)


def request(device, actor, **kw):
    kw.setdefault("new_node_id", new_node())
    kw.setdefault("verify_code_mode", VerifyCodeMode.PLATFORM)
    return swap_request(device=device, actor=actor, **kw)


def refresh_calls(sim, device):
    return [
        c
        for c in sim.calls()
        if c["method"] == "PUT" and c["path"] == REFRESH_PATH + device.device_id
    ]


def assert_refused(code, *, device=None):
    """Nothing was written by a refused request."""
    assert Swap.objects.count() == 0
    assert not AuditEvent.objects.filter(action=AuditAction.SWAP_REQUESTED).exists()


def pending_binding(sim, device):
    return sim.device(device.device_id)["binding"]


def issued_swap(sim, device, actor):
    swap = request(device, actor)
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    return swap, pending_binding(sim, device)["verifyCode"]
