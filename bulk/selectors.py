"""Reads of the bulk app: a batch for a user, its progress and ETA, a page of its rows, the
shared flow limiter's current use, and the result file's rows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet

from bulk.models import BatchState, BulkBatch, BulkRow, RowState
from devices.models import IN_FLIGHT_SWAP_STATES, SwapState
from devices.permissions import Perm
from oceanconnect import FlowUsage, Lane, StoreUnavailable

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ROWS_PAGE_SIZE = 100

# A sent row is "open" while its swap is in flight; one waiting for a person's approval is not
# (the page stops polling; the approval queue takes it from there).
OPEN_ROW = Q(state__in=(RowState.WAITING, RowState.SUBMITTING)) | Q(
    state=RowState.SUBMITTED, swap__state__in=IN_FLIGHT_SWAP_STATES
)
FAILED_ROW = Q(state=RowState.REFUSED) | Q(state=RowState.SUBMITTED, swap__state=SwapState.FAILED)
SENT_ROW = Q(
    state=RowState.SUBMITTED,
    swap__state__in=(SwapState.CODE_ISSUED, SwapState.BOUND, SwapState.EXPIRED),
)
APPROVAL_ROW = Q(state=RowState.SUBMITTED, swap__state=SwapState.PENDING_APPROVAL)
CONFIRMED_ROW = ~Q(state__in=(RowState.INVALID, RowState.READY))
ROW_FILTERS = {"all": Q(), "failed": FAILED_ROW, "open": OPEN_ROW, "sent": SENT_ROW}


@dataclass(frozen=True)
class BatchProgress:
    total: int
    open: int
    failed: int
    sent: int
    awaiting_approval: int
    invalid: int
    ready: int
    eta_seconds: int | None
    # The bulk lane's expected slots per window, the window's limit, and the calls of people's
    # swaps in the current window (when the ETA was computed).
    bulk_share: int | None = None
    flow_limit: int | None = None
    interactive_calls: int = 0

    @property
    def done(self) -> int:
        return self.total - self.open

    @property
    def percent(self) -> int:
        if not self.total:
            return 100
        return math.floor(100 * self.done / self.total)

    @property
    def finished(self) -> bool:
        return self.open == 0


def flow_usage() -> FlowUsage:
    """Read the platform client's shared limiter (one store read; no platform call)."""
    from devices.platform_wiring import get_client

    client = get_client()
    try:
        return client.flow_usage()
    except StoreUnavailable:
        limit = max(1, client.config.flow_limit_per_minute)
        return FlowUsage(
            limit=limit,
            used=limit,
            window=client.config.flow_window,
            seconds_until_free=5.0,
            available=False,
        )


def bulk_share(*, usage: FlowUsage) -> int:
    """Slots per window the bulk lane can expect: the limit minus the interactive reserve,
    minus what the lanes above it use beyond that reserve (people's swaps and reconcile
    checks in the current window). Background calls yield to bulk and do not count."""
    lanes = usage.lanes
    above = lanes.get(Lane.RECONCILE.value, 0) + max(
        0, lanes.get(Lane.INTERACTIVE.value, 0) - usage.reserve
    )
    return max(1, usage.limit - usage.reserve - above)


def eta_seconds(*, remaining: int, usage: FlowUsage) -> int:
    """Rows left at the bulk lane's pace: remaining / its share per minute, plus whole windows
    to wait when the calls already in the window leave too few slots."""
    if remaining <= 0:
        return 0
    share = bulk_share(usage=usage)
    paced = remaining * 60.0 / share
    overflow = (usage.used + remaining) / share - 1
    return math.ceil(max(paced, overflow * usage.window))


def batch_for_user(*, user: User, batch_id: int) -> BulkBatch:
    """The batch if this user may see bulk batches: DoesNotExist or PermissionDenied."""
    if not user.has_perm(Perm.BULK_SWAP):
        raise PermissionDenied("You may not use bulk swaps.")
    return BulkBatch.objects.select_related("uploaded_by").get(pk=batch_id)


def batches_recent(*, user: User, limit: int = 10) -> list[BulkBatch]:
    if not user.has_perm(Perm.BULK_SWAP):
        return []
    return list(
        BulkBatch.objects.select_related("uploaded_by")
        .exclude(state=BatchState.DISCARDED)
        .order_by("-created_at", "-id")[:limit]
    )


def batch_progress(*, batch: BulkBatch, with_eta: bool = True) -> BatchProgress:
    """Counts of the batch's rows by outcome, in one query, and the ETA of what is left."""
    counts = BulkRow.objects.filter(batch=batch).aggregate(
        total=Count("pk", filter=CONFIRMED_ROW),
        open=Count("pk", filter=OPEN_ROW),
        failed=Count("pk", filter=FAILED_ROW),
        sent=Count("pk", filter=SENT_ROW),
        awaiting_approval=Count("pk", filter=APPROVAL_ROW),
        invalid=Count("pk", filter=Q(state=RowState.INVALID)),
        ready=Count("pk", filter=Q(state=RowState.READY)),
    )
    if not (with_eta and counts["open"]):
        return BatchProgress(eta_seconds=None, **counts)
    usage = flow_usage()
    return BatchProgress(
        eta_seconds=eta_seconds(remaining=counts["open"], usage=usage),
        bulk_share=bulk_share(usage=usage),
        flow_limit=usage.limit,
        interactive_calls=usage.lanes.get(Lane.INTERACTIVE.value, 0),
        **counts,
    )


def batch_rows(
    *, batch: BulkBatch, show: str = "all", page: int = 1
) -> tuple[list[BulkRow], int, int]:
    """One page of the batch's rows (one query, whatever the page size), the page, and pages."""
    rows: QuerySet[BulkRow] = BulkRow.objects.filter(batch=batch).filter(ROW_FILTERS.get(show, Q()))
    count = rows.count()
    pages = max(1, math.ceil(count / ROWS_PAGE_SIZE))
    page = min(max(1, page), pages)
    start = (page - 1) * ROWS_PAGE_SIZE
    items = list(
        rows.select_related("device", "swap").order_by("line")[start : start + ROWS_PAGE_SIZE]
    )
    return items, page, pages


def batch_result_rows(*, batch: BulkBatch) -> QuerySet[BulkRow]:
    return BulkRow.objects.filter(batch=batch).select_related("device", "swap").order_by("line")


def row_is_failed(row: BulkRow) -> bool:
    if row.state == RowState.REFUSED:
        return True
    return (
        row.state == RowState.SUBMITTED
        and row.swap is not None
        and (row.swap.state == SwapState.FAILED)
    )


def row_is_open(row: BulkRow) -> bool:
    if row.state in (RowState.WAITING, RowState.SUBMITTING):
        return True
    return (
        row.state == RowState.SUBMITTED
        and row.swap is not None
        and (row.swap.state in IN_FLIGHT_SWAP_STATES)
    )
