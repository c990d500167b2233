"""Helpers for the bulk tests: CSV files as bytes, and mirror devices the simulator knows."""

from __future__ import annotations

from typing import Any

from devices.models import Device
from tests.factories import DeviceFactory

HEADER = "device,new_node_id,kind,chipset,verify_code_mode,ticket"


def csv_bytes(*lines: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join([header, *lines]) + "\r\n").encode(encoding)


def line(
    device: str,
    new_node_id: str,
    kind: str = "imei",
    chipset: str = "hisilicon",
    mode: str = "platform",
    ticket: str = "T-1",
) -> str:
    return ",".join([device, new_node_id, kind, chipset, mode, ticket])


def mirror_sim_devices(sim: Any, count: int) -> list[Device]:
    """Mirror rows for `count` offline, activated simulator devices (as a sync would write)."""
    found = sim.devices(status="OFFLINE", activated=True, nbiot=False, limit=count * 2)
    devices = [DeviceFactory.mirror(item, our_app_id=sim.app_id) for item in found[:count]]
    assert len(devices) == count, f"the simulator has only {len(devices)} offline devices"
    return devices
