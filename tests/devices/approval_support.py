"""Helpers shared by the four-eyes tests (test_approvals_*.py, test_services_approvals.py); a
swap waiting for approval is `SwapFactory(pending_approval=True)` (tests/factories.py)."""

from audit.models import AuditEvent
from devices.identifiers import NodeId
from devices.models import Chipset, VerifyCodeMode
from devices.services import swap_request
from tests.factories import make_imei


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
