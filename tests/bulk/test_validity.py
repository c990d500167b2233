"""The optional validity_minutes column: parsed, checked, shown in the preview, sent as the
swap's validity; the upload page says how long codes last without it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from bulk.checks import check_bulk_lines
from bulk.csv_parsing import parse_bulk_file
from bulk.services import bulk_confirm, bulk_dispatch_step, bulk_upload
from devices.limits import DEFAULT_TIMEOUT_SECONDS
from tests.bulk.helpers import HEADER, csv_bytes, line, mirror_sim_devices
from tests.factories import DeviceFactory, UserFactory, make_imei

pytestmark = pytest.mark.django_db

WITH_VALIDITY = HEADER + ",Validity_Minutes"


def verdicts(*lines, header=WITH_VALIDITY):
    actor = UserFactory(helpdesk=True)
    data = csv_bytes(*lines, header=header)
    return check_bulk_lines(parse_bulk_file(data, max_rows=100), actor=actor)


def test_the_column_is_optional():
    (verdict,) = verdicts(line(DeviceFactory().device_id, make_imei()), header=HEADER)
    assert verdict.ok, verdict.message
    assert verdict.validity_minutes is None


@pytest.mark.parametrize(("value", "minutes"), [("", None), ("1", 1), (" 30 ", 30), ("1440", 1440)])
def test_whole_minutes_from_1_to_1440_are_taken(value, minutes):
    (verdict,) = verdicts(line(DeviceFactory().device_id, make_imei()) + f",{value}")
    assert verdict.ok, verdict.message
    assert verdict.validity_minutes == minutes


@pytest.mark.parametrize("value", ["0", "1441", "-5", "2.5", "ten", "٣"])
def test_anything_else_refuses_the_row_and_says_the_range(value):
    (verdict,) = verdicts(line(DeviceFactory().device_id, make_imei()) + f",{value}")
    assert not verdict.ok
    assert verdict.error_code == "invalid_validity"
    assert "from 1 to 1440" in verdict.message
    assert "leave it empty for 3 minutes" in verdict.message


def test_the_preview_shows_each_rows_validity_and_the_default(client):
    uploader = UserFactory(helpdesk=True)
    data = csv_bytes(
        line(DeviceFactory().device_id, make_imei()) + ",45",
        line(DeviceFactory().device_id, make_imei()) + ",",
        header=WITH_VALIDITY,
    )
    batch = bulk_upload(actor=uploader, filename="v.csv", data=data)
    assert [r.validity_minutes for r in batch.rows.order_by("line")] == [45, None]
    client.force_login(uploader)
    page = client.get(reverse("bulk:batch", args=[batch.pk])).content.decode()
    assert "<th>Code valid for</th>" in page
    assert page.split('id="row-2"')[1].split("</tr>")[0].count("45 min") == 1
    assert "3 min (default)" in page.split('id="row-3"')[1].split("</tr>")[0]
    assert "valid for 3 minutes after it is issued" in page


def test_the_upload_page_says_codes_last_3_minutes_unless_the_column_says_otherwise(client):
    client.force_login(UserFactory(helpdesk=True))
    page = client.get(reverse("bulk:upload")).content.decode()
    assert "Codes last 3 minutes unless the <code>validity_minutes</code> column" in page


def test_the_swap_gets_the_rows_validity_or_the_default(platform_settings, sim):
    uploader = UserFactory(helpdesk=True)
    first, second = mirror_sim_devices(sim, 2)
    data = csv_bytes(
        line(first.device_id, make_imei()) + ",20",
        line(second.device_id, make_imei()) + ",",
        header=WITH_VALIDITY,
    )
    batch = bulk_confirm(
        batch=bulk_upload(actor=uploader, filename="v.csv", data=data), actor=uploader
    )
    for _ in range(20):
        if bulk_dispatch_step(batch_id=batch.pk, owner="o").next_in is None:
            break
    swaps = [row.swap for row in batch.rows.select_related("swap").order_by("line")]
    assert [swap.timeout_seconds for swap in swaps] == [20 * 60, DEFAULT_TIMEOUT_SECONDS]
