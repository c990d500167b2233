"""The dry run: each rule of the swap form, and the file-only rules, give each row its verdict."""

import pytest

from bulk.checks import check_bulk_lines
from bulk.csv_parsing import parse_bulk_file
from devices.models import DeviceStatus, SwapState
from tests.bulk.helpers import csv_bytes, line
from tests.factories import DeviceFactory, SwapFactory, UserFactory, make_imei

pytestmark = pytest.mark.django_db


def verdicts(*lines):
    actor = UserFactory(helpdesk=True)
    return check_bulk_lines(parse_bulk_file(csv_bytes(*lines), max_rows=100), actor=actor)


def only(*lines):
    (verdict,) = verdicts(*lines)
    return verdict


def test_a_good_row_by_device_id_is_ready_with_the_formatted_node_id():
    device = DeviceFactory()
    imei = make_imei()
    verdict = only(line(device.device_id, imei, chipset="qualcomm"))
    assert verdict.ok, verdict.message
    assert verdict.device == device
    assert verdict.node_id.value == f"urn:imei:{imei}"


def test_the_device_is_found_by_its_current_node_id_in_any_notation():
    device = DeviceFactory(node_id="urn:imei:" + make_imei())
    bare = device.node_id.removeprefix("urn:imei:")
    verdict = only(line(bare, make_imei()))
    assert verdict.ok, verdict.message
    assert verdict.device == device


def test_bad_imei_is_refused_with_the_identifier_message():
    device = DeviceFactory()
    imei = make_imei()
    wrong = imei[:-1] + str((int(imei[-1]) + 1) % 10)
    verdict = only(line(device.device_id, wrong))
    assert verdict.error_code == "invalid_node_id"
    assert verdict.message.startswith("IMEI not valid: the check digit does not match")


def test_imei_without_chipset_is_refused():
    verdict = only(line(DeviceFactory().device_id, make_imei(), chipset=""))
    assert "Choose the chipset" in verdict.message


def test_unknown_kind_and_mode_are_refused():
    device = DeviceFactory()
    assert only(line(device.device_id, "SN1", kind="barcode")).error_code == "invalid_kind"
    assert only(line(device.device_id, "SN1", kind="serial", mode="magic")).error_code == (
        "invalid_mode"
    )


def test_custom_verify_codes_are_refused_in_a_file():
    verdict = only(
        line(DeviceFactory().device_id, "SN-1", kind="serial", chipset="", mode="custom")
    )
    assert verdict.error_code == "custom_code_refused"
    assert "not accepted in a bulk file" in verdict.message


def test_unknown_device_is_refused():
    verdict = only(line("no-such-device", make_imei()))
    assert verdict.error_code == "unknown_device"
    assert "No device with deviceId or nodeId no-such-device" in verdict.message


def test_online_device_is_refused_from_the_mirror():
    device = DeviceFactory(status=DeviceStatus.ONLINE)
    verdict = only(line(device.device_id, make_imei()))
    assert verdict.error_code == "device_online"
    assert "offline" in verdict.message


def test_never_activated_device_is_refused():
    device = DeviceFactory(status=DeviceStatus.INACTIVE, activated=False)
    assert only(line(device.device_id, make_imei())).error_code == "device_not_active"


def test_new_node_id_used_by_another_device_is_refused():
    device = DeviceFactory()
    other = DeviceFactory(name="Other meter")
    verdict = only(line(device.device_id, other.node_id))
    assert verdict.error_code == "node_id_in_use"
    assert other.device_id in verdict.message


def test_new_node_id_of_another_open_swap_is_refused():
    device = DeviceFactory()
    pending = SwapFactory()
    verdict = only(line(device.device_id, pending.new_node_id))
    assert verdict.error_code == "node_id_in_use"
    assert f"open swap #{pending.pk}" in verdict.message


def test_device_with_an_open_swap_is_refused():
    swap = SwapFactory(state=SwapState.CODE_ISSUED)
    verdict = only(line(swap.device.device_id, make_imei()))
    assert verdict.error_code == "open_swap_exists"
    assert f"#{swap.pk}" in verdict.message


def test_new_node_id_equal_to_the_current_one_is_refused():
    device = DeviceFactory()
    assert only(line(device.device_id, device.node_id)).error_code == "same_node_id"


def test_the_same_device_twice_refuses_every_occurrence():
    device = DeviceFactory()
    third = DeviceFactory()
    rows = verdicts(
        line(device.device_id, make_imei()),
        line(third.device_id, make_imei()),
        line(device.node_id, make_imei()),  # the same device, named by its nodeId
    )
    assert [v.error_code for v in rows] == ["duplicate_device", "", "duplicate_device"]
    assert "lines 2, 4" in rows[0].message


def test_the_same_new_node_id_twice_refuses_every_occurrence():
    imei = make_imei()
    rows = verdicts(
        line(DeviceFactory().device_id, imei),
        line(DeviceFactory().device_id, f"urn:imei:{imei}", chipset="hisilicon"),
    )
    assert [v.error_code for v in rows] == ["duplicate_node_id", "duplicate_node_id"]


def test_a_line_problem_from_the_file_becomes_the_verdict():
    verdict = only(line(DeviceFactory().device_id, make_imei()) + ",extra")
    assert verdict.error_code == "invalid_line"


def test_the_dry_run_does_a_fixed_number_of_queries_per_row(django_assert_max_num_queries):
    devices = [DeviceFactory() for _ in range(20)]
    actor = UserFactory(helpdesk=True)
    lines = parse_bulk_file(
        csv_bytes(*[line(d.device_id, make_imei()) for d in devices]), max_rows=100
    )
    # Two queries to find every device, then the swap core's three checks per row.
    with django_assert_max_num_queries(2 + 3 * len(devices)):
        result = check_bulk_lines(lines, actor=actor)
    assert all(v.ok for v in result)


def _query_count(rows):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    devices = [DeviceFactory() for _ in range(rows)]
    actor = UserFactory(helpdesk=True)
    lines = parse_bulk_file(
        csv_bytes(*[line(d.device_id, make_imei()) for d in devices]), max_rows=rows
    )
    with CaptureQueriesContext(connection) as queries:
        result = check_bulk_lines(lines, actor=actor)
    assert all(v.ok for v in result)
    return len(queries)


def test_the_dry_run_of_1000_rows_does_as_many_queries_as_10():
    # Two to find the devices, three for the swap core's rules: per chunk, never per row.
    assert _query_count(10) == 5
    assert _query_count(1000) == 5


def test_the_batched_verdicts_are_the_swap_forms_verdicts_on_a_mixed_file():
    from django.utils import timezone

    from devices.identifiers import NodeId
    from devices.services.checks import SwapRefused, swap_precheck

    ok = DeviceFactory()
    online = DeviceFactory(status=DeviceStatus.ONLINE)
    inactive = DeviceFactory(activated=False)
    deleted = DeviceFactory()
    busy = DeviceFactory()
    SwapFactory(device=busy)
    holder = DeviceFactory(node_id=make_imei())
    awaited = SwapFactory(new_node_id=make_imei())
    taken_by_holder = DeviceFactory()
    taken_by_swap = DeviceFactory()
    same = DeviceFactory(node_id=make_imei())
    type(deleted).objects.filter(pk=deleted.pk).update(deleted_on_platform_at=timezone.now())
    rows = [
        (ok, make_imei()),
        (online, make_imei()),
        (inactive, make_imei()),
        (deleted, make_imei()),
        (busy, make_imei()),
        (taken_by_holder, holder.node_id),
        (taken_by_swap, awaited.new_node_id),
        (same, same.node_id),
    ]
    result = verdicts(*[line(device.device_id, imei) for device, imei in rows])
    for verdict, (device, _) in zip(result, rows, strict=True):
        device.refresh_from_db()
        try:
            swap_precheck(
                device=device,
                new_node_id=NodeId.parse(verdict.source.new_node_id, "imei", "hisilicon"),
                live_check=False,
            )
            expected = ("", "")
        except SwapRefused as exc:
            expected = (exc.code, exc.message)
        assert (verdict.error_code, verdict.message) == expected, verdict.source.line
    codes = [v.error_code for v in result]
    assert codes == [
        "",
        "device_online",
        "device_not_active",
        "device_deleted",
        "open_swap_exists",
        "node_id_in_use",
        "node_id_in_use",
        "same_node_id",
    ]
