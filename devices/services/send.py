"""swap_send: the one platform call of a swap (the Celery task calls it), and its outcome.

The retry budget lives here alone: a counted attempt past `settings.SWAP_MAX_ATTEMPTS` ends the
swap FAILED; otherwise SwapRetryLater tells the task when to try again (the task itself sets no
retry limit). A throttled call is no attempt. An unanswered refresh is reconciled with the
platform before it is ever sent again.

Every attempt of a swap sends the same verifyCode (for a "platform" code we generate it before
the first attempt), so whichever attempt the platform applies last, even one applied after we
gave up waiting for its answer, pends the code the person is shown. Each attempt is recorded as
a SwapAttempt and audited. With settings.IOT_PLATFORM_GENERATES_CODES the platform chooses the
code instead, and a re-send after an unanswered or failed refresh waits IOT_LATE_APPLY_SECONDS.
"""

from __future__ import annotations

import functools
import logging
import random
import secrets
import string
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.models import AuditAction
from devices.codes import code_hint, decrypt_code, encrypt_code, hash_code
from devices.identifiers import node_search_key
from devices.models import (
    DeviceStatus,
    Swap,
    SwapAttempt,
    SwapAttemptOutcome,
    SwapState,
    VerifyCodeMode,
)
from devices.services.transitions import (
    SEND_FLOW_WAIT_SECONDS,
    swap_audit,
    swap_claim_for_send,
    swap_live_lease_remaining,
    swap_renew_lease,
    swap_set_bound,
)
from iotadmin.metrics import swap_code_issued_observed

logger = logging.getLogger(__name__)

# Seconds the task accepts to wait for a flow-control slot before it retries later instead.
SEND_MAX_WAIT = SEND_FLOW_WAIT_SECONDS
# A code we generate for a "platform" swap looks like the platform's own: eight upper-case
# alphanumerics (the simulator's are eight upper-case hex digits; the platform's are of that kind).
GENERATED_CODE_LENGTH = 8
GENERATED_CODE_ALPHABET = string.ascii_uppercase + string.digits
# Seconds past a live lease before a redelivered task looks at the swap again.
LEASE_RECHECK_MARGIN = 0.5


class SwapRetryLater(Exception):
    """The send should be tried again after `countdown` seconds (the task retries)."""

    def __init__(self, countdown: float, reason: str) -> None:
        super().__init__(f"retry in {countdown:.1f} s: {reason}")
        self.countdown = countdown
        self.reason = reason


def retry_delay(attempt: int) -> float:
    """Exponential backoff with jitter: half the step fixed, half random, capped."""
    base = float(settings.SWAP_RETRY_BASE_SECONDS)
    cap = float(settings.SWAP_RETRY_MAX_SECONDS)
    step = min(cap, base * (2 ** max(0, attempt - 1)))
    return step / 2 + random.uniform(0, step / 2)


def generate_verify_code(*, node_id: str) -> str:
    """A random verifyCode in the platform's format, never equal to the nodeId."""
    while True:
        code = "".join(
            secrets.choice(GENERATED_CODE_ALPHABET) for _ in range(GENERATED_CODE_LENGTH)
        )
        if code.casefold() != node_id.casefold():
            return code


def swap_send(*, swap_id: int) -> None:
    """Claim a queued swap (or one whose claim lapsed), call the platform once, store the outcome.

    Raises SwapRetryLater when the task should try again (also when another worker holds a live
    claim: the task looks again once it lapses); returns quietly when there is nothing to do
    (cancelled, finished).
    """
    from oceanconnect import exchange_guard

    if not swap_claim_for_send(swap_id=swap_id):
        remaining = swap_live_lease_remaining(swap_id=swap_id)
        if remaining is not None:
            logger.info("swap %s is being sent under a live claim; looking again later", swap_id)
            raise SwapRetryLater(remaining + LEASE_RECHECK_MARGIN, "claimed")
        logger.info("swap %s is not queued; nothing to send", swap_id)
        return
    swap = Swap.objects.select_related("device").get(pk=swap_id)
    _close_lost_attempts(swap)
    try:
        # Every platform exchange of this send (the reconciling read, a login, the refresh, a
        # retry) first renews the claim by a whole lease, or is not sent if it was taken over.
        with exchange_guard(functools.partial(_renew_claim_or_abort, swap)):
            _send_claimed(swap)
    except ClaimTakenOver:
        logger.info("swap %s: claim taken over before a platform exchange; leaving it", swap.pk)


class ClaimTakenOver(Exception):
    """This send's claim was taken over (its lease had lapsed) or released: it sends nothing."""


def _renew_claim_or_abort(swap: Swap) -> None:
    if not swap_renew_lease(swap=swap):
        raise ClaimTakenOver(f"swap {swap.pk}")


def _send_claimed(swap: Swap) -> None:
    """The send under this attempt's claim: reconcile if needed, then the refresh."""
    from devices.platform_wiring import get_client
    from oceanconnect import (
        Lane,
        PlatformError,
        PlatformOutcomeUnknown,
        PlatformRetryableError,
        PlatformThrottled,
    )

    client = get_client()
    if swap.needs_reconcile and not _reconcile(swap, client):
        return
    _wait_out_late_application(swap)
    verify_code = _code_to_send(swap)
    if not swap_renew_lease(swap=swap):
        logger.info("swap %s: claim taken over before sending; leaving it", swap.pk)
        return
    attempt = _attempt_started(swap, verify_code)

    try:
        result = client.refresh_device_key(
            swap.device.device_id,
            node_id=swap.new_node_id,
            verify_code=verify_code,
            timeout=swap.timeout_seconds,
            app_id=swap.device.app_id or None,
            max_wait=SEND_MAX_WAIT,
            lane=Lane(swap.lane),
        )
    except ClaimTakenOver:
        # Raised before an exchange: no refresh of this attempt was applied (an earlier exchange
        # of the call can only have been answered 1010005 or 1010009), so it was no attempt.
        SwapAttempt.objects.filter(pk=attempt.pk, outcome=SwapAttemptOutcome.IN_PROGRESS).delete()
        raise
    except PlatformThrottled as exc:
        # Nothing reached the platform (or it refused to look): this is no attempt.
        _attempt_finished(swap, attempt, SwapAttemptOutcome.THROTTLED, exc)
        _requeue(swap, exc, countdown=max(exc.retry_after or 0, 0.5), count_attempt=False)
    except PlatformRetryableError as exc:
        _attempt_finished(swap, attempt, SwapAttemptOutcome.RETRYABLE, exc)
        _requeue(swap, exc, countdown=_resend_delay(swap))
    except PlatformOutcomeUnknown as exc:
        _attempt_finished(swap, attempt, SwapAttemptOutcome.OUTCOME_UNKNOWN, exc)
        logger.warning(
            "swap %s: refresh of device %s sent without an answer; reconciling",
            swap.pk,
            swap.device.device_id,
        )
        Swap.objects.filter(pk=swap.pk).update(
            needs_reconcile=True, error_code="", error_text=exc.handling_text
        )
        swap.needs_reconcile = True
        if _reconcile(swap, client):
            # Safe to send again (see _reconcile); do it after a pause, as a counted attempt.
            _requeue(swap, exc, countdown=_resend_delay(swap), reconciled=True)
    except PlatformError as exc:
        _attempt_finished(swap, attempt, SwapAttemptOutcome.ERROR, exc)
        _fail(swap, exc.code or "", exc.handling_text, platform_text=exc.platform_text)
    else:
        _attempt_finished(swap, attempt, SwapAttemptOutcome.OK, None, code=result.verify_code)
        _store_code(swap, result.verify_code, result.timeout)


def _platform_chooses_code(swap: Swap) -> bool:
    return swap.verify_code_mode == VerifyCodeMode.PLATFORM and bool(
        settings.IOT_PLATFORM_GENERATES_CODES
    )


def _resend_delay(swap: Swap) -> float:
    """The backoff; when the platform chooses codes, also past the latest late application."""
    delay = retry_delay(swap.attempts)
    if _platform_chooses_code(swap):
        delay += float(settings.IOT_LATE_APPLY_SECONDS)
    return delay


def _wait_out_late_application(swap: Swap) -> None:
    """When the platform chooses codes, never re-send while an earlier attempt may still apply.

    An earlier attempt that did not end with an answer (or ended with a 5xx) may be applied as
    late as IOT_LATE_APPLY_SECONDS after it started; a re-send before then could be overtaken
    by it, leaving pending a code nobody saw. Raises SwapRetryLater (no attempt) until then.
    """
    if not _platform_chooses_code(swap):
        return
    late = timedelta(seconds=float(settings.IOT_LATE_APPLY_SECONDS))
    last = (
        SwapAttempt.objects.filter(swap=swap)
        .exclude(outcome__in=(SwapAttemptOutcome.THROTTLED, SwapAttemptOutcome.ERROR))
        .order_by("-number")
        .values_list("started_at", flat=True)
        .first()
    )
    if last is None:
        return
    remaining = (last + late - timezone.now()).total_seconds()
    if remaining > 0:
        _requeue(
            swap,
            _LateApplyWait(),
            countdown=remaining + retry_delay(1),
            count_attempt=False,
        )


class _LateApplyWait(Exception):
    code = "late_apply_wait"
    handling_text = (
        "The platform may still apply an earlier request late; the request is sent again once "
        "that can no longer happen."
    )


def _code_to_send(swap: Swap) -> str | None:
    if swap.verify_code_mode == VerifyCodeMode.SAME_AS_NODE_ID:
        return swap.new_node_id
    if swap.verify_code_mode == VerifyCodeMode.CUSTOM:
        return decrypt_code(swap.custom_verify_code_encrypted)
    if _platform_chooses_code(swap):
        return None
    if not swap.custom_verify_code_encrypted:
        # Chosen once, before the first attempt, and kept (encrypted) until the code is stored.
        Swap.objects.filter(pk=swap.pk, custom_verify_code_encrypted="").update(
            custom_verify_code_encrypted=encrypt_code(
                generate_verify_code(node_id=swap.new_node_id)
            )
        )
        swap.custom_verify_code_encrypted = (
            Swap.objects.filter(pk=swap.pk)
            .values_list("custom_verify_code_encrypted", flat=True)
            .get()
        )
    return decrypt_code(swap.custom_verify_code_encrypted)


def _attempt_started(swap: Swap, verify_code: str | None) -> SwapAttempt:
    last = (
        SwapAttempt.objects.filter(swap=swap)
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
    )
    return SwapAttempt.objects.create(
        swap=swap,
        number=(last or 0) + 1,
        started_at=timezone.now(),
        code_hash=hash_code(verify_code) if verify_code else "",
    )


def _attempt_finished(
    swap: Swap,
    attempt: SwapAttempt,
    outcome: str,
    exc: Exception | None,
    *,
    code: str | None = None,
) -> None:
    """Record how an attempt ended; audit it unless it is the one whose code is stored
    (that one is the SWAP_SENT event). A call our own limiter held back was no attempt."""
    http_status = getattr(exc, "http_status", None)
    if outcome == SwapAttemptOutcome.THROTTLED and http_status is None:
        attempt.delete()
        return
    attempt.finished_at = timezone.now()
    attempt.outcome = outcome
    attempt.http_status = http_status if outcome != SwapAttemptOutcome.OK else 200
    attempt.error_code = (getattr(exc, "code", None) or "")[:32]
    if code and not attempt.code_hash:
        attempt.code_hash = hash_code(code)
    with transaction.atomic():
        attempt.save()
        if outcome != SwapAttemptOutcome.OK:
            _audit_attempt(swap, attempt)


def _audit_attempt(swap: Swap, attempt: SwapAttempt) -> None:
    swap_audit(
        swap=swap,
        action=AuditAction.SWAP_ATTEMPTED,
        after={
            "attempt": attempt.number,
            "outcome": attempt.outcome,
            "http_status": attempt.http_status,
            "error_code": attempt.error_code,
        },
        detail=f"attempt {attempt.number}: {attempt.get_outcome_display()}",
    )


def _close_lost_attempts(swap: Swap) -> None:
    """Attempts left unfinished by a worker that died mid-call: the platform may have applied
    them, so they end as outcome unknown (audited)."""
    lost = list(
        SwapAttempt.objects.filter(swap=swap, outcome=SwapAttemptOutcome.IN_PROGRESS).exclude(
            number__isnull=True
        )
    )
    for attempt in lost:
        with transaction.atomic():
            closed = SwapAttempt.objects.filter(
                pk=attempt.pk, outcome=SwapAttemptOutcome.IN_PROGRESS
            ).update(outcome=SwapAttemptOutcome.OUTCOME_UNKNOWN, finished_at=timezone.now())
            if closed:
                attempt.outcome = SwapAttemptOutcome.OUTCOME_UNKNOWN
                _audit_attempt(swap, attempt)


def _own_claim(swap: Swap) -> Any:
    """This attempt's claim: still SENDING and not taken over (attempts is the fencing token)."""
    return Swap.objects.filter(pk=swap.pk, state=SwapState.SENDING, attempts=swap.attempts)


def _store_code(swap: Swap, verify_code: str, timeout: int | None) -> None:
    now = timezone.now()
    validity = timeout if timeout is not None else swap.timeout_seconds
    expires_at = now + timedelta(seconds=validity) if validity else None
    with transaction.atomic():
        stored = _own_claim(swap).update(
            state=SwapState.CODE_ISSUED,
            lease_expires_at=None,
            verify_code_encrypted=encrypt_code(verify_code),
            verify_code_hint=code_hint(verify_code),
            verify_code_hash=hash_code(verify_code),
            custom_verify_code_encrypted="",
            code_issued_at=now,
            code_expires_at=expires_at,
            needs_reconcile=False,
            error_code="",
            error_text="",
            updated_at=now,
        )
        if not stored:
            # A bound push overtook us (the unit connected before we stored the answer).
            logger.info("swap %s left SENDING before its code was stored", swap.pk)
            return
        swap_audit(swap=swap, action=AuditAction.SWAP_SENT, detail=f"attempt {swap.attempts}")
        swap_audit(
            swap=swap,
            action=AuditAction.CODE_ISSUED,
            after={
                "code_expires_at": expires_at.isoformat() if expires_at else None,
                "timeout_seconds": validity,
            },
        )
    logger.info("swap %s: code issued for device %s", swap.pk, swap.device.device_id)
    swap_code_issued_observed(seconds=(now - swap.created_at).total_seconds())


def _requeue(
    swap: Swap,
    exc: Exception,
    *,
    countdown: float,
    count_attempt: bool = True,
    reconciled: bool = False,
) -> None:
    from oceanconnect import PlatformThrottled

    code = getattr(exc, "code", None) or ""
    text = getattr(exc, "handling_text", "") or str(exc)
    if reconciled:
        code = "outcome_unknown"
        text = (
            "The platform did not answer. It shows the device unchanged and offline, so the "
            "request is sent again (a new refresh replaces any pending binding)."
        )
    if count_attempt and swap.attempts >= settings.SWAP_MAX_ATTEMPTS:
        _fail(swap, code, f"Gave up after {swap.attempts} attempts. {text}")
        return
    next_at = timezone.now() + timedelta(seconds=countdown)
    throttled = isinstance(exc, PlatformThrottled)
    updates: dict[str, Any] = {
        "state": SwapState.QUEUED,
        "lease_expires_at": None,
        "next_attempt_at": next_at,
        "error_code": code[:32],
        "error_text": text,
        "updated_at": timezone.now(),
        # Shown on the swap page and by `rekey --wait` while the send waits for a slot.
        "waiting_for_slot_until": next_at if throttled else None,
        "slot_position": exc.queue_position if isinstance(exc, PlatformThrottled) else None,
    }
    if not count_attempt:
        updates["attempts"] = F("attempts") - 1
    _own_claim(swap).update(**updates)
    logger.info(
        "swap %s: attempt %s not completed (%s); retry in %.1f s",
        swap.pk,
        swap.attempts,
        code or type(exc).__name__,
        countdown,
    )
    raise SwapRetryLater(countdown, code or type(exc).__name__)


def _fail(swap: Swap, code: str, text: str, *, platform_text: str = "") -> None:
    now = timezone.now()
    with transaction.atomic():
        failed = _own_claim(swap).update(
            state=SwapState.FAILED,
            lease_expires_at=None,
            error_code=(code or "")[:32],
            error_text=text,
            custom_verify_code_encrypted="",
            verify_code_encrypted="",
            needs_reconcile=False,
            finished_at=now,
            updated_at=now,
        )
        if failed:
            swap_audit(
                swap=swap,
                action=AuditAction.SWAP_FAILED,
                after={"error_code": code, "platform_text": platform_text},
                detail=text,
            )
    logger.warning("swap %s failed: %s", swap.pk, code or "no code")


def _reconcile(swap: Swap, client: Any) -> bool:
    """After an unanswered refresh, ask the platform what happened before sending again.

    Returns True when re-sending is safe: the device still has its old nodeId and is not online,
    so nothing bound, and a second refresh replaces whatever binding the first left pending.
    Otherwise ends the swap (bound or failed) and returns False. Raises SwapRetryLater when the
    platform cannot be asked right now (the flag stays set, so the next attempt asks first).
    """
    from oceanconnect import Lane, PlatformError, PlatformRetryableError, PlatformThrottled

    try:
        platform_device = client.get_device(
            swap.device.device_id,
            app_id=swap.device.app_id or None,
            max_wait=SEND_MAX_WAIT,
            lane=Lane.RECONCILE,
        )
    except PlatformThrottled as exc:
        _requeue(swap, exc, countdown=max(exc.retry_after or 0, 0.5), count_attempt=False)
        return False
    except PlatformRetryableError as exc:
        _requeue(swap, exc, countdown=retry_delay(swap.attempts))
        return False
    except PlatformError as exc:
        _fail(
            swap,
            exc.code or "outcome_unknown",
            "The platform did not answer the refresh and the device cannot be read now "
            f"({exc.handling_text}). Check the device on the platform before a new swap.",
        )
        return False
    info = platform_device.info
    live_key = node_search_key(info.node_id or "")
    if live_key and live_key == node_search_key(swap.new_node_id):
        swap_set_bound(swap=swap, node_id=info.node_id or swap.new_node_id, at=timezone.now())
        return False
    if live_key == node_search_key(swap.old_node_id) and info.status != DeviceStatus.ONLINE:
        Swap.objects.filter(pk=swap.pk).update(needs_reconcile=False)
        swap.needs_reconcile = False
        logger.info("swap %s reconciled: device unchanged and offline", swap.pk)
        return True
    _fail(
        swap,
        "outcome_unknown",
        "The platform did not answer the refresh, and the device has changed since "
        f"(status {info.status or 'unknown'}). Check the device on the platform before a new "
        "swap.",
    )
    return False
