"""The report pages over HTTP: who may read them, the history page (filters through the form,
inline errors, "show older swaps", query budget), and no verifyCode on any of them."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from devices.identifiers import NodeId
from devices.models import Chipset, Swap, SwapState, VerifyCodeMode
from reports import selectors
from reports.selectors import HistoryFilters, history_page
from tests.factories import DeviceFactory, SwapFactory, UserFactory, make_imei
from tests.reports.helpers import export_table

PAGES = ("swap_history", "swap_history_export", "swap_summary")

pytestmark = pytest.mark.django_db


# --- Permissions -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["field_service", "helpdesk"])
def test_other_roles_get_403_on_every_report_page(client: Any, role: str) -> None:
    client.force_login(UserFactory(role=role))
    device = DeviceFactory()
    urls = [reverse(f"reports:{name}") for name in PAGES]
    urls.append(reverse("reports:device_lineage", args=[device.pk]))
    for url in urls:
        assert client.get(url).status_code == 403, url


def test_anonymous_user_is_sent_to_login(client: Any) -> None:
    response = client.get(reverse("reports:swap_history_export"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_supervisor_reads_every_report_page(client: Any, supervisor: Any) -> None:
    swap = SwapFactory()
    for name in PAGES:
        assert client.get(reverse(f"reports:{name}")).status_code == 200, name
    lineage = client.get(reverse("reports:device_lineage", args=[swap.device.pk]))
    assert lineage.status_code == 200


def test_lineage_of_a_missing_device_is_404(client: Any, supervisor: Any) -> None:
    assert client.get(reverse("reports:device_lineage", args=[999999])).status_code == 404


# --- The history page ------------------------------------------------------------------------


def test_history_page_filters_through_the_form(client: Any, supervisor: Any) -> None:
    mine = SwapFactory(failed=True, error_code="100403", reason="INC-77")
    other = SwapFactory(bound=True, reason="INC-88")
    response = client.get(reverse("reports:swap_history"), {"outcome": "failed"})
    html = response.content.decode()
    assert response.status_code == 200
    assert f"#{mine.pk}<" in html and "INC-77" in html
    assert f"#{other.pk}<" not in html and "INC-88" not in html
    # The CSV link carries the same filters.
    assert f"{reverse('reports:swap_history_export')}?outcome=failed" in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date_from": "2024-03-10", "date_to": "2024-03-01"}, "“To” is before “From”"),
        ({"date_from": "2024-13-45"}, "Enter a valid date."),
        ({"technician": "nobody-by-that-name"}, "No user is called “nobody-by-that-name”."),
        ({"outcome": "exploded"}, "Select a valid choice."),
        ({"error_code": "=HYPERLINK(1)"}, "An error code is digits"),
        ({"device": "x" * 300}, "at most 256 characters"),
    ],
)
def test_an_invalid_filter_is_an_inline_message(
    client: Any, supervisor: Any, params: dict[str, str], message: str
) -> None:
    swap = SwapFactory(reason="INC-SHOULD-NOT-SHOW")
    for name in ("swap_history", "swap_history_export"):
        response = client.get(reverse(f"reports:{name}"), params)
        assert response.status_code == 400
        assert not response.streaming
        html = response.content.decode()
        assert message in html
        assert 'role="alert"' in html
        assert "INC-SHOULD-NOT-SHOW" not in html and f"#{swap.pk}<" not in html


def test_an_unreadable_cursor_starts_at_the_top(client: Any, supervisor: Any) -> None:
    swap = SwapFactory()
    for cursor in ("garbage!!", "W10", "WyJub3QtYS1kYXRlIiwgMV0", "x" * 5000):
        response = client.get(reverse("reports:swap_history"), {"after": cursor})
        assert response.status_code == 200
        assert f"#{swap.pk}<" in response.content.decode()


def test_show_more_returns_only_the_next_rows(client: Any, supervisor: Any) -> None:
    swaps = [SwapFactory() for _ in range(selectors.HISTORY_PAGE_SIZE + 2)]
    first = client.get(reverse("reports:swap_history")).content.decode()
    cursor = history_page(filters=HistoryFilters()).next_cursor
    assert cursor and "Show older swaps" in first
    more = client.get(reverse("reports:swap_history"), {"after": cursor}, HTTP_HX_REQUEST="true")
    html = more.content.decode()
    assert "<html" not in html and "<tr" in html
    assert html.count("<tr") == 2  # the two oldest swaps, and no further "more" row
    assert f"#{swaps[0].pk}<" in html and f"#{swaps[1].pk}<" in html


def test_an_htmx_request_without_a_cursor_gets_the_whole_page(client: Any, supervisor: Any) -> None:
    swap = SwapFactory()
    response = client.get(reverse("reports:swap_history"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "<html" in response.content.decode() and f"#{swap.pk}<" in response.content.decode()


def queries_for(client: Any, url: str, params: dict[str, str] | None = None) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
        assert response.status_code == 200
    return len(captured.captured_queries)


def test_history_query_count_is_the_same_for_1_and_50_rows(client: Any, supervisor: Any) -> None:
    url = reverse("reports:swap_history")
    filtered = {"technician": "sue", "outcome": "failed"}

    def failed_swap() -> Swap:
        return SwapFactory(failed=True, error_code="100611", requested_by=supervisor)

    failed_swap()
    one, one_filtered = queries_for(client, url), queries_for(client, url, filtered)
    for _ in range(49):
        failed_swap()
    page = client.get(url, filtered).content.decode()
    assert page.count('data-label="Swap"') == 50
    assert queries_for(client, url) == one
    assert queries_for(client, url, filtered) == one_filtered


# --- No verifyCode on any report -------------------------------------------------------------


def test_a_real_swap_code_never_reaches_the_reports(
    client: Any, supervisor: Any, sim: Any, platform_settings: Any
) -> None:
    """A swap through the services and the simulator, with a code we know: not in any report."""
    from devices.services import swap_mark_bound, swap_request, swap_send
    from devices.services.approvals import swap_approve

    sim_device = sim.devices(
        status="OFFLINE", activated=True, owner=sim.app_id, nbiot=False, limit=1
    )[0]
    device = DeviceFactory(
        device_id=sim_device["deviceId"],
        node_id=sim_device["nodeId"],
        status=sim_device["status"],
        activated=True,
    )
    code = "ZR8M2KQ7VW"
    swap = swap_request(
        device=device,
        new_node_id=NodeId.from_imei(make_imei(), chipset=Chipset.QUALCOMM),
        verify_code_mode=VerifyCodeMode.CUSTOM,
        custom_verify_code=code,
        actor=UserFactory(field_service=True),
        reason="INC-9 real swap",
    )
    if swap.state == SwapState.PENDING_APPROVAL:  # the four-eyes policy may hold a custom code
        swap_approve(swap=swap, actor=supervisor)
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert swap.state == SwapState.CODE_ISSUED
    assert sim.device(device.device_id)["binding"]["verifyCode"].upper() == code

    def assert_nowhere() -> None:
        history = reverse("reports:swap_history")
        pages = [  # each page, and what shows that it did list this swap
            (client.get(history).content, f"#{swap.pk}<"),
            (client.get(history, {"device": device.device_id}).content, f"#{swap.pk}<"),
            (
                b"".join(client.get(reverse("reports:swap_history_export")).streaming_content),
                f"\n{swap.pk},",
            ),
            (client.get(reverse("reports:swap_summary")).content, 'id="kpi-total">1<'),
            (
                client.get(reverse("reports:device_lineage", args=[device.pk])).content,
                f"#{swap.pk}<",
            ),
        ]
        for body, evidence in pages:
            assert code.encode() not in body.upper()
            assert evidence.encode() in body

    assert_nowhere()
    assert sim.bind(swap.new_node_id, code)["bound"] is True
    swap_mark_bound(device_id=device.device_id, node_id=swap.new_node_id)
    assert_nowhere()
    row = export_table(client)[0]
    assert row["state"] == SwapState.BOUND and row["code hint"] == f"…{code[-2:]}"
