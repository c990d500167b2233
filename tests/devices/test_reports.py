"""Supervisor reads (devices/reports.py) and their pages: history filters, keyset pages, query
budgets, the streaming CSV export (never a verifyCode), the summary numbers, device lineage."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from devices import charts, reports
from devices.identifiers import NodeId
from devices.models import Chipset, NodeIdKind, Swap, SwapState, VerifyCodeMode
from devices.reports import HistoryFilters, export_csv, history_page, percentile
from tests.devices.factories import make_device, make_imei, make_swap, make_user

pytestmark = pytest.mark.django_db

CODE = "Q7ZK4MW9XB"
PAGES = ("swap_history", "swap_history_export", "swap_summary")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def swap_at(created: datetime, **fields: Any) -> Swap:
    """A swap requested at `created` (auto_now_add is overwritten after the insert)."""
    swap = make_swap(**fields)
    Swap.objects.filter(pk=swap.pk).update(created_at=created)
    swap.refresh_from_db()
    return swap


def ids(page_or_swaps: Any) -> list[int]:
    items = getattr(page_or_swaps, "items", page_or_swaps)
    return [swap.pk for swap in items]


def export_text(client: Any, **params: str) -> str:
    response = client.get(reverse("devices:swap_history_export"), params)
    assert response.status_code == 200
    assert response.streaming
    return b"".join(response.streaming_content).decode("utf-8")


def export_table(client: Any, **params: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(export_text(client, **params).lstrip("\ufeff"))))


@pytest.fixture
def supervisor(client: Any) -> Any:
    user = make_user(role="supervisor", username="sue")
    client.force_login(user)
    return user


# --- Permissions -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["field_service", "helpdesk"])
def test_other_roles_get_403_on_every_report_page(client: Any, role: str) -> None:
    client.force_login(make_user(role=role))
    device = make_device()
    urls = [reverse(f"devices:{name}") for name in PAGES]
    urls.append(reverse("devices:device_lineage", args=[device.pk]))
    for url in urls:
        assert client.get(url).status_code == 403, url


def test_anonymous_user_is_sent_to_login(client: Any) -> None:
    response = client.get(reverse("devices:swap_history_export"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_supervisor_reads_every_report_page(client: Any, supervisor: Any) -> None:
    swap = make_swap()
    for name in PAGES:
        assert client.get(reverse(f"devices:{name}")).status_code == 200, name
    lineage = client.get(reverse("devices:device_lineage", args=[swap.device.pk]))
    assert lineage.status_code == 200


def test_lineage_of_a_missing_device_is_404(client: Any, supervisor: Any) -> None:
    assert client.get(reverse("devices:device_lineage", args=[999999])).status_code == 404


# --- Filters ---------------------------------------------------------------------------------


def test_each_filter_narrows_the_history() -> None:
    tech_a = make_user(role="field_service", username="alice")
    tech_b = make_user(role="field_service", username="bob")
    device = make_device(node_id="urn:imei:" + make_imei())
    early = swap_at(at("2024-03-01T10:00:00"), requested_by=tech_a, state=SwapState.BOUND)
    failed = swap_at(
        at("2024-03-05T10:00:00"),
        requested_by=tech_b,
        device=device,
        state=SwapState.FAILED,
        error_code="100611",
        error_text="Take the device offline, then retry.",
    )
    late = swap_at(
        at("2024-03-09T10:00:00"),
        requested_by=tech_a,
        state=SwapState.EXPIRED,
        error_code="100610",
    )
    everything = ids(history_page(filters=HistoryFilters()))
    assert everything == [late.pk, failed.pk, early.pk]

    def only(**kw: Any) -> list[int]:
        return ids(history_page(filters=HistoryFilters(**kw)))

    assert only(date_from=date(2024, 3, 5)) == [late.pk, failed.pk]
    assert only(date_to=date(2024, 3, 5)) == [failed.pk, early.pk]  # "to" is inclusive
    assert only(date_from=date(2024, 3, 2), date_to=date(2024, 3, 8)) == [failed.pk]
    assert only(technician_id=tech_a.pk) == [late.pk, early.pk]
    assert only(device=device.device_id) == [failed.pk]
    assert only(outcome=SwapState.EXPIRED) == [late.pk]
    assert only(error_code="100611") == [failed.pk]
    assert only(technician_id=tech_b.pk, outcome=SwapState.BOUND) == []


def test_device_filter_finds_every_node_id_the_device_has_had() -> None:
    old_imei, new_imei = make_imei(), make_imei()
    device = make_device(node_id=new_imei)
    swap = make_swap(
        device=device,
        old_node_id=f"urn:imei:{old_imei}",
        new_node_id=new_imei,
        state=SwapState.BOUND,
    )
    make_swap()  # another device's swap
    for typed in (
        device.device_id,
        new_imei,
        f"urn:imei:{new_imei}",
        old_imei,
        f"URN:IMEI:{old_imei}",
    ):
        assert ids(history_page(filters=HistoryFilters(device=typed))) == [swap.pk], typed


@override_settings(TIME_ZONE="Europe/Berlin")
def test_dates_are_local_calendar_days() -> None:
    # 23:30 UTC on 10 March is 00:30 on 11 March in Berlin.
    swap = swap_at(at("2024-03-10T23:30:00"))
    assert ids(history_page(filters=HistoryFilters(date_from=date(2024, 3, 11)))) == [swap.pk]
    assert ids(history_page(filters=HistoryFilters(date_to=date(2024, 3, 10)))) == []


def test_history_page_filters_through_the_form(client: Any, supervisor: Any) -> None:
    mine = make_swap(state=SwapState.FAILED, error_code="100403", reason="INC-77")
    other = make_swap(state=SwapState.BOUND, reason="INC-88")
    response = client.get(reverse("devices:swap_history"), {"outcome": "failed"})
    html = response.content.decode()
    assert response.status_code == 200
    assert f"#{mine.pk}<" in html and "INC-77" in html
    assert f"#{other.pk}<" not in html and "INC-88" not in html
    # The CSV link carries the same filters.
    assert f"{reverse('devices:swap_history_export')}?outcome=failed" in html


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
    swap = make_swap(reason="INC-SHOULD-NOT-SHOW")
    for name in ("swap_history", "swap_history_export"):
        response = client.get(reverse(f"devices:{name}"), params)
        assert response.status_code == 400
        assert not response.streaming
        html = response.content.decode()
        assert message in html
        assert 'role="alert"' in html
        assert "INC-SHOULD-NOT-SHOW" not in html and f"#{swap.pk}<" not in html


def test_an_unreadable_cursor_starts_at_the_top(client: Any, supervisor: Any) -> None:
    swap = make_swap()
    for cursor in ("garbage!!", "W10", "WyJub3QtYS1kYXRlIiwgMV0", "x" * 5000):
        response = client.get(reverse("devices:swap_history"), {"after": cursor})
        assert response.status_code == 200
        assert f"#{swap.pk}<" in response.content.decode()


# --- Keyset pages and query budget -----------------------------------------------------------


def test_keyset_pages_neither_repeat_nor_skip() -> None:
    same_moment = at("2024-05-01T12:00:00")
    swaps = [swap_at(same_moment) for _ in range(4)]  # ties on created_at: id breaks them
    swaps += [swap_at(same_moment - timedelta(minutes=n)) for n in range(1, 6)]
    swaps += [swap_at(same_moment + timedelta(seconds=n, microseconds=n)) for n in range(1, 4)]
    expected = [s.pk for s in sorted(swaps, key=lambda s: (s.created_at, s.pk), reverse=True)]
    seen: list[int] = []
    after = None
    pages = 0
    while True:
        page = history_page(filters=HistoryFilters(), after=after, limit=5)
        seen += ids(page)
        pages += 1
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert seen == expected
    assert pages == 3  # 12 rows in pages of 5


def test_show_more_returns_only_the_next_rows(client: Any, supervisor: Any) -> None:
    swaps = [make_swap() for _ in range(reports.HISTORY_PAGE_SIZE + 2)]
    first = client.get(reverse("devices:swap_history")).content.decode()
    cursor = history_page(filters=HistoryFilters()).next_cursor
    assert cursor and "Show older swaps" in first
    more = client.get(reverse("devices:swap_history"), {"after": cursor}, HTTP_HX_REQUEST="true")
    html = more.content.decode()
    assert "<html" not in html and "<tr" in html
    assert html.count("<tr") == 2  # the two oldest swaps, and no further "more" row
    assert f"#{swaps[0].pk}<" in html and f"#{swaps[1].pk}<" in html


def test_an_htmx_request_without_a_cursor_gets_the_whole_page(client: Any, supervisor: Any) -> None:
    swap = make_swap()
    response = client.get(reverse("devices:swap_history"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "<html" in response.content.decode() and f"#{swap.pk}<" in response.content.decode()


def queries_for(client: Any, url: str, params: dict[str, str] | None = None) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
        assert response.status_code == 200
    return len(captured.captured_queries)


def test_history_query_count_is_the_same_for_1_and_50_rows(client: Any, supervisor: Any) -> None:
    url = reverse("devices:swap_history")
    filtered = {"technician": "sue", "outcome": "failed"}

    def failed_swap() -> Swap:
        return make_swap(state=SwapState.FAILED, error_code="100611", requested_by=supervisor)

    failed_swap()
    one, one_filtered = queries_for(client, url), queries_for(client, url, filtered)
    for _ in range(49):
        failed_swap()
    page = client.get(url, filtered).content.decode()
    assert page.count('data-label="Swap"') == 50
    assert queries_for(client, url) == one
    assert queries_for(client, url, filtered) == one_filtered


# --- CSV export ------------------------------------------------------------------------------


def test_export_has_the_columns_and_values_but_never_the_code(client: Any, supervisor: Any) -> None:
    tech = make_user(role="field_service", username="tina")
    device = make_device(name="Pump house 4")
    swap = make_swap(
        verify_code=CODE,
        device=device,
        requested_by=tech,
        reason="INC-4711 cracked housing",
        timeout_seconds=300,
        verify_code_mode=VerifyCodeMode.CUSTOM,
    )
    bound_at = swap.created_at + timedelta(seconds=95)
    Swap.objects.filter(pk=swap.pk).update(
        code_issued_at=swap.created_at + timedelta(seconds=3), bound_at=bound_at
    )
    response = client.get(reverse("devices:swap_history_export"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="swap-history-{today}.csv"'
    raw = b"".join(response.streaming_content)
    assert CODE.encode() not in raw and CODE.lower().encode() not in raw.lower()
    assert swap.verify_code_encrypted.encode() not in raw
    assert swap.verify_code_hash.encode() not in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8").lstrip("\ufeff"))))
    assert rows[0] == list(reports.EXPORT_HEADER)
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["swap id"] == str(swap.pk)
    assert row["technician"] == "tina"
    assert row["device id"] == device.device_id
    assert row["device name"] == "Pump house 4"
    assert row["old nodeId"] == swap.old_node_id
    assert row["new nodeId"] == swap.new_node_id
    assert row["kind"] == NodeIdKind.IMEI
    assert row["verifyCode mode"] == VerifyCodeMode.CUSTOM
    assert row["validity s"] == "300"
    assert row["ticket/reason"] == "INC-4711 cracked housing"
    assert row["state"] == SwapState.CODE_ISSUED
    assert row["seconds to bind"] == "95"
    assert row["code hint"] == f"…{CODE[-2:]}"
    assert datetime.fromisoformat(row["bound at"]) == bound_at.replace(microsecond=0)


def test_export_applies_the_same_filters_as_the_page(client: Any, supervisor: Any) -> None:
    wanted = make_swap(state=SwapState.FAILED, error_code="100426")
    make_swap(state=SwapState.FAILED, error_code="100611")
    make_swap(state=SwapState.BOUND)
    rows = export_table(client, outcome="failed", error_code="100426")
    assert [row["swap id"] for row in rows] == [str(wanted.pk)]


def test_export_defuses_spreadsheet_formulas(client: Any, supervisor: Any) -> None:
    make_swap(
        reason='=HYPERLINK("http://evil.example","x")', error_text="+1 call us", new_node_id="@x"
    )
    row = export_table(client)[0]
    assert row["ticket/reason"] == '\'=HYPERLINK("http://evil.example","x")'
    assert row["handling text"] == "'+1 call us"
    assert row["new nodeId"] == "'@x"
    assert reports.csv_safe("-2") == "'-2" and reports.csv_safe("INC-1") == "INC-1"


def test_export_yields_the_header_before_querying_the_swaps() -> None:
    make_swap()
    pieces = export_csv(filters=HistoryFilters())
    with CaptureQueriesContext(connection) as captured:
        header = next(pieces)
    assert captured.captured_queries == []
    assert header.startswith("\ufeffswap id,requested at,technician")
    assert sum(1 for _ in pieces) == 1  # one small flush holds the only row


def _bulk_swaps(count: int) -> None:
    device = make_device()
    user = make_user(role="field_service")
    Swap.objects.bulk_create(
        [
            Swap(
                device=device,
                requested_by=user,
                old_node_id=f"8600000{n:08d}",
                new_node_id=f"8610000{n:08d}",
                node_id_kind=NodeIdKind.IMEI,
                chipset=Chipset.HISILICON,
                reason=f"INC-{n} replaced after a storm, unit water damaged, see photos",
                state=SwapState.BOUND,
                error_text="",
                verify_code_hint="XY",
            )
            for n in range(count)
        ],
        batch_size=2000,
    )


def test_export_of_20000_rows_streams_in_bounded_memory() -> None:
    rows = 20_000
    _bulk_swaps(rows)
    tracemalloc.start()
    try:
        total_chars = 0
        lines = 0
        for piece in export_csv(filters=HistoryFilters()):
            total_chars += len(piece)
            lines += piece.count("\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == rows + 1
    # Streaming holds one chunk of 2,000 tuples (measured ~4.3 MB, the same for 5,000 rows);
    # the 20,000 tuples alone take ~24 MB materialised, model instances several times that.
    assert total_chars > 4_000_000
    assert peak < 8_000_000, f"peak {peak} bytes"


def test_a_real_swap_code_never_reaches_the_reports(
    client: Any, supervisor: Any, sim: Any, platform_settings: Any
) -> None:
    """A swap through the services and the simulator, with a code we know: not in any report."""
    from devices.services import swap_mark_bound, swap_request, swap_send
    from devices.services.approvals import swap_approve

    sim_device = sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, limit=1)[0]
    device = make_device(
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
        actor=make_user(role="field_service"),
        reason="INC-9 real swap",
    )
    if swap.state == SwapState.PENDING_APPROVAL:  # the four-eyes policy may hold a custom code
        swap_approve(swap=swap, actor=supervisor)
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert swap.state == SwapState.CODE_ISSUED
    assert sim.device(device.device_id)["binding"]["verifyCode"].upper() == code

    def assert_nowhere() -> None:
        history = reverse("devices:swap_history")
        pages = [  # each page, and what shows that it did list this swap
            (client.get(history).content, f"#{swap.pk}<"),
            (client.get(history, {"device": device.device_id}).content, f"#{swap.pk}<"),
            (
                b"".join(client.get(reverse("devices:swap_history_export")).streaming_content),
                f"\n{swap.pk},",
            ),
            (client.get(reverse("devices:swap_summary")).content, 'id="kpi-total">1<'),
            (
                client.get(reverse("devices:device_lineage", args=[device.pk])).content,
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


# --- Summary ---------------------------------------------------------------------------------


def test_percentile_matches_percentile_cont() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([60.0, 120.0, 180.0, 240.0], 0.5) == 150.0
    assert percentile([60.0, 120.0, 180.0, 240.0, 600.0], 0.9) == pytest.approx(456.0)


def test_summary_numbers_on_a_known_data_set() -> None:
    alice = make_user(role="field_service", username="alice")
    bob = make_user(role="field_service", username="bob")
    carol = make_user(role="field_service", username="carol")
    day1, day3 = at("2024-06-01T08:00:00"), at("2024-06-03T08:00:00")
    for seconds in (60, 120, 180, 240, 600):
        swap = swap_at(day1, requested_by=alice, state=SwapState.BOUND)
        Swap.objects.filter(pk=swap.pk).update(bound_at=day1 + timedelta(seconds=seconds))
    for text in ("Old text", "Take the device offline, then retry."):
        swap_at(
            day3, requested_by=bob, state=SwapState.FAILED, error_code="100611", error_text=text
        )
    swap_at(day3, requested_by=carol, state=SwapState.FAILED, error_code="100426", error_text="Dup")
    swap_at(day3, requested_by=bob, state=SwapState.EXPIRED)
    swap_at(day3, requested_by=carol, state=SwapState.CANCELLED)
    swap_at(at("2024-06-05T08:00:00"), requested_by=carol, state=SwapState.FAILED)  # outside

    summary = reports.swap_summary(date_from=date(2024, 6, 1), date_to=date(2024, 6, 3))
    assert summary.total == 10
    assert summary.bound == 5
    assert [(d.day, d.bound, d.failed, d.other) for d in summary.per_day] == [
        (date(2024, 6, 1), 5, 0, 0),
        (date(2024, 6, 2), 0, 0, 0),
        (date(2024, 6, 3), 0, 4, 1),
    ]
    assert [(o.state, o.count) for o in summary.outcomes] == [
        (SwapState.BOUND, 5),
        (SwapState.EXPIRED, 1),
        (SwapState.FAILED, 3),
        (SwapState.CANCELLED, 1),
    ]
    assert summary.outcomes[0].share == 0.5
    assert summary.median_seconds_to_bind == 180.0
    assert summary.p90_seconds_to_bind == pytest.approx(456.0)
    assert [(e.code, e.count, e.handling_text) for e in summary.top_errors] == [
        ("100611", 2, "Take the device offline, then retry."),  # the latest text
        ("100426", 1, "Dup"),
    ]
    assert [
        (t.username, t.failed, t.expired, t.total) for t in summary.top_failing_technicians
    ] == [
        ("bob", 2, 1, 3),
        ("carol", 1, 0, 2),
    ]


def test_summary_page_draws_accessible_charts(client: Any, supervisor: Any) -> None:
    make_swap(state=SwapState.FAILED, error_code="100611", error_text="Take it offline <now>")
    response = client.get(reverse("devices:swap_summary"))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('role="img"') == 2
    assert '<title id="chart-per-day-title">Swaps per day</title>' in html
    assert "1 swaps over 30 days" in html
    assert "Take it offline &lt;now&gt;" in html and "<now>" not in html
    assert "css/reports.css" in html and "cdn" not in html.lower()


def test_summary_refuses_a_backwards_or_too_long_period(client: Any, supervisor: Any) -> None:
    url = reverse("devices:swap_summary")
    backwards = client.get(url, {"date_from": "2024-02-01", "date_to": "2024-01-01"})
    assert backwards.status_code == 400 and "“To” is before “From”" in backwards.content.decode()
    too_long = client.get(url, {"date_from": "2020-01-01", "date_to": "2024-01-01"})
    assert too_long.status_code == 400 and "at most 366 days" in too_long.content.decode()


def test_charts_escape_text_and_scale_to_a_round_top() -> None:
    assert [charts.nice_ceiling(v) for v in (0, 1, 3, 7, 11, 240)] == [1, 1, 5, 10, 20, 250]
    svg = charts.horizontal_bars(
        chart_id="c",
        title="<script>",
        description="d",
        bars=[charts.Bar(label="a&b", value=2, css_class="fill-good")],
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a&amp;b" in svg


# --- Lineage ---------------------------------------------------------------------------------


def test_lineage_lists_node_ids_and_swaps_in_order_with_the_audit_events(
    client: Any, supervisor: Any
) -> None:
    first, second, refused, third = (make_imei() for _ in range(4))
    device = make_device(node_id=third)
    tech = make_user(role="field_service", username="tom")
    start = at("2023-01-10T09:00:00")
    a = swap_at(
        start,
        device=device,
        old_node_id=first,
        new_node_id=second,
        state=SwapState.BOUND,
        requested_by=tech,
        reason="INC-1",
    )
    b = swap_at(
        start + timedelta(days=200),
        device=device,
        old_node_id=second,
        new_node_id=refused,
        state=SwapState.FAILED,
        error_code="100426",
    )
    c = swap_at(
        start + timedelta(days=400),
        device=device,
        old_node_id=second,
        new_node_id=third,
        state=SwapState.BOUND,
        reason="INC-3",
    )
    Swap.objects.filter(pk=a.pk).update(bound_at=start + timedelta(minutes=4))
    Swap.objects.filter(pk=c.pk).update(bound_at=start + timedelta(days=400, minutes=2))
    audit_record(
        action=AuditAction.SWAP_BOUND, actor=tech, device_id=device.device_id, swap_id=c.pk
    )
    audit_record(action=AuditAction.SWAP_BOUND, device_id="someone-else", swap_id=b.pk)

    lineage = reports.device_lineage(device=device)
    assert [p.node_id for p in lineage.node_ids] == [first, second, third]
    assert [p.swap.pk if p.swap else None for p in lineage.node_ids] == [None, a.pk, c.pk]
    assert ids(lineage.swaps) == [a.pk, b.pk, c.pk]
    assert not lineage.changed_outside
    assert [(e.action, e.swap_id) for e in lineage.events] == [(AuditAction.SWAP_BOUND, c.pk)]

    html = client.get(reverse("devices:device_lineage", args=[device.pk])).content.decode()
    assert html.index(first) < html.index(second) < html.index(refused)
    assert "INC-1" in html and "INC-3" in html and "tom" in html and "100426" in html


def test_lineage_notes_a_node_id_changed_outside_iotadmin() -> None:
    old, new, elsewhere = make_imei(), make_imei(), make_imei()
    device = make_device(node_id=elsewhere)
    make_swap(device=device, old_node_id=old, new_node_id=new, state=SwapState.BOUND)
    lineage = reports.device_lineage(device=device)
    assert lineage.changed_outside
    assert [p.node_id for p in lineage.node_ids] == [old, new, elsewhere]


def test_lineage_of_a_device_without_swaps_shows_its_node_id() -> None:
    device = make_device()
    lineage = reports.device_lineage(device=device)
    assert [p.node_id for p in lineage.node_ids] == [device.node_id]
    assert lineage.swaps == [] and not lineage.changed_outside
