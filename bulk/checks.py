"""The dry run: every line of a bulk file checked with the swap form's rules, nothing written.

The rules themselves live in the swap core (devices.identifiers, devices.services.checks,
devices.selectors); this module finds each line's device and adds what only a file can get
wrong: the same device or the same new nodeId twice. The live "is it online" check costs a
platform call per row, so it happens when the row is sent (the platform answers 100611).

Queries are per chunk of _QUERY_CHUNK lines, never per line: the devices the file names, then
the swap core's rules (devices.services.checks: device_refusal, open_swap_refusal,
node_id_in_use_refusal, mirrored_device_refusal) on facts fetched for the whole chunk, in the
same order and with the same verdicts as swap_precheck(live_check=False).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Q

from bulk.csv_parsing import CsvLine
from devices.code_modes import default_verify_code_mode
from devices.identifiers import InvalidNodeId, NodeId, node_search_key
from devices.limits import DEFAULT_TIMEOUT_SECONDS, MAX_REASON_LENGTH
from devices.models import OPEN_SWAP_STATES, Chipset, Device, NodeIdKind, Swap, VerifyCodeMode
from devices.services.checks import (
    SwapRefused,
    check_code_mode_for_device,
    device_refusal,
    mirrored_device_refusal,
    node_id_holder,
    node_id_in_use_refusal,
    node_id_pending_swap,
    open_swap_refusal,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# The swap's reason holds the ticket and " (bulk #<batch> line <line>)", within the reason's limit.
BULK_REFERENCE_ROOM = 50
MAX_TICKET_LENGTH = MAX_REASON_LENGTH - BULK_REFERENCE_ROOM
BULK_VERIFY_CODE_MODES = (VerifyCodeMode.PLATFORM, VerifyCodeMode.SAME_AS_NODE_ID)
# "platform_override": a generated code even for a device that attaches with its nodeId (NB-IoT).
OVERRIDE_SUFFIX = "_override"
# A row's validity_minutes: empty for the default validity, else whole minutes in this range.
MIN_VALIDITY_MINUTES = 1
MAX_VALIDITY_MINUTES = 1440
DEFAULT_VALIDITY_MINUTES = DEFAULT_TIMEOUT_SECONDS // 60
BULK_MODE_VALUES = (
    "same_as_node_id, platform or platform_override (or leave it empty for the device's default)"
)


def bulk_code_mode(value: str) -> tuple[str, bool]:
    """A row's verify_code_mode as stored -> (the swap's mode, whether it is an override)."""
    if value.endswith(OVERRIDE_SUFFIX):
        return value.removesuffix(OVERRIDE_SUFFIX), True
    return value, False


# Lines per query; each query carries at most two values per line (within every database's
# limit on parameters).
_QUERY_CHUNK = 1000


@dataclass
class RowVerdict:
    """A line after the dry run: what would be sent, or why it cannot be."""

    source: CsvLine
    kind: str = ""
    chipset: str = ""
    verify_code_mode: str = ""
    validity_minutes: int | None = None  # None: the default validity
    device: Device | None = None
    node_id: NodeId | None = None
    error_code: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return not self.message

    def refuse(self, code: str, message: str) -> None:
        if self.ok:
            self.error_code = code
            self.message = message


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), _QUERY_CHUNK):
        yield values[start : start + _QUERY_CHUNK]


class DeviceIndex:
    """The mirror's devices the file names, by deviceId and by normalised nodeId (few queries)."""

    def __init__(self, refs: Iterable[str]) -> None:
        refs = sorted({r for r in refs if r})
        keys = sorted({node_search_key(r) for r in refs} - {""})
        self.by_device_id: dict[str, Device] = {}
        self.by_node_key: dict[str, list[Device]] = defaultdict(list)
        for chunk in _chunks(refs):
            for device in Device.objects.filter(device_id__in=chunk):
                self.by_device_id[device.device_id] = device
        for chunk in _chunks(keys):
            for device in Device.objects.filter(
                node_key__in=chunk, deleted_on_platform_at__isnull=True
            ).order_by("id"):
                self.by_node_key[device.node_key].append(device)

    def find(self, ref: str) -> tuple[Device | None, str]:
        """The device a line names, or None and why not."""
        if ref in self.by_device_id:
            return self.by_device_id[ref], ""
        matches = self.by_node_key.get(node_search_key(ref), [])
        if len(matches) == 1:
            return matches[0], ""
        if len(matches) > 1:
            ids = ", ".join(d.device_id for d in matches[:3])
            return None, (
                f"{len(matches)} devices have the nodeId {ref} ({ids}); use the deviceId instead."
            )
        return None, (
            f"No device with deviceId or nodeId {ref} in the device list. Check it, or sync the "
            "devices if it was registered recently."
        )


def _parse_fields(verdict: RowVerdict) -> None:
    line = verdict.source
    if line.problem:
        verdict.refuse("invalid_line", line.problem)
        return
    if not line.device:
        verdict.refuse("missing_device", "The device column is empty: give a deviceId or nodeId.")
    kind = line.kind.strip().lower()
    chipset = line.chipset.strip().lower()
    # Empty: the device's default, set once the device is known (_check_swap_rules).
    value = line.verify_code_mode.strip().lower()
    mode, _override = bulk_code_mode(value)
    verdict.kind, verdict.chipset, verdict.verify_code_mode = kind, chipset, value
    if kind not in NodeIdKind.values:
        verdict.refuse(
            "invalid_kind",
            f"Unknown kind {line.kind!r}: use one of {', '.join(NodeIdKind.values)}.",
        )
    elif chipset and chipset not in Chipset.values:
        verdict.refuse(
            "invalid_chipset",
            f"Unknown chipset {line.chipset!r}: use one of {', '.join(Chipset.values)}.",
        )
    else:
        try:
            verdict.node_id = NodeId.parse(line.new_node_id, kind, chipset)
        except InvalidNodeId as exc:
            verdict.refuse("invalid_node_id", exc.message)
    if mode == VerifyCodeMode.CUSTOM:
        verdict.refuse(
            "custom_code_refused",
            "Custom verifyCodes are not accepted in a bulk file (the file would hold them in "
            f"plain text). Use {BULK_MODE_VALUES}, or the single-swap form for a custom code.",
        )
    elif value and (
        mode not in BULK_VERIFY_CODE_MODES or (_override and mode != VerifyCodeMode.PLATFORM)
    ):
        verdict.refuse(
            "invalid_mode",
            f"Unknown verify_code_mode {line.verify_code_mode!r}: use {BULK_MODE_VALUES}.",
        )
    _parse_validity(verdict)
    if len(line.ticket) > MAX_TICKET_LENGTH:
        verdict.refuse(
            "invalid_ticket",
            f"The ticket has at most {MAX_TICKET_LENGTH} characters; this one has "
            f"{len(line.ticket)}.",
        )


def _parse_validity(verdict: RowVerdict) -> None:
    value = verdict.source.validity_minutes.strip()
    if not value:
        return
    minutes = int(value) if value.isascii() and value.isdigit() else 0
    if not MIN_VALIDITY_MINUTES <= minutes <= MAX_VALIDITY_MINUTES:
        verdict.refuse(
            "invalid_validity",
            f"validity_minutes {value!r} is not a whole number of minutes from "
            f"{MIN_VALIDITY_MINUTES} to {MAX_VALIDITY_MINUTES}; leave it empty for "
            f"{DEFAULT_VALIDITY_MINUTES} minutes.",
        )
        return
    verdict.validity_minutes = minutes


def _mark_duplicates(verdicts: list[RowVerdict]) -> None:
    """The same device, or the same new nodeId, on several lines: none of them is sent."""
    by_device: dict[int, list[RowVerdict]] = defaultdict(list)
    by_node: dict[str, list[RowVerdict]] = defaultdict(list)
    for verdict in verdicts:
        if verdict.device is not None:
            by_device[verdict.device.pk].append(verdict)
        if verdict.node_id is not None:
            by_node[verdict.node_id.search_key].append(verdict)
    for group in by_device.values():
        if len(group) > 1:
            lines = ", ".join(str(v.source.line) for v in group)
            for verdict in group:
                verdict.refuse(
                    "duplicate_device",
                    f"The device appears on lines {lines} of this file; keep one line per device.",
                )
    for group in by_node.values():
        if len(group) > 1:
            lines = ", ".join(str(v.source.line) for v in group)
            for verdict in group:
                verdict.refuse(
                    "duplicate_node_id",
                    f"The new nodeId {group[0].node_id} appears on lines {lines} of this file; "
                    "each new unit can replace one device only.",
                )


def _check_swap_rules(verdicts: list[RowVerdict], *, actor: User) -> None:
    """The swap core's checks for lines whose device and nodeId are known: three queries per
    chunk (open swaps of its devices, devices holding its nodeIds, open swaps awaiting them)."""
    for chunk in _chunks(verdicts):
        device_ids = {v.device.pk for v in chunk if v.device is not None}
        values = {v.node_id.value for v in chunk if v.node_id is not None}
        keys = {node_search_key(value) for value in values}
        open_swaps: dict[int, Swap] = {}
        for swap in Swap.objects.filter(
            device_id__in=device_ids, state__in=OPEN_SWAP_STATES
        ).select_related("requested_by"):
            open_swaps.setdefault(swap.device_id, swap)  # Swap's ordering: newest first
        holders = list(Device.objects.filter(Q(node_id__in=values) | Q(node_key__in=keys)))
        pending = list(
            Swap.objects.filter(state__in=OPEN_SWAP_STATES, new_node_id__in=values).select_related(
                "device"
            )
        )
        for verdict in chunk:
            refusal = _refusal(
                verdict, open_swaps=open_swaps, holders=holders, pending=pending, actor=actor
            )
            if refusal is not None:
                verdict.refuse(refusal.code, refusal.message)


def _refusal(
    verdict: RowVerdict,
    *,
    open_swaps: dict[int, Swap],
    holders: list[Device],
    pending: list[Swap],
    actor: User,
) -> SwapRefused | None:
    """swap_precheck(live_check=False) for one line, on the chunk's facts (no query)."""
    device, node_id = verdict.device, verdict.node_id
    assert device is not None and node_id is not None
    if not verdict.verify_code_mode:
        verdict.verify_code_mode = default_verify_code_mode(device).value
    mode, override = bulk_code_mode(verdict.verify_code_mode)
    try:
        check_code_mode_for_device(
            device=device, verify_code_mode=mode, code_mode_override=override
        )
    except SwapRefused as exc:
        return exc
    refusal = device_refusal(device=device, new_node_id=node_id)
    if refusal is not None:
        return refusal
    existing = open_swaps.get(device.pk)
    if existing is not None:
        return open_swap_refusal(existing=existing, actor=actor)
    holder = node_id_holder(device=device, new_node_id=node_id, candidates=holders)
    awaiting = None
    if holder is None:
        awaiting = node_id_pending_swap(device=device, new_node_id=node_id, candidates=pending)
    refusal = node_id_in_use_refusal(new_node_id=node_id, holder=holder, pending=awaiting)
    if refusal is not None:
        return refusal
    return mirrored_device_refusal(device=device)


def check_bulk_lines(lines: list[CsvLine], *, actor: User) -> list[RowVerdict]:
    """The dry run over every line, in file order. Reads only."""
    verdicts = [RowVerdict(source=line) for line in lines]
    for verdict in verdicts:
        _parse_fields(verdict)
    index = DeviceIndex(v.source.device for v in verdicts if not v.source.problem)
    for verdict in verdicts:
        if verdict.source.problem or not verdict.source.device:
            continue
        device, why_not = index.find(verdict.source.device)
        verdict.device = device
        if device is None:
            verdict.refuse("unknown_device", why_not)
    _mark_duplicates(verdicts)
    _check_swap_rules([v for v in verdicts if v.ok], actor=actor)
    return verdicts
