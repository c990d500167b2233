"""Deterministic demo registry: a few hundred realistic devices for a given seed."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("ONLINE", "OFFLINE", "ABNORMAL", "INACTIVE")

# Share of each status in the demo registry (INACTIVE = never activated).
STATUS_MIX = (("OFFLINE", 0.50), ("ONLINE", 0.25), ("ABNORMAL", 0.10), ("INACTIVE", 0.15))
# Share of each nodeId style.
NODE_ID_MIX = (("hisilicon", 0.40), ("qualcomm", 0.25), ("mac", 0.20), ("serial", 0.15))
PARTNER_SHARE = 0.10

# Type allocation codes of NB-IoT / LTE-M modules (first 8 digits of an IMEI).
IMEI_TACS = ("86217704", "86475203", "86867703", "86988104", "35332910", "86681504")
MAC_OUIS = ("00:1A:79", "B8:27:EB", "24:0A:C4", "D8:A0:1D", "70:B3:D5", "3C:71:BF")


@dataclass(frozen=True)
class Product:
    device_type: str
    model: str
    manufacturer_id: str
    manufacturer_name: str
    label: str
    serial_prefix: str
    battery: bool


PRODUCTS = (
    Product(
        "WaterMeter", "AQ-NB200", "aquametro01", "Aquametro Systems", "Water meter", "AQ", True
    ),
    Product(
        "WaterMeter", "HydroLink 3", "hydrolink", "HydroLink Metering", "Water meter", "HL", True
    ),
    Product(
        "SmokeDetector", "FW-S10", "flamewatch", "FlameWatch Safety", "Smoke detector", "FW", True
    ),
    Product("ParkingSensor", "CP-Mag2", "citypark", "CityPark IoT", "Parking sensor", "CP", True),
    Product("GasMeter", "GM-NB5", "gasmetrix", "GasMetrix", "Gas meter", "GM", True),
    Product(
        "StreetLight", "SL-Ctrl4", "lumenway", "Lumenway Controls", "Street light", "LW", False
    ),
    Product(
        "ElectricityMeter",
        "EM-300",
        "voltaris",
        "Voltaris Energy",
        "Electricity meter",
        "VE",
        False,
    ),
    Product(
        "ManholeCover", "MC-Tilt1", "cityguard", "CityGuard Sensors", "Manhole cover", "CG", True
    ),
    Product("TempHumiditySensor", "TH-21", "nordsense", "NordSense", "Climate sensor", "NS", True),
)
STREETS = (
    "Harbour Road",
    "Elm Street",
    "Station Square",
    "Mill Lane",
    "Kingsway",
    "Park Avenue",
    "Canal Walk",
    "Bridge Street",
    "Market Place",
    "Orchard Close",
    "Hill Rise",
    "Quay Side",
)
# NB-IoT meters (CoAP/LwM2M) attach with their IMEI and present no code; the others present one.
PROTOCOL_BY_STYLE = {"hisilicon": "CoAP", "qualcomm": "LWM2M", "mac": "MQTT", "serial": "HTTP"}
# Mains-powered units with an IMEI are LTE Cat-1 modules speaking MQTT (they present a code).
MAINS_IMEI_PROTOCOL = "MQTT"


def protocol_type(style: str, product: Product) -> str:
    if style in ("hisilicon", "qualcomm") and not product.battery:
        return MAINS_IMEI_PROTOCOL
    return PROTOCOL_BY_STYLE[style]


@dataclass
class Device:
    """One device in the simulated registry."""

    device_id: str
    node_id: str
    owner_app: str
    status: str
    status_detail: str
    activated: bool
    info: dict[str, Any]
    create_time: str
    last_modified_time: str
    node_type: str = "ENDPOINT"
    services: list[dict[str, Any]] = field(default_factory=list)

    def device_info(self) -> dict[str, Any]:
        return {
            **self.info,
            "nodeId": self.node_id,
            "status": self.status,
            "statusDetail": self.status_detail,
        }

    def as_platform_json(self) -> dict[str, Any]:
        return {
            "deviceId": self.device_id,
            "gatewayId": self.device_id,
            "nodeType": self.node_type,
            "createTime": self.create_time,
            "lastModifiedTime": self.last_modified_time,
            "deviceInfo": self.device_info(),
            "services": list(self.services),
        }


def platform_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def luhn_check_digit(digits: str) -> str:
    """The check digit that makes `digits + check` pass the Luhn test."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) >= 2 and luhn_check_digit(number[:-1]) == number[-1]


def random_imei(rng: random.Random) -> str:
    body = rng.choice(IMEI_TACS) + f"{rng.randrange(1_000_000):06d}"
    return body + luhn_check_digit(body)


def random_mac(rng: random.Random) -> str:
    tail = ":".join(f"{rng.randrange(256):02X}" for _ in range(3))
    return f"{rng.choice(MAC_OUIS)}:{tail}"


def random_serial(rng: random.Random, product: Product) -> str:
    return f"{product.serial_prefix}{rng.randrange(2018, 2025)}{rng.randrange(10**7):07d}"


def new_node_id(rng: random.Random, style: str, product: Product) -> str:
    if style == "hisilicon":
        return random_imei(rng)
    if style == "qualcomm":
        return f"urn:imei:{random_imei(rng)}"
    if style == "mac":
        return random_mac(rng)
    return random_serial(rng, product)


def _allocate(total: int, mix: tuple[tuple[str, float], ...], rng: random.Random) -> list[str]:
    """`total` labels in the given proportions (each present when total allows), shuffled."""
    counts = {label: round(total * share) for label, share in mix}
    if total >= len(mix):
        for label in counts:
            counts[label] = max(counts[label], 1)
    largest = max(mix, key=lambda item: item[1])[0]
    counts[largest] += total - sum(counts.values())
    labels = [label for label, _ in mix for _ in range(counts[label])]
    rng.shuffle(labels)
    return labels


# How long ago each status last changed, in minutes (low, high).
SILENCE_MINUTES = {
    "ONLINE": (1, 15),
    "OFFLINE": (60, 60 * 24 * 20),
    "ABNORMAL": (60 * 26, 60 * 24 * 10),
    "INACTIVE": (60 * 24, 60 * 24 * 90),
}


def build_registry(*, seed: int, count: int, app_id: str, second_app_id: str) -> dict[str, Device]:
    """The demo registry for `seed`: same seed, same devices, in the same order."""
    rng = random.Random(seed)
    statuses = _allocate(count, STATUS_MIX, rng)
    styles = _allocate(count, NODE_ID_MIX, rng)
    # A tenth of every status group belongs to the partner app, so each case exists there too.
    partner: set[int] = set()
    for status in STATUSES:
        group = [i for i, s in enumerate(statuses) if s == status]
        take = max(1, round(len(group) * PARTNER_SHARE)) if len(group) >= 4 else 0
        partner.update(rng.sample(group, take))
    # Times are relative to now (whole minutes), so "last contact" reads like a live fleet:
    # online units minutes ago, offline ones days ago, abnormal ones silent for over 25 h.
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    base = now - dt.timedelta(days=5 * 365)
    span = int((now - dt.timedelta(days=30) - base).total_seconds())
    used: set[str] = set()
    devices: dict[str, Device] = {}
    for index in range(count):
        product = rng.choice(PRODUCTS)
        node_id = new_node_id(rng, styles[index], product)
        while node_id in used:
            node_id = new_node_id(rng, styles[index], product)
        used.add(node_id)
        device_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        created = base + dt.timedelta(seconds=rng.randrange(span))
        status = statuses[index]
        silent_minutes = rng.randrange(*SILENCE_MINUTES[status])
        modified = max(created, now - dt.timedelta(minutes=silent_minutes))
        activated = status != "INACTIVE"
        street = rng.choice(STREETS)
        number = rng.randrange(1, 180)
        info: dict[str, Any] = {
            "name": f"{product.label} {street} {number}",
            "description": f"{product.label} at {number} {street}",
            "manufacturerId": product.manufacturer_id,
            "manufacturerName": product.manufacturer_name,
            "mac": node_id if styles[index] == "mac" else None,
            "location": f"{number} {street}",
            "deviceType": product.device_type,
            "model": product.model,
            "swVersion": f"{rng.randrange(1, 4)}.{rng.randrange(10)}.{rng.randrange(20)}",
            "fwVersion": f"V{rng.randrange(100, 200)}R{rng.randrange(1, 9):03d}",
            "hwVersion": f"HW{rng.randrange(1, 4)}.0",
            "protocolType": protocol_type(styles[index], product),
            "mute": "FALSE",
            "serialNumber": random_serial(rng, product),
            "signalStrength": rng.randrange(-120, -60) if activated else None,
            "batteryLevel": rng.randrange(5, 101) if product.battery and activated else None,
        }
        devices[device_id] = Device(
            device_id=device_id,
            node_id=node_id,
            owner_app=second_app_id if index in partner else app_id,
            status=status,
            status_detail="NONE" if activated else "NOT_ACTIVE",
            activated=activated,
            info=info,
            create_time=platform_time(created),
            last_modified_time=platform_time(modified),
        )
    return devices


# Generated devices (`--generated-devices N`): a registry too large to hold, made on demand from
# the index alone. Device i has a fixed deviceId and nodeId and was created GENERATED_EPOCH + i
# seconds, before every demo device, so the oldest-first list walks them in index order.
GENERATED_ID_PREFIX = "6e000000-0000-4000-8000-"
GENERATED_NODE_PREFIX = "GN"
GENERATED_EPOCH = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
# Status by index modulo 20, in the demo's proportions (10 offline, 5 online, 2 abnormal, 3 never
# activated).
_GENERATED_STATUS = ("OFFLINE",) * 10 + ("ONLINE",) * 5 + ("ABNORMAL",) * 2 + ("INACTIVE",) * 3


def generated_device_id(index: int) -> str:
    return f"{GENERATED_ID_PREFIX}{index:012d}"


def generated_node_id(index: int) -> str:
    return f"{GENERATED_NODE_PREFIX}{index:010d}"


def _index_after(text: str, prefix: str, digits: int) -> int | None:
    tail = text[len(prefix) :]
    if not text.startswith(prefix) or len(tail) != digits or not tail.isdigit():
        return None
    return int(tail)


def generated_index(device_id: str) -> int | None:
    """The index of a generated deviceId, or None when it is not one."""
    return _index_after(device_id, GENERATED_ID_PREFIX, 12)


def generated_node_index(node_id: str) -> int | None:
    return _index_after(node_id, GENERATED_NODE_PREFIX, 10)


def generated_device(index: int, *, app_id: str) -> Device:
    """Generated device `index` of `app_id` (same index, same device)."""
    product = PRODUCTS[index % len(PRODUCTS)]
    status = _GENERATED_STATUS[index % len(_GENERATED_STATUS)]
    activated = status != "INACTIVE"
    street = STREETS[index % len(STREETS)]
    number = 1 + index % 179
    moment = platform_time(GENERATED_EPOCH + dt.timedelta(seconds=index))
    node_id = generated_node_id(index)
    info: dict[str, Any] = {
        "name": f"{product.label} {street} {number}",
        "description": f"{product.label} at {number} {street}",
        "manufacturerId": product.manufacturer_id,
        "manufacturerName": product.manufacturer_name,
        "mac": None,
        "location": f"{number} {street}",
        "deviceType": product.device_type,
        "model": product.model,
        "swVersion": "1.0.0",
        "fwVersion": "V100R001",
        "hwVersion": "HW1.0",
        "protocolType": "HTTP",
        "mute": "FALSE",
        "serialNumber": node_id,
        "signalStrength": -90 if activated else None,
        "batteryLevel": 50 if product.battery and activated else None,
    }
    return Device(
        device_id=generated_device_id(index),
        node_id=node_id,
        owner_app=app_id,
        status=status,
        status_detail="NONE" if activated else "NOT_ACTIVE",
        activated=activated,
        info=info,
        create_time=moment,
        last_modified_time=moment,
    )
