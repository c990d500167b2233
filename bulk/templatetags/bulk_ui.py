"""How a bulk row reads on the page: its state in words, a tone, and whether it can be retried."""

from django import template

from bulk.models import BulkRow, RowState
from bulk.selectors import row_is_failed, row_is_open
from devices.models import SwapState

register = template.Library()

_SWAP_LABELS: dict[str, str] = {
    SwapState.QUEUED: "Sending",
    SwapState.SENDING: "Sending",
    SwapState.PENDING_APPROVAL: "Waiting for approval",
    SwapState.CODE_ISSUED: "Code issued",
    SwapState.BOUND: "Bound",
    SwapState.EXPIRED: "Code expired",
    SwapState.FAILED: "Failed",
    SwapState.CANCELLED: "Cancelled",
    SwapState.REJECTED: "Rejected",
}
_SWAP_TONES: dict[str, str] = {
    SwapState.CODE_ISSUED: "active",
    SwapState.BOUND: "good",
    SwapState.EXPIRED: "warn",
    SwapState.PENDING_APPROVAL: "warn",
    SwapState.FAILED: "bad",
    SwapState.REJECTED: "bad",
    SwapState.CANCELLED: "muted",
}
_ROW_LABELS: dict[str, str] = {
    RowState.INVALID: "Not sendable",
    RowState.READY: "Ready",
    RowState.WAITING: "Waiting",
    RowState.SUBMITTING: "Sending",
    RowState.REFUSED: "Refused",
}
_ROW_TONES: dict[str, str] = {
    RowState.INVALID: "bad",
    RowState.READY: "good",
    RowState.REFUSED: "bad",
}


@register.filter
def row_label(row: BulkRow) -> str:
    if row.state == RowState.SUBMITTED and row.swap is not None:
        return _SWAP_LABELS.get(row.swap.state, row.swap.get_state_display())
    if row.state == RowState.WAITING and row.swap is not None:
        return "Waiting to retry"
    return _ROW_LABELS.get(row.state, row.get_state_display())


@register.filter
def row_tone(row: BulkRow) -> str:
    if row_is_open(row):
        return "wait"
    if row.state == RowState.SUBMITTED and row.swap is not None:
        return _SWAP_TONES.get(row.swap.state, "muted")
    return _ROW_TONES.get(row.state, "muted")


@register.filter
def row_problem(row: BulkRow) -> str:
    """The text staff act on: the refusal, or the platform error's handling text."""
    if row.state == RowState.SUBMITTED and row.swap is not None:
        return row.swap.error_text if row.swap.state == SwapState.FAILED else ""
    return row.message


@register.filter
def row_failed(row: BulkRow) -> bool:
    return row_is_failed(row)


@register.filter
def row_validity(row: BulkRow) -> str:
    """How long the row's code stays valid, as the preview shows it."""
    from bulk.checks import DEFAULT_VALIDITY_MINUTES

    if row.validity_minutes:
        return f"{row.validity_minutes} min"
    return f"{DEFAULT_VALIDITY_MINUTES} min (default)"
