"""A broker outage in this process: the Celery app pointed at a port nothing listens on."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from iotadmin.celery import app as celery_app

_BROKER_KEYS = ("broker_url", "broker_transport", "broker_transport_options")


def closed_port() -> int:
    """A port that was free a moment ago and has no listener (bound to 0, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unreachable_broker_url() -> str:
    return f"redis://127.0.0.1:{closed_port()}/0"


def _forget_connections() -> None:
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def broker_unreachable() -> Iterator[str]:
    """Publishing fails (kombu OperationalError) inside; the configured broker is back after."""
    saved = {key: celery_app.conf[key] for key in _BROKER_KEYS}
    saved_eager = celery_app.conf.task_always_eager
    # Celery reads CELERY_BROKER_URL from the environment before its own configuration.
    saved_env = os.environ.get("CELERY_BROKER_URL")
    url = unreachable_broker_url()
    os.environ["CELERY_BROKER_URL"] = url
    celery_app.conf.update(
        broker_url=url, broker_transport=None, broker_transport_options={}, task_always_eager=False
    )
    _forget_connections()
    try:
        yield url
    finally:
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env
        celery_app.conf.update(task_always_eager=saved_eager, **saved)
        _forget_connections()
