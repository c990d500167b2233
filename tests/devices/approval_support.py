"""Helpers shared by the four-eyes tests (test_approvals_*.py, test_services_approvals.py)."""

from audit.models import AuditEvent
from devices.codes import encrypt_code
from devices.identifiers import NodeId
from devices.models import Chipset, SwapState, VerifyCodeMode
from devices.services import swap_request
from tests.devices.factories import make_imei, make_swap

CUSTOM_CODE = "Secret-Custom-Code-77"


def pending_swap(**fields):
    values = {
        "state": SwapState.PENDING_APPROVAL,
        "needs_approval": True,
        "approval_reasons": ["The verifyCode is a custom one chosen by the requester."],
        "verify_code_mode": VerifyCodeMode.CUSTOM,
        "custom_verify_code_encrypted": encrypt_code(CUSTOM_CODE),
        "reason": "INC-1 replaced after a flood",
    }
    values.update(fields)
    return make_swap(**values)


def events(swap, action):
    return list(AuditEvent.objects.filter(swap_id=swap.pk, action=action))


def request_swap(device, actor, *, mode=VerifyCodeMode.SAME_AS_NODE_ID, **kw):
    return swap_request(
        device=device,
        new_node_id=NodeId.from_imei(make_imei(), chipset=Chipset.HISILICON),
        verify_code_mode=mode,
        actor=actor,
        **kw,
    )
