"""Heartbeats of the Celery workers and beat: who is alive, read by /readyz and the pages.

Each worker's main process writes `(hostname, unix time)` every HEARTBEAT_INTERVAL_SECONDS
from a timer thread started on `worker_ready`; beat writes one when its scheduler ticks
(`iotadmin.celery.PersistentScheduler.tick`). They go to Redis when REDIS_URL is set (one hash
per role under IOT_STORE_PREFIX), else to the `devices.Heartbeat` table. A process counts as
alive while its last heartbeat is younger than HEARTBEAT_MAX_AGE_SECONDS.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

__all__ = [
    "BEAT",
    "WORKER",
    "Heartbeat",
    "HeartbeatThread",
    "beat_alive",
    "heartbeat_forget",
    "heartbeat_record",
    "heartbeats",
    "workers_alive",
]

logger = logging.getLogger(__name__)

WORKER = "worker"
BEAT = "beat"
# Heartbeats older than this are dropped when another one is written (Redis hash fields).
PRUNE_AFTER_SECONDS = 86_400.0


@dataclass(frozen=True)
class Heartbeat:
    role: str
    hostname: str
    seen_at: float

    def age(self, now: float) -> float:
        return max(0.0, now - self.seen_at)


def _redis() -> Any | None:
    url = getattr(settings, "REDIS_URL", "") or ""
    if not url:
        return None
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _key(role: str) -> str:
    return f"{settings.IOT_STORE_PREFIX}heartbeats:{role}"


def heartbeat_record(*, role: str, hostname: str, now: float | None = None) -> None:
    """Note that `hostname` (a worker's node name, or beat's) of `role` is alive at `now`."""
    now = time.time() if now is None else now
    client = _redis()
    if client is not None:
        with client:
            key = _key(role)
            client.hset(key, hostname, repr(now))
            stale = [
                name
                for name, seen in client.hgetall(key).items()
                if now - float(seen) > PRUNE_AFTER_SECONDS
            ]
            if stale:
                client.hdel(key, *stale)
        return
    from devices.models import Heartbeat as HeartbeatRow

    HeartbeatRow.objects.update_or_create(role=role, hostname=hostname, defaults={"seen_at": now})
    HeartbeatRow.objects.filter(role=role, seen_at__lt=now - PRUNE_AFTER_SECONDS).delete()


def heartbeat_forget(*, role: str, hostname: str) -> None:
    """A process stopping cleanly says so at once instead of ageing out."""
    client = _redis()
    if client is not None:
        with client:
            client.hdel(_key(role), hostname)
        return
    from devices.models import Heartbeat as HeartbeatRow

    HeartbeatRow.objects.filter(role=role, hostname=hostname).delete()


def heartbeats(*, role: str) -> list[Heartbeat]:
    """Every heartbeat of `role` still on record, newest first (alive or not)."""
    client = _redis()
    if client is not None:
        with client:
            raw = client.hgetall(_key(role))
        found = [Heartbeat(role, name.decode(), float(seen)) for name, seen in raw.items()]
    else:
        from devices.models import Heartbeat as HeartbeatRow

        found = [
            Heartbeat(role, hostname, seen_at)
            for hostname, seen_at in HeartbeatRow.objects.filter(role=role).values_list(
                "hostname", "seen_at"
            )
        ]
    return sorted(found, key=lambda beat: beat.seen_at, reverse=True)


def _alive(role: str, now: float | None) -> list[Heartbeat]:
    now = time.time() if now is None else now
    max_age = float(settings.HEARTBEAT_MAX_AGE_SECONDS)
    return [beat for beat in heartbeats(role=role) if beat.age(now) <= max_age]


def workers_alive(*, now: float | None = None) -> list[Heartbeat]:
    """The Celery workers whose heartbeat is fresh; empty means no swap is being sent."""
    return _alive(WORKER, now)


def beat_alive(*, now: float | None = None) -> list[Heartbeat]:
    """The beat processes whose heartbeat is fresh (there should be exactly one)."""
    return _alive(BEAT, now)


class HeartbeatThread(threading.Thread):
    """Calls `beat()` every `interval` seconds until `stop()`; a failed beat is only logged."""

    def __init__(self, *, beat: Callable[[], None], interval: float) -> None:
        super().__init__(name="iotadmin-heartbeat", daemon=True)
        self._beat = beat
        self._interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        from django.db import close_old_connections

        while not self._stopped.is_set():
            try:
                self._beat()
            except Exception:  # the store or database is down: /readyz says so
                logger.warning("heartbeat not recorded", exc_info=True)
            finally:
                close_old_connections()
            self._stopped.wait(self._interval)

    def stop(self) -> None:
        self._stopped.set()
