from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_triggers(using: str, **kwargs: Any) -> None:
    """A later migration that rebuilds the audit table on SQLite drops its triggers: restore."""
    from django.db import connections

    from audit import triggers

    connection = connections[using]
    if connection.vendor not in ("postgresql", "sqlite"):
        return
    if triggers.TABLE not in connection.introspection.table_names():
        return
    if triggers.missing(connection):
        triggers.install(connection)


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from audit import signals  # noqa: F401  (connects the sign-in and user-change receivers)

        post_migrate.connect(_ensure_triggers, sender=self, dispatch_uid="audit_ensure_triggers")
