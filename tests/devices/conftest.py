"""Fixtures shared by the devices tests that turn the four-eyes policy on."""

import pytest

from tests.factories import DeviceFactory


@pytest.fixture
def policy_settings(settings):
    """The documented defaults, every rule on, read in UTC (a test changes one at a time)."""
    settings.TIME_ZONE = "UTC"
    settings.SWAP_APPROVAL_NEVER_EXPIRING = True
    settings.SWAP_APPROVAL_CODE_MODES = "same_as_node_id,custom"
    settings.SWAP_APPROVAL_REPEAT_DAYS = 7
    settings.SWAP_APPROVAL_WORKING_HOURS = "07:00-19:00"
    settings.SWAP_APPROVAL_WORKING_DAYS = "mon-fri"
    return settings


@pytest.fixture
def only_code_mode_rule(policy_settings):
    """Deterministic whatever the clock says: only the verifyCode-mode rule is on."""
    policy_settings.SWAP_APPROVAL_NEVER_EXPIRING = False
    policy_settings.SWAP_APPROVAL_REPEAT_DAYS = 0
    policy_settings.SWAP_APPROVAL_WORKING_HOURS = ""
    return policy_settings


@pytest.fixture
def live_device(sim, platform_settings):
    """A mirrored device that is offline and activated on the simulator."""
    found = sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, limit=1)[0]
    return DeviceFactory.mirror(found, our_app_id=sim.app_id)
