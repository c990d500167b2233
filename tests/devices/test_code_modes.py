"""NB-IoT devices (CoAP/LwM2M) get verifyCode = nodeId by default, from every entry point, and the
simulator binds such a unit when it attaches with its IMEI and presents no code."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from bulk.checks import check_bulk_lines
from bulk.csv_parsing import parse_bulk_file
from devices.approvals import swap_approval_reasons
from devices.code_modes import (
    code_mode_warning,
    default_verify_code_mode,
    parse_node_id_code_protocols,
    requires_node_id_code,
)
from devices.identifiers import NodeId
from devices.models import Chipset, Swap, SwapState, VerifyCodeMode
from devices.services import SwapRefused, swap_reissue, swap_request, swap_send
from iotadmin.settings import env_name_list
from tests.bulk.helpers import csv_bytes, line
from tests.factories import DeviceFactory, SwapFactory, UserFactory, make_imei

pytestmark = pytest.mark.django_db


def nbiot_device(sim: Any) -> Any:
    """The mirror of an offline NB-IoT unit of ours, protocol included (as the sync stores it)."""
    found = sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, nbiot=True, limit=1)[0]
    return DeviceFactory(
        device_id=found["deviceId"],
        node_id=found["nodeId"],
        name=found["deviceInfo"]["name"],
        protocol=found["deviceInfo"]["protocolType"],
        status=found["status"],
        activated=True,
    )


def new_imei() -> NodeId:
    return NodeId.from_imei(make_imei(), chipset=Chipset.HISILICON)


@pytest.fixture
def field_user() -> Any:
    return UserFactory(field_service=True)


# --- the decision -----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["CoAP", "coap", "LWM2M", "LwM2M", " lwm2m "])
def test_coap_and_lwm2m_devices_default_to_the_node_id(protocol: str) -> None:
    device = DeviceFactory(protocol=protocol)
    assert requires_node_id_code(device)
    assert default_verify_code_mode(device) == VerifyCodeMode.SAME_AS_NODE_ID
    assert code_mode_warning(device, VerifyCodeMode.SAME_AS_NODE_ID) is None


@pytest.mark.parametrize("protocol", ["MQTT", "HTTP", ""])
def test_units_that_present_a_code_default_to_a_generated_one(protocol: str) -> None:
    device = DeviceFactory(protocol=protocol)
    assert default_verify_code_mode(device) == VerifyCodeMode.PLATFORM
    assert code_mode_warning(device, VerifyCodeMode.PLATFORM) is None


def test_a_generated_or_custom_code_on_an_nbiot_device_has_a_warning_saying_why() -> None:
    device = DeviceFactory(protocol="CoAP")
    warning = code_mode_warning(device, VerifyCodeMode.PLATFORM)
    assert warning is not None
    assert "attaches with its IMEI" in warning and "will not bind" in warning
    assert "A custom code" in (code_mode_warning(device, VerifyCodeMode.CUSTOM) or "")


def test_the_protocols_come_from_the_setting_case_insensitive(settings: Any) -> None:
    settings.IOT_NODE_ID_CODE_PROTOCOLS = "mqtt"
    assert (
        default_verify_code_mode(DeviceFactory(protocol="MQTT")) == VerifyCodeMode.SAME_AS_NODE_ID
    )
    assert default_verify_code_mode(DeviceFactory(protocol="CoAP")) == VerifyCodeMode.PLATFORM
    settings.IOT_NODE_ID_CODE_PROTOCOLS = ""
    assert default_verify_code_mode(DeviceFactory(protocol="CoAP")) == VerifyCodeMode.PLATFORM


@pytest.mark.parametrize("value", ["CoAP,,LWM2M", "Co AP", "CoAP;LWM2M", ","])
def test_a_malformed_protocol_list_is_improperly_configured(value: str, monkeypatch: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="IOT_NODE_ID_CODE_PROTOCOLS"):
        parse_node_id_code_protocols(value)
    monkeypatch.setenv("IOT_NODE_ID_CODE_PROTOCOLS", value)
    with pytest.raises(ImproperlyConfigured, match="IOT_NODE_ID_CODE_PROTOCOLS"):
        env_name_list("IOT_NODE_ID_CODE_PROTOCOLS", "CoAP,LWM2M")


def test_the_setting_defaults_to_coap_and_lwm2m(monkeypatch: Any) -> None:
    monkeypatch.delenv("IOT_NODE_ID_CODE_PROTOCOLS", raising=False)
    names = env_name_list("IOT_NODE_ID_CODE_PROTOCOLS", "CoAP,LWM2M")
    assert parse_node_id_code_protocols(names) == {"COAP", "LWM2M"}


# --- approvals --------------------------------------------------------------------------------


def test_node_id_code_needs_no_approval_where_the_protocol_requires_it(only_code_mode_rule):
    reasons = swap_approval_reasons(
        device=DeviceFactory(protocol="LWM2M"),
        verify_code_mode=VerifyCodeMode.SAME_AS_NODE_ID,
        timeout_seconds=180,
    )
    assert reasons == []


def test_node_id_code_still_needs_approval_on_a_unit_that_presents_a_code(only_code_mode_rule):
    reasons = swap_approval_reasons(
        device=DeviceFactory(protocol="MQTT"),
        verify_code_mode=VerifyCodeMode.SAME_AS_NODE_ID,
        timeout_seconds=180,
    )
    assert reasons == ["The verifyCode is the same as the new nodeId, so it can be guessed."]


def test_custom_code_on_an_nbiot_device_still_needs_approval(only_code_mode_rule):
    reasons = swap_approval_reasons(
        device=DeviceFactory(protocol="CoAP"),
        verify_code_mode=VerifyCodeMode.CUSTOM,
        timeout_seconds=180,
    )
    assert reasons == ["The verifyCode is a custom one chosen by the requester."]


# --- against the simulator: the service -------------------------------------------------------


def test_nbiot_device_swapped_with_the_default_mode_binds_without_a_code(
    sim, platform_settings, field_user, only_code_mode_rule
):
    device = nbiot_device(sim)
    node = new_imei()
    swap = swap_request(
        device=device,
        new_node_id=node,
        verify_code_mode=default_verify_code_mode(device),
        actor=field_user,
    )
    assert swap.state == SwapState.QUEUED  # same_as_node_id is not "risky" here
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert swap.state == SwapState.CODE_ISSUED
    assert sim.bind(node.value) == {"deviceId": device.device_id, "bound": True}
    assert sim.device(device.device_id)["nodeId"] == node.value


def test_generated_code_on_nbiot_device_is_refused_without_override(
    sim, platform_settings, field_user
):
    device = nbiot_device(sim)
    with pytest.raises(SwapRefused) as refused:
        swap_request(
            device=device,
            new_node_id=new_imei(),
            verify_code_mode=VerifyCodeMode.PLATFORM,
            actor=field_user,
        )
    assert refused.value.code == "code_mode_needs_override"
    assert refused.value.field == "verify_code_mode"
    assert "attaches with its IMEI" in refused.value.message
    assert Swap.objects.count() == 0
    assert sim.device(device.device_id)["binding"] is None


def test_generated_code_on_nbiot_device_with_override_is_sent_and_warned(
    client, sim, platform_settings, field_user
):
    device = nbiot_device(sim)
    node = new_imei()
    swap = swap_request(
        device=device,
        new_node_id=node,
        verify_code_mode=VerifyCodeMode.PLATFORM,
        actor=field_user,
        code_mode_override=True,
    )
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert swap.state == SwapState.CODE_ISSUED
    event = AuditEvent.objects.get(swap_id=swap.pk, action=AuditAction.SWAP_REQUESTED)
    assert event.after["code_mode_override"] is True
    client.force_login(field_user)
    page = client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()
    assert 'id="code-mode-warning"' in page
    assert "will not bind it" in page
    # The simulator agrees: the unit attaches with its IMEI and the pending code is not it.
    answer = sim.bind(node.value)
    assert answer["bound"] is False
    assert "NB-IoT" in answer["error"]


def test_nbiot_swap_page_says_power_the_unit_on_instead_of_showing_a_code(
    client, sim, platform_settings, field_user
):
    device = nbiot_device(sim)
    node = new_imei()
    swap = swap_request(
        device=device,
        new_node_id=node,
        verify_code_mode=VerifyCodeMode.SAME_AS_NODE_ID,
        actor=field_user,
    )
    swap_send(swap_id=swap.pk)
    client.force_login(field_user)
    page = client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()
    assert (
        f'binds by itself when it attaches with its IMEI <span class="mono">{node.value}</span>; '
        "power it on within the countdown" in page
    )
    assert 'id="verify-code"' not in page
    assert 'class="countdown"' in page
    assert 'id="code-mode-warning"' not in page
    client.force_login(UserFactory(supervisor=True))
    page = client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()
    assert "attach-instructions" not in page  # supervisors never see codes (nor this one)


def test_reissue_of_an_nbiot_swap_keeps_the_node_id_code(sim, platform_settings, field_user):
    device = nbiot_device(sim)
    swap = swap_request(
        device=device,
        new_node_id=new_imei(),
        verify_code_mode=VerifyCodeMode.SAME_AS_NODE_ID,
        actor=field_user,
    )
    Swap.objects.filter(pk=swap.pk).update(state=SwapState.EXPIRED, finished_at=timezone.now())
    again = swap_reissue(swap=swap, actor=field_user)
    assert again.verify_code_mode == VerifyCodeMode.SAME_AS_NODE_ID
    swap_send(swap_id=again.pk)
    assert sim.bind(again.new_node_id)["bound"] is True


def test_reissue_of_a_generated_code_on_an_nbiot_device_takes_the_node_id(
    sim, platform_settings, field_user
):
    device = nbiot_device(sim)
    swap = SwapFactory(
        expired=True,
        device=device,
        requested_by=field_user,
        verify_code_mode=VerifyCodeMode.PLATFORM,
    )
    again = swap_reissue(swap=swap, actor=field_user)
    assert again.verify_code_mode == VerifyCodeMode.SAME_AS_NODE_ID
    event = AuditEvent.objects.get(swap_id=again.pk, action=AuditAction.SWAP_REISSUED)
    assert event.after["verify_code_mode"] == VerifyCodeMode.SAME_AS_NODE_ID


# --- the form ---------------------------------------------------------------------------------


def form_post(device: Any, **fields: str) -> dict[str, str]:
    data = {
        "kind": "imei",
        "chipset": "hisilicon",
        "new_identifier": make_imei(),
        "validity": "3",
        "reason": "",
    }
    data.update(fields)
    return data


def checked_mode(page: str) -> str:
    """The verifyCode mode the form's radio buttons have checked."""
    (value,) = re.findall(r'name="verify_code_mode" value="(\w+)"[^>]* checked[ >]', page)
    return value


def test_the_form_preselects_the_node_id_for_an_nbiot_device(client, field_user):
    device = DeviceFactory(protocol="CoAP")
    client.force_login(field_user)
    page = client.get(reverse("devices:device_detail", args=[device.pk])).content.decode()
    page = page.replace("&#x27;", "'")
    assert checked_mode(page) == VerifyCodeMode.SAME_AS_NODE_ID
    assert "The code is the unit's own identifier" in page
    assert "code same as the IMEI" in page  # the one-line summary of the inferred choices
    assert 'name="code_mode_override"' in page
    other = DeviceFactory(protocol="MQTT")
    page = client.get(reverse("devices:device_detail", args=[other.pk])).content.decode()
    assert checked_mode(page) == VerifyCodeMode.PLATFORM
    assert 'name="code_mode_override"' not in page


def test_the_form_refuses_a_generated_code_for_an_nbiot_device_without_the_box(
    client, sim, platform_settings, field_user
):
    device = nbiot_device(sim)
    client.force_login(field_user)
    url = reverse("devices:device_detail", args=[device.pk])
    answer = client.post(url, form_post(device, verify_code_mode="platform"))
    assert answer.status_code == 200
    assert "will not bind it" in answer.content.decode()
    assert Swap.objects.count() == 0
    answer = client.post(
        url, form_post(device, verify_code_mode="platform", code_mode_override="on")
    )
    swap = Swap.objects.get(device=device)
    assert answer.status_code == 302
    assert answer["Location"] == reverse("devices:swap_detail", args=[swap.pk])
    assert swap.verify_code_mode == VerifyCodeMode.PLATFORM


# --- the rekey command ------------------------------------------------------------------------


@pytest.fixture
def eager(monkeypatch):
    from iotadmin.celery import app as celery_app

    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)


@pytest.mark.django_db(transaction=True)
def test_rekey_picks_the_node_id_for_an_nbiot_device(sim, platform_settings, eager):
    device = nbiot_device(sim)
    imei = make_imei()
    out = io.StringIO()
    call_command("rekey", device.device_id, "--node-id", imei, "--chipset", "hisilicon", stdout=out)
    swap = Swap.objects.get(device=device)
    assert swap.verify_code_mode == VerifyCodeMode.SAME_AS_NODE_ID
    assert swap.state == SwapState.CODE_ISSUED
    assert sim.bind(imei)["bound"] is True


@pytest.mark.django_db(transaction=True)
def test_rekey_refuses_a_generated_code_on_an_nbiot_device_unless_forced(
    sim, platform_settings, eager
):
    device = nbiot_device(sim)
    args = [device.device_id, "--node-id", make_imei(), "--chipset", "hisilicon"]
    with pytest.raises(CommandError, match="--force-code-mode"):
        call_command("rekey", *args, "--platform-code", stdout=io.StringIO())
    assert Swap.objects.count() == 0
    err = io.StringIO()
    call_command(
        "rekey", *args, "--platform-code", "--force-code-mode", stdout=io.StringIO(), stderr=err
    )
    assert "Warning:" in err.getvalue() and "will not bind it" in err.getvalue()
    assert Swap.objects.get(device=device).verify_code_mode == VerifyCodeMode.PLATFORM


@pytest.mark.django_db(transaction=True)
def test_rekey_keeps_a_generated_code_for_a_unit_that_presents_one(sim, platform_settings, eager):
    found = sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, nbiot=False)[0]
    device = DeviceFactory(
        device_id=found["deviceId"],
        node_id=found["nodeId"],
        protocol=found["deviceInfo"]["protocolType"],
        activated=True,
    )
    call_command(
        "rekey",
        device.device_id,
        "--node-id",
        make_imei(),
        "--chipset",
        "hisilicon",
        stdout=io.StringIO(),
    )
    assert Swap.objects.get(device=device).verify_code_mode == VerifyCodeMode.PLATFORM


# --- bulk files -------------------------------------------------------------------------------


def dry_run(*lines: str, actor: Any) -> list[Any]:
    return check_bulk_lines(parse_bulk_file(csv_bytes(*lines), max_rows=100), actor=actor)


def test_bulk_row_without_a_mode_takes_the_device_default(field_user):
    nbiot = DeviceFactory(protocol="CoAP")
    other = DeviceFactory(protocol="MQTT")
    verdicts = dry_run(
        line(nbiot.device_id, make_imei(), mode=""),
        line(other.device_id, make_imei(), mode=""),
        actor=field_user,
    )
    assert [(v.ok, v.verify_code_mode) for v in verdicts] == [
        (True, VerifyCodeMode.SAME_AS_NODE_ID),
        (True, VerifyCodeMode.PLATFORM),
    ]


def test_bulk_row_asking_a_generated_code_for_an_nbiot_device_needs_the_override(field_user):
    refused_device = DeviceFactory(protocol="LWM2M")
    forced_device = DeviceFactory(protocol="LWM2M")
    refused, forced = dry_run(
        line(refused_device.device_id, make_imei(), mode="platform"),
        line(forced_device.device_id, make_imei(), mode="platform_override"),
        actor=field_user,
    )
    assert refused.error_code == "code_mode_needs_override"
    assert "attaches with its IMEI" in refused.message
    assert forced.ok and forced.verify_code_mode == "platform_override"


def test_bulk_row_with_an_unknown_override_is_refused(field_user):
    device = DeviceFactory(protocol="LWM2M")
    (verdict,) = dry_run(
        line(device.device_id, make_imei(), mode="same_override"), actor=field_user
    )
    assert verdict.error_code == "invalid_mode"
    assert "platform_override" in verdict.message


@pytest.mark.django_db(transaction=True)
def test_bulk_rows_become_swaps_in_the_mode_the_protocol_needs(sim, platform_settings, field_user):
    from bulk.models import BulkRow
    from bulk.services import bulk_confirm, bulk_dispatch_step, bulk_upload

    user = UserFactory(helpdesk=True)
    default_row = nbiot_device(sim)
    found = sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, nbiot=True, limit=2)
    forced_row = DeviceFactory(
        device_id=found[1]["deviceId"],
        node_id=found[1]["nodeId"],
        protocol=found[1]["deviceInfo"]["protocolType"],
        activated=True,
    )
    data = csv_bytes(
        line(default_row.device_id, make_imei(), mode=""),
        line(forced_row.device_id, make_imei(), mode="platform_override"),
    )
    batch = bulk_upload(actor=user, filename="nbiot.csv", data=data)
    assert batch.ready_count == 2
    bulk_confirm(batch=batch, actor=user)
    bulk_dispatch_step(batch_id=batch.pk, owner="test")
    swaps = {row.device_id: row.swap for row in BulkRow.objects.select_related("swap")}
    assert swaps[default_row.pk].verify_code_mode == VerifyCodeMode.SAME_AS_NODE_ID
    assert swaps[forced_row.pk].verify_code_mode == VerifyCodeMode.PLATFORM
    event = AuditEvent.objects.get(
        swap_id=swaps[forced_row.pk].pk, action=AuditAction.SWAP_REQUESTED
    )
    assert event.after["code_mode_override"] is True


def test_an_override_that_was_not_needed_is_not_recorded(sim, platform_settings, field_user):
    device = nbiot_device(sim)
    swap = swap_request(
        device=device,
        new_node_id=new_imei(),
        verify_code_mode=VerifyCodeMode.SAME_AS_NODE_ID,
        actor=field_user,
        code_mode_override=True,
    )
    event = AuditEvent.objects.get(swap_id=swap.pk, action=AuditAction.SWAP_REQUESTED)
    assert "code_mode_override" not in event.after
