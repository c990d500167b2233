"""Supervisor pages: swap history (and its CSV export), the summary, and a device's lineage.

Thin: check the permission, validate the GET filters with a form, call reports.selectors (or
reports.export), render. None of these pages can show a verifyCode: neither module reads one.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from devices.limits import MAX_NODE_ID_LENGTH
from devices.models import Device, SwapState
from devices.permissions import Perm
from devices.templatetags.devices_ui import swap_tone
from iotadmin.htmx import HtmxHttpRequest, is_partial
from reports import charts
from reports.export import export_csv, export_filename
from reports.selectors import (
    SUMMARY_MAX_DAYS,
    HistoryFilters,
    device_lineage,
    history_page,
    summary_period,
    swap_summary,
)

MAX_CURSOR_LENGTH = 512
TECHNICIAN_CHOICES_LIMIT = 500
_ERROR_CODE = re.compile(r"^[0-9A-Za-z_.\-]+$")


def _require_history(request: HtmxHttpRequest) -> None:
    if not request.user.has_perm(Perm.VIEW_HISTORY):
        raise PermissionDenied("Only supervisors may read the swap history.")


class _DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%d")


class DateRangeForm(forms.Form):
    date_from = forms.DateField(label="From", required=False, widget=_DateInput())
    date_to = forms.DateField(label="To (inclusive)", required=False, widget=_DateInput())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "“To” is before “From”: swap the two dates.")
        return data


class HistoryFilterForm(DateRangeForm):
    technician = forms.CharField(
        label="Technician", required=False, max_length=150, help_text="Username"
    )
    device = forms.CharField(
        label="Device",
        required=False,
        max_length=MAX_NODE_ID_LENGTH,
        help_text="deviceId, or any nodeId it has had (IMEI, urn:imei:…, MAC)",
    )
    outcome = forms.ChoiceField(
        label="Outcome", required=False, choices=[("", "Any outcome"), *SwapState.choices]
    )
    error_code = forms.CharField(
        label="Platform error code", required=False, max_length=32, help_text="e.g. 100611"
    )

    def clean_technician(self) -> int | None:
        username = self.cleaned_data["technician"].strip()
        if not username:
            return None
        user = get_user_model().objects.filter(username__iexact=username).only("pk").first()
        if user is None:
            raise forms.ValidationError(f"No user is called “{username}”.")
        return user.pk

    def clean_device(self) -> str:
        return self.cleaned_data["device"].strip()

    def clean_error_code(self) -> str:
        code = self.cleaned_data["error_code"].strip()
        if code and not _ERROR_CODE.match(code):
            raise forms.ValidationError("An error code is digits (and letters), e.g. 100611.")
        return code

    def filters(self) -> HistoryFilters:
        data = self.cleaned_data
        return HistoryFilters(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            technician_id=data.get("technician"),
            device=data.get("device", ""),
            outcome=data.get("outcome", ""),
            error_code=data.get("error_code", ""),
        )


class SummaryForm(DateRangeForm):
    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to") or timezone.localdate()
        if start and (end - start).days >= SUMMARY_MAX_DAYS:
            self.add_error("date_from", f"A summary covers at most {SUMMARY_MAX_DAYS} days.")
        return data


def _technician_names() -> list[str]:
    """Suggestions for the technician box (one query, whatever the number of swaps)."""
    users = get_user_model().objects.filter(is_active=True).order_by("username")
    return list(users.values_list("username", flat=True)[:TECHNICIAN_CHOICES_LIMIT])


def _query_without_cursor(request: HtmxHttpRequest) -> str:
    query = request.GET.copy()
    query.pop("after", None)
    return query.urlencode()


@never_cache
@require_GET
def swap_history_view(request: HtmxHttpRequest) -> HttpResponse:
    _require_history(request)
    form = HistoryFilterForm(request.GET or None)
    after = request.GET.get("after", "")[:MAX_CURSOR_LENGTH] or None
    page = None
    status = 200
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        filters = form.filters() if form.is_bound else HistoryFilters()
        page = history_page(filters=filters, after=after)
    context = {
        "form": form,
        "page": page,
        "after": after,
        "query": _query_without_cursor(request),
        "technician_names": _technician_names(),
    }
    template = "reports/history.html"
    if is_partial(request) and after and page is not None:
        template += "#history-rows"  # "Show older swaps": only the next rows
    return render(request, template, context, status=status)


@never_cache
@require_GET
def swap_history_export(request: HtmxHttpRequest) -> HttpResponse | StreamingHttpResponse:
    _require_history(request)
    form = HistoryFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        context = {
            "form": form,
            "page": None,
            "query": _query_without_cursor(request),
            "technician_names": _technician_names(),
            "export_refused": True,
        }
        return render(request, "reports/history.html", context, status=400)
    filters = form.filters() if form.is_bound else HistoryFilters()
    response = StreamingHttpResponse(
        export_csv(filters=filters), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{export_filename()}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@never_cache
@require_GET
def swap_summary_view(request: HtmxHttpRequest) -> HttpResponse:
    _require_history(request)
    form = SummaryForm(request.GET or None)
    summary = None
    status = 200
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        data = form.cleaned_data if form.is_bound else {}
        start, end = summary_period(date_from=data.get("date_from"), date_to=data.get("date_to"))
        summary = swap_summary(date_from=start, date_to=end)
    context: dict[str, Any] = {"form": form, "summary": summary}
    if summary is not None:
        tones = {state: swap_tone(state) for state in SwapState.values}
        context.update(
            per_day_chart=charts.swaps_per_day_chart(summary.per_day),
            outcome_chart=charts.outcome_mix_chart(summary.outcomes, tone_of=tones),
            day_legend=charts.DAY_LEGEND,
            success_rate=summary.bound / summary.total if summary.total else None,
        )
    return render(request, "reports/summary.html", context, status=status)


@never_cache
@require_GET
def device_lineage_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    _require_history(request)
    device = get_object_or_404(Device, pk=pk)
    lineage = device_lineage(device=device)
    return render(request, "reports/lineage.html", {"lineage": lineage, "device": device})
