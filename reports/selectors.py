"""The supervisors' reads: swap history (filters, keyset pages), the summary, device lineage.

Selectors (reads only, no writes, no audit), kept apart from devices/selectors.py because they
answer a different person's question: "who rekeyed this device, when, to what, and did it
work?". Nothing here ever reads or returns a verifyCode: querysets name their columns, and the
only code-derived value is the stored two-character hint. The CSV export is reports/export.py.

Lists are keyset pages on (created_at, id) descending: no OFFSET, no COUNT over the table, one
query per page whatever its length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from audit.models import AuditEvent
from devices.identifiers import IMEI_PREFIX, node_search_key
from devices.models import Device, Swap, SwapState
from iotadmin.paging import after_position, decode_datetime_cursor, encode_datetime_cursor

HISTORY_PAGE_SIZE = 50
MAX_HISTORY_PAGE_SIZE = 200
SUMMARY_DEFAULT_DAYS = 30
SUMMARY_MAX_DAYS = 366
TOP_ERRORS = 10
TOP_TECHNICIANS = 10
LINEAGE_MAX_SWAPS = 500
LINEAGE_MAX_EVENTS = 200

FAILURE_STATES = (SwapState.FAILED, SwapState.EXPIRED)


# --- Filters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryFilters:
    """What the supervisor narrowed the history to; empty values mean "any"."""

    date_from: date | None = None
    date_to: date | None = None  # inclusive, a local calendar day
    technician_id: int | None = None
    device: str = ""  # deviceId, or any nodeId the device has had
    outcome: str = ""  # a SwapState value
    error_code: str = ""


def local_day_start(day: date) -> datetime:
    """Midnight at the start of `day` in the current (local) time zone, as an aware datetime."""
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def _node_id_variants(text: str) -> set[str]:
    """The spellings a stored nodeId may have for what the user typed (IMEI with/without urn)."""
    key = node_search_key(text)
    variants = {text, key}
    if key.isdigit():
        variants.add(IMEI_PREFIX + key)
    return {v for v in variants if v}


def _device_match(text: str) -> Q:
    text = text.strip()
    key = node_search_key(text)
    match = Q(device__device_id=text)
    if key:
        match |= Q(device__node_key=key)
    for variant in _node_id_variants(text):
        match |= Q(old_node_id__iexact=variant) | Q(new_node_id__iexact=variant)
    return match


def history_queryset(*, filters: HistoryFilters) -> QuerySet[Swap]:
    """Every swap matching `filters`, newest first (no permission filter: a supervisor page)."""
    swaps = Swap.objects.all()
    if filters.date_from is not None:
        swaps = swaps.filter(created_at__gte=local_day_start(filters.date_from))
    if filters.date_to is not None:
        swaps = swaps.filter(created_at__lt=local_day_start(filters.date_to + timedelta(days=1)))
    if filters.technician_id is not None:
        swaps = swaps.filter(requested_by_id=filters.technician_id)
    if filters.device:
        swaps = swaps.filter(_device_match(filters.device))
    if filters.outcome:
        swaps = swaps.filter(state=filters.outcome)
    if filters.error_code:
        swaps = swaps.filter(error_code=filters.error_code)
    return swaps.order_by("-created_at", "-id")


# --- The history page ------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryPage:
    items: list[Swap]
    next_cursor: str | None


def history_page(
    *, filters: HistoryFilters, after: str | None = None, limit: int = HISTORY_PAGE_SIZE
) -> HistoryPage:
    """One keyset page of the filtered history; an unreadable cursor starts at the top."""
    limit = max(1, min(int(limit), MAX_HISTORY_PAGE_SIZE))
    swaps = history_queryset(filters=filters).select_related("requested_by", "device")
    position = decode_datetime_cursor(after)
    if position is not None:
        created, pk = position
        swaps = swaps.filter(
            after_position(column="created_at", value=created, pk=pk, descending=True)
        )
    rows = list(swaps[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_datetime_cursor(last.created_at, last.pk)
    return HistoryPage(items=rows, next_cursor=next_cursor)


# --- The summary -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DayCount:
    day: date
    bound: int = 0
    failed: int = 0
    expired: int = 0
    other: int = 0  # still open, cancelled, rejected

    @property
    def total(self) -> int:
        return self.bound + self.failed + self.expired + self.other


@dataclass(frozen=True)
class OutcomeCount:
    state: str
    label: str
    count: int
    share: float  # 0..1 of the period's swaps


@dataclass(frozen=True)
class ErrorCount:
    code: str
    handling_text: str
    count: int


@dataclass(frozen=True)
class TechnicianFailures:
    username: str
    failed: int
    expired: int
    total: int

    @property
    def failures(self) -> int:
        return self.failed + self.expired

    @property
    def failure_rate(self) -> float:
        return self.failures / self.total if self.total else 0.0


@dataclass(frozen=True)
class Summary:
    date_from: date
    date_to: date
    total: int
    bound: int
    per_day: list[DayCount]
    outcomes: list[OutcomeCount]
    median_seconds_to_bind: float | None
    p90_seconds_to_bind: float | None
    top_errors: list[ErrorCount] = field(default_factory=list)
    top_failing_technicians: list[TechnicianFailures] = field(default_factory=list)


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont)."""
    if not sorted_values:
        return None
    position = fraction * (len(sorted_values) - 1)
    lower = math.floor(position)
    upper = math.ceil(position)
    low_value = sorted_values[lower]
    return low_value + (sorted_values[upper] - low_value) * (position - lower)


def summary_period(
    *, date_from: date | None = None, date_to: date | None = None, today: date | None = None
) -> tuple[date, date]:
    """The inclusive days a summary covers: the last SUMMARY_DEFAULT_DAYS unless told."""
    today = today or timezone.localdate()
    date_to = date_to or today
    date_from = date_from or date_to - timedelta(days=SUMMARY_DEFAULT_DAYS - 1)
    return date_from, date_to


def _outcome_group(state: str) -> str:
    if state == SwapState.BOUND:
        return "bound"
    if state == SwapState.EXPIRED:
        return "expired"
    if state in FAILURE_STATES:
        return "failed"
    return "other"


def swap_summary(*, date_from: date, date_to: date) -> Summary:
    """Aggregates over the swaps requested on the local days date_from..date_to (inclusive)."""
    swaps = Swap.objects.filter(
        created_at__gte=local_day_start(date_from),
        created_at__lt=local_day_start(date_to + timedelta(days=1)),
    )

    by_day: dict[date, dict[str, int]] = {}
    by_state: dict[str, int] = {}
    day_rows = (
        swaps.annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values_list("day", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    for day, state, n in day_rows:
        counts = by_day.setdefault(day, {"bound": 0, "failed": 0, "expired": 0, "other": 0})
        counts[_outcome_group(state)] += n
        by_state[state] = by_state.get(state, 0) + n
    per_day = []
    day = date_from
    while day <= date_to:
        per_day.append(DayCount(day=day, **by_day.get(day, {})))
        day += timedelta(days=1)

    total = sum(by_state.values())
    outcomes = [
        OutcomeCount(state=state, label=label, count=by_state[state], share=by_state[state] / total)
        for state, label in SwapState.choices
        if by_state.get(state)
    ]

    durations = sorted(
        max(0.0, (bound_at - created_at).total_seconds())
        for created_at, bound_at in swaps.filter(
            state=SwapState.BOUND, bound_at__isnull=False
        ).values_list("created_at", "bound_at")
        if bound_at is not None  # the filter's guarantee, spelled out for the type checker
    )

    error_rows = list(
        swaps.exclude(error_code="")
        .values("error_code")
        .annotate(n=Count("id"), latest=Max("id"))
        .order_by("-n", "error_code")[:TOP_ERRORS]
    )
    texts = dict(
        Swap.objects.filter(pk__in=[row["latest"] for row in error_rows]).values_list(
            "error_code", "error_text"
        )
    )
    top_errors = [
        ErrorCount(
            code=row["error_code"], handling_text=texts.get(row["error_code"], ""), count=row["n"]
        )
        for row in error_rows
    ]

    technician_rows = (
        swaps.values("requested_by__username")
        .annotate(
            total=Count("id"),
            failed=Count("id", filter=Q(state=SwapState.FAILED)),
            expired=Count("id", filter=Q(state=SwapState.EXPIRED)),
            failures=Count("id", filter=Q(state__in=FAILURE_STATES)),
        )
        .filter(failures__gt=0)
        .order_by("-failures", "-total", "requested_by__username")[:TOP_TECHNICIANS]
    )
    technicians = [
        TechnicianFailures(
            username=row["requested_by__username"],
            failed=row["failed"],
            expired=row["expired"],
            total=row["total"],
        )
        for row in technician_rows
    ]

    return Summary(
        date_from=date_from,
        date_to=date_to,
        total=total,
        bound=by_state.get(SwapState.BOUND, 0),
        per_day=per_day,
        outcomes=outcomes,
        median_seconds_to_bind=percentile(durations, 0.5),
        p90_seconds_to_bind=percentile(durations, 0.9),
        top_errors=top_errors,
        top_failing_technicians=technicians,
    )


# --- Device lineage --------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeIdPeriod:
    """One nodeId the device had: from when (None = before our records), set by which swap."""

    node_id: str
    since: datetime | None
    swap: Swap | None


@dataclass(frozen=True)
class Lineage:
    device: Device
    node_ids: list[NodeIdPeriod]  # oldest first; the last is the current one
    swaps: list[Swap]  # every swap, oldest first, whatever its outcome
    events: list[
        AuditEvent
    ]  # audit events for the device, oldest first (latest LINEAGE_MAX_EVENTS)
    events_truncated: bool
    changed_outside: bool  # the mirror's nodeId is not the one our last bound swap set


def device_lineage(*, device: Device) -> Lineage:
    """Every nodeId the device has had through our swaps, every swap, and its audit events."""
    swaps = list(
        Swap.objects.filter(device=device)
        .select_related("requested_by", "decided_by")
        .order_by("created_at", "id")[:LINEAGE_MAX_SWAPS]
    )
    node_ids: list[NodeIdPeriod] = []
    if swaps:
        node_ids.append(NodeIdPeriod(node_id=swaps[0].old_node_id, since=None, swap=None))
    for swap in swaps:
        if swap.state == SwapState.BOUND:
            node_ids.append(NodeIdPeriod(node_id=swap.new_node_id, since=swap.bound_at, swap=swap))
    changed_outside = bool(
        node_ids and node_search_key(node_ids[-1].node_id) != node_search_key(device.node_id)
    )
    if not node_ids or changed_outside:
        node_ids.append(NodeIdPeriod(node_id=device.node_id, since=None, swap=None))

    latest = list(
        AuditEvent.objects.filter(device_id=device.device_id)
        .order_by("-at", "-id")
        .only("id", "at", "actor_name", "action", "swap_id", "detail")[: LINEAGE_MAX_EVENTS + 1]
    )
    events = list(reversed(latest[:LINEAGE_MAX_EVENTS]))
    return Lineage(
        device=device,
        node_ids=node_ids,
        swaps=swaps,
        events=events,
        events_truncated=len(latest) > LINEAGE_MAX_EVENTS,
        changed_outside=changed_outside,
    )
