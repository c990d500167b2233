"""The swap form: what a technician types, validated with the same rules the services use."""

import re
from typing import Any

from django import forms
from django.contrib.auth.models import User

from devices.code_modes import code_mode_warning, default_verify_code_mode, requires_node_id_code
from devices.identifiers import InvalidNodeId, NodeId, detect_kind, node_search_key
from devices.limits import (
    DEFAULT_OFFLINE_WAIT_MINUTES,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_NODE_ID_LENGTH,
    MAX_REASON_LENGTH,
    MAX_TIMEOUT_SECONDS,
    MAX_VERIFY_CODE_LENGTH,
    MIN_TIMEOUT_SECONDS,
    OFFLINE_WAIT_PRESETS_MINUTES,
)
from devices.models import Chipset, Device, NodeIdKind, VerifyCodeMode
from devices.permissions import Perm

_MAC_LIKE = re.compile(
    r"^(?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2}$|^(?:[0-9a-f]{4}\.){2}[0-9a-f]{4}$", re.I
)
_BARE_IMEI = re.compile(r"^\d{15}$")


def guess_identifier(old_node_id: str) -> tuple[str, str]:
    """The kind and chipset a replacement most likely has, from the old unit's nodeId."""
    value = old_node_id.strip()
    if value.lower().startswith("urn:imei:"):
        return NodeIdKind.IMEI, Chipset.QUALCOMM
    if _BARE_IMEI.match(value):
        return NodeIdKind.IMEI, Chipset.HISILICON
    if _MAC_LIKE.match(value):
        return NodeIdKind.MAC, ""
    return NodeIdKind.SERIAL, ""


def _minutes_label(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minutes"


class SwapForm(forms.Form):
    kind = forms.ChoiceField(
        label="Kind of identifier",
        choices=NodeIdKind.choices,
        widget=forms.RadioSelect,
    )
    chipset = forms.ChoiceField(
        label="Chipset (IMEI only)",
        choices=Chipset.choices,
        widget=forms.RadioSelect,
        required=False,
        help_text="Qualcomm units use urn:imei:<IMEI>, HiSilicon units the bare IMEI.",
    )
    new_identifier = forms.CharField(
        label="New unit's identifier",
        max_length=MAX_NODE_ID_LENGTH,
        help_text="As printed on the new unit's label: IMEI, MAC address or serial number.",
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "off",
                "autocorrect": "off",
                "spellcheck": "false",
            }
        ),
    )
    confirm_same = forms.BooleanField(
        label="Yes, rebind the device to the identifier it already has",
        required=False,
    )
    verify_code_mode = forms.ChoiceField(
        label="verifyCode",
        choices=VerifyCodeMode.choices,
        initial=VerifyCodeMode.PLATFORM,
        widget=forms.RadioSelect,
    )
    code_mode_override = forms.BooleanField(
        label="I know this unit presents a verifyCode (it does not attach with its IMEI alone)",
        required=False,
    )
    custom_verify_code = forms.CharField(
        label="Custom verifyCode",
        required=False,
        max_length=MAX_VERIFY_CODE_LENGTH,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"}
        ),
    )
    timeout_seconds = forms.IntegerField(
        label="Validity (seconds)",
        initial=DEFAULT_TIMEOUT_SECONDS,
        min_value=MIN_TIMEOUT_SECONDS,
        max_value=MAX_TIMEOUT_SECONDS,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "step": "1"}),
    )
    reason = forms.CharField(
        label="Reason or ticket reference",
        required=False,
        max_length=MAX_REASON_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": "e.g. INC-20417, unit water-damaged"}),
    )

    # "Send it when the old unit goes offline" (shown when the device is online): the swap
    # waits (devices/services/offline.py) for as long as chosen.
    send_when_offline = forms.BooleanField(
        label="Send it when the old unit goes offline",
        required=False,
    )
    offline_wait_minutes = forms.TypedChoiceField(
        label="Wait at most",
        choices=[(m, _minutes_label(m)) for m in OFFLINE_WAIT_PRESETS_MINUTES],
        coerce=int,
        initial=DEFAULT_OFFLINE_WAIT_MINUTES,
        required=False,
        help_text="If the old unit is still online then, nothing is sent and the swap ends.",
    )

    def __init__(
        self,
        *args: Any,
        device: Device,
        user: User,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.device = device
        self.user = user
        self.may_issue_never_expiring = user.has_perm(Perm.ISSUE_NEVER_EXPIRING_CODE)
        kind, chipset = guess_identifier(device.node_id)
        self.fields["kind"].initial = kind
        self.fields["chipset"].initial = chipset or None
        self.fields["verify_code_mode"].initial = default_verify_code_mode(device)
        # NB-IoT units attach with their nodeId: another code needs the override box ticked.
        self.attaches_with_node_id = requires_node_id_code(device)
        timeout = self.fields["timeout_seconds"]
        if self.may_issue_never_expiring:
            timeout.help_text = (
                f"Default {DEFAULT_TIMEOUT_SECONDS}. "
                f"{MIN_TIMEOUT_SECONDS} means the code never expires."
            )
        else:
            timeout.widget.attrs["min"] = "1"
            timeout.help_text = f"Default {DEFAULT_TIMEOUT_SECONDS}."
        self.node_id: NodeId | None = None
        self.same_as_old = False
        self.kind_note = ""

    def clean_timeout_seconds(self) -> int:
        value = self.cleaned_data["timeout_seconds"]
        if value == MIN_TIMEOUT_SECONDS and not self.may_issue_never_expiring:
            raise forms.ValidationError(
                "Only users allowed to issue never-expiring codes may enter "
                f"{MIN_TIMEOUT_SECONDS}. Enter a validity in seconds "
                f"({DEFAULT_TIMEOUT_SECONDS} is the default)."
            )
        return value

    def offline_wait(self) -> int:
        """Minutes the swap may wait for the old unit to go offline; 0 = send it now."""
        if not self.cleaned_data.get("send_when_offline"):
            return 0
        return int(self.cleaned_data.get("offline_wait_minutes") or DEFAULT_OFFLINE_WAIT_MINUTES)

    def clean_custom_verify_code(self) -> str:
        return self.cleaned_data.get("custom_verify_code", "").strip()

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        kind = cleaned.get("kind")
        raw = cleaned.get("new_identifier")
        if kind and raw:
            result = parse_identifier(
                raw=str(raw), kind=str(kind), chipset=str(cleaned.get("chipset") or "")
            )
            if result.kind != kind:
                cleaned["kind"] = result.kind
                self.kind_note = result.note
                # The page shows the kind the identifier was read as.
                self.data = {**self.data, self.add_prefix("kind"): result.kind}
            if result.node_id is None:
                self.add_error(result.error_field, result.error)
            else:
                self.node_id = result.node_id
                self.same_as_old = is_same_as_old(result.node_id, self.device)
                if self.same_as_old and not cleaned.get("confirm_same"):
                    self.add_error("new_identifier", same_as_old_message(self.device))
        mode = cleaned.get("verify_code_mode")
        if mode == VerifyCodeMode.CUSTOM:
            if not cleaned.get("custom_verify_code"):
                self.add_error(
                    "custom_verify_code",
                    "Enter the custom verifyCode, or let the platform generate one.",
                )
        else:
            cleaned["custom_verify_code"] = ""
        warning = code_mode_warning(self.device, str(mode)) if mode else None
        if warning and not cleaned.get("code_mode_override"):
            self.add_error(
                "verify_code_mode",
                f"{warning} Choose “same as the nodeId”, or tick the box below if this unit "
                "presents a code.",
            )
        return cleaned


class ParsedIdentifier:
    """The outcome of parsing what was typed: a NodeId, or the field and message of the error.

    `kind` is the kind it was parsed as; when the input plainly was another kind than the one
    chosen, it differs from the chosen one and `note` says so to the person typing.
    """

    def __init__(
        self,
        node_id: NodeId | None = None,
        error_field: str = "",
        error: str = "",
        *,
        kind: str = "",
        note: str = "",
    ) -> None:
        self.node_id = node_id
        self.error_field = error_field
        self.error = error
        self.kind = kind
        self.note = note


_KIND_NOTES = {
    NodeIdKind.MAC: "This looks like a MAC address: kind set to MAC.",
    NodeIdKind.IMEI: "This looks like an IMEI: kind set to IMEI.",
}


def parse_identifier(*, raw: str, kind: str, chipset: str) -> ParsedIdentifier:
    note = ""
    # "Other" takes the identifier exactly as typed: the way to keep what looks like another kind.
    detected = None if kind == NodeIdKind.OTHER else detect_kind(raw[: 4 * MAX_NODE_ID_LENGTH])
    if detected is not None and detected != kind:
        kind, note = detected, _KIND_NOTES[NodeIdKind(detected)]
    if kind not in NodeIdKind.values:
        return ParsedIdentifier(error_field="kind", error="Choose the kind of identifier.")
    if kind == NodeIdKind.IMEI and chipset not in Chipset.values:
        return ParsedIdentifier(
            error_field="chipset",
            error="Choose the chipset of the new unit: Qualcomm units use urn:imei:<IMEI>, "
            "HiSilicon units the bare IMEI.",
            kind=kind,
            note=note,
        )
    try:
        node_id = NodeId.parse(raw, kind=kind, chipset=chipset)
    except InvalidNodeId as exc:
        return ParsedIdentifier(
            error_field="new_identifier", error=_message(exc), kind=kind, note=note
        )
    return ParsedIdentifier(node_id=node_id, kind=kind, note=note)


def is_same_as_old(node_id: NodeId, device: Device) -> bool:
    return node_search_key(node_id.value) == node_search_key(device.node_id)


def same_as_old_message(device: Device) -> str:
    return (
        f"This is the identifier the device already has ({device.node_id}). A replacement "
        "unit has its own identifier: check the label on the new unit. To rebind to the same "
        "identifier anyway, tick the box below."
    )


def _message(exc: InvalidNodeId) -> str:
    return exc.message
