"""Serving settings chosen from the environment: persistent database connections with health
checks, the cache, the session store and the permission cache (Redis or not)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
READ_SETTINGS = """
import json
from django.conf import settings
from django.urls import Resolver404, resolve
try:
    routed = resolve("/bench/bare").url_name == "bench_bare"
except Resolver404:
    routed = False
db = settings.DATABASES["default"]
print(json.dumps({
    "conn_max_age": db["CONN_MAX_AGE"],
    "conn_health_checks": db["CONN_HEALTH_CHECKS"],
    "cache": settings.CACHES["default"]["BACKEND"],
    "cache_location": settings.CACHES["default"].get("LOCATION"),
    "session_engine": settings.SESSION_ENGINE,
    "permission_cache_seconds": settings.PERMISSION_CACHE_SECONDS,
    "bench_bare_view": settings.IOTADMIN_BENCH_BARE_VIEW,
    "bare_view_routed": routed,
}))
"""


def settings_with(tmp_path: Path, **variables: str) -> dict:
    """The settings a fresh process reads with only these variables set (of ours)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DJANGO_", "IOT_", "DATABASE_", "CELERY_", "REDIS_", "PERMISSION_", "PYTEST_")
        )
    }
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "IOTADMIN_VAR_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "iotadmin.settings",
            **variables,
        }
    )
    code = "import django; django.setup()\n" + READ_SETTINGS
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def test_development_defaults_close_connections_and_keep_sessions_in_the_database(tmp_path):
    found = settings_with(tmp_path)
    assert found["conn_max_age"] == 0
    assert found["conn_health_checks"] is True
    assert found["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert found["session_engine"] == "django.contrib.sessions.backends.db"
    assert found["permission_cache_seconds"] == 0
    assert found["bench_bare_view"] is False
    assert found["bare_view_routed"] is False


def test_the_benchmark_bare_view_exists_only_when_asked_for(tmp_path):
    found = settings_with(tmp_path, IOTADMIN_BENCH_BARE_VIEW="1")
    assert found["bare_view_routed"] is True


def test_production_keeps_connections_for_a_minute_with_health_checks(tmp_path):
    found = settings_with(tmp_path, DJANGO_DEBUG="false")
    assert found["conn_max_age"] == 60
    assert found["conn_health_checks"] is True


def test_connection_age_and_health_checks_come_from_the_environment(tmp_path):
    found = settings_with(
        tmp_path,
        DJANGO_DEBUG="false",
        DATABASE_CONN_MAX_AGE="0",
        DATABASE_CONN_HEALTH_CHECKS="false",
    )
    assert found["conn_max_age"] == 0
    assert found["conn_health_checks"] is False


def test_redis_url_selects_the_redis_cache_cached_sessions_and_the_permission_cache(tmp_path):
    found = settings_with(tmp_path, REDIS_URL="redis://127.0.0.1:6379/3")
    assert found["cache"] == "iotadmin.redis_cache.RedisCache"
    assert found["cache_location"] == "redis://127.0.0.1:6379/3"
    assert found["session_engine"] == "django.contrib.sessions.backends.cached_db"
    assert found["permission_cache_seconds"] == 300


def test_a_redis_broker_counts_as_redis_for_the_cache(tmp_path):
    found = settings_with(tmp_path, CELERY_BROKER_URL="redis://127.0.0.1:6379/4")
    assert found["cache_location"] == "redis://127.0.0.1:6379/4"
    assert found["session_engine"] == "django.contrib.sessions.backends.cached_db"


def test_the_permission_cache_can_be_turned_off_with_redis(tmp_path):
    found = settings_with(
        tmp_path, REDIS_URL="redis://127.0.0.1:6379/3", PERMISSION_CACHE_SECONDS="0"
    )
    assert found["permission_cache_seconds"] == 0


def test_the_permission_cache_is_refused_without_a_shared_cache(tmp_path):
    with pytest.raises(AssertionError, match="PERMISSION_CACHE_SECONDS needs REDIS_URL"):
        settings_with(tmp_path, PERMISSION_CACHE_SECONDS="60")
