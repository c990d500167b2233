"""Every write of the bulk app: upload (dry run), confirm, discard, retry, and the dispatcher step.

Each sent row becomes a normal swap through `swap_request`, requested by the uploader, so the
swap core's rules, audit, code storage and one-open-swap rule all apply. The dispatcher creates
swaps only as fast as the shared flow limiter has room for their refresh calls, so the worker
never sleeps holding a slot and no refresh meets a full window.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from bulk.checks import bulk_code_mode, check_bulk_lines
from bulk.csv_parsing import BulkFileRefused, parse_bulk_file
from bulk.models import BatchState, BulkBatch, BulkRow, RowState
from bulk.selectors import FAILED_ROW, flow_usage
from devices.identifiers import InvalidNodeId, NodeId
from devices.limits import DEFAULT_TIMEOUT_SECONDS, MAX_REASON_LENGTH
from devices.models import IN_FLIGHT_SWAP_STATES, Swap, SwapState
from devices.permissions import Perm
from devices.services.checks import SwapRefused
from devices.services.request import swap_request
from iotadmin.csvsafe import csv_safe_row
from oceanconnect import Lane

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# Rows one dispatcher step turns into swaps at most (keeps a step short).
DISPATCH_CHUNK = 50
# Bulk swaps made beyond the room in the window while the sync waits (see bulk_dispatch_step).
DISPATCH_AHEAD = 2
# How long a dispatcher chain holds a batch beyond its next planned step.
DISPATCH_LEASE_SECONDS = 60
# A row claimed this long ago without a swap lost its dispatcher mid-row.
STALE_CLAIM = timedelta(minutes=5)


class BulkRefused(Exception):
    """A bulk action was refused; `message` is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class DispatchStep:
    submitted: int = 0
    refused: int = 0
    next_in: float | None = None  # seconds until the next step; None: nothing left to dispatch


def _enqueue_dispatch(batch_id: int) -> None:
    def send() -> None:
        from bulk.tasks import bulk_dispatch

        try:
            bulk_dispatch.delay(batch_id, uuid.uuid4().hex)
        except Exception:  # the broker being down must not fail the request; bulk_resume retries
            logger.exception("could not enqueue the dispatcher of bulk %s", batch_id)

    transaction.on_commit(send)


def _require_uploader(batch: BulkBatch, actor: User) -> None:
    if not actor.has_perm(Perm.BULK_SWAP):
        raise PermissionDenied("You may not use bulk swaps.")
    if batch.uploaded_by_id != actor.pk:
        raise PermissionDenied("Only the person who uploaded this file can do that.")


# --- upload (dry run) ---------------------------------------------------------------------------


def bulk_upload(*, actor: User, filename: str, data: bytes) -> BulkBatch:
    """Parse and check the file, store the batch in preview. Nothing is sent.

    Raises BulkFileRefused (nothing stored) for a file that cannot be used at all.
    """
    if not (actor.has_perm(Perm.BULK_SWAP) and actor.has_perm(Perm.REQUEST_SWAP)):
        raise PermissionDenied("You may not use bulk swaps.")
    lines = parse_bulk_file(data, max_rows=settings.BULK_MAX_ROWS)
    verdicts = check_bulk_lines(lines, actor=actor)
    ready = sum(1 for v in verdicts if v.ok)
    with transaction.atomic():
        batch = BulkBatch.objects.create(
            uploaded_by=actor,
            filename=(filename or "")[:255],
            row_count=len(verdicts),
            ready_count=ready,
        )
        BulkRow.objects.bulk_create(
            [
                BulkRow(
                    batch=batch,
                    line=v.source.line,
                    device_ref=v.source.device[:300],
                    new_node_id_raw=v.source.new_node_id[:300],
                    kind=v.kind[:16],
                    chipset=v.chipset[:16],
                    verify_code_mode=v.verify_code_mode[:20],
                    ticket=v.source.ticket[:MAX_REASON_LENGTH],
                    validity_minutes=v.validity_minutes,
                    device=v.device,
                    new_node_id=v.node_id.value if v.node_id else "",
                    state=RowState.READY if v.ok else RowState.INVALID,
                    error_code=v.error_code[:32],
                    message=v.message,
                )
                for v in verdicts
            ],
            batch_size=500,
        )
    logger.info("bulk %s uploaded: %s rows, %s ready", batch.pk, len(verdicts), ready)
    return batch


# --- confirm, discard, retry ----------------------------------------------------------------


def bulk_confirm(*, batch: BulkBatch, actor: User) -> BulkBatch:
    """Queue the batch's ready rows for sending (the dispatcher paces them)."""
    _require_uploader(batch, actor)
    with transaction.atomic():
        confirmed = BulkBatch.objects.filter(pk=batch.pk, state=BatchState.PREVIEW).update(
            state=BatchState.CONFIRMED, confirmed_at=timezone.now()
        )
        if not confirmed:
            batch.refresh_from_db()
            raise BulkRefused(
                f"This file is already {batch.get_state_display().lower()}; nothing was changed."
            )
        waiting = BulkRow.objects.filter(batch=batch, state=RowState.READY).update(
            state=RowState.WAITING
        )
        if waiting:
            _enqueue_dispatch(batch.pk)
    logger.info("bulk %s confirmed by user %s: %s rows to send", batch.pk, actor.pk, waiting)
    batch.refresh_from_db()
    return batch


def bulk_discard(*, batch: BulkBatch, actor: User) -> BulkBatch:
    """Drop a batch still in preview (nothing was sent)."""
    _require_uploader(batch, actor)
    discarded = BulkBatch.objects.filter(pk=batch.pk, state=BatchState.PREVIEW).update(
        state=BatchState.DISCARDED
    )
    if not discarded:
        raise BulkRefused("Only a file still in preview can be discarded.")
    batch.refresh_from_db()
    return batch


def bulk_retry_failed(*, batch: BulkBatch, actor: User, row_id: int | None = None) -> int:
    """Send failed rows (refused, or whose swap failed) again; returns how many were queued."""
    _require_uploader(batch, actor)
    if batch.state != BatchState.CONFIRMED:
        raise BulkRefused("Only rows of a confirmed file can be retried.")
    rows = BulkRow.objects.filter(batch=batch).filter(FAILED_ROW)
    if row_id is not None:
        rows = rows.filter(pk=row_id)
    with transaction.atomic():
        # The failed swap stays linked until the new one replaces it (its re-issue).
        count = BulkRow.objects.filter(pk__in=list(rows.values_list("pk", flat=True))).update(
            state=RowState.WAITING, claimed_at=None
        )
        if count:
            _enqueue_dispatch(batch.pk)
    if row_id is not None and not count:
        raise BulkRefused("This row has not failed (or is already being retried).")
    logger.info("bulk %s: %s failed rows queued again", batch.pk, count)
    return count


# --- the dispatcher -----------------------------------------------------------------------------


def _claim_lease(batch_id: int, owner: str, seconds: float) -> bool:
    now = timezone.now()
    return bool(
        BulkBatch.objects.filter(pk=batch_id, state=BatchState.CONFIRMED)
        .filter(Q(dispatch_owner=owner) | _lease_free(now))
        .update(dispatch_owner=owner, dispatch_lease_until=now + timedelta(seconds=seconds))
    )


def _lease_free(now: datetime) -> Q:
    return Q(dispatch_lease_until__isnull=True) | Q(dispatch_lease_until__lt=now)


def _recover_stale_claims(batch: BulkBatch) -> None:
    """Rows a lost dispatcher claimed: link the swap it made, or let the row wait again."""
    cutoff = timezone.now() - STALE_CLAIM
    for row in BulkRow.objects.filter(
        batch=batch, state=RowState.SUBMITTING, claimed_at__lt=cutoff
    ):
        swap = (
            Swap.objects.filter(
                device_id=row.device_id,
                requested_by_id=batch.uploaded_by_id,
                created_at__gte=row.claimed_at,
            )
            .order_by("-created_at", "-id")
            .first()
            if row.device_id is not None
            else None  # the device was deleted since: it has no swap to link
        )
        if swap is not None:
            BulkRow.objects.filter(pk=row.pk, state=RowState.SUBMITTING).update(
                state=RowState.SUBMITTED, swap=swap, error_code="", message=""
            )
        else:
            BulkRow.objects.filter(pk=row.pk, state=RowState.SUBMITTING).update(
                state=RowState.WAITING, claimed_at=None
            )


def _in_flight() -> int:
    """Swaps waiting for their refresh call: each will take a slot the limiter does not show yet."""
    return Swap.objects.filter(state__in=IN_FLIGHT_SWAP_STATES).count()


def _reason(row: BulkRow) -> str:
    reference = f"bulk #{row.batch_id} line {row.line}"
    return f"{row.ticket} ({reference})" if row.ticket else f"Bulk upload: {reference}"


def row_timeout_seconds(row: BulkRow) -> int:
    """The validity a row's swap asks for: its validity_minutes, or the default."""
    if row.validity_minutes:
        return row.validity_minutes * 60
    return DEFAULT_TIMEOUT_SECONDS


def _submit_row(row_id: int, actor: User) -> bool:
    """Turn one waiting row into a swap; True when the swap was created."""
    now = timezone.now()
    if not BulkRow.objects.filter(pk=row_id, state=RowState.WAITING).update(
        state=RowState.SUBMITTING, claimed_at=now
    ):
        return False  # another dispatcher took it
    row = BulkRow.objects.select_related("device", "swap").get(pk=row_id)
    previous = row.swap if row.swap is not None and row.swap.state == SwapState.FAILED else None
    code, message = "", ""
    swap = None
    mode, override = bulk_code_mode(row.verify_code_mode)
    try:
        if row.device is None:
            raise SwapRefused("The device is no longer in the device list.", code="unknown_device")
        swap = swap_request(
            device=row.device,
            new_node_id=NodeId.parse(row.new_node_id_raw, row.kind, row.chipset),
            verify_code_mode=mode,
            code_mode_override=override,
            timeout_seconds=row_timeout_seconds(row),
            reason=_reason(row),
            actor=actor,
            reissue_of=previous,
            # The platform refuses an online device at send time (100611): one call per row.
            live_check=False,
            lane=Lane.BULK,
        )
    except SwapRefused as exc:
        code, message = exc.code, exc.message
    except InvalidNodeId as exc:
        code, message = "invalid_node_id", exc.message
    except PermissionDenied:
        code, message = "not_allowed", "The uploader may no longer request swaps."
    if swap is not None:
        BulkRow.objects.filter(pk=row_id).update(
            state=RowState.SUBMITTED, swap=swap, error_code="", message=""
        )
        return True
    BulkRow.objects.filter(pk=row_id).update(
        state=RowState.REFUSED, error_code=code[:32], message=message
    )
    return False


def bulk_dispatch_step(*, batch_id: int, owner: str) -> DispatchStep:
    """Create swaps for as many waiting rows as the flow limiter has room for right now.

    Returns when to run the next step (None: no waiting rows left, the chain ends). One chain
    per batch holds the lease; a second chain for the same batch ends at once.
    """
    if not _claim_lease(batch_id, owner, DISPATCH_LEASE_SECONDS):
        return DispatchStep()
    batch = BulkBatch.objects.select_related("uploaded_by").get(pk=batch_id)
    _recover_stale_claims(batch)
    waiting = list(
        BulkRow.objects.filter(batch=batch, state=RowState.WAITING)
        .order_by("line")
        .values_list("pk", flat=True)[: DISPATCH_CHUNK + 1]
    )
    if not waiting:
        BulkBatch.objects.filter(pk=batch_id, dispatch_owner=owner).update(
            dispatch_owner="", dispatch_lease_until=None
        )
        return DispatchStep()
    usage = flow_usage()
    # The interactive reserve is no room for bulk: the limiter never gives a bulk send one of
    # those slots, so a swap made for it would only wait, holding a worker process, while a
    # technician's send queued behind it on the same queue waits too.
    free_for_bulk = max(0, usage.limit - usage.reserve - usage.used)
    # While a lower lane (the sync) waits for slots, a few bulk sends wait too, registered in
    # the limiter ahead of it: they take the next slots bulk may use, as the lanes intend.
    ahead = DISPATCH_AHEAD if usage.waiting.get(Lane.BACKGROUND.value, 0) else 0
    budget = min(free_for_bulk + ahead - _in_flight(), DISPATCH_CHUNK)
    if budget <= 0:
        # Full window: wait for its oldest slot; else the in-flight sends free room shortly.
        wait = usage.seconds_until_free if usage.used >= usage.limit else 0.5
        next_in = min(max(wait, 0.2), usage.window)
        _claim_lease(batch_id, owner, next_in + DISPATCH_LEASE_SECONDS)
        return DispatchStep(next_in=next_in)
    submitted = refused = 0
    for row_id in waiting[:budget]:
        if _submit_row(row_id, batch.uploaded_by):
            submitted += 1
        else:
            refused += 1
    # More rows than this step could take: go on at once; else check the limiter again soon.
    next_in = 0.0 if len(waiting) > budget and budget == DISPATCH_CHUNK else 0.5
    _claim_lease(batch_id, owner, next_in + DISPATCH_LEASE_SECONDS)
    return DispatchStep(submitted=submitted, refused=refused, next_in=next_in)


def bulk_resume_stalled() -> int:
    """Start a dispatcher for confirmed batches with waiting rows and no live chain."""
    now = timezone.now()
    stalled = (
        BulkBatch.objects.filter(state=BatchState.CONFIRMED, rows__state=RowState.WAITING)
        .filter(_lease_free(now))
        .values_list("pk", flat=True)
        .distinct()
    )
    count = 0
    for batch_id in stalled:
        _enqueue_dispatch(batch_id)
        count += 1
    return count


__all__ = [
    "BulkFileRefused",
    "BulkRefused",
    "DispatchStep",
    "bulk_confirm",
    "bulk_discard",
    "bulk_dispatch_step",
    "bulk_resume_stalled",
    "bulk_retry_failed",
    "bulk_upload",
]


# --- the result file --------------------------------------------------------------------------

RESULT_COLUMNS = (
    "row",
    "device",
    "new_node_id",
    "state",
    "error_code",
    "handling_text",
    "verify_code",
)


def _row_outcome(row: BulkRow) -> tuple[str, str, str]:
    """(state, error code, handling text) of a row as staff should read them."""
    swap = row.swap
    if row.state == RowState.SUBMITTED and swap is not None:
        return swap.get_state_display(), swap.error_code, swap.error_text
    if row.state == RowState.WAITING and swap is not None:
        return row.get_state_display(), swap.error_code, "Being sent again."
    return row.get_state_display(), row.error_code, row.message


def bulk_result_rows(*, batch: BulkBatch, actor: User) -> list[list[str]]:
    """The result file: one line per row. verifyCodes only for the uploader, only while valid;
    revealing them goes through the swap core, which audits the first view of each code."""
    from bulk.selectors import batch_result_rows
    from devices.codes import CodeUnavailable
    from devices.services.lifecycle import swap_reveal_code

    if not actor.has_perm(Perm.BULK_SWAP):
        raise PermissionDenied("You may not use bulk swaps.")
    with_codes = batch.uploaded_by_id == actor.pk
    now = timezone.now()
    lines = [list(RESULT_COLUMNS)]
    for row in batch_result_rows(batch=batch):
        state, code, text = _row_outcome(row)
        verify_code = ""
        swap = row.swap
        if (
            with_codes
            and row.state == RowState.SUBMITTED
            and swap is not None
            and swap.state == SwapState.CODE_ISSUED
            and (swap.code_expires_at is None or swap.code_expires_at > now)
        ):
            try:
                verify_code = swap_reveal_code(swap=swap, actor=actor)
            except (SwapRefused, PermissionDenied, CodeUnavailable):
                verify_code = ""
        device = row.device.device_id if row.device is not None else row.device_ref
        # Every column, the verifyCode too: a custom code may start like a formula.
        lines.append(
            csv_safe_row(
                [
                    str(row.line),
                    device,
                    row.new_node_id or row.new_node_id_raw,
                    state,
                    code,
                    text,
                    verify_code,
                ]
            )
        )
    return lines
