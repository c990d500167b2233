"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py iotadmin.wsgi`.

Everything a deployment changes comes from the environment (deploy/env.example):
GUNICORN_BIND, GUNICORN_WORKERS, GUNICORN_TIMEOUT, GUNICORN_GRACEFUL_TIMEOUT,
GUNICORN_MAX_REQUESTS, GUNICORN_FORWARDED_ALLOW_IPS, GUNICORN_ACCESS_LOG.
`make run` keeps Django's runserver; this file is for gunicorn only.
"""

import multiprocessing
import os

# Pages wait on the database, not the CPU: 2 * cores + 1 synchronous workers, at most 12.
MAX_DEFAULT_WORKERS = 12


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


wsgi_app = "iotadmin.wsgi:application"
bind = [b.strip() for b in os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",") if b]
workers = _int("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count() + 1, MAX_DEFAULT_WORKERS))
worker_class = "sync"
# A page that takes longer than this is killed and logged (the platform's own read timeout is
# 15 s; page requests never wait on the platform for longer).
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5
# Recycle workers now and then (a slow leak never grows forever); the jitter keeps them from
# restarting all at once.
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = max(1, max_requests // 10) if max_requests else 0
# X-Forwarded-Proto (and -For) are believed only from these addresses: the local nginx.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proxy_allow_ips = forwarded_allow_ips
# Uploads are read by Django within its own limits; the request line and headers stay bounded.
limit_request_line = 8190

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
# The push secret is masked by the logger class in every atom below (%(r)s, %(U)s, headers).
logger_class = "iotadmin.gunicorn_logging.PushSecretMaskingLogger"
access_log_format = (
    '%(h)s "%({x-forwarded-for}i)s" %(t)s "%(r)s" %(s)s %(B)s %(M)sms '
    '"%(f)s" "%(a)s" rid=%({x-request-id}o)s'
)
capture_output = True
# No control socket (gunicorn >= 24): systemd stops and reloads it with signals, and several
# instances on one host would fight over the one default path.
control_socket_disable = True
# Workers write their heartbeat files under /dev/shm when it exists (faster than /tmp).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """With PROMETHEUS_MULTIPROC_DIR, a dead worker's live gauges stop counting."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
