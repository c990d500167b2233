"""iotadmin settings: everything comes from environment variables, with embedded defaults.

With no variable set the project runs on SQLite, a filesystem Celery broker (no server) and
the local platform simulator. DATABASE_URL, CELERY_BROKER_URL and REDIS_URL switch to
PostgreSQL and Redis or RabbitMQ; IOT_* point the platform client at a real platform.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# Importing settings creates no folder: the SQLite backend, the filesystem broker, celery beat
# and collectstatic each make theirs when they first need it.
VAR_DIR = Path(os.environ.get("IOTADMIN_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name) or ""
    try:
        return int(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name) or ""
    try:
        return float(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def env_name_list(name: str, default: str) -> tuple[str, ...]:
    """A comma-separated list of names ("CoAP,LWM2M"); empty = none; a blank or odd item is an
    error rather than a silent no-op."""
    value = os.environ.get(name, default)
    if not value.strip():
        return ()
    names = tuple(part.strip() for part in value.split(","))
    for part in names:
        if not part or not all(c.isalnum() or c in "._/-" for c in part):
            raise ImproperlyConfigured(
                f"{name} must be a comma-separated list of names such as {default}, not {value!r}"
            )
    return names


def env_file_or_value(name: str, default: str) -> str:
    """Read NAME, or the contents of the file named by NAME_FILE (for secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    return os.environ.get(name, default)


DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env_file_or_value(
    "DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me-in-production-0123456789abcdef"
)
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "audit",
    "devices",
    "reports",
    "bulk",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "iotadmin.middleware.RequestIdMiddleware",
    "iotadmin.outages.ServiceUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "iotadmin.middleware.SafeCommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "iotadmin.sessions.IdleSessionTimeoutMiddleware",
    "audit.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "iotadmin.login_required.LoginRequiredMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "iotadmin.urls"
WSGI_APPLICATION = "iotadmin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "iotadmin.context_processors.site",
            ],
        },
    },
]

# Persistent connections (seconds; 0 = one connection per request): a new PostgreSQL
# connection costs more than a whole search page. Health checks replace a connection the
# server dropped before the request uses it, instead of failing that request.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'iotadmin.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0 if DEBUG else 60),
        conn_health_checks=env_bool("DATABASE_CONN_HEALTH_CHECKS", True),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's SQLite backend, making the database file's folder on first connection.
    DATABASES["default"]["ENGINE"] = "iotadmin.db.sqlite3"
    # Web, worker and beat share one file: wait for locks, take write locks up front.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so the Celery worker and simulator-driven tests see the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-iotadmin.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "iotadmin.lockouts.AxesBackend",  # refuses sign-ins while locked out
    # ModelBackend whose permission sets are cached between requests when PERMISSION_CACHE_SECONDS
    "devices.permission_cache.CachedPermissionsBackend",
]
# Sign-in throttling (django-axes): after LOGIN_FAILURE_LIMIT failures for one username from
# one address, that pair is locked for LOGIN_COOLOFF_MINUTES, or until a helpdesk or
# supervisor user unlocks it (/accounts/unlock/). Both /login/ and /admin/login/.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_CALLABLE = "iotadmin.lockouts.lockout_response"
# The address RequestIdMiddleware resolved (X-Forwarded-For only from trusted proxies).
AXES_CLIENT_IP_CALLABLE = "iotadmin.lockouts.client_ip"
AXES_RESET_ON_SUCCESS = True
# Unlocking goes through user_unlock (audited), not the admin's attempt list.
AXES_ENABLE_ADMIN = False
AXES_SENSITIVE_PARAMETERS = ["password"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "devices:device_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
# The zone the pages show times in, named next to them ("17:34:35 CET"); countdown.js may
# show the browser's zone instead.
IOTADMIN_TIME_ZONE_DISPLAY = os.environ.get("IOTADMIN_TIME_ZONE_DISPLAY", TIME_ZONE)
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"  # made by collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Uploads: bulk CSV files are read in memory up to this size; larger ones are refused.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

SESSION_COOKIE_HTTPONLY = True
# A session idle longer than this ends (iotadmin/sessions.py; 0 for supervisors = the same).
SESSION_IDLE_TIMEOUT_MINUTES = env_int("SESSION_IDLE_TIMEOUT_MINUTES", 30)
SESSION_IDLE_TIMEOUT_SUPERVISOR_MINUTES = env_int("SESSION_IDLE_TIMEOUT_SUPERVISOR_MINUTES", 0)
# The cookie itself lasts a working day at most; the idle limit ends it sooner.
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 60 * 60)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Probes and the scraper may speak plain HTTP to gunicorn directly (no TLS redirect for them).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# Strict Content-Security-Policy (django-csp): only our own files; no inline script or style
# (tests/iotadmin/test_csp.py scans the templates). QR codes are inline SVG elements, not images.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    }
}
# Reverse proxies (addresses or networks) whose X-Forwarded-For and X-Request-ID are believed;
# from any other peer those headers are ignored.
TRUSTED_PROXIES = [
    p.strip() for p in os.environ.get("DJANGO_TRUSTED_PROXIES", "").split(",") if p.strip()
]
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips the client's own).
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Audit trail ----------------------------------------------------------------------------
# The chain's HMAC key lives outside the database (empty: derived from SECRET_KEY, development
# only); checkpoints of the chain head are appended, signed, to a file outside the database.
AUDIT_HMAC_KEY = env_file_or_value("AUDIT_HMAC_KEY", "")
AUDIT_CHECKPOINT_PATH = os.environ.get("AUDIT_CHECKPOINT_PATH", "")
AUDIT_CHECKPOINT_INTERVAL_MINUTES = env_int("AUDIT_CHECKPOINT_INTERVAL_MINUTES", 15)

# --- Shared store (tokens, locks, flow control) ---------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) and not REDIS_URL:
    REDIS_URL = CELERY_BROKER_URL

# --- Cache and sessions --------------------------------------------------------------------
# Redis when REDIS_URL is set (shared by every process); else memory of each process.
CACHE_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", "iotadmin")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "iotadmin.redis_cache.RedisCache",  # one client per pool, not per call
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
    # Sessions read from Redis (no query per request) and written through to the database, so
    # a Redis restart logs nobody out.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    # A per-process cache would keep a signed-out session alive in the other workers.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "iotadmin",
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.db"
# Seconds a user's permission set is cached (devices/permission_cache.py; any change of groups
# or permissions invalidates it at once). Only with a shared cache: 0 (off) without Redis.
PERMISSION_CACHE_SECONDS = env_int("PERMISSION_CACHE_SECONDS", 300 if REDIS_URL else 0)
if PERMISSION_CACHE_SECONDS and not REDIS_URL:
    raise ImproperlyConfigured("PERMISSION_CACHE_SECONDS needs REDIS_URL (a shared cache)")

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_DIR = VAR_DIR / "celery-broker"
if CELERY_BROKER_URL == "filesystem://":
    # kombu writes message files in place; a worker that reads one half-written dies.
    # It also makes its folders when a channel opens.
    CELERY_BROKER_TRANSPORT = "iotadmin.kombu_filesystem:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
        # The default 1 s poll hands each worker thread one message a second.
        "polling_interval": env_float("CELERY_BROKER_POLLING_INTERVAL", 0.1),
    }
else:
    # Set below, once the time limits and retry countdowns it must outlast are known.
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The default for a task that sets none; each of ours sets its own (devices/tasks.py,
# bulk/tasks.py, devices/tasks_push.py), and the longest is the device sync's.
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 150
DEVICES_SYNC_TIME_LIMIT = 1800
# A technician's send has its own queue, so sync or bulk steps never sit in front of it; every
# worker (Procfile, tests/support/worker.py) consumes it.
SWAP_SEND_QUEUE = os.environ.get("CELERY_SWAP_SEND_QUEUE", "platform-send")
CELERY_TASK_ROUTES = {"devices.tasks.swap_send": {"queue": SWAP_SEND_QUEUE}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Tests sharing one broker vhost give each run its own queue.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_IMPORTS = ["devices.tasks_push"]
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULER = "iotadmin.celery:PersistentScheduler"
# Beat wakes at least this often, so its heartbeat (written when it ticks) stays fresh.
CELERY_BEAT_MAX_LOOP_INTERVAL = 5
# Workers and beat log through LOGGING below (iotadmin/celery.py, the setup_logging signal).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Heartbeats (iotadmin/heartbeats.py): written this often, alive while younger than the max age.
HEARTBEAT_INTERVAL_SECONDS = env_float("HEARTBEAT_INTERVAL_SECONDS", 5.0)
HEARTBEAT_MAX_AGE_SECONDS = env_float("HEARTBEAT_MAX_AGE_SECONDS", 30.0)
IOT_SYNC_INTERVAL_SECONDS = env_int("IOT_SYNC_INTERVAL_SECONDS", 900)
# The device sync's lock is held this long and renewed before every page: a worker killed
# mid-walk frees it within this time, and the next run continues the walk.
IOT_SYNC_LOCK_TTL_SECONDS = env_float("IOT_SYNC_LOCK_TTL_SECONDS", 300.0)
SWAP_SWEEP_INTERVAL_SECONDS = env_int("SWAP_SWEEP_INTERVAL_SECONDS", 60)
# Swap sending: attempts before giving up, exponential backoff (with jitter) between them,
# and the grace after a code's expiry before the sweeper calls it expired.
SWAP_MAX_ATTEMPTS = env_int("SWAP_MAX_ATTEMPTS", 8)
# E-mail (approvers are told when a swap waits for them): only sent when EMAIL_HOST is set.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "iotadmin@localhost")
SWAP_RETRY_BASE_SECONDS = env_float("SWAP_RETRY_BASE_SECONDS", 5.0)
SWAP_RETRY_MAX_SECONDS = env_float("SWAP_RETRY_MAX_SECONDS", 300.0)
SWAP_EXPIRY_GRACE_SECONDS = env_int("SWAP_EXPIRY_GRACE_SECONDS", 30)
# Four eyes (devices/approvals.py): a swap waits for a helpdesk or supervisor user's approval
# when its code never expires, its verifyCode mode is listed, the device was swapped (bound)
# within REPEAT_DAYS (0 = off), or it is requested outside the working hours/days (empty
# hours = off), read in TIME_ZONE.
SWAP_APPROVAL_NEVER_EXPIRING = env_bool("SWAP_APPROVAL_NEVER_EXPIRING", True)
SWAP_APPROVAL_CODE_MODES = os.environ.get("SWAP_APPROVAL_CODE_MODES", "same_as_node_id,custom")
SWAP_APPROVAL_REPEAT_DAYS = env_int("SWAP_APPROVAL_REPEAT_DAYS", 7)
SWAP_APPROVAL_WORKING_HOURS = os.environ.get("SWAP_APPROVAL_WORKING_HOURS", "07:00-19:00")
SWAP_APPROVAL_WORKING_DAYS = os.environ.get("SWAP_APPROVAL_WORKING_DAYS", "mon-fri")
SWAP_RECOVER_INTERVAL_SECONDS = env_int("SWAP_RECOVER_INTERVAL_SECONDS", 10)
CELERY_BEAT_SCHEDULE = {
    "sync-devices": {
        "task": "devices.tasks.devices_sync",
        "schedule": float(IOT_SYNC_INTERVAL_SECONDS),
    },
    "sweep-swaps": {
        "task": "devices.tasks.swaps_sweep",
        "schedule": float(SWAP_SWEEP_INTERVAL_SECONDS),
    },
    # Sends whose claim (lease) lapsed, or lapses before the next tick (handed over at its end):
    # one indexed query when nothing is stuck.
    "recover-swaps": {
        "task": "devices.tasks.swaps_recover",
        "schedule": float(SWAP_RECOVER_INTERVAL_SECONDS),
    },
}
# "Send it when the old unit goes offline" (devices/services/offline.py): a deviceInfoChanged
# push sends a waiting swap at once; this periodic check is the backstop (background lane, at
# most SWAP_OFFLINE_CHECK_MAX_CALLS platform reads a run, none when no slot is free at once).
SWAP_OFFLINE_CHECK_INTERVAL_SECONDS = env_int("SWAP_OFFLINE_CHECK_INTERVAL_SECONDS", 60)
SWAP_OFFLINE_CHECK_MAX_CALLS = env_int("SWAP_OFFLINE_CHECK_MAX_CALLS", 5)
CELERY_BEAT_SCHEDULE["check-offline-swaps"] = {
    "task": "devices.tasks.swaps_check_offline",
    "schedule": float(SWAP_OFFLINE_CHECK_INTERVAL_SECONDS),
}
# The device page's live status (one interactive platform read) is shared by every user for
# this many seconds (the cache; per process without Redis).
DEVICE_LIVE_STATUS_CACHE_SECONDS = env_int("DEVICE_LIVE_STATUS_CACHE_SECONDS", 30)
CELERY_BEAT_SCHEDULE["audit-checkpoint"] = {
    "task": "audit.tasks.audit_checkpoint",
    "schedule": float(AUDIT_CHECKPOINT_INTERVAL_MINUTES * 60),
}
# Bulk swaps: rows per file; the beat entry resumes a batch whose dispatcher chain was lost.
BULK_MAX_ROWS = env_int("BULK_MAX_ROWS", 5000)
CELERY_BEAT_SCHEDULE["bulk-resume"] = {"task": "bulk.tasks.bulk_resume", "schedule": 60.0}

# --- Platform (OceanConnect northbound API) -------------------------------------------------
SIMULATOR_DIR = VAR_DIR / "simulator"
IOT_PLATFORM_URL = os.environ.get("IOT_PLATFORM_URL", "https://127.0.0.1:8743")
IOT_APP_ID = os.environ.get("IOT_APP_ID", "iotadmin-demo-app")
IOT_APP_SECRET = env_file_or_value("IOT_APP_SECRET", "iotadmin-demo-secret")
_default_ca = str(SIMULATOR_DIR / "ca.pem") if "IOT_PLATFORM_URL" not in os.environ else ""
IOT_CA_FILE = os.environ.get("IOT_CA_FILE", _default_ca)
IOT_CLIENT_CERT = os.environ.get("IOT_CLIENT_CERT", "")
IOT_CLIENT_KEY = os.environ.get("IOT_CLIENT_KEY", "")
# Huawei ships the client certificate as a PEM with a password-encrypted key, or as PKCS#12.
IOT_CLIENT_CERT_PASSWORD = env_file_or_value("IOT_CLIENT_CERT_PASSWORD", "")
IOT_CLIENT_P12 = os.environ.get("IOT_CLIENT_P12", "")
IOT_CLIENT_P12_PASSWORD = env_file_or_value("IOT_CLIENT_P12_PASSWORD", "")
IOT_VERIFY_HOSTNAME = env_bool("IOT_VERIFY_HOSTNAME", True)
IOT_FLOW_LIMIT_PER_MINUTE = env_int("IOT_FLOW_LIMIT_PER_MINUTE", 90)
# Slots of each window the lanes below interactive (reconcile, bulk, background) never fill.
IOT_FLOW_RESERVE_INTERACTIVE = env_int("IOT_FLOW_RESERVE_INTERACTIVE", 10)
# Seconds added to the client's 60 s flow window (network delay); pause after a 1010009.
IOT_FLOW_WINDOW_MARGIN = env_float("IOT_FLOW_WINDOW_MARGIN", 1.0)
IOT_FLOW_COOLDOWN_SECONDS = env_float("IOT_FLOW_COOLDOWN_SECONDS", 10.0)
# Keys of the shared store (Redis or database) start with this; tests give each run its own.
IOT_STORE_PREFIX = os.environ.get("IOT_STORE_PREFIX", "iotadmin:")
# Seconds one HTTP exchange with the platform may take: to connect, then to wait for each read
# of the answer. They also set how fast a send whose worker died is taken over (its lease is
# connect + read + 2 s + SWAP_LEASE_MARGIN_SECONDS = 20 s with these defaults), so a longer read
# timeout means a slower recovery. Huawei's own general cloud SDK waits 60 s / 120 s
# (huaweicloudsdkcore HttpConfig.timeout = (60, 120), support.huaweicloud.com/devg-ges/
# ges_05_0040). We do not wait that long: a refresh is one record the platform answers in well
# under a second, 3 s covers a lost SYN (Linux resends it after 1 s), and an answer later than
# 10 s is treated as unknown, which
# is safe (the device is read back before any re-send, and every attempt sends the same code,
# so even a refresh the platform applies after we stopped waiting pends the code shown).
IOT_CONNECT_TIMEOUT = env_float("IOT_CONNECT_TIMEOUT", 3.0)
IOT_READ_TIMEOUT = env_float("IOT_READ_TIMEOUT", 10.0)
# Codes of "platform" swaps are generated here and sent in every attempt (a late-applied attempt
# then pends the same code). IOT_PLATFORM_GENERATES_CODES lets the platform choose instead; then
# a re-send after an unanswered or failed refresh waits IOT_LATE_APPLY_SECONDS (the longest the
# platform has been seen to apply a call late) plus the backoff. See README.
IOT_PLATFORM_GENERATES_CODES = env_bool("IOT_PLATFORM_GENERATES_CODES", False)
IOT_LATE_APPLY_SECONDS = env_float("IOT_LATE_APPLY_SECONDS", 60.0)
# A send's claim (lease) lasts one platform exchange (connect + read timeout), the wait for a
# flow slot (SEND_MAX_WAIT, 2 s) and this margin, and is renewed right before every exchange of
# the send; once it lapses anyone may take it over (devices.services.transitions.
# swap_lease_seconds reads these at run time). 20 s with the defaults.
SWAP_LEASE_MARGIN_SECONDS = env_float("SWAP_LEASE_MARGIN_SECONDS", 5.0)
SWAP_LEASE_SECONDS = IOT_CONNECT_TIMEOUT + IOT_READ_TIMEOUT + 2.0 + SWAP_LEASE_MARGIN_SECONDS
# The most exchanges one send task makes: two calls (the reconciling read, the refresh), each
# at worst a token refresh refused, a login, the call, a re-login after 1010005 and the retry.
SWAP_SEND_MAX_EXCHANGES = 10
# The send task's limits: past a lease for every exchange it can make (the soft limit then
# releases a lapsed claim nobody took over), the hard one a little later.
SWAP_SEND_SOFT_TIME_LIMIT = int(SWAP_SEND_MAX_EXCHANGES * SWAP_LEASE_SECONDS + 1)
SWAP_SEND_TIME_LIMIT = SWAP_SEND_SOFT_TIME_LIMIT + 15
if CELERY_BROKER_URL != "filesystem://":
    # A message unacked for longer is delivered again: it must outlast the longest task (acks
    # late) plus the longest retry countdown (an ETA message is held unacked until it is due).
    CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = int(
        max(DEVICES_SYNC_TIME_LIMIT, SWAP_SEND_TIME_LIMIT, CELERY_TASK_TIME_LIMIT)
        + SWAP_RETRY_MAX_SECONDS
        + (IOT_LATE_APPLY_SECONDS if IOT_PLATFORM_GENERATES_CODES else 0)
        + 600
    )
IOT_APP_KEY_HEADER = os.environ.get("IOT_APP_KEY_HEADER", "app_key")
# Push notifications: the platform POSTs to IOT_CALLBACK_URL, which carries IOT_PUSH_SECRET.
IOT_PUSH_SECRET = env_file_or_value("IOT_PUSH_SECRET", "dev-push-secret")
IOT_CALLBACK_URL = os.environ.get(
    "IOT_CALLBACK_URL", f"http://127.0.0.1:8000/platform/push/{IOT_PUSH_SECRET}/"
)
IOT_PUSH_MAX_BYTES = env_int("IOT_PUSH_MAX_BYTES", 64 * 1024)
# A push whose event time is further ahead of our clock than this is refused (400).
PUSH_MAX_FUTURE_SECONDS = env_int("PUSH_MAX_FUTURE_SECONDS", 300)
# Apps that authorize ours and whose devices the sync mirrors too (the simulator's by default).
IOT_AUTHORIZING_APP_IDS = [
    a.strip()
    for a in os.environ.get(
        "IOT_AUTHORIZING_APP_IDS", "partner-app" if "IOT_PLATFORM_URL" not in os.environ else ""
    ).split(",")
    if a.strip()
]
# Protocols whose units attach with their nodeId and present no verifyCode (NB-IoT): a swap
# of such a device uses verifyCode = nodeId unless someone overrides it (devices/code_modes.py).
IOT_NODE_ID_CODE_PROTOCOLS = env_name_list("IOT_NODE_ID_CODE_PROTOCOLS", "CoAP,LWM2M")
# Demo mode lets a trainer "plug in" a replacement unit through the simulator.
IOT_DEMO_MODE = env_bool("IOT_DEMO_MODE", DEBUG)
# verifyCodes are encrypted at rest with this key while valid (Fernet, derived if unset).
IOT_CODE_ENCRYPTION_KEY = env_file_or_value("IOT_CODE_ENCRYPTION_KEY", "")

# --- Health and metrics (iotadmin/health.py, iotadmin/metrics.py) --------------------------
# /readyz: a flow-limit wait longer than this is reported ("warn") without making it unready.
READYZ_FLOW_WAIT_WARN_SECONDS = env_float("READYZ_FLOW_WAIT_WARN_SECONDS", 30.0)
# /metrics answers a bearer token or an allowed client address; with neither set it is 404.
METRICS_TOKEN = env_file_or_value("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = [
    a.strip() for a in os.environ.get("METRICS_ALLOWED_IPS", "").split(",") if a.strip()
]

# benchmarks/serving.py only: /bench/bare, a view that does nothing behind the whole
# middleware stack (the ceiling the pages are compared with). Never set in production.
IOTADMIN_BENCH_BARE_VIEW = env_bool("IOTADMIN_BENCH_BARE_VIEW", False)

# --- Errors to Sentry (optional extra `iotadmin[sentry]`) ----------------------------------
SENTRY_DSN = env_file_or_value("SENTRY_DSN", "")
SENTRY_ENVIRONMENT = os.environ.get("SENTRY_ENVIRONMENT", "production")
if SENTRY_DSN:
    from iotadmin.sentry import sentry_init

    sentry_init(dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT)

# --- Logging: LOG_FORMAT=json writes one JSON object a line (with the request id) -----------
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "iotadmin.middleware.RequestIdLogFilter"},
        "redact_push_secret": {
            "()": "devices.push_logging.RedactPushSecretFilter",
            "secrets": [IOT_PUSH_SECRET, IOT_APP_SECRET],
        },
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "iotadmin.log_format.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "redact_push_secret"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    # runserver and django.request log 4xx paths, which may hold the push secret: a logger's
    # filter runs before every handler (pytest's, an error reporter's), not only the console.
    "loggers": {
        "django.server": {"level": "WARNING", "filters": ["redact_push_secret"]},
        "django.request": {"filters": ["redact_push_secret"]},
        "django.security": {"filters": ["redact_push_secret"]},
        "celery": {"filters": ["redact_push_secret"]},
    },
}
# The debug page masks settings whose names match this (Django's list plus CALLBACK and PUSH).
DEFAULT_EXCEPTION_REPORTER_FILTER = "iotadmin.debug.IotSafeExceptionReporterFilter"
