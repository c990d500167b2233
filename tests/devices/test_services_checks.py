"""The request-time checks (services/checks.py), through swap_request as the form runs them,
against the running simulator: every refusal writes nothing."""

import pytest
from django.utils import timezone

from devices.identifiers import NodeId
from devices.models import Swap, SwapState, VerifyCodeMode
from devices.services import SwapRefused
from tests.devices.swap_support import assert_refused, new_node, offline_device, request
from tests.factories import DeviceFactory, SwapFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def device(sim, platform_settings):
    return offline_device(sim)


@pytest.fixture
def field_user():
    return UserFactory(field_service=True)


def test_same_node_id_as_today_is_refused_unless_confirmed(device, field_user):
    same = NodeId(value=device.node_id, kind="imei", chipset="qualcomm")
    with pytest.raises(SwapRefused) as info:
        request(device, field_user, new_node_id=same)
    assert info.value.code == "same_node_id"
    assert "same as the device's current nodeId" in info.value.message
    assert_refused("same_node_id")
    swap = request(device, field_user, new_node_id=same, allow_same_node_id=True)
    assert swap.state == SwapState.QUEUED


def test_node_id_of_another_mirrored_device_is_refused(device, field_user):
    other = DeviceFactory(node_id="AA:BB:CC:DD:EE:01", name="Other meter")
    with pytest.raises(SwapRefused) as info:
        request(device, field_user, new_node_id=NodeId.from_mac("aabb.ccdd.ee01"))
    assert info.value.field == "new_node_id"
    assert f"already used by device Other meter ({other.device_id})" in info.value.message
    assert_refused("node_id_in_use")


def test_node_id_awaited_by_another_open_swap_is_refused(device, field_user):
    taken = new_node()
    other_swap = SwapFactory(new_node_id=taken.value)
    with pytest.raises(SwapRefused, match=f"new nodeId of open swap #{other_swap.pk}"):
        request(device, field_user, new_node_id=taken)


def test_online_device_is_refused_with_handling_text(sim, device, field_user):
    sim.set_device(device.device_id, status="ONLINE")
    with pytest.raises(SwapRefused) as info:
        request(device, field_user)
    assert info.value.code == "device_online"
    assert "Take the device offline" in info.value.message
    assert Swap.objects.count() == 0
    device.refresh_from_db()
    assert device.status == "ONLINE"  # the mirror learnt the live status


def test_device_never_activated_is_refused(sim, device, field_user):
    sim.set_device(device.device_id, activated=False)
    device.activated = None
    device.save()
    with pytest.raises(SwapRefused) as info:
        request(device, field_user)
    assert info.value.code == "device_not_active"
    assert "has not been activated" in info.value.message
    assert Swap.objects.count() == 0


def test_device_unknown_to_the_platform_is_refused_with_its_error(platform_settings, field_user):
    ghost = DeviceFactory(device_id="00000000-dead-4000-8000-000000000000")
    with pytest.raises(SwapRefused) as info:
        request(ghost, field_user)
    assert info.value.code == "platform_check_failed"
    assert "(error 100403)" in info.value.message
    assert Swap.objects.count() == 0


def test_never_expiring_code_needs_the_dedicated_permission(device, field_user):
    with pytest.raises(SwapRefused) as info:
        request(device, field_user, timeout_seconds=0)
    assert info.value.field == "timeout_seconds"
    assert "never expires" in info.value.message
    allowed = UserFactory(field_service=True, perms=["devices.issue_never_expiring_code"])
    assert request(device, allowed, timeout_seconds=0).timeout_seconds == 0


@pytest.mark.parametrize("timeout", [-1, 2_147_483_648, "180", 1.5])
def test_validity_outside_the_platforms_range_is_refused(device, field_user, timeout):
    with pytest.raises(SwapRefused) as info:
        request(device, field_user, timeout_seconds=timeout)
    assert info.value.code == "invalid_timeout"
    assert Swap.objects.count() == 0


@pytest.mark.parametrize(
    ("code", "message"),
    [("", "Enter the custom verifyCode."), ("x" * 257, "at most 256 characters; this one has 257")],
)
def test_bad_custom_code_is_refused(device, field_user, code, message):
    with pytest.raises(SwapRefused) as info:
        request(device, field_user, verify_code_mode=VerifyCodeMode.CUSTOM, custom_verify_code=code)
    assert message in info.value.message
    assert info.value.field == "custom_verify_code"
    assert Swap.objects.count() == 0


def test_device_deleted_on_the_platform_is_refused(device, field_user):
    device.deleted_on_platform_at = timezone.now()
    device.save()
    with pytest.raises(SwapRefused, match="deleted on the platform"):
        request(device, field_user)


# --- swap_request(live_check=False): bulk rows trust the mirror -------------------------------


def test_without_live_check_an_online_mirror_is_refused_without_asking_the_platform(
    sim, platform_settings, field_user
):
    online = DeviceFactory.mirror(
        sim.devices(status="ONLINE", activated=True, owner=sim.app_id, nbiot=False, limit=1)[0]
    )
    calls_before = len(sim.calls())
    with pytest.raises(SwapRefused) as refused:
        request(online, field_user, live_check=False)
    assert refused.value.code == "device_online"
    assert "Take the device offline" in refused.value.message
    assert sim.calls()[calls_before:] == []
    assert_refused("device_online")


def test_without_live_check_a_never_activated_mirror_is_refused(sim, platform_settings, field_user):
    inactive = DeviceFactory.mirror(
        sim.devices(status="INACTIVE", activated=False, owner=sim.app_id, nbiot=False, limit=1)[0]
    )
    with pytest.raises(SwapRefused) as refused:
        request(inactive, field_user, live_check=False)
    assert refused.value.code == "device_not_active"
    assert_refused("device_not_active")
