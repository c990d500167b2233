"""The swap-history CSV export: the history's filters, streamed; never a verifyCode.

Rows come from reports.selectors.history_queryset as `values_list` tuples of named columns (the
encrypted code columns are never selected) through `iterator()`, so memory stays flat however
many rows match. Text cells a spreadsheet would run as a formula are prefixed with '.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

from django.utils import timezone

from iotadmin.csvsafe import csv_safe
from reports.selectors import HistoryFilters, history_queryset

EXPORT_CHUNK_SIZE = 2000
# The export hands the server about this many characters at a time (not one row per write).
EXPORT_FLUSH_CHARS = 32 * 1024

EXPORT_HEADER = (
    "swap id",
    "requested at",
    "technician",
    "device id",
    "device name",
    "old nodeId",
    "new nodeId",
    "kind",
    "chipset",
    "verifyCode mode",
    "validity s",
    "ticket/reason",
    "state",
    "attempts",
    "error code",
    "handling text",
    "code issued at",
    "bound at",
    "seconds to bind",
    "code hint",
)
# Named columns only: the encrypted code columns are never selected.
_EXPORT_COLUMNS = (
    "id",
    "created_at",
    "requested_by__username",
    "device__device_id",
    "device__name",
    "old_node_id",
    "new_node_id",
    "node_id_kind",
    "chipset",
    "verify_code_mode",
    "timeout_seconds",
    "reason",
    "state",
    "attempts",
    "error_code",
    "error_text",
    "code_issued_at",
    "bound_at",
    "verify_code_hint",
)


def _local_iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return timezone.localtime(moment).isoformat(timespec="seconds")


def _export_row(values: Sequence[Any]) -> list[Any]:
    (
        swap_id,
        created_at,
        technician,
        device_id,
        device_name,
        old_node_id,
        new_node_id,
        kind,
        chipset,
        code_mode,
        timeout_seconds,
        reason,
        state,
        attempts,
        error_code,
        error_text,
        code_issued_at,
        bound_at,
        hint,
    ) = values
    seconds_to_bind = ""
    if bound_at is not None and created_at is not None:
        seconds_to_bind = max(0, round((bound_at - created_at).total_seconds()))
    return [
        swap_id,
        _local_iso(created_at),
        csv_safe(technician or ""),
        csv_safe(device_id or ""),
        csv_safe(device_name or ""),
        csv_safe(old_node_id),
        csv_safe(new_node_id),
        kind,
        chipset,
        code_mode,
        timeout_seconds,
        csv_safe(reason),
        state,
        attempts,
        csv_safe(error_code),
        csv_safe(error_text),
        _local_iso(code_issued_at),
        _local_iso(bound_at),
        seconds_to_bind,
        f"…{hint}" if hint else "",
    ]


def export_rows(*, filters: HistoryFilters) -> Iterator[list[Any]]:
    """The header, then one list per matching swap, fetched EXPORT_CHUNK_SIZE rows at a time."""
    yield list(EXPORT_HEADER)
    rows = history_queryset(filters=filters).values_list(*_EXPORT_COLUMNS)
    for values in rows.iterator(chunk_size=EXPORT_CHUNK_SIZE):
        yield _export_row(values)


class _Chunks:
    """A pseudo-file for csv.writer: keeps what was written until the caller takes it."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        self.size = 0
        return text


def export_csv(
    *, filters: HistoryFilters, rows: Iterable[list[Any]] | None = None
) -> Iterator[str]:
    """The export as CSV text pieces of about EXPORT_FLUSH_CHARS; the header comes first alone.

    Starts with a UTF-8 byte order mark so spreadsheet programs read "…" and names correctly.
    """
    buffer = _Chunks()
    writer = csv.writer(buffer)
    source = iter(rows if rows is not None else export_rows(filters=filters))
    header = next(source)
    writer.writerow(header)
    yield "\ufeff" + buffer.take()
    for row in source:
        writer.writerow(row)
        if buffer.size >= EXPORT_FLUSH_CHARS:
            yield buffer.take()
    tail = buffer.take()
    if tail:
        yield tail


def export_filename(*, today: date | None = None) -> str:
    return f"swap-history-{(today or timezone.localdate()).isoformat()}.csv"
