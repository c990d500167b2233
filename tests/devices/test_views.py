"""The web UI through Django's test client: permissions object by object, the two renderings,
the swap form's inline validation, the code panel's states, and query budgets."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from devices.identifiers import luhn_check_digit
from devices.models import Device, DeviceStatus, Swap, SwapState, VerifyCodeMode
from tests.factories import DeviceFactory, SwapFactory, UserFactory, make_imei

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
CODE = "K7Q2M9XZ4B"


def wrong_check_digit(imei: str) -> str:
    return imei[:-1] + str((int(imei[-1]) + 1) % 10)


def swap_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "kind": "imei",
        "chipset": "qualcomm",
        "new_identifier": make_imei(),
        "verify_code_mode": VerifyCodeMode.PLATFORM,
        "custom_verify_code": "",
        "validity": "3",
        "reason": "INC-1234 unit water-damaged",
    }
    data.update(overrides)
    return data


@pytest.fixture
def field(client: Any) -> Any:
    user = UserFactory(field_service=True, username="field-tech")
    client.force_login(user)
    return user


def mirror_of(sim_device: dict[str, Any], sim: Any) -> Device:
    """The simulator's device in our mirror, as a sync would have stored it."""
    name = f"Sim {sim_device['deviceId'][:8]}"
    return DeviceFactory.mirror(sim_device, our_app_id=sim.app_id, name=name)


# --- Login and permissions ---------------------------------------------------------------------


def test_every_page_requires_login(client: Any) -> None:
    swap = SwapFactory()
    urls = [
        reverse("devices:device_list"),
        reverse("devices:device_detail", args=[swap.device.pk]),
        reverse("devices:swap_detail", args=[swap.pk]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith("/login/")
    for name in ("swap_cancel", "swap_reissue", "swap_demo_bind"):
        response = client.post(reverse(f"devices:{name}", args=[swap.pk]))
        assert response.status_code == 302
        assert response.url.startswith("/login/")
    assert Swap.objects.get(pk=swap.pk).state == SwapState.QUEUED


def test_user_without_role_gets_a_clear_403(client: Any) -> None:
    client.force_login(UserFactory())
    response = client.get(reverse("devices:device_list"))
    assert response.status_code == 403
    assert b"You are not allowed to see this" in response.content


def test_supervisor_cannot_post_a_swap(client: Any) -> None:
    device = DeviceFactory()
    client.force_login(UserFactory(supervisor=True))
    page = client.get(reverse("devices:device_detail", args=[device.pk]))
    assert page.status_code == 200
    assert b"swap-form" not in page.content
    response = client.post(reverse("devices:device_detail", args=[device.pk]), swap_form())
    assert response.status_code == 403
    assert not Swap.objects.exists()


def test_field_tech_cannot_open_a_colleagues_swap(client: Any, field: Any) -> None:
    # 404, not 403: the answer must not reveal that the swap exists (no existence oracle).
    other = SwapFactory(issued=True, verify_code=CODE)
    response = client.get(reverse("devices:swap_detail", args=[other.pk]))
    assert response.status_code == 404
    assert CODE.encode() not in response.content
    partial = client.get(reverse("devices:swap_detail", args=[other.pk]), **HTMX)
    assert partial.status_code == 404
    missing = client.get(reverse("devices:swap_detail", args=[other.pk + 1000]))
    assert missing.status_code == 404


def test_unknown_swap_and_device_are_404(client: Any, field: Any) -> None:
    assert client.get(reverse("devices:swap_detail", args=[999999])).status_code == 404
    assert client.get(reverse("devices:device_detail", args=[999999])).status_code == 404


def test_field_tech_cannot_cancel_a_colleagues_swap(client: Any, field: Any) -> None:
    other = SwapFactory(issued=True, verify_code=CODE)
    response = client.post(reverse("devices:swap_cancel", args=[other.pk]))
    assert response.status_code == 404
    assert Swap.objects.get(pk=other.pk).state == SwapState.CODE_ISSUED


# --- Finding the device ------------------------------------------------------------------------


def test_search_finds_an_imei_typed_with_or_without_urn_prefix(client: Any, field: Any) -> None:
    imei = "862177041314827"
    device = DeviceFactory(node_id=f"urn:imei:{imei}", name="Pump house 4")
    DeviceFactory(name="Unrelated")
    for query in (imei, f"urn:imei:{imei}", imei[:8]):
        response = client.get(reverse("devices:device_list"), {"q": query})
        assert response.status_code == 200
        assert list(response.context["page"].items) == [device], query
        assert b"Pump house 4" in response.content
        assert b"Unrelated" not in response.content


def test_search_finds_a_mac_in_any_notation(client: Any, field: Any) -> None:
    device = DeviceFactory(node_id="AA:BB:CC:00:11:22", name="Gateway")
    for query in ("aa-bb-cc-00-11-22", "aabb.cc00.1122", "AABBCC001122", "aa:bb:cc"):
        response = client.get(reverse("devices:device_list"), {"q": query})
        assert list(response.context["page"].items) == [device], query


def test_search_finds_a_street_in_the_location_and_says_when_a_query_is_short(
    client: Any, field: Any
) -> None:
    DeviceFactory(name="Gas meter 7", location="39 Elm Street")
    found = client.get(reverse("devices:device_list"), {"q": "elm street"}).content.decode()
    assert "Gas meter 7" in found
    assert "39 Elm Street" in found
    assert "Under 3 characters" not in found
    short = client.get(reverse("devices:device_list"), {"q": "el"}).content.decode()
    assert "Under 3 characters only the start of names and nodeIds is matched" in short


def test_results_show_status_and_last_contact(client: Any, field: Any) -> None:
    DeviceFactory(
        name="Meter A",
        status=DeviceStatus.ONLINE,
        platform_updated_at=timezone.now() - timedelta(hours=3),
    )
    response = client.get(reverse("devices:device_list"), {"q": "Meter A"})
    text = response.content.decode()
    assert "Online" in text
    assert "Last contact" in text
    assert "3\xa0hours ago" in text


def test_search_without_match_says_what_to_try(client: Any, field: Any) -> None:
    response = client.get(reverse("devices:device_list"), {"q": "nothing-like-this"})
    assert b"No device matches" in response.content


def test_htmx_search_renders_only_the_results(client: Any, field: Any) -> None:
    DeviceFactory(name="Meter htmx")
    response = client.get(reverse("devices:device_list"), {"q": "Meter htmx"}, **HTMX)
    text = response.content.decode()
    assert "<html" not in text
    assert 'id="device-results"' in text
    assert "Meter htmx" in text


def test_pagination_is_keyset_without_offset_or_count(client: Any, field: Any) -> None:
    for n in range(30):
        DeviceFactory(name=f"Pager {n:02d}")
    with CaptureQueriesContext(connection) as queries:
        first = client.get(reverse("devices:device_list"), {"q": "Pager"})
    sql = " ".join(q["sql"].upper() for q in queries.captured_queries)
    assert "OFFSET" not in sql
    assert "COUNT(" not in sql
    page = first.context["page"]
    assert len(page.items) == 25
    assert page.next_cursor
    more = client.get(
        reverse("devices:device_list"), {"q": "Pager", "after": page.next_cursor}, **HTMX
    )
    text = more.content.decode()
    assert [n for n in range(30) if f"Pager {n:02d}<" in text] == list(range(25, 30))
    assert "<html" not in text
    assert 'id="device-results"' not in more.content.decode()  # rows only, appended


def test_a_forged_cursor_starts_from_the_first_page(client: Any, field: Any) -> None:
    DeviceFactory(name="Only one")
    response = client.get(reverse("devices:device_list"), {"after": "not-a-cursor!!"})
    assert response.status_code == 200
    assert b"Only one" in response.content


def _device_list_queries(client: Any, django_assert_num_queries: Any, rows: int) -> int:
    Device.objects.all().delete()
    for n in range(rows):
        DeviceFactory(name=f"Budget {n:03d}")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("devices:device_list"), {"q": "Budget"})
    assert len(response.context["page"].items) == min(rows, 25)
    return len(queries.captured_queries)


def test_device_list_query_count_is_the_same_for_1_and_50_rows(client: Any, field: Any) -> None:
    one = _device_list_queries(client, None, 1)
    fifty = _device_list_queries(client, None, 50)
    assert one == fifty


def test_device_page_query_count_is_the_same_for_1_and_50_swaps(client: Any) -> None:
    helpdesk = UserFactory(helpdesk=True)
    client.force_login(helpdesk)
    counts = []
    for rows in (1, 50):
        device = DeviceFactory()
        requesters = [UserFactory(field_service=True) for _ in range(3)]
        for n in range(rows):
            SwapFactory(device=device, expired=True, requested_by=requesters[n % 3])
        url = reverse("devices:device_detail", args=[device.pk])
        client.get(url)  # warm the session and permission caches alike for both runs
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert len(response.context["swaps"]) == min(rows, 20)
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]


# --- The swap form -----------------------------------------------------------------------------


def test_device_page_guesses_kind_and_chipset_from_the_old_node_id(client: Any, field: Any) -> None:
    qualcomm = DeviceFactory(node_id=f"urn:imei:{make_imei()}")
    response = client.get(reverse("devices:device_detail", args=[qualcomm.pk]))
    form = response.context["form"]
    assert form["kind"].value() == "imei"
    assert form["chipset"].value() == "qualcomm"
    mac = DeviceFactory(node_id="AA:BB:CC:DD:EE:01")
    response = client.get(reverse("devices:device_detail", args=[mac.pk]))
    assert response.context["form"]["kind"].value() == "mac"


def test_device_page_folds_the_facts_and_sums_up_the_inferred_choices(
    client: Any, field: Any
) -> None:
    device = DeviceFactory(node_id=make_imei(), protocol="CoAP", app_id="app-42")
    page = client.get(reverse("devices:device_detail", args=[device.pk])).content.decode()
    facts = page[page.index('<details class="device-facts"') : page.index("</details>")]
    assert "Owning application" in facts and "Refresh from the platform" in facts
    assert page.index("</details>") < page.index('name="new_identifier"')
    assert '<details class="form-choices" id="form-choices">' in page  # closed: nothing to fix
    assert "IMEI · HiSilicon · code same as the IMEI · valid 3 min" in page
    form = page[page.index('<form id="swap-form"') : page.index("</form>", page.index("swap-form"))]
    words = re.sub(r"<[^>]+>", " ", form)  # what the person reads
    for jargon in ("Agent Lite", "seconds", "hipset"):
        assert jargon not in words
    assert 'value="never"' not in form  # only for those allowed to issue never-expiring codes


def test_a_refused_choice_comes_back_with_the_choices_open(client: Any, field: Any) -> None:
    device = DeviceFactory()
    response = client.post(
        reverse("devices:device_detail", args=[device.pk]),
        swap_form(validity="other", validity_minutes=""),
    )
    page = response.content.decode()
    assert '<details class="form-choices" id="form-choices" open>' in page
    assert "Enter how many minutes the code stays valid" in page
    assert not Swap.objects.exists()


@pytest.mark.parametrize(
    ("kind", "chipset", "typed", "expected"),
    [
        ("imei", "qualcomm", "862177041314827", "urn:imei:862177041314827"),
        ("imei", "hisilicon", "urn:imei:862177041314827", "862177041314827"),
        ("mac", "", "aa-bb-cc-dd-ee-ff", "AA:BB:CC:DD:EE:FF"),
        ("serial", "", "  SN-0042  ", "SN-0042"),
    ],
)
def test_preview_shows_the_final_node_id(
    client: Any, field: Any, kind: str, chipset: str, typed: str, expected: str
) -> None:
    device = DeviceFactory()
    response = client.post(
        reverse("devices:node_id_preview", args=[device.pk]),
        {"kind": kind, "chipset": chipset, "new_identifier": typed},
        **HTMX,
    )
    assert response.status_code == 200
    assert f'nodeId to send: <code class="mono">{expected}</code>' in response.content.decode()


@pytest.mark.parametrize(
    "typed",
    [
        "IMEI: 862177041314827",
        "86.217704.131482.7",
        "862177041314827/01",
        "IMEI 86 217704 131482 7/01",
    ],
)
def test_preview_reads_an_imei_as_its_label_prints_it(client: Any, field: Any, typed: str) -> None:
    device = DeviceFactory()
    response = client.post(
        reverse("devices:node_id_preview", args=[device.pk]),
        {"kind": "imei", "chipset": "hisilicon", "new_identifier": typed},
        **HTMX,
    )
    assert 'nodeId to send: <code class="mono">862177041314827</code>' in response.content.decode()


def test_preview_switches_to_mac_when_a_mac_is_typed_with_imei_chosen(
    client: Any, field: Any
) -> None:
    device = DeviceFactory()
    response = client.post(
        reverse("devices:node_id_preview", args=[device.pk]),
        {"kind": "imei", "chipset": "hisilicon", "new_identifier": "MAC: aa-bb-cc-dd-ee-0f"},
        **HTMX,
    )
    text = response.content.decode()
    assert "This looks like a MAC address: kind set to MAC." in text
    assert 'data-set-kind="mac"' in text
    assert 'nodeId to send: <code class="mono">AA:BB:CC:DD:EE:0F</code>' in text


def test_preview_switches_to_imei_when_an_imei_is_typed_as_a_serial(
    client: Any, field: Any
) -> None:
    device = DeviceFactory()
    response = client.post(
        reverse("devices:node_id_preview", args=[device.pk]),
        {"kind": "serial", "chipset": "qualcomm", "new_identifier": "862177041314827"},
        **HTMX,
    )
    text = response.content.decode()
    assert "This looks like an IMEI: kind set to IMEI." in text
    assert 'nodeId to send: <code class="mono">urn:imei:862177041314827</code>' in text


def test_preview_keeps_other_as_typed(client: Any, field: Any) -> None:
    device = DeviceFactory()
    response = client.post(
        reverse("devices:node_id_preview", args=[device.pk]),
        {"kind": "other", "new_identifier": "aa:bb:cc:dd:ee:0f"},
        **HTMX,
    )
    text = response.content.decode()
    assert "kind set to" not in text
    assert 'nodeId to send: <code class="mono">aa:bb:cc:dd:ee:0f</code>' in text


def test_a_mac_submitted_with_imei_chosen_comes_back_as_mac_with_the_note(
    client: Any, field: Any
) -> None:
    device = DeviceFactory()
    response = client.post(
        reverse("devices:device_detail", args=[device.pk]),
        # Custom code left empty: the form comes back, showing how it read the identifier.
        swap_form(new_identifier="aa:bb:cc:dd:ee:0f", verify_code_mode=VerifyCodeMode.CUSTOM),
        **HTMX,
    )
    text = response.content.decode()
    assert "This looks like a MAC address: kind set to MAC." in text
    assert re.search(r'<input type="radio" name="kind" value="mac"[^>]*checked', text)
    assert "12 hexadecimal digits" not in text
    assert not Swap.objects.exists()


def test_preview_explains_a_wrong_imei_check_digit(client: Any, field: Any) -> None:
    device = DeviceFactory()
    bad = wrong_check_digit("862177041314827")
    response = client.post(
        reverse("devices:node_id_preview", args=[device.pk]),
        {"kind": "imei", "chipset": "hisilicon", "new_identifier": bad},
        **HTMX,
    )
    text = response.content.decode()
    assert "the check digit does not match: read the number again from the label" in text
    assert "should be" not in text
    assert "7" not in text.split('class="preview-error">')[1].split("</p>")[0]


def test_preview_warns_when_the_identifier_is_the_old_one(client: Any, field: Any) -> None:
    imei = make_imei()
    device = DeviceFactory(node_id=imei)
    response = client.post(
        reverse("devices:node_id_preview", args=[device.pk]),
        {"kind": "imei", "chipset": "hisilicon", "new_identifier": imei},
        **HTMX,
    )
    assert "already has" in response.content.decode()


def test_preview_asks_to_open_the_choices_when_the_chip_maker_is_unknown(
    client: Any, field: Any
) -> None:
    device = DeviceFactory(node_id="AA:BB:CC:DD:EE:01")
    response = client.post(
        reverse("devices:node_id_preview", args=[device.pk]),
        {"kind": "mac", "chipset": "", "new_identifier": make_imei()},
        **HTMX,
    )
    text = response.content.decode()
    assert 'data-set-kind="imei"' in text  # an IMEI typed on a MAC device: the kind follows
    assert "data-needs-choice" in text and "Choose how the IMEI is written" in text
    answered = client.post(
        reverse("devices:node_id_preview", args=[device.pk]),
        {"kind": "imei", "chipset": "hisilicon", "new_identifier": make_imei()},
        **HTMX,
    )
    assert "data-needs-choice" not in answered.content.decode()


def test_preview_survives_garbage(client: Any, field: Any) -> None:
    device = DeviceFactory()
    for data in (
        {"kind": "nonsense", "new_identifier": "x"},
        {"kind": "imei", "chipset": "???", "new_identifier": "1"},
        {"kind": "other", "new_identifier": "a" * 5000},
        {"kind": "serial", "new_identifier": "tab\there"},
    ):
        response = client.post(reverse("devices:node_id_preview", args=[device.pk]), data)
        assert response.status_code == 200, data
        assert 'class="preview-error"' in response.content.decode(), data


def test_a_wrong_check_digit_is_an_inline_error_and_nothing_is_queued(
    client: Any, field: Any
) -> None:
    device = DeviceFactory()
    bad = wrong_check_digit(make_imei())
    response = client.post(
        reverse("devices:device_detail", args=[device.pk]),
        swap_form(new_identifier=bad),
        **HTMX,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "<html" not in text  # the form partial only
    assert "the check digit does not match" in text
    assert 'aria-invalid="true"' in text
    assert not Swap.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field_name", "message"),
    [
        ({"new_identifier": "12345678901234"}, "new_identifier", "you typed 14"),
        ({"chipset": ""}, "chipset", "Choose how the IMEI is written"),
        ({"kind": "mac", "new_identifier": "zz:zz"}, "new_identifier", "12 hexadecimal"),
        ({"kind": "serial", "new_identifier": "x" * 257}, "new_identifier", "at most 256"),
        ({"verify_code_mode": "custom"}, "custom_verify_code", "Enter your code"),
        (
            {"verify_code_mode": "custom", "custom_verify_code": "c" * 257},
            "custom_verify_code",
            "at most 256",
        ),
        ({"validity": "never"}, "validity", "never-expiring"),
        ({"validity": "7"}, "validity", "Select a valid choice"),
        ({"validity": ""}, "validity", "This field is required"),
        ({"validity": "other"}, "validity_minutes", "Enter how many minutes"),
        ({"validity": "other", "validity_minutes": "-5"}, "validity_minutes", "at least 1 minute"),
        ({"validity": "other", "validity_minutes": "0"}, "validity_minutes", "at least 1 minute"),
        ({"validity": "other", "validity_minutes": "soon"}, "validity_minutes", "whole number"),
        (
            {"validity": "other", "validity_minutes": "35791395"},
            "validity_minutes",
            "at most 35,791,394 minutes",
        ),
    ],
)
def test_invalid_inputs_are_refused_inline(
    client: Any, field: Any, overrides: dict[str, str], field_name: str, message: str
) -> None:
    device = DeviceFactory()
    response = client.post(
        reverse("devices:device_detail", args=[device.pk]), swap_form(**overrides)
    )
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors.get(field_name, []))
    assert message in errors
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not Swap.objects.exists()


def test_same_identifier_as_the_old_one_needs_confirmation(client: Any, field: Any) -> None:
    imei = make_imei()
    device = DeviceFactory(node_id=imei)
    response = client.post(
        reverse("devices:device_detail", args=[device.pk]),
        swap_form(new_identifier=imei, chipset="hisilicon"),
    )
    assert "already has" in " ".join(response.context["form"].errors["new_identifier"])
    assert b'name="confirm_same"' in response.content
    assert not Swap.objects.exists()


def test_device_with_an_open_swap_links_to_it_instead_of_the_form(client: Any, field: Any) -> None:
    swap = SwapFactory(issued=True, requested_by=field, verify_code=CODE)
    response = client.get(reverse("devices:device_detail", args=[swap.device.pk]))
    assert response.context["open_swap"] == swap
    assert f'href="/swaps/{swap.pk}/"'.encode() in response.content
    assert b'id="swap-form"' not in response.content


# --- Submitting against the simulator (the service's live pre-checks) -------------------------


@pytest.fixture
def eager(settings: Any) -> Any:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    return settings


@pytest.mark.django_db(transaction=True)
def test_plain_post_queues_one_swap_and_redirects_to_it(
    client: Any, sim: Any, platform_settings: Any
) -> None:
    user = UserFactory(field_service=True)
    client.force_login(user)
    device = mirror_of(sim.devices(status="OFFLINE", activated=True, limit=1)[0], sim)
    data = swap_form()
    response = client.post(reverse("devices:device_detail", args=[device.pk]), data)
    swap = Swap.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("devices:swap_detail", args=[swap.pk])
    assert swap.new_node_id == f"urn:imei:{data['new_identifier']}"
    assert swap.requested_by == user
    # A double submit makes no second swap and says why.
    again = client.post(reverse("devices:device_detail", args=[device.pk]), data)
    assert again.status_code == 200
    assert "already has an open swap" in again.content.decode()
    assert Swap.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_htmx_post_redirects_the_browser_to_the_swap(
    client: Any, sim: Any, platform_settings: Any
) -> None:
    client.force_login(UserFactory(field_service=True))
    device = mirror_of(sim.devices(status="OFFLINE", activated=True, limit=1)[0], sim)
    response = client.post(
        reverse("devices:device_detail", args=[device.pk]),
        swap_form(kind="mac", new_identifier="02:00:5e:10:00:01", chipset=""),
        **HTMX,
    )
    swap = Swap.objects.get()
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("devices:swap_detail", args=[swap.pk])
    assert swap.new_node_id == "02:00:5E:10:00:01"


@pytest.mark.django_db(transaction=True)
def test_online_device_is_refused_with_the_handling_text(
    client: Any, sim: Any, platform_settings: Any
) -> None:
    client.force_login(UserFactory(field_service=True))
    device = mirror_of(sim.devices(status="ONLINE", nbiot=False, limit=1)[0], sim)
    response = client.post(reverse("devices:device_detail", args=[device.pk]), swap_form())
    text = response.content.decode()
    assert response.status_code == 200
    assert "Not queued." in text
    assert "Take the device offline" in text
    assert not Swap.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_never_expiring_code_is_allowed_with_the_permission(
    client: Any, sim: Any, platform_settings: Any
) -> None:
    user = UserFactory(field_service=True, perms=["devices.issue_never_expiring_code"])
    client.force_login(user)
    device = mirror_of(sim.devices(status="OFFLINE", activated=True, limit=1)[0], sim)
    page = client.get(reverse("devices:device_detail", args=[device.pk]))
    assert b"never expires" in page.content
    response = client.post(
        reverse("devices:device_detail", args=[device.pk]), swap_form(validity="never")
    )
    assert response.status_code == 302
    assert Swap.objects.get().timeout_seconds == 0


# --- The code panel ----------------------------------------------------------------------------


def test_requester_sees_the_code_large_with_qr_and_countdown_not_cached(
    client: Any, field: Any
) -> None:
    expires = timezone.now() + timedelta(seconds=150)
    swap = SwapFactory(
        issued=True,
        requested_by=field,
        verify_code=CODE,
        code_issued_at=timezone.now(),
        code_expires_at=expires,
    )
    response = client.get(reverse("devices:swap_detail", args=[swap.pk]))
    text = response.content.decode()
    assert response.status_code == 200
    assert f'id="verify-code" aria-labelledby="code-label">{CODE}<' in text
    assert "no-store" in response["Cache-Control"]
    assert 'hx-history="false"' in text
    assert "<svg" in text and 'aria-label="QR code of the verifyCode"' in text
    assert f'data-expires-at="{expires.isoformat()}"' in text
    assert 'hx-trigger="every 2s"' in text
    # The code never goes into a URL on the page.
    for attr in ('href="', 'hx-get="', 'hx-post="', 'action="', 'src="'):
        for chunk in text.split(attr)[1:]:
            assert CODE not in chunk.split('"', 1)[0]


def test_supervisor_sees_state_and_hint_but_never_the_code(client: Any) -> None:
    swap = SwapFactory(
        issued=True, verify_code=CODE, code_expires_at=timezone.now() + timedelta(minutes=3)
    )
    client.force_login(UserFactory(supervisor=True))
    for extra in ({}, HTMX):
        response = client.get(reverse("devices:swap_detail", args=[swap.pk]), **extra)
        text = response.content.decode()
        assert response.status_code == 200
        assert CODE not in text
        assert "…4B" in text
        assert "Code issued" in text
        assert "Cancel this swap" not in text
        assert "Plug in the replacement unit" not in text


def test_helpdesk_sees_anyones_code(client: Any) -> None:
    swap = SwapFactory(
        issued=True, verify_code=CODE, code_expires_at=timezone.now() + timedelta(minutes=3)
    )
    client.force_login(UserFactory(helpdesk=True))
    response = client.get(reverse("devices:swap_detail", args=[swap.pk]))
    assert CODE in response.content.decode()
    assert "Cancel this swap" in response.content.decode()


def test_poll_answers_204_while_nothing_changed_and_the_panel_once_it_did(
    client: Any, field: Any
) -> None:
    swap = SwapFactory(requested_by=field, state=SwapState.SENDING, attempts=1)
    url = reverse("devices:swap_detail", args=[swap.pk])
    first = client.get(url, **HTMX)
    assert first.status_code == 200
    assert "<html" not in first.content.decode()
    assert "Sending to the platform (attempt 1)" in first.content.decode()
    version = re.search(r"\?v=([0-9a-f]+)", first.content.decode())[1]
    assert client.get(url, {"v": version}, **HTMX).status_code == 204
    Swap.objects.filter(pk=swap.pk).update(
        state=SwapState.QUEUED,
        error_text="The platform had an internal error; trying again.",
        next_attempt_at=timezone.now() + timedelta(seconds=4),
    )
    changed = client.get(url, {"v": version}, **HTMX)
    assert changed.status_code == 200
    text = changed.content.decode()
    assert "Attempt 1 did not get through" in text
    assert "internal error" in text
    assert "no-store" in changed["Cache-Control"]


def test_final_states_stop_polling(client: Any, field: Any) -> None:
    now = timezone.now()
    swap = SwapFactory(
        requested_by=field,
        bound=True,
        code_issued_at=now - timedelta(seconds=72),
        bound_at=now,
        verify_code_hint="4B",
    )
    response = client.get(reverse("devices:swap_detail", args=[swap.pk]))
    text = response.content.decode()
    assert "Bound after 1 min 12 s" in text
    assert "every 2s" not in text


def test_failed_swap_shows_the_error_code_and_handling_text(client: Any, field: Any) -> None:
    swap = SwapFactory(
        requested_by=field,
        failed=True,
        error_code="100426",
        error_text="The new nodeId is already registered on the platform.",
    )
    text = client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()
    assert "platform code 100426" in text
    assert "already registered" in text
    assert "Re-issue with the same inputs" in text


def test_expired_swap_offers_reissue_and_no_code(client: Any, field: Any) -> None:
    swap = SwapFactory(requested_by=field, expired=True, verify_code_hint="4B")
    text = client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()
    assert "Code expired" in text
    assert "Re-issue with the same inputs" in text
    assert CODE not in text


@pytest.mark.parametrize(
    ("validity", "offered"),
    [
        (60, "The new code is valid for 3 min, the default: 1 min was too short."),
        (180, None),
        (600, None),
        (0, None),  # never expiring stays never expiring
    ],
)
def test_reissue_says_before_the_tap_when_it_gives_the_default_validity(
    client: Any, field: Any, validity: int, offered: str | None
) -> None:
    swap = SwapFactory(requested_by=field, failed=True, timeout_seconds=validity)
    text = client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()
    assert "Re-issue with the same inputs" in text
    if offered is None:
        assert 'id="reissue-validity"' not in text
    else:
        assert f'<p class="hint" id="reissue-validity">{offered}</p>' in text


def test_a_custom_code_swap_points_to_a_new_request_instead_of_reissue(
    client: Any, field: Any
) -> None:
    swap = SwapFactory(requested_by=field, expired=True, verify_code_mode=VerifyCodeMode.CUSTOM)
    text = client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()
    assert "Re-issue with the same inputs" not in text
    assert "Request a new swap for this device" in text


def test_no_cancel_button_while_the_platform_call_is_in_flight(client: Any, field: Any) -> None:
    swap = SwapFactory(requested_by=field, state=SwapState.SENDING, attempts=1)
    text = client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()
    assert "Cancel this swap" not in text


def test_supervisor_gets_no_reissue_button_and_a_403_on_post(client: Any) -> None:
    swap = SwapFactory(expired=True)
    client.force_login(UserFactory(supervisor=True))
    text = client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()
    assert "Re-issue with the same inputs" not in text
    assert client.post(reverse("devices:swap_reissue", args=[swap.pk])).status_code == 403
    assert Swap.objects.count() == 1


def test_requester_cancels_an_open_swap(client: Any, field: Any) -> None:
    swap = SwapFactory(issued=True, requested_by=field, verify_code=CODE)
    response = client.post(reverse("devices:swap_cancel", args=[swap.pk]), **HTMX)
    assert response.status_code == 200
    text = response.content.decode()
    assert "Cancelled" in text
    assert CODE not in text
    assert Swap.objects.get(pk=swap.pk).state == SwapState.CANCELLED
    # Cancelling again is refused in plain words, not a 500.
    again = client.post(reverse("devices:swap_cancel", args=[swap.pk]))
    assert again.status_code == 302
    page = client.get(again.url)
    assert "nothing to cancel" in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_reissue_creates_a_new_swap_with_the_same_inputs(
    client: Any, sim: Any, platform_settings: Any
) -> None:
    user = UserFactory(field_service=True)
    client.force_login(user)
    device = mirror_of(sim.devices(status="OFFLINE", activated=True, limit=1)[0], sim)
    # A validity at least the default is copied (a shorter one is raised to the default).
    old = SwapFactory(device=device, requested_by=user, expired=True, timeout_seconds=900)
    response = client.post(reverse("devices:swap_reissue", args=[old.pk]))
    new = Swap.objects.exclude(pk=old.pk).get()
    assert response.status_code == 302
    assert response.url == reverse("devices:swap_detail", args=[new.pk])
    assert (new.new_node_id, new.timeout_seconds, new.reissue_of) == (old.new_node_id, 900, old)
    text = client.get(reverse("devices:swap_detail", args=[old.pk])).content.decode()
    assert f"Re-issued as swap #{new.pk}" in text


def test_demo_button_only_in_demo_mode(client: Any, field: Any, settings: Any) -> None:
    swap = SwapFactory(
        issued=True,
        requested_by=field,
        verify_code=CODE,
        code_expires_at=timezone.now() + timedelta(60),
    )
    url = reverse("devices:swap_detail", args=[swap.pk])
    settings.IOT_DEMO_MODE = True
    assert "Plug in the replacement unit (demo)" in client.get(url).content.decode()
    settings.IOT_DEMO_MODE = False
    assert "Plug in the replacement unit" not in client.get(url).content.decode()
    response = client.post(reverse("devices:swap_demo_bind", args=[swap.pk]), **HTMX)
    assert "Demo mode is off" in response.content.decode()
    assert Swap.objects.get(pk=swap.pk).state == SwapState.CODE_ISSUED


def test_make_imei_helper_is_valid() -> None:
    imei = make_imei()
    assert luhn_check_digit(imei[:-1]) == int(imei[-1])


def test_top_bar_shows_who_and_role_with_a_post_logout(client: Any, field: Any) -> None:
    text = client.get(reverse("devices:device_list")).content.decode()
    assert "field-tech" in text
    assert "Field service" in text
    assert '<form method="post" action="/logout/"' in text
    assert 'aria-label="Sections"' not in text  # one section only: no menu to tap through


def test_sections_menu_lists_only_what_the_role_may_open(client: Any) -> None:
    client.force_login(UserFactory(helpdesk=True))
    text = client.get(reverse("devices:device_list")).content.decode()
    assert 'aria-label="Sections"' in text
    assert f'href="{reverse("bulk:upload")}"' in text
    assert ">History<" not in text


@pytest.mark.parametrize(
    ("state", "attempts", "interval"),
    [
        (SwapState.QUEUED, 0, "every 500ms"),
        (SwapState.SENDING, 1, "every 500ms"),
        (SwapState.QUEUED, 2, "every 2s"),
        (SwapState.CODE_ISSUED, 1, "every 2s"),
    ],
)
def test_the_panel_polls_fast_only_while_the_code_is_on_its_way(
    client: Any, field: Any, state: str, attempts: int, interval: str
) -> None:
    fields: dict[str, Any] = {"requested_by": field, "state": state, "attempts": attempts}
    if state == SwapState.CODE_ISSUED:
        fields["code_expires_at"] = timezone.now() + timedelta(seconds=180)
        swap = SwapFactory(issued=True, verify_code="C0DE42AB", **fields)
    else:
        swap = SwapFactory(**fields)
    client.force_login(field)
    html = client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()
    assert f'hx-trigger="{interval}"' in html
