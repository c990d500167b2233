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
    VALIDITY_PRESET_MINUTES,
)
from devices.models import Chipset, Device, NodeIdKind, VerifyCodeMode
from devices.permissions import Perm

_MAC_LIKE = re.compile(
    r"^(?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2}$|^(?:[0-9a-f]{4}\.){2}[0-9a-f]{4}$", re.I
)
_BARE_IMEI = re.compile(r"^\d{15}$")


# What each choice reads as in the form's one-line summary ("IMEI · HiSilicon · code from the
# platform · valid 3 min"); static/js/app.js composes the same line from these data attributes.
KIND_WORDS: dict[str, tuple[str, str]] = {
    NodeIdKind.IMEI: ("IMEI", "IMEI"),
    NodeIdKind.MAC: ("MAC address", "MAC address"),
    NodeIdKind.SERIAL: ("Serial number", "serial number"),
    NodeIdKind.OTHER: ("Other identifier, as typed", "identifier"),
}  # value -> (summary, noun in "code same as the <noun>")
CHIPSET_WORDS: dict[str, str] = {
    Chipset.QUALCOMM: "Qualcomm",
    Chipset.HISILICON: "HiSilicon",
    Chipset.OTHER: "other chip maker",
}
CHIPSET_UNKNOWN = "chip maker not known: choose it"
MODE_WORDS: dict[str, str] = {
    VerifyCodeMode.PLATFORM: "new code from the platform",
    VerifyCodeMode.SAME_AS_NODE_ID: "code same as the {noun}",
    VerifyCodeMode.CUSTOM: "your own code",
}
# Plain-word choices; the model's labels (audit, exports, admin) stay as they are.
KIND_CHOICES = [
    (NodeIdKind.IMEI, "IMEI"),
    (NodeIdKind.MAC, "MAC address"),
    (NodeIdKind.SERIAL, "Serial number"),
    (NodeIdKind.OTHER, "Other"),
]
CHIPSET_CHOICES = [
    (Chipset.QUALCOMM, "Qualcomm: urn:imei:35…"),
    (Chipset.HISILICON, "HiSilicon: digits only"),
    (Chipset.OTHER, "Other: digits only"),
]
MODE_CHOICES = [
    (VerifyCodeMode.PLATFORM, "A new code from the platform"),
    (VerifyCodeMode.SAME_AS_NODE_ID, "The code is the unit's own identifier"),
    (VerifyCodeMode.CUSTOM, "A code I choose"),
]
VALIDITY_OTHER = "other"
VALIDITY_NEVER = "never"
MAX_VALIDITY_MINUTES = MAX_TIMEOUT_SECONDS // 60  # the platform's limit is in seconds
DEFAULT_VALIDITY_MINUTES = max(1, DEFAULT_TIMEOUT_SECONDS // 60)
# "Never expires" is shown only to those who may (the template); posted by anyone else, it gets
# its own message rather than "not one of the available choices".
VALIDITY_CHOICES = [
    *((str(m), f"{m} min") for m in sorted({DEFAULT_VALIDITY_MINUTES, *VALIDITY_PRESET_MINUTES})),
    (VALIDITY_OTHER, "Other"),
    (VALIDITY_NEVER, "Never expires"),
]


def validity_summary(minutes: int | None) -> str:
    if minutes == 0:
        return "never expires"
    if minutes is None:
        return "validity not chosen"
    return f"valid {minutes} min"


class SummarisedRadioSelect(forms.RadioSelect):
    """Radio buttons whose options carry data attributes (the words of the form's summary)."""

    def __init__(self, *args: Any, option_attrs: dict[str, dict[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.option_attrs = option_attrs

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        option["attrs"] = {**option["attrs"], **self.option_attrs.get(str(option["value"]), {})}
        return option


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
    """The swap request. Kind, chipset and verifyCode mode are inferred (from the old nodeId and
    the device's protocol; the preview follows the typed identifier) and shown as a one-line
    summary; the validity is chosen in minutes and sent to the platform in seconds."""

    new_identifier = forms.CharField(
        label="New unit's identifier",
        max_length=MAX_NODE_ID_LENGTH,
        help_text="IMEI, MAC or serial number, as on the label.",
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
    kind = forms.ChoiceField(
        label="Kind of identifier",
        choices=KIND_CHOICES,
        widget=SummarisedRadioSelect(
            option_attrs={
                str(value): {"data-summary": summary, "data-noun": noun}
                for value, (summary, noun) in KIND_WORDS.items()
            }
        ),
    )
    chipset = forms.ChoiceField(
        label="How the IMEI is written",
        choices=CHIPSET_CHOICES,
        widget=SummarisedRadioSelect(
            option_attrs={str(v): {"data-summary": w} for v, w in CHIPSET_WORDS.items()}
        ),
        required=False,
        help_text="It depends on who made the chip inside the unit: the old unit's nodeId "
        "shows which (urn:imei:… for Qualcomm, only the digits for HiSilicon).",
    )
    verify_code_mode = forms.ChoiceField(
        label="Code the new unit joins with (verifyCode)",
        choices=MODE_CHOICES,
        initial=VerifyCodeMode.PLATFORM,
        widget=SummarisedRadioSelect(
            option_attrs={str(v): {"data-summary": w} for v, w in MODE_WORDS.items()}
        ),
    )
    code_mode_override = forms.BooleanField(
        label="I know this unit asks for a code (it does not connect with its IMEI alone)",
        required=False,
    )
    custom_verify_code = forms.CharField(
        label="Your code",
        required=False,
        max_length=MAX_VERIFY_CODE_LENGTH,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"}
        ),
    )
    validity = forms.ChoiceField(
        label="The code is valid for",
        choices=VALIDITY_CHOICES,
        initial=str(DEFAULT_VALIDITY_MINUTES),
        widget=forms.RadioSelect,
    )
    validity_minutes = forms.IntegerField(
        label="Minutes",
        required=False,
        min_value=1,
        max_value=MAX_VALIDITY_MINUTES,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "step": "1"}),
        error_messages={
            "min_value": "Enter at least 1 minute.",
            "max_value": f"Enter at most {MAX_VALIDITY_MINUTES:,} minutes: the platform keeps "
            "a code for at most about 68 years.",
            "invalid": "Enter the minutes as a whole number, such as 45.",
        },
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

    reason = forms.CharField(
        label="Reason or ticket reference",
        required=False,
        max_length=MAX_REASON_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": "e.g. INC-20417, unit water-damaged"}),
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
        self.default_validity_minutes = DEFAULT_VALIDITY_MINUTES
        self.chipset_unknown = CHIPSET_UNKNOWN
        self.node_id: NodeId | None = None
        self.same_as_old = False
        self.kind_note = ""

    # --- what the summary line shows -------------------------------------------------------

    def _current(self, name: str) -> str:
        """The chosen value of a field as the page shows it (posted, else initial)."""
        value = self[name].value()
        return "" if value is None else str(value)

    def chosen_minutes(self) -> int | None:
        choice = self._current("validity")
        if choice == VALIDITY_NEVER:
            return 0
        if choice == VALIDITY_OTHER:
            minutes = self._current("validity_minutes").strip()
            return int(minutes) if minutes.isdigit() and int(minutes) > 0 else None
        return int(choice) if choice.isdigit() else None

    def choices_summary(self) -> str:
        """ "IMEI · HiSilicon · code same as the IMEI · valid 3 min": the inferred choices."""
        kind = self._current("kind")
        summary, noun = KIND_WORDS.get(kind, ("kind not chosen", "identifier"))
        parts = [summary]
        if kind == NodeIdKind.IMEI:
            parts.append(CHIPSET_WORDS.get(self._current("chipset"), CHIPSET_UNKNOWN))
        mode = MODE_WORDS.get(self._current("verify_code_mode"), "code not chosen")
        parts.append(mode.replace("{noun}", noun))
        parts.append(validity_summary(self.chosen_minutes()))
        return " · ".join(parts)

    CHOICE_FIELDS = (
        "kind",
        "chipset",
        "verify_code_mode",
        "code_mode_override",
        "custom_verify_code",
        "validity",
        "validity_minutes",
    )

    def choices_need_attention(self) -> bool:
        """Open the choices when one of them has an error or the chip maker is unknown."""
        if any(self.errors.get(name) for name in self.CHOICE_FIELDS):
            return True
        return self._current("kind") == NodeIdKind.IMEI and not self._current("chipset")

    # --- validation -----------------------------------------------------------------------

    def offline_wait(self) -> int:
        """Minutes the swap may wait for the old unit to go offline; 0 = send it now."""
        if not self.cleaned_data.get("send_when_offline"):
            return 0
        return int(self.cleaned_data.get("offline_wait_minutes") or DEFAULT_OFFLINE_WAIT_MINUTES)

    def clean_custom_verify_code(self) -> str:
        return self.cleaned_data.get("custom_verify_code", "").strip()

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        self._clean_validity(cleaned)
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
                    "Enter your code, or let the platform make a new one.",
                )
        else:
            cleaned["custom_verify_code"] = ""
        warning = code_mode_warning(self.device, str(mode)) if mode else None
        if warning and not cleaned.get("code_mode_override"):
            self.add_error(
                "verify_code_mode",
                f"{warning} Choose “The code is the unit's own identifier”, or tick the box "
                "below if this unit asks for a code.",
            )
        return cleaned

    def _clean_validity(self, cleaned: dict[str, object]) -> None:
        """Minutes in the form, seconds on the wire: cleaned_data["timeout_seconds"]."""
        choice = cleaned.get("validity")
        if not choice:
            return  # the field's own "required" error
        if choice == VALIDITY_NEVER:
            if not self.may_issue_never_expiring:
                self.add_error(
                    "validity",
                    "Only users allowed to issue never-expiring codes may choose “Never "
                    f"expires”. Choose a number of minutes ({DEFAULT_VALIDITY_MINUTES} is usual).",
                )
                return
            cleaned["timeout_seconds"] = MIN_TIMEOUT_SECONDS
            return
        if choice == VALIDITY_OTHER:
            minutes = cleaned.get("validity_minutes")
            if minutes is None:
                if not self.errors.get("validity_minutes"):
                    self.add_error(
                        "validity_minutes",
                        "Enter how many minutes the code stays valid, or choose one of the "
                        "times above.",
                    )
                return
        else:
            minutes = int(str(choice))
        cleaned["timeout_seconds"] = int(str(minutes)) * 60


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
            error="Choose how the IMEI is written (it depends on who made the chip inside the "
            "unit): Qualcomm units use urn:imei:35…, HiSilicon units only the digits.",
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
