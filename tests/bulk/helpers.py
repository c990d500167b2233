"""Helpers for the bulk tests: CSV files as bytes, and mirror devices the simulator knows."""

from __future__ import annotations

from typing import Any

from devices.models import Device, DeviceStatus

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
    found = sim.devices(status="OFFLINE", activated=True, limit=count * 2)
    devices = []
    for item in found[:count]:
        devices.append(
            Device.objects.create(
                device_id=item["deviceId"],
                node_id=item["nodeId"],
                app_id="" if item["owner"] == sim.app_id else item["owner"],
                name=item["deviceInfo"].get("name") or "",
                status=DeviceStatus.OFFLINE,
                activated=True,
            )
        )
    assert len(devices) == count, f"the simulator has only {len(devices)} offline devices"
    return devices
