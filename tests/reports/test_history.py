"""History reads (reports.selectors): each filter, local calendar days, keyset pages."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.test.utils import override_settings

from devices.models import SwapState
from reports.selectors import HistoryFilters, history_page
from tests.factories import DeviceFactory, SwapFactory, UserFactory, make_imei
from tests.reports.helpers import at, ids

pytestmark = pytest.mark.django_db


# --- Filters ---------------------------------------------------------------------------------


def test_each_filter_narrows_the_history() -> None:
    tech_a = UserFactory(field_service=True, username="alice")
    tech_b = UserFactory(field_service=True, username="bob")
    device = DeviceFactory(node_id="urn:imei:" + make_imei())
    early = SwapFactory(created_at=at("2024-03-01T10:00:00"), requested_by=tech_a, bound=True)
    failed = SwapFactory(
        created_at=at("2024-03-05T10:00:00"),
        requested_by=tech_b,
        device=device,
        failed=True,
        error_code="100611",
        error_text="Take the device offline, then retry.",
    )
    late = SwapFactory(
        created_at=at("2024-03-09T10:00:00"),
        requested_by=tech_a,
        expired=True,
        error_code="100610",
    )
    everything = ids(history_page(filters=HistoryFilters()))
    assert everything == [late.pk, failed.pk, early.pk]

    def only(**kw: Any) -> list[int]:
        return ids(history_page(filters=HistoryFilters(**kw)))

    assert only(date_from=date(2024, 3, 5)) == [late.pk, failed.pk]
    assert only(date_to=date(2024, 3, 5)) == [failed.pk, early.pk]  # "to" is inclusive
    assert only(date_from=date(2024, 3, 2), date_to=date(2024, 3, 8)) == [failed.pk]
    assert only(technician_id=tech_a.pk) == [late.pk, early.pk]
    assert only(device=device.device_id) == [failed.pk]
    assert only(outcome=SwapState.EXPIRED) == [late.pk]
    assert only(error_code="100611") == [failed.pk]
    assert only(technician_id=tech_b.pk, outcome=SwapState.BOUND) == []


def test_device_filter_finds_every_node_id_the_device_has_had() -> None:
    old_imei, new_imei = make_imei(), make_imei()
    device = DeviceFactory(node_id=new_imei)
    swap = SwapFactory(
        device=device,
        old_node_id=f"urn:imei:{old_imei}",
        new_node_id=new_imei,
        bound=True,
    )
    SwapFactory()  # another device's swap
    for typed in (
        device.device_id,
        new_imei,
        f"urn:imei:{new_imei}",
        old_imei,
        f"URN:IMEI:{old_imei}",
    ):
        assert ids(history_page(filters=HistoryFilters(device=typed))) == [swap.pk], typed


@override_settings(TIME_ZONE="Europe/Berlin")
def test_dates_are_local_calendar_days() -> None:
    # 23:30 UTC on 10 March is 00:30 on 11 March in Berlin.
    swap = SwapFactory(created_at=at("2024-03-10T23:30:00"))
    assert ids(history_page(filters=HistoryFilters(date_from=date(2024, 3, 11)))) == [swap.pk]
    assert ids(history_page(filters=HistoryFilters(date_to=date(2024, 3, 10)))) == []


# --- Keyset pages ----------------------------------------------------------------------------


def test_keyset_pages_neither_repeat_nor_skip() -> None:
    same_moment = at("2024-05-01T12:00:00")
    # ties on created_at: id breaks them
    swaps = [SwapFactory(created_at=same_moment) for _ in range(4)]
    swaps += [SwapFactory(created_at=same_moment - timedelta(minutes=n)) for n in range(1, 6)]
    swaps += [
        SwapFactory(created_at=same_moment + timedelta(seconds=n, microseconds=n))
        for n in range(1, 4)
    ]
    expected = [s.pk for s in sorted(swaps, key=lambda s: (s.created_at, s.pk), reverse=True)]
    seen: list[int] = []
    after = None
    pages = 0
    while True:
        page = history_page(filters=HistoryFilters(), after=after, limit=5)
        seen += ids(page)
        pages += 1
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert seen == expected
    assert pages == 3  # 12 rows in pages of 5
