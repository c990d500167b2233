"""What /readyz checks: database, broker, shared store, worker and beat heartbeats, the platform
token and the flow limiter. Each check answers a small dict with a `status`: "ok", "warn"
(worth a look, still ready) or "fail" (not ready). Never a secret, a URL or an error message:
a failure names the exception's type only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection

from iotadmin.heartbeats import beat_alive, workers_alive

__all__ = ["CHECKS", "readiness"]

OK, WARN, FAIL = "ok", "warn", "fail"
BROKER_TIMEOUT_SECONDS = 3.0


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": OK, "vendor": connection.vendor}


def check_broker() -> dict[str, Any]:
    from iotadmin.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
        transport = conn.transport_cls
    return {"status": OK, "transport": str(transport).split(":")[0].split(".")[-1]}


def check_store() -> dict[str, Any]:
    url = getattr(settings, "REDIS_URL", "") or ""
    if not url:
        return {"status": OK, "backend": "database"}
    import redis

    with redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) as client:
        client.ping()
    return {"status": OK, "backend": "redis"}


def check_workers() -> dict[str, Any]:
    alive = workers_alive()
    if not alive:
        return {"status": FAIL, "alive": 0, "detail": "no Celery worker is alive"}
    return {"status": OK, "alive": len(alive), "hostnames": [beat.hostname for beat in alive]}


def check_beat() -> dict[str, Any]:
    alive = beat_alive()
    if not alive:
        return {"status": FAIL, "alive": 0, "detail": "celery beat is not running"}
    if len(alive) > 1:
        # Two beats send every periodic task twice: run exactly one (docs/deploy.md).
        return {"status": WARN, "alive": len(alive), "detail": "more than one beat is running"}
    return {"status": OK, "alive": 1}


def check_platform_token() -> dict[str, Any]:
    from devices.platform_wiring import get_client

    token = get_client().tokens.cached()
    if token is None:
        return {"status": OK, "detail": "no token yet (logged in on the first call)"}
    now = time.time()
    age = max(0.0, now - (token.expires_at - token.lifetime))
    expires_in = token.expires_at - now
    status = OK if expires_in > 0 else WARN
    return {"status": status, "age_seconds": round(age), "expires_in_seconds": round(expires_in)}


def check_flow_limiter() -> dict[str, Any]:
    from devices.platform_wiring import get_client

    usage = get_client().flow_usage()
    wait = round(usage.seconds_until_free, 1)
    status = WARN if wait > float(settings.READYZ_FLOW_WAIT_WARN_SECONDS) else OK
    return {"status": status, "used": usage.used, "limit": usage.limit, "wait_seconds": wait}


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "database": check_database,
    "broker": check_broker,
    "store": check_store,
    "workers": check_workers,
    "beat": check_beat,
    "platform_token": check_platform_token,
    "flow_limiter": check_flow_limiter,
}


def readiness() -> tuple[bool, dict[str, dict[str, Any]]]:
    """Run every check; ready when none failed."""
    results: dict[str, dict[str, Any]] = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # the check's subject is down; its type says how
            results[name] = {"status": FAIL, "error": type(exc).__name__}
    return all(result["status"] != FAIL for result in results.values()), results
