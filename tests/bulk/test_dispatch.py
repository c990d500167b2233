"""The dispatcher: rows become normal swaps of the uploader, paced by the shared flow limiter;
refusals keep their message; failed rows are retried alone."""

import pytest

from bulk.models import BulkBatch, RowState
from bulk.services import (
    bulk_confirm,
    bulk_dispatch_step,
    bulk_retry_failed,
    bulk_upload,
)
from devices.models import Swap, SwapState
from devices.platform_wiring import get_client
from tests.bulk.helpers import csv_bytes, line, mirror_sim_devices
from tests.factories import SwapFactory, UserFactory, make_imei

pytestmark = pytest.mark.django_db


@pytest.fixture
def uploader():
    return UserFactory(helpdesk=True)


def confirmed_batch(uploader, lines):
    batch = bulk_upload(actor=uploader, filename="t.csv", data=csv_bytes(*lines))
    return bulk_confirm(batch=batch, actor=uploader)


def run_dispatcher(batch: BulkBatch, owner: str = "owner-1", steps: int = 20) -> None:
    for _ in range(steps):
        step = bulk_dispatch_step(batch_id=batch.pk, owner=owner)
        if step.next_in is None:
            return
    raise AssertionError("the dispatcher did not finish")


def test_confirmed_rows_become_queued_swaps_of_the_uploader(platform_settings, sim, uploader):
    devices = mirror_sim_devices(sim, 3)
    new_ids = [make_imei() for _ in devices]
    batch = confirmed_batch(
        uploader,
        [line(d.device_id, n, ticket="INC-42") for d, n in zip(devices, new_ids, strict=True)],
    )
    run_dispatcher(batch)
    rows = list(batch.rows.select_related("swap").order_by("line"))
    assert [r.state for r in rows] == [RowState.SUBMITTED] * 3
    assert [r.swap.device_id for r in rows] == [d.pk for d in devices]
    assert [r.swap.new_node_id for r in rows] == new_ids
    assert {r.swap.requested_by_id for r in rows} == {uploader.pk}
    assert {r.swap.state for r in rows} == {SwapState.QUEUED}
    assert rows[0].swap.reason == f"INC-42 (bulk #{batch.pk} line 2)"
    # no live check per row, and the refresh calls are the worker's job: no call at all
    assert sim.calls() == []


def test_a_row_refused_at_send_time_keeps_the_refusal(platform_settings, sim, uploader):
    (device,) = mirror_sim_devices(sim, 1)
    batch = confirmed_batch(uploader, [line(device.device_id, make_imei())])
    # Between preview and send, someone else opens a swap for the same device.
    SwapFactory(queued=True, device=device, requested_by=UserFactory(helpdesk=True))
    run_dispatcher(batch)
    row = batch.rows.get()
    assert row.state == RowState.REFUSED
    assert row.error_code == "open_swap_exists"
    assert row.message.startswith("This device already has an open swap")


def test_no_swap_is_made_while_the_flow_window_is_full(platform_settings, sim, uploader):
    platform_settings.IOT_FLOW_LIMIT_PER_MINUTE = 2
    from devices.platform_wiring import reset_client

    reset_client()
    devices = mirror_sim_devices(sim, 2)
    batch = confirmed_batch(uploader, [line(d.device_id, make_imei()) for d in devices])
    store = get_client().store
    for _ in range(2):
        assert store.reserve_slot(limit=2, window=61.0) == 0.0
    step = bulk_dispatch_step(batch_id=batch.pk, owner="o")
    assert step.submitted == 0
    assert 55 < step.next_in <= 61.0  # until the oldest slot leaves the window
    assert set(batch.rows.values_list("state", flat=True)) == {RowState.WAITING}
    assert Swap.objects.count() == 0


def test_the_interactive_reserve_is_no_room_for_bulk_swaps(platform_settings, sim, uploader):
    """A bulk send can never take a reserved slot: a swap made for one would only wait in the
    limiter, holding a worker process a technician's send may need."""
    platform_settings.IOT_FLOW_LIMIT_PER_MINUTE = 4
    platform_settings.IOT_FLOW_RESERVE_INTERACTIVE = 2
    from devices.platform_wiring import reset_client

    reset_client()
    devices = mirror_sim_devices(sim, 5)
    batch = confirmed_batch(uploader, [line(d.device_id, make_imei()) for d in devices])
    step = bulk_dispatch_step(batch_id=batch.pk, owner="o")
    assert step.submitted == 2 == batch.rows.filter(state=RowState.SUBMITTED).count()
    assert batch.rows.filter(state=RowState.WAITING).count() == 3


def test_while_the_sync_waits_a_few_bulk_swaps_wait_ahead_of_it(platform_settings, sim, uploader):
    """A full window and the sync (background lane) waiting: two bulk swaps are made anyway, so
    their sends wait in the limiter ahead of the sync and take the next slots."""
    platform_settings.IOT_FLOW_LIMIT_PER_MINUTE = 4
    platform_settings.IOT_FLOW_RESERVE_INTERACTIVE = 0
    from bulk.services import DISPATCH_AHEAD
    from devices.platform_wiring import reset_client

    reset_client()
    devices = mirror_sim_devices(sim, 5)
    batch = confirmed_batch(uploader, [line(d.device_id, make_imei()) for d in devices])
    store = get_client().store
    for _ in range(4):
        assert store.reserve_slot(limit=4, window=61.0) == 0.0
    assert store.reserve_slot(limit=4, window=61.0, lane="background", ticket="sync") > 0
    step = bulk_dispatch_step(batch_id=batch.pk, owner="o")
    assert step.submitted == DISPATCH_AHEAD == 2
    store.withdraw(lane="background", ticket="sync")
    assert bulk_dispatch_step(batch_id=batch.pk, owner="o").submitted == 0  # no one to beat


def test_queued_swaps_count_against_the_room_in_the_window(platform_settings, sim, uploader):
    platform_settings.IOT_FLOW_LIMIT_PER_MINUTE = 3
    platform_settings.IOT_FLOW_RESERVE_INTERACTIVE = 0
    from devices.platform_wiring import reset_client

    reset_client()
    devices = mirror_sim_devices(sim, 5)
    batch = confirmed_batch(uploader, [line(d.device_id, make_imei()) for d in devices])
    bulk_dispatch_step(batch_id=batch.pk, owner="o")
    # 3 free slots and no live check: three swaps queued, each will need one slot.
    submitted = batch.rows.filter(state=RowState.SUBMITTED).count()
    assert submitted == 3
    assert batch.rows.filter(state=RowState.WAITING).count() == 5 - submitted
    assert not batch.rows.filter(state=RowState.REFUSED).exists()
    # the next step finds no room until those swaps are sent
    assert bulk_dispatch_step(batch_id=batch.pk, owner="o").submitted == 0


def test_a_second_dispatcher_for_the_same_batch_does_nothing(platform_settings, sim, uploader):
    devices = mirror_sim_devices(sim, 2)
    batch = confirmed_batch(uploader, [line(d.device_id, make_imei()) for d in devices])
    first = bulk_dispatch_step(batch_id=batch.pk, owner="first")
    assert first.submitted == 2
    second = bulk_dispatch_step(batch_id=batch.pk, owner="second")
    assert (second.submitted, second.next_in) == (0, None)
    assert Swap.objects.count() == 2


def test_retry_sends_only_the_failed_rows_again(platform_settings, sim, uploader):
    devices = mirror_sim_devices(sim, 2)
    batch = confirmed_batch(uploader, [line(d.device_id, make_imei()) for d in devices])
    run_dispatcher(batch)
    failed_row, good_row = batch.rows.select_related("swap").order_by("line")
    Swap.objects.filter(pk=failed_row.swap_id).update(
        state=SwapState.FAILED, error_code="100611", error_text="Take the device offline."
    )
    Swap.objects.filter(pk=good_row.swap_id).update(state=SwapState.CODE_ISSUED)
    assert bulk_retry_failed(batch=batch, actor=uploader) == 1
    run_dispatcher(batch, owner="owner-2")
    failed_row.refresh_from_db()
    good_row.refresh_from_db()
    assert failed_row.state == RowState.SUBMITTED
    new_swap = failed_row.swap
    assert new_swap.state == SwapState.QUEUED
    assert new_swap.reissue_of_id is not None and new_swap.reissue_of.state == SwapState.FAILED
    assert good_row.swap.state == SwapState.CODE_ISSUED
    assert Swap.objects.count() == 3


def test_one_failed_row_can_be_retried_alone(platform_settings, sim, uploader):
    devices = mirror_sim_devices(sim, 2)
    batch = confirmed_batch(uploader, [line(d.device_id, make_imei()) for d in devices])
    run_dispatcher(batch)
    first, second = batch.rows.order_by("line")
    Swap.objects.filter(pk__in=[first.swap_id, second.swap_id]).update(state=SwapState.FAILED)
    assert bulk_retry_failed(batch=batch, actor=uploader, row_id=second.pk) == 1
    assert list(batch.rows.order_by("line").values_list("state", flat=True)) == [
        RowState.SUBMITTED,
        RowState.WAITING,
    ]


def test_only_the_uploader_may_retry(platform_settings, sim, uploader):
    from django.core.exceptions import PermissionDenied

    (device,) = mirror_sim_devices(sim, 1)
    batch = confirmed_batch(uploader, [line(device.device_id, make_imei())])
    with pytest.raises(PermissionDenied):
        bulk_retry_failed(batch=batch, actor=UserFactory(helpdesk=True))


def test_a_row_the_approval_policy_holds_waits_for_approval_and_is_not_open(
    platform_settings, sim, uploader
):
    from bulk.selectors import batch_progress
    from bulk.templatetags.bulk_ui import row_label

    platform_settings.SWAP_APPROVAL_CODE_MODES = "same_as_node_id"
    devices = mirror_sim_devices(sim, 2)
    batch = confirmed_batch(
        uploader,
        [
            line(devices[0].device_id, make_imei(), mode="same_as_node_id"),
            line(devices[1].device_id, make_imei()),
        ],
    )
    run_dispatcher(batch)
    held, plain = batch.rows.select_related("swap").order_by("line")
    assert held.swap.state == SwapState.PENDING_APPROVAL
    assert row_label(held) == "Waiting for approval"
    assert plain.swap.state == SwapState.QUEUED
    progress = batch_progress(batch=batch, with_eta=False)
    assert (progress.open, progress.awaiting_approval, progress.total) == (1, 1, 2)
