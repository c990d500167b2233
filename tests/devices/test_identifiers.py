import pytest

from devices.identifiers import (
    InvalidNodeId,
    NodeId,
    detect_kind,
    luhn_check_digit,
    node_search_key,
)
from devices.models import Chipset, NodeIdKind

IMEI = "862177041314827"


def test_luhn_check_digit_of_a_known_imei():
    assert luhn_check_digit(IMEI[:-1]) == 7


def test_qualcomm_imei_gets_the_urn_prefix():
    node_id = NodeId.from_imei(IMEI, chipset=Chipset.QUALCOMM)
    assert node_id == NodeId(value=f"urn:imei:{IMEI}", kind=NodeIdKind.IMEI, chipset="qualcomm")


def test_hisilicon_imei_is_bare():
    assert NodeId.from_imei(IMEI, chipset=Chipset.HISILICON).value == IMEI


@pytest.mark.parametrize(
    "typed", [f"urn:imei:{IMEI}", f"URN:IMEI:{IMEI}", f" {IMEI} ", "86-217704-131482-7"]
)
def test_imei_typed_with_prefix_or_label_grouping_is_accepted(typed):
    assert NodeId.parse(typed, NodeIdKind.IMEI, Chipset.HISILICON).value == IMEI


def test_imei_with_wrong_check_digit_says_to_read_the_label_again_without_the_digit():
    with pytest.raises(InvalidNodeId) as info:
        NodeId.parse("862177041314820", NodeIdKind.IMEI, Chipset.QUALCOMM)
    message = info.value.message
    assert "the check digit does not match: read the number again from the label" in message
    assert "7" not in message  # the digit that would match is never given away
    assert "86217704131482" not in message


def test_imei_too_short_says_how_many_digits_were_typed():
    with pytest.raises(InvalidNodeId) as info:
        NodeId.parse("86217704131482", NodeIdKind.IMEI, Chipset.QUALCOMM)
    assert info.value.message == "An IMEI has 15 digits; you typed 14."


def test_imei_with_a_letter_is_refused():
    with pytest.raises(InvalidNodeId, match="'A' is not a digit"):
        NodeId.parse("86217704131482A", NodeIdKind.IMEI, Chipset.QUALCOMM)


def test_imei_needs_a_chipset():
    with pytest.raises(InvalidNodeId, match="Choose the chipset"):
        NodeId.parse(IMEI, NodeIdKind.IMEI, "")


@pytest.mark.parametrize(
    "typed",
    [
        "aa:bb:cc:dd:ee:0f",
        "AA-BB-CC-DD-EE-0F",
        "aabb.ccdd.ee0f",
        "AABBCCDDEE0F",
        " aa:bb:cc:dd:ee:0f ",
    ],
)
def test_mac_in_any_common_notation_becomes_upper_case_colons(typed):
    assert NodeId.parse(typed, NodeIdKind.MAC).value == "AA:BB:CC:DD:EE:0F"


@pytest.mark.parametrize("typed", ["aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:gg", "aa:bb-cc:dd:ee:ff", ""])
def test_malformed_mac_is_refused_with_the_accepted_forms(typed):
    with pytest.raises(InvalidNodeId, match="12 hexadecimal digits"):
        NodeId.parse(typed, NodeIdKind.MAC)


def test_serial_is_trimmed_and_kept_as_typed():
    assert NodeId.parse("  SN-0042-ab ", NodeIdKind.SERIAL) == NodeId(
        "SN-0042-ab", NodeIdKind.SERIAL
    )


def test_node_id_longer_than_256_characters_is_refused():
    with pytest.raises(InvalidNodeId, match="at most 256 characters; this one has 257"):
        NodeId.parse("x" * 257, NodeIdKind.OTHER)


def test_empty_or_control_characters_are_refused():
    with pytest.raises(InvalidNodeId, match="Enter the serial number"):
        NodeId.parse("   ", NodeIdKind.SERIAL)
    with pytest.raises(InvalidNodeId, match="control characters"):
        NodeId.parse("abc\ndef", NodeIdKind.OTHER)


def test_unknown_kind_is_refused():
    with pytest.raises(InvalidNodeId, match="IMEI, MAC, serial or other"):
        NodeId.parse("abc", "phone")


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (f"urn:imei:{IMEI}", IMEI),
        (IMEI, IMEI),
        ("AA:BB:CC:DD:EE:0F", "aabbccddee0f"),
        ("aabb.ccdd.ee0f", "aabbccddee0f"),
        ("aa-bb-cc", "aabbcc"),
        ("Sensor-12", "sensor-12"),
    ],
)
def test_search_key_normalises_both_stored_and_typed_node_ids(raw, key):
    assert node_search_key(raw) == key


@pytest.mark.django_db
def test_device_save_keeps_node_key_in_step_with_node_id():
    from tests.factories import DeviceFactory

    device = DeviceFactory(node_id=f"urn:imei:{IMEI}")
    assert device.node_key == IMEI
    device.node_id = "AA:BB:CC:DD:EE:0F"
    device.save(update_fields=["node_id"])
    device.refresh_from_db()
    assert device.node_key == "aabbccddee0f"


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("SN\u202e1234", "U+202E"),  # right-to-left override
        ("SN\u200b1234", "U+200B"),  # zero-width space
        ("SN-\U0001f600", "U+1F600"),  # emoji
        ("SN\u00a01234", "U+00A0"),  # no-break space
        ("SN 1234", "a space"),
        ("SN\u04101234", "U+0410"),  # Cyrillic A, a look-alike
    ],
)
@pytest.mark.parametrize("kind", [NodeIdKind.SERIAL, NodeIdKind.OTHER])
def test_serial_and_other_node_ids_are_printable_ascii_only(typed, shown, kind):
    with pytest.raises(InvalidNodeId, match="printable ASCII") as refused:
        NodeId.parse(typed, kind)
    assert shown in refused.value.message


def test_printable_ascii_punctuation_is_kept():
    assert NodeId.parse("urn:dev/SN_01.a~b", NodeIdKind.OTHER).value == "urn:dev/SN_01.a~b"


@pytest.mark.parametrize(
    "typed",
    [
        f"IMEI: {IMEI}",
        f"imei:{IMEI}",
        f"IMEI {IMEI}",
        "86.217704.131482.7",
        "IMEI: 86 217704 131482 7",
        f"{IMEI}/01",
        f"IMEI: {IMEI} / 01",
        "86.217704.131482.7/01",
        f"urn:imei:{IMEI}/01",
    ],
)
def test_imei_as_printed_on_labels_is_accepted(typed):
    assert NodeId.parse(typed, NodeIdKind.IMEI, Chipset.HISILICON).value == IMEI


@pytest.mark.parametrize("typed", [f"{IMEI}/012", f"{IMEI}/1", f"{IMEI}01"])
def test_only_a_two_digit_software_version_suffix_is_dropped(typed):
    with pytest.raises(InvalidNodeId):
        NodeId.parse(typed, NodeIdKind.IMEI, Chipset.HISILICON)


@pytest.mark.parametrize("typed", ["MAC: aa:bb:cc:dd:ee:0f", "mac:AA-BB-CC-DD-EE-0F"])
def test_mac_with_its_label_caption_is_accepted(typed):
    assert NodeId.parse(typed, NodeIdKind.MAC).value == "AA:BB:CC:DD:EE:0F"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("S/N: FW2019000042", "FW2019000042"), ("SN:FW2019000042", "FW2019000042"),
     ("sn: 42-A", "42-A"), ("SN-0042", "SN-0042")],
)  # fmt: skip
def test_serial_loses_its_label_caption_only(typed, expected):
    assert NodeId.parse(typed, NodeIdKind.SERIAL).value == expected


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("aa:bb:cc:dd:ee:0f", NodeIdKind.MAC),
        ("AA-BB-CC-DD-EE-0F", NodeIdKind.MAC),
        ("aabb.ccdd.ee0f", NodeIdKind.MAC),
        ("MAC: aabbccddee0f", NodeIdKind.MAC),
        (IMEI, NodeIdKind.IMEI),
        ("86.217704.131482.7/01", NodeIdKind.IMEI),
        ("IMEI: 86217704131482", NodeIdKind.IMEI),  # captioned: an IMEI, even a short one
        (f"urn:imei:{IMEI}", NodeIdKind.IMEI),
        ("aabbccddee0f", None),  # twelve bare hex digits may be a serial
        ("862177041314820", None),  # fifteen digits failing Luhn: not plainly an IMEI
        ("FW2019000042", None),
    ],
)
def test_detect_kind_recognises_macs_and_imeis(typed, kind):
    assert detect_kind(typed) == kind
