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
IMEI_CHECK_DIGIT_MESSAGE = (
    "IMEI not valid: the check digit does not match: read the number again from the label."
)

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
# An IMEI as labels print it: digits grouped by spaces, hyphens or dots ("35.209210.123456.7").
_IMEI_GROUPED = re.compile(r"^[0-9]+([ .\-]+[0-9]+)+$")
# The software version some labels append to the IMEI ("353456789012345/01", IMEISV style).
_IMEI_SOFTWARE_VERSION = re.compile(r"\s*/\s*[0-9]{2}$")
# What a label prints before the identifier: "IMEI:", "IMEI ", "S/N:", "SN:", "MAC:".
_LABEL_PREFIX = re.compile(r"^(?:imei(?:\s*[:=#]\s*|\s+)|(?:s/n|sn|mac)\s*[:=#]\s*)", re.I)
_MAC_LABEL = re.compile(r"^mac\s*[:=#]", re.I)
_IMEI_LABEL = re.compile(r"^imei(?:\s*[:=#]|\s)", re.I)
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


def strip_label(raw: str) -> str:
    """What was typed or scanned without the label's caption ("IMEI:", "S/N:", "MAC: ")."""
    text = (raw or "").strip()
    return _LABEL_PREFIX.sub("", text, count=1).strip()


def _strip_imei_prefix(raw: str) -> str:
    text = strip_label(raw)
    if text.lower().startswith(IMEI_PREFIX):
        text = text[len(IMEI_PREFIX) :].strip()
    return _IMEI_SOFTWARE_VERSION.sub("", text)


def _imei_digits(raw: str) -> str:
    """The IMEI as typed from a label, without caption, urn:imei:, version suffix or grouping."""
    text = _strip_imei_prefix(raw)
    if _IMEI_GROUPED.match(text):
        text = re.sub(r"[ .\-]", "", text)
    return text


def _is_full_mac(text: str) -> bool:
    return any(form.match(text.strip().lower()) for form in _MAC_FORMS)


def detect_kind(raw: str) -> str | None:
    """The kind the input plainly is, whatever kind was chosen: a MAC or an IMEI; else None.

    An IMEI: 15 digits with a matching check digit (after caption, urn:imei:, grouping and a
    /NN suffix are taken off) or anything captioned "IMEI". A MAC: one of the separated
    notations, or anything captioned "MAC:". Twelve bare hex digits stay as chosen: a serial
    number can look the same.
    """
    text = (raw or "").strip()
    if _MAC_LABEL.match(text):
        return NodeIdKind.MAC
    if _IMEI_LABEL.match(text) or text.lower().startswith(IMEI_PREFIX):
        return NodeIdKind.IMEI
    bare = strip_label(text)
    if _is_full_mac(bare) and not re.fullmatch(r"[0-9a-fA-F]{12}", bare):
        return NodeIdKind.MAC
    digits = _imei_digits(bare)
    if len(digits) == IMEI_LENGTH and digits.isascii() and digits.isdigit():
        if int(digits[-1]) == luhn_check_digit(digits[:-1]):
            return NodeIdKind.IMEI
    return None


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
        text = _imei_digits(imei)
        if not text:
            raise InvalidNodeId("Enter the IMEI (15 digits).")
        bad = next((c for c in text if not c.isascii() or not c.isdigit()), None)
        if bad is not None:
            raise InvalidNodeId(f"An IMEI has only digits; {bad!r} is not a digit.")
        if len(text) != IMEI_LENGTH:
            raise InvalidNodeId(f"An IMEI has {IMEI_LENGTH} digits; you typed {len(text)}.")
        # Never say which digit would match: a guessed digit would pass for a misread number.
        if int(text[-1]) != luhn_check_digit(text[:-1]):
            raise InvalidNodeId(IMEI_CHECK_DIGIT_MESSAGE)
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
        text = strip_label(mac).lower()
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
        # The label's caption ("S/N: ") goes first: the space after it is the label's, not the
        # serial's; what remains must be printable ASCII.
        text = _check_plain_text(strip_label(serial) or serial, "serial number")
        return cls(value=text, kind=NodeIdKind.SERIAL)

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
