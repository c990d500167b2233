"""Taking over a colleague's or a bulk swap, and asking the helpdesk, against the simulator."""

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from devices.limits import DEFAULT_TIMEOUT_SECONDS
from devices.models import Swap, SwapState
from devices.services import SwapRefused, swap_help_request, swap_send, swap_take_over
from devices.services.checks import open_swap_refusal
from tests.devices.swap_support import issued_swap, offline_device, pending_binding, request
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def device(sim, platform_settings):
    return offline_device(sim)


@pytest.fixture
def colleague():
    return UserFactory(field_service=True, first_name="Ada", last_name="Field")


@pytest.fixture
def field_user():
    return UserFactory(field_service=True)


def test_a_field_user_takes_over_a_colleagues_issued_swap(sim, device, colleague, field_user):
    old, old_code = issued_swap(sim, device, colleague)
    new = swap_take_over(swap=old, actor=field_user)
    old.refresh_from_db()
    assert old.state == SwapState.CANCELLED
    assert old.verify_code_encrypted == ""
    assert new.state == SwapState.QUEUED
    assert new.requested_by == field_user
    assert new.device_id == device.pk
    assert new.new_node_id == old.new_node_id
    assert new.timeout_seconds == DEFAULT_TIMEOUT_SECONDS
    cancelled = AuditEvent.objects.get(action=AuditAction.SWAP_CANCELLED, swap_id=old.pk)
    assert cancelled.actor == field_user
    assert cancelled.after == {"state": SwapState.CANCELLED, "taken_over_by": field_user.pk}
    assert "Taken over by" in cancelled.detail
    assert AuditEvent.objects.filter(action=AuditAction.SWAP_REQUESTED, swap_id=new.pk).exists()
    taken = AuditEvent.objects.get(action=AuditAction.SWAP_TAKEN_OVER, swap_id=new.pk)
    assert taken.before["swap"] == old.pk
    assert taken.before["requested_by"] == colleague.pk
    # The new refresh replaces the old pending binding on the platform.
    swap_send(swap_id=new.pk)
    new.refresh_from_db()
    assert new.state == SwapState.CODE_ISSUED
    assert pending_binding(sim, device)["verifyCode"] != old_code


def test_a_field_user_takes_over_a_bulk_swap(sim, device, field_user):
    helpdesk = UserFactory(helpdesk=True)
    old = request(device, helpdesk, lane="bulk", timeout_seconds=180)
    new = swap_take_over(swap=old, actor=field_user)
    assert Swap.objects.get(pk=old.pk).state == SwapState.CANCELLED
    assert new.requested_by == field_user
    assert new.lane == "interactive"


def test_a_supervisor_may_neither_take_over_nor_ask(sim, device, colleague):
    old = request(device, colleague)
    supervisor = UserFactory(supervisor=True)
    with pytest.raises(PermissionDenied):
        swap_take_over(swap=old, actor=supervisor)
    with pytest.raises(PermissionDenied):
        swap_help_request(swap=old, actor=supervisor)
    assert Swap.objects.get(pk=old.pk).state == SwapState.QUEUED
    assert Swap.objects.count() == 1
    assert not AuditEvent.objects.filter(action=AuditAction.HELP_REQUESTED).exists()


def test_ones_own_or_a_closed_swap_is_not_taken_over(sim, device, colleague, field_user):
    old = request(device, colleague)
    with pytest.raises(SwapRefused) as own:
        swap_take_over(swap=old, actor=colleague)
    assert own.value.code == "own_swap"
    Swap.objects.filter(pk=old.pk).update(state=SwapState.EXPIRED)
    with pytest.raises(SwapRefused) as closed:
        swap_take_over(swap=old, actor=field_user)
    assert closed.value.code == "not_open"
    assert Swap.objects.count() == 1


def test_a_refused_new_request_leaves_the_old_swap_open(sim, device, colleague, field_user):
    old = request(device, colleague)
    device.deleted_on_platform_at = timezone.now()
    device.save(update_fields=["deleted_on_platform_at"])
    with pytest.raises(SwapRefused):
        swap_take_over(swap=old, actor=field_user)
    assert Swap.objects.get(pk=old.pk).state == SwapState.QUEUED
    assert Swap.objects.count() == 1
    assert not AuditEvent.objects.filter(action=AuditAction.SWAP_CANCELLED).exists()


def test_asking_the_helpdesk_is_audited(sim, device, colleague, field_user):
    old = request(device, colleague)
    swap_help_request(swap=old, actor=field_user)
    event = AuditEvent.objects.get(action=AuditAction.HELP_REQUESTED)
    assert event.swap_id == old.pk
    assert event.actor == field_user
    assert event.device_id == device.device_id
    assert Swap.objects.get(pk=old.pk).state == SwapState.QUEUED


def test_the_refusal_names_a_swap_only_to_who_may_open_it(sim, device, colleague, field_user):
    old = request(device, colleague)
    hidden = open_swap_refusal(existing=old, actor=field_user).message
    assert f"#{old.pk}" not in hidden
    assert "A colleague (Ada Field) has an open swap" in hidden
    assert "take it over or ask the helpdesk" in hidden
    assert f"#{old.pk}" in open_swap_refusal(existing=old, actor=colleague).message
    helpdesk = UserFactory(helpdesk=True)
    assert f"#{old.pk}" in open_swap_refusal(existing=old, actor=helpdesk).message
    with pytest.raises(SwapRefused) as refused:
        request(device, field_user)
    assert f"#{old.pk}" not in refused.value.message
