"""Worker processes that build their platform client from the project's settings."""

from typing import Any
from urllib.parse import quote

from tests.oceanconnect.processes import worker_env

DJANGO_WORKER = "tests.devices.platform_worker"


def database_url(settings_dict: dict[str, Any]) -> str:
    """A DATABASE_URL for the database a connection uses (the test database in tests)."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    if engine.endswith("postgresql"):
        user = quote(settings_dict.get("USER") or "")
        password = settings_dict.get("PASSWORD") or ""
        auth = f"{user}:{quote(password)}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"
    raise ValueError(f"unsupported database engine {engine}")


def django_worker_env(
    *,
    platform_url: str,
    app_id: str,
    app_secret: str,
    database: str,
    redis_url: str,
    flow_limit: int,
    var_dir: str,
    prefix: str | None = None,
) -> dict[str, str]:
    """The environment of a DJANGO_WORKER: the store is the database unless redis_url is set."""
    return worker_env(
        platform_url=platform_url,
        app_id=app_id,
        app_secret=app_secret,
        redis_url=redis_url,
        flow_limit=flow_limit,
        prefix=prefix,
        extra={
            "DJANGO_SETTINGS_MODULE": "iotadmin.settings",
            "DJANGO_LOG_LEVEL": "WARNING",
            "DATABASE_URL": database,
            # No Redis broker either, or the settings would pick Redis as the store after all.
            "CELERY_BROKER_URL": "filesystem://",
            "IOTADMIN_VAR_DIR": var_dir,
        },
    )
