"""Pages of the swap workflow. Thin: check permission, read the form, call a service or
selector, render the whole page or (for htmx) just the partial that changed."""

import hashlib
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from devices.approvals import swap_approver_names
from devices.code_modes import code_mode_warning, requires_node_id_code
from devices.demo import DemoRefused, demo_plug_in_unit
from devices.forms import (
    SwapForm,
    is_same_as_old,
    parse_identifier,
    same_as_old_message,
)
from devices.limits import MAX_SEARCH_QUERY_LENGTH, MIN_SEARCH_CONTAINS_LENGTH
from devices.models import Device, DeviceStatus, Swap, SwapState, VerifyCodeMode
from devices.permissions import Perm
from devices.qr import qr_svg
from devices.roles import can_manage_swap, can_see_code, can_view_attempts, can_view_swap
from devices.selectors import (
    device_search,
    help_requested,
    open_swap_for_device,
    search_contains_applies,
    swap_attempts,
    swap_for_user,
    swap_slot_wait,
    swap_worker_notice,
    swaps_for_device,
)
from devices.services.approvals import approver_mail_configured
from devices.services.checks import SwapRefused, open_swap_owner
from devices.services.lifecycle import (
    reissue_timeout_seconds,
    swap_cancel,
    swap_help_request,
    swap_recover_lapsed,
    swap_reissue,
    swap_reveal_code,
    swap_take_over,
)
from devices.services.offline import (
    LiveStatusReading,
    device_live_status_peek,
    device_live_status_read,
    swap_expire_offline_wait,
)
from devices.services.request import swap_request
from devices.services.sync import DeviceRefreshFailed, device_refresh
from iotadmin.htmx import HtmxHttpRequest, is_partial

DEVICE_PAGE_SIZE = 25
DEVICE_HISTORY_SIZE = 20


def _render(
    request: HtmxHttpRequest, template: str, partial: str, context: dict[str, Any]
) -> HttpResponse:
    """One view, two renderings: the page, or only its partial for an htmx request."""
    name = f"{template}#{partial}" if is_partial(request) else template
    return render(request, name, context)


def _require(request: HtmxHttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def _swap(request: HtmxHttpRequest, pk: int) -> Swap:
    """The swap if this user may see it (object-level check in the selector).

    A swap this user may not see is "not found" too: a 403 would confirm that it exists.
    """
    try:
        return swap_for_user(user=request.user, swap_id=pk)
    except (Swap.DoesNotExist, PermissionDenied):
        raise Http404("No such swap") from None


# Where a service's refusal belongs on the form (its `field`, our field name).
_REFUSAL_FIELDS = {
    "new_node_id": "new_identifier",
    "reason": "reason",
    "timeout_seconds": "validity",
    "custom_verify_code": "custom_verify_code",
    "verify_code_mode": "verify_code_mode",
    "offline_wait_minutes": "offline_wait_minutes",
}


# --- Finding the device ------------------------------------------------------------------------


@require_GET
def device_list(request: HtmxHttpRequest) -> HttpResponse:
    _require(request, Perm.SEARCH_DEVICES)
    query = request.GET.get("q", "").strip()[:MAX_SEARCH_QUERY_LENGTH]
    after = request.GET.get("after") or None
    page = device_search(query=query, after=after, limit=DEVICE_PAGE_SIZE)
    context = {
        "q": query,
        "page": page,
        "after": after,
        "max_query_length": MAX_SEARCH_QUERY_LENGTH,
        "contains_too_short": bool(query) and not search_contains_applies(query),
        "min_contains_length": MIN_SEARCH_CONTAINS_LENGTH,
    }
    partial = "device-rows" if after else "device-results"
    return _render(request, "devices/device_list.html", partial, context)


# --- The device page and its swap form --------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def device_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    _require(request, Perm.SEARCH_DEVICES)
    device = get_object_or_404(Device, pk=pk)
    may_request = request.user.has_perm(Perm.REQUEST_SWAP)
    form = SwapForm(device=device, user=request.user) if may_request else None
    refused = ""
    # Know before typing: the live status read recently (no call here; the page loads it).
    live = device_live_status_peek(device=device)
    offer_offline_wait = _offer_offline_wait(device, live)
    if request.method == "POST":
        if not may_request:
            raise PermissionDenied
        form = SwapForm(request.POST, device=device, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            assert form.node_id is not None  # clean() parses it on every valid form
            try:
                swap = swap_request(
                    device=device,
                    new_node_id=form.node_id,
                    verify_code_mode=data["verify_code_mode"],
                    custom_verify_code=data["custom_verify_code"],
                    timeout_seconds=data["timeout_seconds"],
                    reason=data["reason"],
                    actor=request.user,
                    request_id=getattr(request, "request_id", ""),
                    ip=request.META.get("REMOTE_ADDR", ""),
                    allow_same_node_id=bool(data.get("confirm_same")),
                    code_mode_override=bool(data.get("code_mode_override")),
                    offline_wait_minutes=form.offline_wait(),
                )
            except SwapRefused as exc:
                if exc.code == "device_online":
                    offer_offline_wait = True
                field = _REFUSAL_FIELDS.get(exc.field or "")
                if field:
                    form.add_error(field, exc.message)
                else:
                    refused = exc.message
            else:
                if swap.precheck_notice:
                    messages.info(request, swap.precheck_notice)
                url = reverse("devices:swap_detail", args=[swap.pk])
                if is_partial(request):
                    return HttpResponseClientRedirect(url)
                return redirect(url)
    swaps = swaps_for_device(device=device, user=request.user, limit=DEVICE_HISTORY_SIZE)
    # Any open swap, whoever opened it: the one in the list when this person may see it.
    open_swap = next((s for s in swaps if s.is_open), None) or open_swap_for_device(device=device)
    may_open = open_swap is not None and can_view_swap(request.user, open_swap)
    # Someone else's open swap this person could take over or ask the helpdesk about.
    blocking = None
    if open_swap is not None and may_request and open_swap.requested_by_id != request.user.pk:
        blocking = open_swap
    context = {
        "device": device,
        "form": form,
        "refused": refused,
        "swaps": swaps,
        "open_swap": open_swap,
        "open_swap_owner": open_swap_owner(open_swap) if open_swap else "",
        "may_open_swap": may_open,
        "may_take_over": blocking is not None and blocking.state != SwapState.SENDING,
        "may_ask_helpdesk": blocking is not None,
        "help_asked": blocking is not None and help_requested(swap=blocking, user=request.user),
        "may_request": may_request,
        "live": live,
        "offer_offline_wait": offer_offline_wait,
        "raw": form["new_identifier"].value() if form is not None and form.is_bound else "",
        "preview_value": form.node_id.value if form is not None and form.node_id else "",
        "code_is_node_id": bool(
            form is not None
            and form.is_bound
            and form.data.get("verify_code_mode") == VerifyCodeMode.SAME_AS_NODE_ID
        ),
    }
    return _render(request, "devices/device_detail.html", "swap-form", context)


def _colleagues_open_swap(request: HtmxHttpRequest, pk: int) -> tuple[Device, Swap | None]:
    _require(request, Perm.REQUEST_SWAP)
    device = get_object_or_404(Device, pk=pk)
    return device, open_swap_for_device(device=device)


@require_POST
def device_take_over(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Take over the device's open swap (a colleague's or a bulk one) after confirming."""
    device, swap = _colleagues_open_swap(request, pk)
    back = reverse("devices:device_detail", args=[device.pk])
    if swap is None:
        messages.info(request, "The device has no open swap any more: request one below.")
        return redirect(back)
    if not request.POST.get("confirm"):
        messages.error(
            request,
            "Tick “I take over this swap” to confirm, then press “Take over” again.",
        )
        return redirect(back)
    try:
        new_swap = swap_take_over(swap=swap, actor=request.user)
    except SwapRefused as exc:
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(request, "You took the swap over: your new code is being requested.")
    return redirect("devices:swap_detail", new_swap.pk)


@require_POST
def device_ask_helpdesk(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Ask the helpdesk about the device's open swap that blocks this person."""
    device, swap = _colleagues_open_swap(request, pk)
    if swap is None:
        messages.info(request, "The device has no open swap any more: request one below.")
    else:
        try:
            swap_help_request(swap=swap, actor=request.user)
        except SwapRefused as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                "Helpdesk asked. They can see who asked and about which device; "
                "call them if it is urgent.",
            )
    return redirect("devices:device_detail", device.pk)


def _offer_offline_wait(device: Device, live: LiveStatusReading | None) -> bool:
    """Whether the form offers "send it when the old unit goes offline": the device is online
    live, or (live status not known) as last mirrored."""
    if live is not None and live.known:
        return live.online
    return device.status == DeviceStatus.ONLINE


@never_cache
@require_GET
def device_live_status_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The device's live status from the platform (loaded by the device page after it shows),
    and, for someone who may request a swap, the form's "send when offline" choice to match."""
    _require(request, Perm.SEARCH_DEVICES)
    device = get_object_or_404(Device, pk=pk)
    live = device_live_status_read(device=device)
    may_request = request.user.has_perm(Perm.REQUEST_SWAP)
    context = {
        "device": device,
        "live": live,
        "may_request": may_request,
        # The form's choice follows the live status (out of band); unknown: the mirror's.
        "offer_offline_wait": _offer_offline_wait(device, live),
        "form": SwapForm(device=device, user=request.user) if may_request else None,
        # Only where the page shows the form (no open swap): nothing else to update.
        "oob": may_request and open_swap_for_device(device=device) is None,
        # The header's badge shows the mirror, which the live read has just updated.
        "refresh_badge": live.known,
    }
    return render(request, "devices/_live_status.html", context)


@require_POST
def node_id_preview(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The final nodeId for what is being typed, or why it is not valid (same rules as submit)."""
    _require(request, Perm.REQUEST_SWAP)
    device = get_object_or_404(Device, pk=pk)
    raw = request.POST.get("new_identifier", "").strip()
    context: dict[str, Any] = {"device": device, "raw": raw}
    if raw:
        result = parse_identifier(
            raw=raw[:1000],
            kind=request.POST.get("kind", ""),
            chipset=request.POST.get("chipset", ""),
        )
        context["preview_error"] = result.error
        # A choice only the person can make (the chip maker of an IMEI): the form opens them.
        context["needs_choice"] = result.error_field in ("kind", "chipset")
        if result.note:
            context["kind_note"] = result.note
            context["switched_kind"] = result.kind
        if result.node_id is not None:
            context["preview_value"] = result.node_id.value
            if is_same_as_old(result.node_id, device):
                context["warning"] = same_as_old_message(device)
        context["code_is_node_id"] = (
            request.POST.get("verify_code_mode") == VerifyCodeMode.SAME_AS_NODE_ID
        )
    return render(request, "devices/device_detail.html#node-preview", context)


# --- The swap page and its code panel ---------------------------------------------------------


def _panel_version(swap: Swap) -> str:
    """Changes whenever anything the code panel shows changes (no secret goes into it)."""
    parts = (
        swap.state,
        swap.attempts,
        swap.error_code,
        swap.error_text,
        swap.next_attempt_at,
        swap.code_issued_at,
        swap.code_expires_at,
        swap.bound_at,
        swap.finished_at,
        swap.updated_at,
        swap_slot_wait(swap=swap),  # its estimate counts down
        # "No worker is running" appears a few seconds into a wait with nothing else changing.
        swap_worker_notice(swap=swap),
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _panel_context(request: HtmxHttpRequest, swap: Swap) -> dict[str, Any]:
    user = request.user
    may_see_code = can_see_code(user, swap)
    verify_code = ""
    if swap.state == SwapState.CODE_ISSUED and may_see_code:
        try:
            verify_code = swap_reveal_code(swap=swap, actor=user)
        except SwapRefused:  # expired a moment ago: the countdown says so until the state flips
            verify_code = ""
    may_manage = can_manage_swap(user, swap)
    node_id_device = requires_node_id_code(swap.device)
    return {
        "swap": swap,
        "device": swap.device,
        "verify_code": verify_code,
        "code_qr": qr_svg(verify_code, label="QR code of the verifyCode") if verify_code else "",
        "may_manage": may_manage,
        "may_see_code": may_see_code,
        "demo_bind": swap.state == SwapState.CODE_ISSUED and bool(verify_code),
        # An NB-IoT unit binds by itself when it attaches with its nodeId: nothing to type.
        "attaches_with_node_id": node_id_device
        and swap.verify_code_mode == VerifyCodeMode.SAME_AS_NODE_ID,
        "code_mode_warning": code_mode_warning(swap.device, swap.verify_code_mode)
        if swap.is_open
        else None,
        "max_attempts": settings.SWAP_MAX_ATTEMPTS,
        # Who may approve (one query, only while the swap waits for approval).
        "approvers": swap_approver_names(swap=swap)
        if swap.state == SwapState.PENDING_APPROVAL
        else [],
        "approvers_notified": approver_mail_configured(),
        "slot_wait": swap_slot_wait(swap=swap),
        "worker_notice": swap_worker_notice(swap=swap),
        "server_now": timezone.now(),
        "panel_version": _panel_version(swap),
        "reissued_as": swap.reissues.order_by("-created_at").first() if not swap.is_open else None,
        # What a re-issue would ask for, said before the tap when it is not the old validity.
        "reissue_timeout_seconds": reissue_timeout_seconds(swap=swap),
    }


@never_cache
@require_GET
def swap_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    swap = _swap(request, pk)
    if is_partial(request):
        # A send whose worker vanished: hand it to a worker now (no platform call here).
        if swap_recover_lapsed(swap=swap):
            swap.refresh_from_db()
        # A wait for the old unit to go offline that has run out ends now (no platform call).
        if swap_expire_offline_wait(swap=swap):
            swap.refresh_from_db()
        seen = request.GET.get("v", "")
        if seen and seen == _panel_version(swap):
            return HttpResponse(status=204)  # unchanged: htmx keeps the panel (and its countdown)
        return _render(
            request, "devices/swap_detail.html", "code-panel", _panel_context(request, swap)
        )
    context = _panel_context(request, swap)
    if can_view_attempts(request.user):
        context["attempts"] = swap_attempts(swap=swap)
    return _render(request, "devices/swap_detail.html", "code-panel", context)


def _after_panel_action(request: HtmxHttpRequest, swap: Swap, notice: str = "") -> HttpResponse:
    if is_partial(request):
        context = _panel_context(request, swap)
        context["notice"] = notice
        return render(request, "devices/swap_detail.html#code-panel", context)
    if notice:
        messages.info(request, notice)
    return redirect("devices:swap_detail", pk=swap.pk)


def _refusal(request: HtmxHttpRequest, swap: Swap, message: str) -> HttpResponse:
    if is_partial(request):
        context = _panel_context(request, swap)
        context["problem"] = message
        return render(request, "devices/swap_detail.html#code-panel", context)
    messages.error(request, message)
    return redirect("devices:swap_detail", pk=swap.pk)


@never_cache
@require_POST
def device_refresh_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Read the device from the platform now (one interactive call) and update the mirror."""
    _require(request, Perm.SEARCH_DEVICES)
    device = get_object_or_404(Device, pk=pk)
    try:
        device_refresh(device=device, actor=request.user)
    except DeviceRefreshFailed as exc:
        messages.error(request, exc.message)
    else:
        messages.info(request, "Refreshed from the platform just now.")
    return redirect("devices:device_detail", pk=device.pk)


@never_cache
@require_POST
def swap_cancel_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    swap = _swap(request, pk)
    if not can_manage_swap(request.user, swap):
        raise PermissionDenied
    try:
        swap = swap_cancel(swap=swap, actor=request.user)
    except SwapRefused as exc:
        return _refusal(request, swap, exc.message)
    return _after_panel_action(request, swap, "The swap was cancelled.")


@never_cache
@require_POST
def swap_reissue_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    swap = _swap(request, pk)
    if not can_manage_swap(request.user, swap):
        raise PermissionDenied
    try:
        new_swap = swap_reissue(swap=swap, actor=request.user)
    except SwapRefused as exc:
        return _refusal(request, swap, exc.message)
    url = reverse("devices:swap_detail", args=[new_swap.pk])
    if is_partial(request):
        return HttpResponseClientRedirect(url)
    return redirect(url)


@never_cache
@require_POST
def swap_demo_bind(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    swap = _swap(request, pk)
    if not can_see_code(request.user, swap):
        raise PermissionDenied
    try:
        demo_plug_in_unit(swap=swap, actor=request.user)
    except DemoRefused as exc:
        return _refusal(request, swap, exc.message)
    swap.refresh_from_db()
    return _after_panel_action(
        request,
        swap,
        "Demo: the replacement unit connected. Waiting for the platform to confirm the binding…",
    )
