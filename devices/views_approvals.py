"""The approvals queue: swaps the approval policy held back, approved or rejected by a helpdesk
or supervisor user who did not request them. Thin: permission, form field, service, render.

Every action is an htmx form that is also a plain POST: htmx gets the swap's row back, a plain
POST is redirected to the queue with a message.
"""

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from devices.approvals import approval_pending_count, approval_queue, approval_swap
from devices.limits import MAX_REASON_LENGTH
from devices.models import Swap
from devices.permissions import Perm
from devices.services.approvals import swap_approve, swap_reject
from devices.services.checks import SwapRefused
from iotadmin.htmx import HtmxHttpRequest, is_partial

QUEUE_TEMPLATE = "approvals/queue.html"
BADGE_TEMPLATE = "approvals/badge.html"


def _require_approver(request: HtmxHttpRequest) -> None:
    if not request.user.has_perm(Perm.APPROVE_SWAP):
        raise PermissionDenied


def _swap(pk: int) -> Swap:
    try:
        return approval_swap(swap_id=pk)
    except Swap.DoesNotExist:
        raise Http404("No such swap") from None


@never_cache
@require_GET
def approval_queue_view(request: HtmxHttpRequest) -> HttpResponse:
    _require_approver(request)
    context = {
        "queue": approval_queue(),
        "now": timezone.now(),
        "reason_max_length": MAX_REASON_LENGTH,
    }
    return render(request, QUEUE_TEMPLATE, context)


@never_cache
@require_GET
def approval_badge_view(request: HtmxHttpRequest) -> HttpResponse:
    """The nav's count of swaps waiting for approval (polled by htmx; one COUNT query)."""
    _require_approver(request)
    return render(request, BADGE_TEMPLATE, {"count": approval_pending_count()})


def _answer(
    request: HtmxHttpRequest,
    swap: Swap,
    *,
    notice: str = "",
    problem: str = "",
    reason: str = "",
) -> HttpResponse:
    """The swap's row for htmx; otherwise back to the queue with the outcome as a message."""
    if is_partial(request):
        context: dict[str, Any] = {
            "swap": swap,
            "notice": notice,
            "problem": problem,
            "reason_value": reason[:MAX_REASON_LENGTH],
            "reason_max_length": MAX_REASON_LENGTH,
            "now": timezone.now(),
        }
        return render(request, f"{QUEUE_TEMPLATE}#approval-item", context)
    if problem:
        messages.error(request, problem)
    elif notice:
        messages.success(request, notice)
    return redirect("devices:approval_queue")


@never_cache
@require_POST
def swap_approve_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    _require_approver(request)
    swap = _swap(pk)
    try:
        swap = swap_approve(swap=swap, actor=request.user)
    except SwapRefused as exc:
        swap.refresh_from_db()
        return _answer(request, swap, problem=exc.message)
    return _answer(request, swap, notice=f"Swap #{swap.pk} approved; it is being sent.")


@never_cache
@require_POST
def swap_reject_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    _require_approver(request)
    swap = _swap(pk)
    # Whole: the service counts what was typed and refuses past MAX_REASON_LENGTH.
    reason = request.POST.get("reason", "")
    try:
        swap = swap_reject(swap=swap, actor=request.user, reason=reason)
    except SwapRefused as exc:
        swap.refresh_from_db()
        return _answer(request, swap, problem=exc.message, reason=reason)
    return _answer(request, swap, notice=f"Swap #{swap.pk} rejected; the requester sees why.")
