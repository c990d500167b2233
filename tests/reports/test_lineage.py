"""Device lineage (reports.selectors.device_lineage) and its page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditAction
from audit.services import audit_record
from devices.models import Swap
from reports import selectors
from tests.factories import DeviceFactory, SwapFactory, UserFactory, make_imei
from tests.reports.helpers import at, ids

pytestmark = pytest.mark.django_db


def test_lineage_lists_node_ids_and_swaps_in_order_with_the_audit_events(
    client: Any, supervisor: Any
) -> None:
    first, second, refused, third = (make_imei() for _ in range(4))
    device = DeviceFactory(node_id=third)
    tech = UserFactory(field_service=True, username="tom")
    start = at("2023-01-10T09:00:00")
    a = SwapFactory(
        created_at=start,
        device=device,
        old_node_id=first,
        new_node_id=second,
        bound=True,
        requested_by=tech,
        reason="INC-1",
    )
    b = SwapFactory(
        created_at=start + timedelta(days=200),
        device=device,
        old_node_id=second,
        new_node_id=refused,
        failed=True,
        error_code="100426",
    )
    c = SwapFactory(
        created_at=start + timedelta(days=400),
        device=device,
        old_node_id=second,
        new_node_id=third,
        bound=True,
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
    device = DeviceFactory(node_id=elsewhere)
    SwapFactory(device=device, old_node_id=old, new_node_id=new, bound=True)
    lineage = selectors.device_lineage(device=device)
    assert lineage.changed_outside
    assert [p.node_id for p in lineage.node_ids] == [old, new, elsewhere]


def test_lineage_of_a_device_without_swaps_shows_its_node_id() -> None:
    device = DeviceFactory()
    lineage = selectors.device_lineage(device=device)
    assert [p.node_id for p in lineage.node_ids] == [device.node_id]
    assert lineage.swaps == [] and not lineage.changed_outside
