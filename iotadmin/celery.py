"""The Celery app, configured from Django settings under the CELERY_ namespace.

Workers and beat log through Django's LOGGING (the `setup_logging` signal) and write
heartbeats (iotadmin/heartbeats.py): a worker from a timer thread started when it is ready,
beat each time its scheduler ticks.
"""

import logging.config
import os
import time
from pathlib import Path
from typing import Any

from celery import Celery, beat, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iotadmin.settings")

app = Celery("iotadmin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_worker_heartbeat: dict[str, Any] = {}


class PersistentScheduler(beat.PersistentScheduler):
    """celery beat's default scheduler, making its schedule file's folder when beat starts,
    and recording beat's heartbeat as it ticks."""

    _last_heartbeat = 0.0

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        from django.conf import settings

        now = time.time()
        if now - self._last_heartbeat >= float(settings.HEARTBEAT_INTERVAL_SECONDS):
            self._last_heartbeat = now
            _record_beat_heartbeat(now)
        return super().tick(*args, **kwargs)


def _record_beat_heartbeat(now: float) -> None:
    import socket

    from django.db import close_old_connections

    from iotadmin.heartbeats import BEAT, heartbeat_record

    try:
        heartbeat_record(role=BEAT, hostname=f"beat@{socket.gethostname()}", now=now)
    except Exception:  # the store is down: /readyz reports beat as not alive
        logging.getLogger(__name__).warning("beat heartbeat not recorded", exc_info=True)
    finally:
        close_old_connections()


@signals.setup_logging.connect
def _logging_from_django(**kwargs: Any) -> None:
    """Celery keeps Django's LOGGING (JSON lines included) instead of its own handlers."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.worker_ready.connect
def _start_worker_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    from django.conf import settings

    from iotadmin.heartbeats import WORKER, HeartbeatThread, heartbeat_record

    hostname = str(getattr(sender, "hostname", "") or "worker")
    thread = HeartbeatThread(
        beat=lambda: heartbeat_record(role=WORKER, hostname=hostname),
        interval=float(settings.HEARTBEAT_INTERVAL_SECONDS),
    )
    _worker_heartbeat.update(thread=thread, hostname=hostname)
    thread.start()


@signals.worker_shutdown.connect
def _stop_worker_heartbeat(**kwargs: Any) -> None:
    from iotadmin.heartbeats import WORKER, heartbeat_forget

    thread = _worker_heartbeat.pop("thread", None)
    if thread is None:
        return
    thread.stop()
    try:
        heartbeat_forget(role=WORKER, hostname=_worker_heartbeat.pop("hostname"))
    except Exception:  # it ages out instead
        logging.getLogger(__name__).warning("worker heartbeat not removed", exc_info=True)
