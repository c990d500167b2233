"""The swap form's short version: what it infers (kind and chip maker from the old nodeId, the
verifyCode mode from the protocol, the kind from what is typed), the one-line summary of it, and
the validity chosen in minutes and handed to the service in seconds."""

from __future__ import annotations

from typing import Any

import pytest

from devices.forms import MAX_VALIDITY_MINUTES, SwapForm
from devices.limits import MAX_TIMEOUT_SECONDS
from tests.factories import DeviceFactory, UserFactory, make_imei

pytestmark = pytest.mark.django_db


@pytest.fixture
def tech() -> Any:
    return UserFactory(field_service=True)


def posted(**overrides: str) -> dict[str, str]:
    data = {
        "kind": "imei",
        "chipset": "hisilicon",
        "new_identifier": make_imei(),
        "verify_code_mode": "platform",
        "validity": "3",
        "reason": "",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("node_id", "protocol", "summary"),
    [
        (
            "urn:imei:{imei}",
            "MQTT",
            "IMEI · Qualcomm · new code from the platform · valid 3 min",
        ),
        ("{imei}", "CoAP", "IMEI · HiSilicon · code same as the IMEI · valid 3 min"),
        ("{imei}", "LWM2M", "IMEI · HiSilicon · code same as the IMEI · valid 3 min"),
        (
            "AA:BB:CC:DD:EE:01",
            "CoAP",
            "MAC address · code same as the MAC address · valid 3 min",
        ),
        ("SN-4711-X", "HTTP", "Serial number · new code from the platform · valid 3 min"),
    ],
)
def test_the_summary_says_what_was_inferred_from_the_old_node_id_and_the_protocol(
    tech: Any, node_id: str, protocol: str, summary: str
) -> None:
    device = DeviceFactory(node_id=node_id.format(imei=make_imei()), protocol=protocol)
    form = SwapForm(device=device, user=tech)
    assert form.choices_summary() == summary
    assert not form.choices_need_attention()


def test_the_summary_follows_a_mac_typed_with_imei_chosen(tech: Any) -> None:
    device = DeviceFactory(protocol="CoAP")
    form = SwapForm(
        posted(new_identifier="aa-bb-cc-dd-ee-0f", verify_code_mode="same_as_node_id"),
        device=device,
        user=tech,
    )
    assert form.is_valid(), form.errors
    assert form.kind_note == "This looks like a MAC address: kind set to MAC."
    assert form.choices_summary() == "MAC address · code same as the MAC address · valid 3 min"


def test_an_imei_of_an_unknown_chip_maker_opens_the_choices(tech: Any) -> None:
    device = DeviceFactory(node_id="SN-1")
    form = SwapForm(posted(chipset=""), device=device, user=tech)
    assert not form.is_valid()
    assert "chipset" in form.errors
    assert form.choices_need_attention()
    assert form.choices_summary().startswith("IMEI · chip maker not known: choose it · ")


@pytest.mark.parametrize(
    ("fields", "seconds", "summary_end"),
    [
        ({"validity": "3"}, 180, "valid 3 min"),
        ({"validity": "5"}, 300, "valid 5 min"),
        ({"validity": "15"}, 900, "valid 15 min"),
        ({"validity": "30"}, 1800, "valid 30 min"),
        ({"validity": "60"}, 3600, "valid 60 min"),
        ({"validity": "other", "validity_minutes": "45"}, 2700, "valid 45 min"),
        # The "Other" minutes count only when "Other" is chosen.
        ({"validity": "15", "validity_minutes": "45"}, 900, "valid 15 min"),
        (
            {"validity": "other", "validity_minutes": str(MAX_VALIDITY_MINUTES)},
            MAX_VALIDITY_MINUTES * 60,
            f"valid {MAX_VALIDITY_MINUTES} min",
        ),
    ],
)
def test_the_validity_is_chosen_in_minutes_and_sent_in_seconds(
    tech: Any, fields: dict[str, str], seconds: int, summary_end: str
) -> None:
    form = SwapForm(posted(**fields), device=DeviceFactory(), user=tech)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["timeout_seconds"] == seconds
    assert seconds <= MAX_TIMEOUT_SECONDS
    assert form.choices_summary().endswith(summary_end)


def test_never_expires_is_offered_only_with_the_permission(tech: Any) -> None:
    device = DeviceFactory()
    refused = SwapForm(posted(validity="never"), device=device, user=tech)
    assert not refused.is_valid()
    assert "Only users allowed to issue never-expiring codes" in refused.errors["validity"][0]
    allowed = UserFactory(field_service=True, perms=["devices.issue_never_expiring_code"])
    form = SwapForm(posted(validity="never"), device=device, user=allowed)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["timeout_seconds"] == 0
    assert form.choices_summary().endswith("never expires")


def test_the_form_puts_the_identifier_first(tech: Any) -> None:
    names = list(SwapForm(device=DeviceFactory(), user=tech).fields)
    assert names[0] == "new_identifier"  # the error summary lists fields in this order
    assert names.index("reason") == len(names) - 1
