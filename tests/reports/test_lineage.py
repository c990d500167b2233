"""Device lineage (reports.selectors.device_lineage) and its page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditAction
from audit.services import audit_record
from devices.models import Swap, SwapState
from reports import selectors
from tests.devices.factories import make_device, make_imei, make_swap, make_user
from tests.reports.helpers import at, ids, swap_at

pytestmark = pytest.mark.django_db


def test_lineage_lists_node_ids_and_swaps_in_order_with_the_audit_events(
    client: Any, supervisor: Any
) -> None:
    first, second, refused, third = (make_imei() for _ in range(4))
    device = make_device(node_id=third)
    tech = make_user(role="field_service", username="tom")
    start = at("2023-01-10T09:00:00")
    a = swap_at(
        start,
        device=device,
        old_node_id=first,
        new_node_id=second,
        state=SwapState.BOUND,
        requested_by=tech,
        reason="INC-1",
    )
    b = swap_at(
        start + timedelta(days=200),
        device=device,
        old_node_id=second,
        new_node_id=refused,
        state=SwapState.FAILED,
        error_code="100426",
    )
    c = swap_at(
        start + timedelta(days=400),
        device=device,
        old_node_id=second,
        new_node_id=third,
        state=SwapState.BOUND,
        reason="INC-3",
    )
    Swap.objects.filter(pk=a.pk).update(bound_at=start + timedelta(minutes=4))
    Swap.objects.filter(pk=c.pk).update(bound_at=start + timedelta(days=400, minutes=2))
    audit_record(
        action=AuditAction.SWAP_BOUND, actor=tech, device_id=device.device_id, swap_id=c.pk
    )
    audit_record(action=AuditAction.SWAP_BOUND, device_id="someone-else", swap_id=b.pk)

    lineage = selectors.device_lineage(device=device)
    assert [p.node_id for p in lineage.node_ids] == [first, second, third]
    assert [p.swap.pk if p.swap else None for p in lineage.node_ids] == [None, a.pk, c.pk]
    assert ids(lineage.swaps) == [a.pk, b.pk, c.pk]
    assert not lineage.changed_outside
    assert [(e.action, e.swap_id) for e in lineage.events] == [(AuditAction.SWAP_BOUND, c.pk)]

    html = client.get(reverse("reports:device_lineage", args=[device.pk])).content.decode()
    assert html.index(first) < html.index(second) < html.index(refused)
    assert "INC-1" in html and "INC-3" in html and "tom" in html and "100426" in html


def test_lineage_notes_a_node_id_changed_outside_iotadmin() -> None:
    old, new, elsewhere = make_imei(), make_imei(), make_imei()
    device = make_device(node_id=elsewhere)
    make_swap(device=device, old_node_id=old, new_node_id=new, state=SwapState.BOUND)
    lineage = selectors.device_lineage(device=device)
    assert lineage.changed_outside
    assert [p.node_id for p in lineage.node_ids] == [old, new, elsewhere]


def test_lineage_of_a_device_without_swaps_shows_its_node_id() -> None:
    device = make_device()
    lineage = selectors.device_lineage(device=device)
    assert [p.node_id for p in lineage.node_ids] == [device.node_id]
    assert lineage.swaps == [] and not lineage.changed_outside
