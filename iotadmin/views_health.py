"""Liveness, readiness and Prometheus metrics: for probes and the scraper, no login."""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from iotadmin.metrics import CONTENT_TYPE, metrics_allowed, metrics_text
from iotadmin.readiness import readiness


@never_cache
@require_GET
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers: no database, no broker."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
@login_not_required
def readyz(request: HttpRequest) -> JsonResponse:
    ready, checks = readiness()
    response = JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )
    # A probe every few seconds during an outage: the checks, not django.request, tell why.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


@never_cache
@require_GET
@login_not_required
def metrics(request: HttpRequest) -> HttpResponse:
    """A bearer METRICS_TOKEN or a client in METRICS_ALLOWED_IPS; 404 while neither is set."""
    token, allowed = settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS
    if not token and not allowed:
        raise Http404("metrics are not configured")
    if not metrics_allowed(
        authorization=request.headers.get("Authorization", ""),
        client_ip=request.META.get("REMOTE_ADDR", ""),
        token=token,
        allowed=allowed,
    ):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE)


@login_not_required
def bench_bare(request: HttpRequest) -> HttpResponse:
    """benchmarks/serving.py's ceiling: the middleware stack and nothing else."""
    return HttpResponse(b"ok", content_type="text/plain")
