"""Keyset paging helpers (iotadmin.paging): cursors and the "after this position" filter."""

from datetime import UTC, datetime

import pytest

from devices.models import Device
from iotadmin.paging import (
    MAX_CURSOR_LENGTH,
    after_position,
    decode_cursor,
    decode_datetime_cursor,
    encode_cursor,
    encode_datetime_cursor,
)


def test_a_cursor_round_trips_its_values():
    assert decode_cursor(encode_cursor([2, "ABC", 7]), 3) == [2, "ABC", 7]


@pytest.mark.parametrize(
    "cursor", [None, "", "not base64!", encode_cursor([1, 2]), "A" * (MAX_CURSOR_LENGTH + 1)]
)
def test_anything_but_a_cursor_of_the_right_size_starts_over(cursor):
    assert decode_cursor(cursor, 3) is None


def test_a_datetime_cursor_round_trips_in_utc():
    moment = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert decode_datetime_cursor(encode_datetime_cursor(moment, 41)) == (moment, 41)
    assert decode_datetime_cursor(encode_cursor(["2026-03-01T12:30:00", True])) is None
    assert decode_datetime_cursor(encode_cursor(["yesterday", 4])) is None


@pytest.mark.django_db
@pytest.mark.parametrize("descending", [False, True])
def test_after_position_continues_an_ordering_without_repeats_or_gaps(descending):
    for name in ("a", "b", "b", "b", "c"):
        Device.objects.create(device_id=f"d-{Device.objects.count()}", node_id="n", name=name)
    order = ("-name", "-id") if descending else ("name", "id")
    everything = list(Device.objects.order_by(*order))
    seen, last = [], None
    while True:
        rows = Device.objects.order_by(*order)
        if last is not None:
            rows = rows.filter(
                after_position(column="name", value=last.name, pk=last.pk, descending=descending)
            )
        page = list(rows[:2])
        if not page:
            break
        seen += page
        last = page[-1]
    assert seen == everything
