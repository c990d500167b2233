"""Shared pieces of the browser tests: role users with known passwords, a mirrored simulator
device (DeviceFactory.mirror), and the platform's pushes subscribed to the live server."""

from __future__ import annotations

from typing import Any

import pytest

from devices.models import Device
from tests.factories import DeviceFactory, UserFactory

PASSWORD = "browser-test-pass-2026"


@pytest.fixture
def role_users(transactional_db: Any) -> dict[str, Any]:
    """field / helpdesk / supervisor users with a known password, as demo_bootstrap makes them."""
    return {
        role: UserFactory(role=role, username=role, password=PASSWORD, first_name=name)
        for role, name in (
            ("field_service", "Fran Field"),
            ("helpdesk", "Hal Helpdesk"),
            ("supervisor", "Sue Supervisor"),
        )
    }


@pytest.fixture
def offline_device(sim: Any, platform_settings: Any) -> Device:
    """An activated, offline device of our own app whose nodeId is an IMEI and that presents its
    verifyCode (an LTE unit, not an NB-IoT one that attaches with its IMEI alone)."""
    for candidate in sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, nbiot=False):
        node = candidate["nodeId"]
        bare = node.removeprefix("urn:imei:")
        if len(bare) == 15 and bare.isdigit():
            return DeviceFactory.mirror(candidate, our_app_id=sim.app_id)
    raise AssertionError("the simulator's seed has no offline IMEI device")


@pytest.fixture
def pushes_to_live_server(live_server: Any, platform_settings: Any) -> str:
    """Subscribe the platform's pushes to this live server's push endpoint."""
    from devices.platform_wiring import get_client

    callback = f"{live_server.url}/platform/push/{platform_settings.IOT_PUSH_SECRET}/"
    platform_settings.IOT_CALLBACK_URL = callback
    client = get_client()
    for notify_type in ("bindDevice", "deviceInfoChanged"):
        client.subscribe(notify_type, callback)
    return callback
