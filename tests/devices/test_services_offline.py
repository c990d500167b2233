""" "Send it when the old unit goes offline" (devices/services/offline.py) against the running
simulator: the waiting state, its expiry on an injected clock, cancel, the push and the periodic
check that send it, the flow budget the check keeps to, and the device page's live status."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from devices.models import OPEN_SWAP_STATES, Swap, SwapState
from devices.platform_wiring import get_client, reset_client
from devices.services import SwapRefused, swap_approve, swap_cancel, swap_reissue, swap_send
from devices.services.offline import (
    OFFLINE_WAIT_EXPIRED,
    device_live_status_peek,
    device_live_status_read,
    swap_expire_offline_wait,
    swaps_check_offline,
    swaps_expire_offline_waits,
)
from devices.services.push import PushNotification, push_apply
from oceanconnect import Lane
from tests.devices.swap_support import offline_device, refresh_calls, request
from tests.factories import DeviceFactory, UserFactory

pytestmark = pytest.mark.django_db

GET_DEVICE_PATH = "/iocm/app/dm/v1.4.0/devices/"


@pytest.fixture
def enqueued(monkeypatch):
    sent = []
    monkeypatch.setattr("devices.tasks.swap_send.delay", lambda swap_id: sent.append(swap_id))
    return sent


@pytest.fixture
def field_user():
    return UserFactory(field_service=True)


@pytest.fixture
def online(sim, platform_settings):
    """A mirrored device whose old unit is still attached (ONLINE on the simulator)."""
    device = offline_device(sim)
    sim.set_device(device.device_id, status="ONLINE")
    return device


def wait_for_offline(device, actor, minutes=30, **kw):
    return request(device, actor, offline_wait_minutes=minutes, **kw)


def get_device_calls(sim, device=None):
    return [
        c
        for c in sim.calls()
        if c["method"] == "GET"
        and c["path"].startswith(GET_DEVICE_PATH)
        and (device is None or c["path"] == GET_DEVICE_PATH + device.device_id)
    ]


def fill_flow_budget(*, keep: int) -> None:
    """Take every slot of the window with bulk calls but the last `keep` (the interactive
    reserve), counting the calls the test already made."""
    reset_client()
    client = get_client()
    for _ in range(client.flow_usage().free - keep):
        client.limiter.acquire(deadline=None, lane=Lane.BULK)
    assert client.flow_usage().free == keep


def offline_push(device, status="OFFLINE"):
    return PushNotification(
        notify_type="deviceInfoChanged",
        device_id=device.device_id,
        gateway_id=device.device_id,
        device_info={"nodeId": None, "status": status, "statusDetail": "NONE"},
    )


# --- the waiting state --------------------------------------------------------------------


def test_an_online_device_with_a_wait_gets_a_waiting_swap_and_nothing_is_sent(
    sim, online, field_user, enqueued
):
    before = timezone.now()
    swap = wait_for_offline(online, field_user, minutes=30)
    assert swap.state == SwapState.WAITING_OFFLINE
    assert SwapState.WAITING_OFFLINE in OPEN_SWAP_STATES and swap.is_open
    assert before + timedelta(minutes=30) <= swap.offline_wait_until
    assert swap.offline_wait_until <= timezone.now() + timedelta(minutes=30)
    assert enqueued == [] and refresh_calls(sim, online) == []
    event = AuditEvent.objects.get(action=AuditAction.SWAP_REQUESTED, swap_id=swap.pk)
    assert event.after["state"] == SwapState.WAITING_OFFLINE
    assert event.after["offline_wait_until"] == swap.offline_wait_until.isoformat()


def test_without_a_wait_an_online_device_is_still_refused(online, field_user):
    with pytest.raises(SwapRefused) as refused:
        request(online, field_user)
    assert refused.value.code == "device_online"
    assert not Swap.objects.exists()


def test_an_offline_device_with_a_wait_is_sent_at_once(
    sim, platform_settings, field_user, enqueued
):
    device = offline_device(sim)
    swap = wait_for_offline(device, field_user)
    assert swap.state == SwapState.QUEUED
    assert swap.offline_wait_until is None


@pytest.mark.parametrize("minutes", [-5, 24 * 60 + 1])
def test_a_wait_out_of_bounds_is_refused_and_changes_nothing(online, field_user, minutes):
    with pytest.raises(SwapRefused) as refused:
        wait_for_offline(online, field_user, minutes=minutes)
    assert refused.value.field == "offline_wait_minutes"
    assert not Swap.objects.exists()


def test_a_waiting_swap_blocks_a_second_swap_of_the_device(online, field_user, enqueued):
    first = wait_for_offline(online, field_user)
    with pytest.raises(SwapRefused) as refused:
        wait_for_offline(online, UserFactory(field_service=True))
    assert refused.value.code == "open_swap_exists"
    assert list(Swap.objects.values_list("pk", flat=True)) == [first.pk]


# --- cancel and expiry ----------------------------------------------------------------------


def test_the_owner_and_the_helpdesk_may_cancel_a_waiting_swap_a_colleague_may_not(
    online, field_user, enqueued
):
    swap = wait_for_offline(online, field_user)
    with pytest.raises(PermissionDenied):
        swap_cancel(swap=swap, actor=UserFactory(field_service=True))
    assert swap_cancel(swap=swap, actor=field_user).state == SwapState.CANCELLED
    event = AuditEvent.objects.get(action=AuditAction.SWAP_CANCELLED, swap_id=swap.pk)
    assert event.before == {"state": SwapState.WAITING_OFFLINE}

    Swap.objects.all().delete()
    other = wait_for_offline(online, field_user)
    assert swap_cancel(swap=other, actor=UserFactory(helpdesk=True)).state == SwapState.CANCELLED


def test_a_lapsed_wait_ends_cancelled_unsent_with_a_clear_message(online, field_user, enqueued):
    swap = wait_for_offline(online, field_user, minutes=15)
    just_before = swap.offline_wait_until - timedelta(seconds=1)
    assert swaps_expire_offline_waits(now=just_before) == 0
    swap.refresh_from_db()
    assert swap.state == SwapState.WAITING_OFFLINE

    assert swaps_expire_offline_waits(now=swap.offline_wait_until) == 1
    swap.refresh_from_db()
    assert (swap.state, swap.error_code) == (SwapState.CANCELLED, OFFLINE_WAIT_EXPIRED)
    assert "still online when the wait ended" in swap.error_text
    assert swap.finished_at == swap.offline_wait_until
    assert enqueued == []
    event = AuditEvent.objects.get(action=AuditAction.SWAP_CANCELLED, swap_id=swap.pk)
    assert event.after["reason"] == OFFLINE_WAIT_EXPIRED
    # A second run (or the swap page's poll) changes nothing twice.
    assert swaps_expire_offline_waits(now=swap.offline_wait_until) == 0
    assert not swap_expire_offline_wait(swap=swap, now=swap.offline_wait_until)
    assert AuditEvent.objects.filter(action=AuditAction.SWAP_CANCELLED).count() == 1


def test_a_lapsed_wait_is_reissued_waiting_again_while_the_device_is_online(
    online, field_user, enqueued
):
    swap = wait_for_offline(online, field_user, minutes=15)
    swaps_expire_offline_waits(now=swap.offline_wait_until)
    swap.refresh_from_db()
    again = swap_reissue(swap=swap, actor=field_user)
    assert (again.state, again.reissue_of_id) == (SwapState.WAITING_OFFLINE, swap.pk)
    assert enqueued == []


def test_the_swap_page_poll_ends_a_lapsed_wait(online, field_user, enqueued):
    swap = wait_for_offline(online, field_user, minutes=15)
    assert not swap_expire_offline_wait(swap=swap, now=swap.offline_wait_until - timedelta(1))
    assert swap_expire_offline_wait(swap=swap, now=swap.offline_wait_until + timedelta(1))
    swap.refresh_from_db()
    assert swap.state == SwapState.CANCELLED


# --- the push sends it ----------------------------------------------------------------------


def test_an_offline_push_sends_the_waiting_swap_and_the_code_is_issued(
    sim, online, field_user, enqueued, django_capture_on_commit_callbacks
):
    swap = wait_for_offline(online, field_user)
    sim.set_device(online.device_id, status="OFFLINE")  # the old unit is switched off
    with django_capture_on_commit_callbacks(execute=True):
        outcome = push_apply(push=offline_push(online), received_at=timezone.now())
    assert f"swap #{swap.pk} sent" in outcome.outcome
    assert enqueued == [swap.pk]
    swap.refresh_from_db()
    assert swap.state == SwapState.QUEUED
    event = AuditEvent.objects.get(action=AuditAction.SWAP_OFFLINE_SEEN, swap_id=swap.pk)
    assert event.after == {"state": SwapState.QUEUED, "seen_by": "deviceInfoChanged push"}

    swap_send(swap_id=swap.pk)  # what the worker does with the task
    swap.refresh_from_db()
    assert swap.state == SwapState.CODE_ISSUED
    assert len(refresh_calls(sim, online)) == 1

    # A duplicate push changes nothing twice.
    with django_capture_on_commit_callbacks(execute=True):
        push_apply(push=offline_push(online), received_at=timezone.now())
    assert enqueued == [swap.pk]
    assert AuditEvent.objects.filter(action=AuditAction.SWAP_OFFLINE_SEEN).count() == 1


def test_an_online_push_leaves_the_swap_waiting(online, field_user, enqueued):
    swap = wait_for_offline(online, field_user)
    push_apply(push=offline_push(online, status="ONLINE"), received_at=timezone.now())
    swap.refresh_from_db()
    assert swap.state == SwapState.WAITING_OFFLINE
    assert enqueued == []


def test_an_offline_push_after_the_wait_lapsed_ends_the_swap_unsent(online, field_user, enqueued):
    swap = wait_for_offline(online, field_user)
    Swap.objects.filter(pk=swap.pk).update(offline_wait_until=timezone.now() - timedelta(1))
    push_apply(push=offline_push(online), received_at=timezone.now())
    swap.refresh_from_db()
    assert (swap.state, swap.error_code) == (SwapState.CANCELLED, OFFLINE_WAIT_EXPIRED)
    assert enqueued == []


# --- the periodic check ---------------------------------------------------------------------


def test_the_periodic_check_sends_a_device_it_finds_offline(
    sim, online, field_user, enqueued, django_capture_on_commit_callbacks
):
    swap = wait_for_offline(online, field_user)
    before = len(get_device_calls(sim, online))  # the request's own live check
    with django_capture_on_commit_callbacks(execute=True):
        result = swaps_check_offline(max_calls=5)
    assert (result.checked, result.released) == (1, 0)  # still online: it waits
    assert enqueued == []

    sim.set_device(online.device_id, status="OFFLINE")
    with django_capture_on_commit_callbacks(execute=True):
        result = swaps_check_offline(max_calls=5)
    assert (result.checked, result.released, result.throttled) == (1, 1, False)
    assert enqueued == [swap.pk]
    swap.refresh_from_db()
    assert swap.state == SwapState.QUEUED
    assert (
        AuditEvent.objects.get(action=AuditAction.SWAP_OFFLINE_SEEN, swap_id=swap.pk).after[
            "seen_by"
        ]
        == "periodic check"
    )
    assert len(get_device_calls(sim, online)) == before + 2  # one read a run


def test_the_periodic_check_makes_at_most_max_calls_and_takes_turns(
    sim, platform_settings, field_user, enqueued
):
    devices = sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, nbiot=False)[:3]
    swaps = []
    for found in devices:
        device = DeviceFactory.mirror(found, our_app_id=sim.app_id)
        sim.set_device(device.device_id, status="ONLINE")
        swaps.append(wait_for_offline(device, field_user))
    before = len(get_device_calls(sim))
    first = swaps_check_offline(max_calls=2)
    assert first.checked == 2
    assert len(get_device_calls(sim)) == before + 2
    unchecked = Swap.objects.get(offline_checked_at__isnull=True)
    second = swaps_check_offline(max_calls=1, now=timezone.now() + timedelta(seconds=1))
    assert second.checked == 1
    # The one the first run left out goes first in the second.
    unchecked.refresh_from_db()
    assert unchecked.offline_checked_at is not None
    assert len(get_device_calls(sim)) == before + 3
    assert len(swaps) == 3


def test_the_periodic_check_stops_when_the_flow_budget_has_no_slot(
    sim, platform_settings, online, field_user, enqueued
):
    swap = wait_for_offline(online, field_user)
    sim.set_device(online.device_id, status="OFFLINE")
    platform_settings.IOT_FLOW_LIMIT_PER_MINUTE = 4
    platform_settings.IOT_FLOW_RESERVE_INTERACTIVE = 0
    fill_flow_budget(keep=0)
    before = len(get_device_calls(sim))
    result = swaps_check_offline(max_calls=5)
    assert (result.checked, result.released, result.throttled) == (0, 0, True)
    assert len(get_device_calls(sim)) == before  # nothing was sent beyond the budget
    swap.refresh_from_db()
    assert swap.state == SwapState.WAITING_OFFLINE and swap.offline_checked_at is None
    assert enqueued == []


def test_the_periodic_check_leaves_the_interactive_reserve_alone(
    sim, platform_settings, online, field_user, enqueued
):
    """Background lane: with only the reserve left the check makes no call; a person's does."""
    wait_for_offline(online, field_user)
    platform_settings.IOT_FLOW_LIMIT_PER_MINUTE = 4
    platform_settings.IOT_FLOW_RESERVE_INTERACTIVE = 2
    fill_flow_budget(keep=2)
    before = len(get_device_calls(sim))
    assert swaps_check_offline(max_calls=5).throttled
    assert len(get_device_calls(sim)) == before
    assert device_live_status_read(device=online).online  # the reserve serves the person


# --- approval ---------------------------------------------------------------------------------


def test_an_approved_waiting_request_goes_on_waiting(sim, online, only_code_mode_rule, enqueued):
    requester = UserFactory(field_service=True)
    swap = wait_for_offline(online, requester, verify_code_mode="custom", custom_verify_code="AB12")
    assert swap.state == SwapState.PENDING_APPROVAL
    approved = swap_approve(swap=swap, actor=UserFactory(helpdesk=True))
    assert approved.state == SwapState.WAITING_OFFLINE
    assert enqueued == []


# --- the device page's live status ------------------------------------------------------------


def test_the_live_status_is_read_once_and_shared(sim, online, enqueued):
    before = len(get_device_calls(sim, online))
    first = device_live_status_read(device=online)
    assert first.known and first.online and not first.cached
    second = device_live_status_read(device=online)
    assert second.cached and second.online
    assert device_live_status_peek(device=online) is not None
    assert len(get_device_calls(sim, online)) == before + 1


def test_the_live_status_is_unknown_when_the_platform_fails(sim, online, enqueued):
    sim.faults(mode="http500", path_contains="/devices/")
    reading = device_live_status_read(device=online)
    assert not reading.known and not reading.online
    assert reading.live.error


def test_a_live_read_that_finds_the_device_offline_sends_its_waiting_swap(
    sim, online, field_user, enqueued, django_capture_on_commit_callbacks
):
    swap = wait_for_offline(online, field_user)
    sim.set_device(online.device_id, status="OFFLINE")
    with django_capture_on_commit_callbacks(execute=True):
        reading = device_live_status_read(device=online)
    assert reading.known and not reading.online
    assert enqueued == [swap.pk]
    online.refresh_from_db()
    assert online.status == "OFFLINE"  # the mirror learnt it


def test_beat_runs_the_check_task_which_calls_the_service_within_its_call_cap(
    sim, platform_settings, online, field_user, enqueued, django_capture_on_commit_callbacks
):
    from devices.tasks import swaps_check_offline as swaps_check_offline_task

    entry = platform_settings.CELERY_BEAT_SCHEDULE["check-offline-swaps"]
    assert entry["task"] == "devices.tasks.swaps_check_offline"
    platform_settings.SWAP_OFFLINE_CHECK_MAX_CALLS = 1
    swap = wait_for_offline(online, field_user)
    sim.set_device(online.device_id, status="OFFLINE")
    with django_capture_on_commit_callbacks(execute=True):
        assert swaps_check_offline_task() == {"expired": 0, "checked": 1, "released": 1}
    assert enqueued == [swap.pk]
