"""Pages of bulk swaps. Thin: check permission, call a service or selector, render the page or,
for htmx, only the part that changed."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from bulk.checks import DEFAULT_VALIDITY_MINUTES, MAX_VALIDITY_MINUTES, MIN_VALIDITY_MINUTES
from bulk.csv_parsing import COLUMNS, BulkFileRefused
from bulk.models import BatchState, BulkBatch
from bulk.selectors import (
    ROW_FILTERS,
    batch_for_user,
    batch_progress,
    batch_rows,
    batches_recent,
)
from bulk.services import (
    BulkRefused,
    bulk_confirm,
    bulk_discard,
    bulk_result_rows,
    bulk_retry_failed,
    bulk_upload,
)
from bulk.uploads import CappedUploadHandler
from devices.permissions import Perm
from iotadmin.htmx import HtmxHttpRequest, is_partial

UPLOAD_FIELD = "file"


def _require(request: HtmxHttpRequest) -> None:
    if not request.user.has_perm(Perm.BULK_SWAP):
        raise PermissionDenied


def _batch(request: HtmxHttpRequest, pk: int) -> BulkBatch:
    try:
        return batch_for_user(user=request.user, batch_id=pk)
    except BulkBatch.DoesNotExist:
        raise Http404("No such bulk file") from None


def _max_bytes() -> int:
    return int(settings.FILE_UPLOAD_MAX_MEMORY_SIZE)


def _too_big_message() -> str:
    return (
        f"The file is larger than {_max_bytes() // (1024 * 1024)} MB. A bulk file has at most "
        f"{settings.BULK_MAX_ROWS:,} rows; split it into smaller files."
    )


def _upload_page(request: HtmxHttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    context = {
        "error": error,
        "columns": COLUMNS,
        "default_validity_minutes": DEFAULT_VALIDITY_MINUTES,
        "min_validity": MIN_VALIDITY_MINUTES,
        "max_validity": MAX_VALIDITY_MINUTES,
        "max_rows": settings.BULK_MAX_ROWS,
        "max_mb": _max_bytes() // (1024 * 1024),
        "recent": batches_recent(user=request.user),
    }
    return render(request, "bulk/upload.html", context, status=status)


# --- upload --------------------------------------------------------------------------------------


@csrf_exempt  # CSRF is checked in _upload_post, once the size-capped upload handler is in place
@require_http_methods(["GET", "POST"])
def bulk_upload_view(request: HtmxHttpRequest) -> HttpResponse:
    _require(request)
    if request.method != "POST":
        return _upload_page(request)
    handler = CappedUploadHandler(request, limit=_max_bytes())
    request.upload_handlers = [handler]
    try:
        return _upload_post(request, handler)
    except RequestDataTooBig:
        # A body too big for Django to read at all (not a file part): same message, no 400 page.
        return _upload_page(request, error=_too_big_message(), status=413)


@csrf_protect
def _upload_post(request: HtmxHttpRequest, handler: CappedUploadHandler) -> HttpResponse:
    upload = request.FILES.get(UPLOAD_FIELD)
    if handler.too_big:
        return _upload_page(request, error=_too_big_message(), status=413)
    if upload is None:
        return _upload_page(request, error="Choose a CSV file to upload.", status=400)
    try:
        batch = bulk_upload(actor=request.user, filename=upload.name or "", data=upload.read())
    except BulkFileRefused as exc:
        return _upload_page(request, error=exc.message, status=400)
    return redirect("bulk:batch", pk=batch.pk)


# --- the batch page --------------------------------------------------------------------------


def _page_number(request: HtmxHttpRequest) -> int:
    try:
        return int(request.GET.get("page", "1"))
    except ValueError:
        return 1


def _batch_context(request: HtmxHttpRequest, batch: BulkBatch) -> dict[str, Any]:
    show = request.GET.get("show", "all")
    if show not in ROW_FILTERS:
        show = "all"
    rows, page, pages = batch_rows(batch=batch, show=show, page=_page_number(request))
    progress = batch_progress(batch=batch, with_eta=batch.state == BatchState.CONFIRMED)
    return {
        "batch": batch,
        "rows": rows,
        "page": page,
        "pages": pages,
        "show": show,
        "progress": progress,
        "is_uploader": batch.uploaded_by_id == request.user.pk,
        "default_validity_minutes": DEFAULT_VALIDITY_MINUTES,
        "live": batch.state == BatchState.CONFIRMED and not progress.finished,
    }


@require_GET
def batch_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    batch = _batch(request, pk)
    template = "bulk/batch.html"
    if is_partial(request):
        template += "#live"
    return render(request, template, _batch_context(request, batch))


def _done(request: HtmxHttpRequest, batch: BulkBatch) -> HttpResponse:
    url = reverse("bulk:batch", kwargs={"pk": batch.pk})
    if is_partial(request):
        return HttpResponseClientRedirect(url)
    return redirect(url)


@require_POST
def batch_confirm(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    batch = _batch(request, pk)
    try:
        batch = bulk_confirm(batch=batch, actor=request.user)
    except BulkRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Sending started: the rows go out as the flow limit allows.")
    return _done(request, batch)


@require_POST
def batch_discard(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    batch = _batch(request, pk)
    try:
        bulk_discard(batch=batch, actor=request.user)
    except BulkRefused as exc:
        messages.error(request, exc.message)
        return _done(request, batch)
    messages.success(request, "The file was discarded; nothing was sent.")
    return redirect("bulk:upload")


@require_POST
def batch_retry(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    batch = _batch(request, pk)
    row_id = None
    if request.POST.get("row"):
        try:
            row_id = int(request.POST["row"])
        except ValueError:
            raise Http404("No such row") from None
    try:
        count = bulk_retry_failed(batch=batch, actor=request.user, row_id=row_id)
    except BulkRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{count} row{'s' if count != 1 else ''} will be sent again.")
    return _done(request, batch)


@require_GET
def batch_result_csv(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    batch = _batch(request, pk)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(bulk_result_rows(batch=batch, actor=request.user))
    response = HttpResponse(
        ("\ufeff" + buffer.getvalue()).encode("utf-8"), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="bulk-{batch.pk}-result.csv"'
    # It may hold verifyCodes: never in a cache, shared or private.
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response
