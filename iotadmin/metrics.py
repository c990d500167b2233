"""Prometheus metrics: observed where things happen, gauges read from the database when scraped.

Histograms and counters are prometheus-client's, observed by the process that does the work
(a Celery worker stores a code, a gunicorn worker answers a page). With several processes per
machine set PROMETHEUS_MULTIPROC_DIR (the same folder for web, worker and beat of one machine,
emptied at boot): each process writes its own file there and /metrics adds them up, so the
numbers are right whichever gunicorn worker answers the scrape. Without it (development,
tests) they are this process's only. Gauges of the shared state (swaps by state, queue age,
heartbeats) are read from the database or store at scrape time, so every machine reports the
same values: aggregate them with max(), not sum().
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

__all__ = [
    "flow_slot_wait_observed",
    "metrics_allowed",
    "metrics_text",
    "platform_call_observed",
    "push_observed",
    "swap_bound_observed",
    "swap_code_issued_observed",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds: from a fraction of a second (a platform call) to an hour (a unit plugged in late).
_SWAP_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
_CALL_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30)
_WAIT_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 120)

PLATFORM_CALLS = Counter(
    "iotadmin_platform_calls",
    "Calls to the platform by method, path template, HTTP status and platform code",
    ["method", "path", "status", "code"],
)
PLATFORM_CALL_SECONDS = Histogram(
    "iotadmin_platform_call_seconds",
    "Time of one exchange with the platform",
    ["method", "path"],
    buckets=_CALL_BUCKETS,
)
FLOW_SLOT_WAIT_SECONDS = Histogram(
    "iotadmin_flow_slot_wait_seconds",
    "Time a call waited for a flow-control slot (shared limiter), by lane",
    ["lane"],
    buckets=_WAIT_BUCKETS,
)
SWAP_SUBMIT_TO_CODE_SECONDS = Histogram(
    "iotadmin_swap_submit_to_code_seconds",
    "From the swap request to the verifyCode stored (approval wait included)",
    buckets=_SWAP_BUCKETS,
)
SWAP_REQUEST_TO_BOUND_SECONDS = Histogram(
    "iotadmin_swap_request_to_bound_seconds",
    "From the swap request to the new unit bound",
    buckets=_SWAP_BUCKETS,
)
PUSHES = Counter(
    "iotadmin_pushes",
    "Platform pushes by notify type and outcome (changed, unchanged, invalid)",
    ["type", "outcome"],
)


def platform_call_observed(
    method: str, path: str, status: int | None, code: str | None, seconds: float
) -> None:
    """The platform client's `on_call` hook (devices/platform_wiring.py)."""
    PLATFORM_CALLS.labels(
        method, path, str(status) if status is not None else "none", code or ""
    ).inc()
    PLATFORM_CALL_SECONDS.labels(method, path).observe(max(0.0, seconds))


def flow_slot_wait_observed(seconds: float, lane: str) -> None:
    """The platform client's `on_slot_wait` hook: the wait and the lane it was made in."""
    FLOW_SLOT_WAIT_SECONDS.labels(lane=lane).observe(max(0.0, seconds))


def swap_code_issued_observed(*, seconds: float) -> None:
    SWAP_SUBMIT_TO_CODE_SECONDS.observe(max(0.0, seconds))


def swap_bound_observed(*, seconds: float) -> None:
    SWAP_REQUEST_TO_BOUND_SECONDS.observe(max(0.0, seconds))


def push_observed(*, notify_type: str, outcome: str) -> None:
    PUSHES.labels(notify_type or "unknown", outcome).inc()


class SharedStateCollector:
    """Gauges read at scrape time: the same on every machine."""

    def collect(self) -> Iterator[Metric]:
        import time

        from django.db.models import Count, Min
        from django.db.models.functions import Coalesce
        from django.utils import timezone

        from devices.models import Swap, SwapState
        from iotadmin.heartbeats import beat_alive, workers_alive

        swaps = GaugeMetricFamily("iotadmin_swaps", "Swaps by state", labels=["state"])
        counts = dict(
            Swap.objects.order_by()
            .values_list("state")
            .annotate(n=Count("id"))
            .values_list("state", "n")
        )
        for state in SwapState.values:
            swaps.add_metric([state], counts.get(state, 0))
        yield swaps

        now = timezone.now()
        oldest = Swap.objects.filter(state=SwapState.QUEUED).aggregate(
            due=Min(Coalesce("next_attempt_at", "created_at"))
        )["due"]
        yield GaugeMetricFamily(
            "iotadmin_swap_queue_age_seconds",
            "How long the oldest due queued swap has been waiting to be sent (0 = none)",
            value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        )
        wall = time.time()
        yield GaugeMetricFamily(
            "iotadmin_workers_alive",
            "Celery workers with a fresh heartbeat",
            value=len(workers_alive(now=wall)),
        )
        yield GaugeMetricFamily(
            "iotadmin_beat_alive",
            "Beat processes with a fresh heartbeat",
            value=len(beat_alive(now=wall)),
        )


def metrics_text() -> bytes:
    """The exposition: every process's counters and histograms, then the shared gauges."""
    shared = CollectorRegistry(auto_describe=False)
    shared.register(SharedStateCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        processes = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(processes)
        return generate_latest(processes) + generate_latest(shared)
    return generate_latest(REGISTRY) + generate_latest(shared)


def metrics_allowed(*, authorization: str, client_ip: str, token: str, allowed: list[str]) -> bool:
    """A matching bearer token, or a client address inside one of `allowed` (IPs or networks)."""
    import hmac

    if token:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return True
    if allowed and client_ip:
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        for entry in allowed:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False
