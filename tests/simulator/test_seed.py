"""The demo registry: deterministic, realistic, every case present."""

import collections
import re

from simulator.seed import build_registry, luhn_valid


def registry(seed=42, count=300):
    return build_registry(seed=seed, count=count, app_id="ours", second_app_id="partner")


def test_same_seed_same_registry_and_another_seed_differs():
    first = registry()
    assert [(d.device_id, d.node_id) for d in first.values()] == [
        (d.device_id, d.node_id) for d in registry().values()
    ]
    assert set(first) != set(registry(seed=7))


def test_every_imei_passes_luhn_in_both_chip_styles():
    devices = list(registry().values())
    hisilicon = [d.node_id for d in devices if re.fullmatch(r"\d{15}", d.node_id)]
    qualcomm = [d.node_id[9:] for d in devices if d.node_id.startswith("urn:imei:")]
    assert hisilicon and qualcomm
    assert all(luhn_valid(imei) for imei in hisilicon + qualcomm)
    assert all(re.fullmatch(r"\d{15}", imei) for imei in qualcomm)


def test_macs_serials_and_unique_node_ids():
    devices = list(registry().values())
    macs = [d.node_id for d in devices if re.fullmatch(r"([0-9A-F]{2}:){5}[0-9A-F]{2}", d.node_id)]
    serials = [d.node_id for d in devices if re.fullmatch(r"[A-Z]{2}\d{11}", d.node_id)]
    assert macs and serials
    assert len({d.node_id for d in devices}) == len(devices)
    assert all(
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", d)
        for d in (d.device_id for d in devices)
    )


def test_status_mix_and_activation():
    devices = list(registry().values())
    counts = collections.Counter(d.status for d in devices)
    assert counts == {"OFFLINE": 150, "ONLINE": 75, "ABNORMAL": 30, "INACTIVE": 45}
    for d in devices:
        assert d.activated == (d.status != "INACTIVE")
        assert d.status_detail == ("NONE" if d.activated else "NOT_ACTIVE")


def test_partner_app_owns_about_a_tenth_in_every_status():
    devices = list(registry().values())
    partner = [d for d in devices if d.owner_app == "partner"]
    assert 25 <= len(partner) <= 35
    assert {d.status for d in partner} == {"OFFLINE", "ONLINE", "ABNORMAL", "INACTIVE"}


def test_realistic_device_info():
    devices = list(registry().values())
    types = {d.info["deviceType"] for d in devices}
    assert {"WaterMeter", "SmokeDetector", "ParkingSensor"} <= types
    assert all(d.info["name"] and d.info["manufacturerName"] and d.info["model"] for d in devices)


def test_the_running_simulator_serves_the_seeded_registry(sim):
    served = sim.devices()
    assert len(served) == 300
    assert {d["deviceId"] for d in served} == set(registry(count=300))
