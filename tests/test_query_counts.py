"""Query budgets: every page renders with the same number of queries for 1 row and for 50 rows,
and that number is the one recorded in tests/query_counts.json (as NetBox's per-app
query_counts.json). A page that grows a query, or an N+1, fails here with the SQL it ran.

To accept new numbers on purpose (say why in the commit message):

    UPDATE_QUERY_BASELINES=1 .venv/bin/pytest tests/test_query_counts.py

Each measurement builds its own rows inside a savepoint that is rolled back afterwards, logs a
fresh user in on a fresh client, makes one unmeasured request to the same URL (process-wide
caches such as content types warm, as in production; a code page's one-time "code viewed" audit
done) and counts the queries of the next one, a reload. The numbers hold on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from bulk.models import BulkBatch
from bulk.services import bulk_upload
from devices.approvals import approval_queue
from devices.models import Swap, SwapState, VerifyCodeMode
from devices.selectors import LiveStatus, device_search
from devices.services.offline import LiveStatusReading, live_status_cache_key
from devices.views import DEVICE_HISTORY_SIZE, DEVICE_PAGE_SIZE
from reports.selectors import HISTORY_PAGE_SIZE, HistoryFilters, history_page
from tests.bulk.helpers import csv_bytes, line
from tests.factories import DeviceFactory, SwapFactory, UserFactory, make_imei

pytestmark = pytest.mark.django_db

BASELINE_FILE = Path(__file__).with_name("query_counts.json")
UPDATE_ENV = "UPDATE_QUERY_BASELINES"
UPDATE_HINT = f"{UPDATE_ENV}=1 .venv/bin/pytest tests/test_query_counts.py"
SIZES = (1, 50)
HTMX = {"HTTP_HX_REQUEST": "true"}
CODE = "K7Q2M9XZ4B"
CLOSED_STATES = (SwapState.BOUND, SwapState.FAILED, SwapState.EXPIRED, SwapState.CANCELLED)


@dataclass
class PageRequest:
    """What to measure: who asks, for which URL, and how many rows the answer must show."""

    user: Any
    url: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    shows: Callable[[str], bool] = lambda _content: True


# --- the data behind each page, for n rows ------------------------------------------------------


def _user(role: str) -> Any:
    """A user in a role, without a password (hashing one costs more than the whole page)."""
    return UserFactory(role=role, password=None)


def _rows_shown(marker: str, expected: int) -> Callable[[str], bool]:
    return lambda content: content.count(marker) == expected


def device_search_page(n: int, *, headers: dict[str, str] | None = None) -> PageRequest:
    for i in range(n):
        DeviceFactory(name=f"Pumpwerk {i:03d}")
    DeviceFactory(name="Elsewhere")  # not matched
    shown = min(n, DEVICE_PAGE_SIZE)
    return PageRequest(
        user=_user("field_service"),
        url=reverse("devices:device_list"),
        params={"q": "Pumpwerk"},
        headers=headers or {},
        shows=_rows_shown("Pumpwerk ", shown),
    )


def device_search_more_rows(n: int) -> PageRequest:
    """The "more results" partial: the n rows after a first full page."""
    for i in range(DEVICE_PAGE_SIZE + n):
        DeviceFactory(name=f"Pumpwerk {i:03d}")
    first = device_search(query="Pumpwerk", after=None, limit=DEVICE_PAGE_SIZE)
    return PageRequest(
        user=_user("field_service"),
        url=reverse("devices:device_list"),
        params={"q": "Pumpwerk", "after": first.next_cursor or ""},
        headers=HTMX,
        shows=_rows_shown("Pumpwerk ", min(n, DEVICE_PAGE_SIZE)),
    )


def device_detail_page(n: int, *, headers: dict[str, str] | None = None) -> PageRequest:
    """A device with n past swaps (the page lists the latest 20) seen by their requester."""
    device = DeviceFactory()
    tech = _user("field_service")
    for i in range(n):
        SwapFactory(device=device, requested_by=tech, state=CLOSED_STATES[i % len(CLOSED_STATES)])
    return PageRequest(
        user=tech,
        url=reverse("devices:device_detail", args=[device.pk]),
        headers=headers or {},
        shows=(lambda _content: True)
        if headers
        else _rows_shown('class="swap-link"', min(n, DEVICE_HISTORY_SIZE)),
    )


def device_live_status_partial(n: int) -> PageRequest:
    """The device page's live-status partial for a device with n past swaps, the platform's
    reading already shared (cached): no platform call is made."""
    device = DeviceFactory()
    tech = _user("field_service")
    for i in range(n):
        SwapFactory(device=device, requested_by=tech, state=CLOSED_STATES[i % len(CLOSED_STATES)])
    reading = LiveStatusReading(live=LiveStatus(status="ONLINE"), checked_at=timezone.now())
    cache.set(live_status_cache_key(device), reading, 300)
    return PageRequest(
        user=tech,
        url=reverse("devices:device_live_status", args=[device.pk]),
        headers=HTMX,
        shows=lambda content: 'data-live-status="ONLINE"' in content,
    )


def swap_detail_page(n: int, *, headers: dict[str, str] | None = None) -> PageRequest:
    """A swap with an issued code, shown to its requester, with n audit events and n re-issued
    predecessors behind it."""
    device = DeviceFactory()
    tech = _user("field_service")
    previous = None
    for _ in range(n):
        previous = SwapFactory(device=device, requested_by=tech, expired=True, reissue_of=previous)
    swap = SwapFactory(
        issued=True,
        device=device,
        requested_by=tech,
        verify_code=CODE,
        code_issued_at=timezone.now(),
        code_expires_at=timezone.now() + timedelta(hours=1),
        reissue_of=previous,
    )
    for _ in range(n):
        audit_record(action=AuditAction.SWAP_SENT, device_id=device.device_id, swap_id=swap.pk)
    return PageRequest(
        user=tech,
        url=reverse("devices:swap_detail", args=[swap.pk]),
        headers=headers or {},
        shows=lambda content: CODE in content,
    )


def _supervisor_swaps(n: int) -> list[Swap]:
    """n swaps, half failed with their own error code, by up to 12 technicians (more than the
    summary's top 10)."""
    techs = [_user("field_service") for _ in range(min(n, 12))]
    now = timezone.now()
    swaps = []
    for i in range(n):
        failed = i % 2 == 0
        swaps.append(
            SwapFactory(
                requested_by=techs[i % len(techs)],
                state=SwapState.FAILED if failed else SwapState.BOUND,
                error_code=f"1006{i:02d}" if failed else "",
                code_issued_at=now,
                bound_at=None if failed else now + timedelta(seconds=30 + i),
            )
        )
    return swaps


def swap_history_page(n: int) -> PageRequest:
    _supervisor_swaps(n)
    return PageRequest(
        user=_user("supervisor"),
        url=reverse("reports:swap_history"),
        shows=_rows_shown('data-label="Swap"', n),
    )


def swap_history_more_rows(n: int) -> PageRequest:
    """The "Show older swaps" partial: the n swaps after a first full page."""
    _supervisor_swaps(HISTORY_PAGE_SIZE + n)
    first = history_page(filters=HistoryFilters())
    return PageRequest(
        user=_user("supervisor"),
        url=reverse("reports:swap_history"),
        params={"after": first.next_cursor or ""},
        headers=HTMX,
        shows=_rows_shown('data-label="Swap"', n),
    )


def swap_history_export(n: int) -> PageRequest:
    swaps = _supervisor_swaps(n)
    return PageRequest(
        user=_user("supervisor"),
        url=reverse("reports:swap_history_export"),
        shows=lambda content: all(s.new_node_id in content for s in swaps),
    )


def swap_summary_page(n: int) -> PageRequest:
    _supervisor_swaps(n)
    return PageRequest(
        user=_user("supervisor"),
        url=reverse("reports:swap_summary"),
        shows=lambda content: f'id="kpi-total">{n}<' in content,
    )


def device_lineage_page(n: int) -> PageRequest:
    """A device with n swaps, each bound and audited."""
    device = DeviceFactory()
    tech = _user("field_service")
    approver = _user("helpdesk")
    swaps = []
    for _ in range(n):
        swap = SwapFactory(
            device=device,
            requested_by=tech,
            decided_by=approver,
            bound=True,
            bound_at=timezone.now(),
        )
        audit_record(action=AuditAction.SWAP_BOUND, device_id=device.device_id, swap_id=swap.pk)
        swaps.append(swap)
    device.node_id = swaps[-1].new_node_id
    device.save(update_fields=["node_id"])
    return PageRequest(
        user=_user("supervisor"),
        url=reverse("reports:device_lineage", args=[device.pk]),
        shows=lambda content: all(s.new_node_id in content for s in swaps),
    )


def approval_queue_page(n: int) -> PageRequest:
    tech = _user("field_service")
    for _ in range(n):
        SwapFactory(
            requested_by=tech,
            state=SwapState.PENDING_APPROVAL,
            needs_approval=True,
            approval_reasons=["The verifyCode is a custom one chosen by the requester."],
            verify_code_mode=VerifyCodeMode.CUSTOM,
        )
    assert len(approval_queue().items) == n
    return PageRequest(
        user=_user("helpdesk"),
        url=reverse("devices:approval_queue"),
        shows=_rows_shown('class="approval card"', n),
    )


def bulk_upload_page(n: int) -> PageRequest:
    """The upload page with n earlier files (it lists the latest 10)."""
    helpdesk = _user("helpdesk")
    device = DeviceFactory()
    for _ in range(n):
        bulk_upload(
            actor=helpdesk, filename="x.csv", data=csv_bytes(line(device.device_id, make_imei()))
        )
    assert BulkBatch.objects.count() == n
    return PageRequest(
        user=helpdesk, url=reverse("bulk:upload"), shows=_rows_shown("x.csv</strong>", min(n, 10))
    )


def bulk_batch_page(n: int, *, headers: dict[str, str] | None = None) -> PageRequest:
    """A dry-run file of n rows waiting to be confirmed."""
    helpdesk = _user("helpdesk")
    lines = [line(DeviceFactory().device_id, make_imei()) for _ in range(n)]
    batch = bulk_upload(actor=helpdesk, filename="x.csv", data=csv_bytes(*lines))
    return PageRequest(
        user=helpdesk,
        url=reverse("bulk:batch", kwargs={"pk": batch.pk}),
        headers=headers or {},
        shows=_rows_shown('<tr id="row-', n),
    )


PAGES: dict[str, Callable[[int], PageRequest]] = {
    "devices:device_list (search)": device_search_page,
    "devices:device_list (search) #device-results": lambda n: device_search_page(n, headers=HTMX),
    "devices:device_list (more rows) #device-rows": device_search_more_rows,
    "devices:device_detail": device_detail_page,
    "devices:device_detail #swap-form": lambda n: device_detail_page(n, headers=HTMX),
    "devices:device_live_status": device_live_status_partial,
    "devices:swap_detail": swap_detail_page,
    "devices:swap_detail #code-panel": lambda n: swap_detail_page(n, headers=HTMX),
    "reports:swap_history": swap_history_page,
    "reports:swap_history (older swaps) #history-rows": swap_history_more_rows,
    "reports:swap_history_export": swap_history_export,
    "reports:swap_summary": swap_summary_page,
    "reports:device_lineage": device_lineage_page,
    "devices:approval_queue": approval_queue_page,
    "bulk:upload": bulk_upload_page,
    "bulk:batch": bulk_batch_page,
    "bulk:batch #live": lambda n: bulk_batch_page(n, headers=HTMX),
}


# --- measuring ----------------------------------------------------------------------------------


def _content(response: Any) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode("utf-8-sig")
    return response.content.decode()


def _get(client: Client, request: PageRequest) -> str:
    response = client.get(request.url, request.params, **request.headers)
    content = _content(response)  # a streaming body runs its queries while it is read
    assert response.status_code == 200, f"{request.url}: {response.status_code}"
    return content


def measure(build: Callable[[int], PageRequest], size: int) -> list[str]:
    """The SQL statements of one request for the page with `size` rows (the rows are rolled
    back afterwards, so each size starts from the same empty tables)."""
    with transaction.atomic():
        request = build(size)
        ContentType.objects.clear_cache()
        client = Client()
        client.force_login(request.user)
        _get(client, request)  # warm: content types; the first view of a code is audited once
        with CaptureQueriesContext(connection) as captured:
            content = _get(client, request)
        assert request.shows(content), f"{request.url} does not show the {size} row(s) expected"
        transaction.set_rollback(True)
    return [query["sql"] for query in captured.captured_queries]


# --- the baseline file --------------------------------------------------------------------------


def _updating() -> bool:
    return os.environ.get(UPDATE_ENV, "") not in ("", "0")


def load_baselines() -> dict[str, dict[str, Any]]:
    if not BASELINE_FILE.exists():
        return {}
    return json.loads(BASELINE_FILE.read_text(encoding="utf-8"))


def write_baseline(page: str, counts: dict[str, int]) -> None:
    """Record one page's counts (read-modify-write, so a -k subset updates only its pages); a
    recorded reason is kept only while the page still differs between sizes."""
    baselines = load_baselines()
    entry: dict[str, Any] = dict(counts)
    reason = baselines.get(page, {}).get("reason")
    if reason and len(set(counts.values())) > 1:
        entry["reason"] = reason
    baselines[page] = entry
    save_baselines(baselines)


def save_baselines(baselines: dict[str, dict[str, Any]]) -> None:
    """Sorted keys, two-space indent, one final newline: a re-run with the same numbers leaves
    the file byte for byte as it was."""
    text = json.dumps(baselines, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    BASELINE_FILE.write_text(text, encoding="utf-8")


def _mismatch(page: str, size: int, expected: int | None, statements: list[str]) -> str:
    listing = "\n".join(f"  {i:3d}. {sql}" for i, sql in enumerate(statements, 1))
    return (
        f"Query count changed for {page!r} with {size} row(s): expected {expected}, "
        f"got {len(statements)}.\nStatements captured:\n{listing}\n"
        f"If the new count is intended, update the baseline: {UPDATE_HINT}"
    )


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_query_count_matches_the_baseline(page: str) -> None:
    statements = {size: measure(PAGES[page], size) for size in SIZES}
    counts = {str(size): len(sql) for size, sql in statements.items()}
    if _updating():
        write_baseline(page, counts)
    baseline = load_baselines().get(page)
    assert baseline is not None, f"{page!r} has no baseline in {BASELINE_FILE.name}: {UPDATE_HINT}"
    mismatches = [
        _mismatch(page, size, baseline.get(str(size)), sql)
        for size, sql in statements.items()
        if len(sql) != baseline.get(str(size))
    ]
    assert not mismatches, "\n".join(mismatches)
    if "reason" not in baseline:
        one, fifty = (str(size) for size in SIZES)
        assert counts[one] == counts[fifty], (
            f"{page!r} runs {counts[fifty]} queries for 50 rows but {counts[one]} for 1: a query "
            f"per row. Fix it with select_related/prefetch_related/annotate in the selector."
        )


def test_every_baseline_belongs_to_a_measured_page() -> None:
    baselines = load_baselines()
    if _updating():
        save_baselines({page: counts for page, counts in baselines.items() if page in PAGES})
    stale = sorted(set(load_baselines()) - set(PAGES))
    assert not stale, f"{BASELINE_FILE.name} lists pages no test measures: {stale}"
