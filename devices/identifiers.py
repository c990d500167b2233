"""NodeId value objects: the identifier a replacement unit presents to the platform.

IMEIs are checked (15 digits, Luhn) and formatted for the chipset (Qualcomm `urn:imei:<IMEI>`,
HiSilicon the bare IMEI); MAC addresses are normalised to `AA:BB:CC:DD:EE:FF`; serials and other
identifiers are taken as typed, trimmed. `node_search_key` is the normalised form used for
`Device.node_key` and for the search box.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from devices.limits import MAX_NODE_ID_LENGTH
from devices.models import Chipset, NodeIdKind

IMEI_PREFIX = "urn:imei:"
IMEI_LENGTH = 15

_MAC_FORMS = (
    re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"),  # aa:bb:cc:dd:ee:ff
    re.compile(r"^[0-9a-f]{2}(-[0-9a-f]{2}){5}$"),  # aa-bb-cc-dd-ee-ff
    re.compile(r"^[0-9a-f]{4}(\.[0-9a-f]{4}){2}$"),  # aabb.ccdd.eeff (Cisco)
    re.compile(r"^[0-9a-f]{12}$"),  # aabbccddeeff
)
# Partial MACs typed into the search box (aa:bb:c, aabb.cc) lose their separators too.
_PARTIAL_MAC = re.compile(
    r"^[0-9a-f]{1,2}([:-][0-9a-f]{1,2})*[:-]?$|^[0-9a-f]{1,4}(\.[0-9a-f]{1,4})*\.?$"
)
# Digits grouped with spaces or hyphens, as IMEIs are printed on labels.
_GROUPED_DIGITS = re.compile(r"^[0-9]+([ -][0-9]+)+$")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# Serials and other nodeIds: printable ASCII without spaces, so no right-to-left override,
# zero-width or look-alike character can make two nodeIds read the same.
_PRINTABLE_ASCII = re.compile(r"^[\x21-\x7e]+$")


class InvalidNodeId(ValueError):
    """The identifier cannot be used; `message` is written for the person who typed it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def luhn_check_digit(body: str) -> int:
    """The Luhn check digit for a string of digits (the IMEI without its last digit)."""
    total = 0
    # From the right, every second digit of the body (starting with the rightmost) is doubled.
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def _strip_imei_prefix(raw: str) -> str:
    text = raw.strip()
    if text.lower().startswith(IMEI_PREFIX):
        text = text[len(IMEI_PREFIX) :].strip()
    return text


def _check_plain_text(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidNodeId(f"Enter the {what}.")
    if len(value) > MAX_NODE_ID_LENGTH:
        raise InvalidNodeId(
            f"A nodeId has at most {MAX_NODE_ID_LENGTH} characters; this one has {len(value)}."
        )
    if _CONTROL_CHARS.search(value):
        raise InvalidNodeId(f"The {what} contains control characters (tabs, line breaks).")
    if not _PRINTABLE_ASCII.match(value):
        bad = next(c for c in value if not "\x21" <= c <= "\x7e")
        shown = "a space" if bad == " " else f"U+{ord(bad):04X}"
        raise InvalidNodeId(
            f"The {what} may only use printable ASCII: letters, digits and punctuation such as "
            f"- _ . : / (no spaces or special characters); {shown} is not allowed."
        )
    return value


@dataclass(frozen=True)
class NodeId:
    """A validated nodeId, in the exact form the platform expects, with how it was typed."""

    value: str
    kind: str
    chipset: str = ""

    def __str__(self) -> str:
        return self.value

    @property
    def search_key(self) -> str:
        return node_search_key(self.value)

    @classmethod
    def from_imei(cls, imei: str, *, chipset: str) -> NodeId:
        text = _strip_imei_prefix(imei)
        if _GROUPED_DIGITS.match(text):
            text = re.sub(r"[ -]", "", text)
        if not text:
            raise InvalidNodeId("Enter the IMEI (15 digits).")
        bad = next((c for c in text if not c.isascii() or not c.isdigit()), None)
        if bad is not None:
            raise InvalidNodeId(f"An IMEI has only digits; {bad!r} is not a digit.")
        if len(text) != IMEI_LENGTH:
            raise InvalidNodeId(f"An IMEI has {IMEI_LENGTH} digits; you typed {len(text)}.")
        expected = luhn_check_digit(text[:-1])
        if int(text[-1]) != expected:
            raise InvalidNodeId(
                f"IMEI check digit is wrong: the last digit should be {expected} for "
                f"{text[:-1]}… Check the IMEI on the unit's label."
            )
        if chipset == Chipset.QUALCOMM:
            return cls(value=IMEI_PREFIX + text, kind=NodeIdKind.IMEI, chipset=Chipset.QUALCOMM)
        if chipset in (Chipset.HISILICON, Chipset.OTHER):
            return cls(value=text, kind=NodeIdKind.IMEI, chipset=Chipset(chipset))
        raise InvalidNodeId(
            "Choose the chipset of the new unit: Qualcomm uses urn:imei:<IMEI>, "
            "HiSilicon the bare IMEI."
        )

    @classmethod
    def from_mac(cls, mac: str) -> NodeId:
        text = mac.strip().lower()
        if not any(form.match(text) for form in _MAC_FORMS):
            raise InvalidNodeId(
                "A MAC address has 12 hexadecimal digits, written like AA:BB:CC:DD:EE:FF, "
                "aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff or aabbccddeeff."
            )
        digits = re.sub(r"[^0-9a-f]", "", text).upper()
        canonical = ":".join(digits[i : i + 2] for i in range(0, 12, 2))
        return cls(value=canonical, kind=NodeIdKind.MAC)

    @classmethod
    def from_serial(cls, serial: str) -> NodeId:
        return cls(value=_check_plain_text(serial, "serial number"), kind=NodeIdKind.SERIAL)

    @classmethod
    def from_other(cls, value: str) -> NodeId:
        return cls(value=_check_plain_text(value, "identifier"), kind=NodeIdKind.OTHER)

    @classmethod
    def parse(cls, raw: str, kind: str, chipset: str = "") -> NodeId:
        """Validate what a user typed for the given kind (and, for an IMEI, chipset)."""
        raw = raw or ""
        if len(raw) > 4 * MAX_NODE_ID_LENGTH:
            raise InvalidNodeId(f"A nodeId has at most {MAX_NODE_ID_LENGTH} characters.")
        if kind == NodeIdKind.IMEI:
            return cls.from_imei(raw, chipset=chipset)
        if kind == NodeIdKind.MAC:
            return cls.from_mac(raw)
        if kind == NodeIdKind.SERIAL:
            return cls.from_serial(raw)
        if kind == NodeIdKind.OTHER:
            return cls.from_other(raw)
        raise InvalidNodeId("Choose what kind of identifier this is: IMEI, MAC, serial or other.")


def node_search_key(raw: str) -> str:
    """Normalised nodeId for storage in Device.node_key and for matching search input.

    Lower-case, without `urn:imei:`, MAC (also partial) without separators, IMEI digits without
    the spaces or hyphens of a printed label. The same function on both sides keeps them equal.
    """
    text = (raw or "").strip().lower()
    if text.startswith(IMEI_PREFIX):
        text = text[len(IMEI_PREFIX) :].strip()
    if _PARTIAL_MAC.match(text) or _GROUPED_DIGITS.match(text):
        text = re.sub(r"[:.\- ]", "", text)
    return text[:MAX_NODE_ID_LENGTH]
