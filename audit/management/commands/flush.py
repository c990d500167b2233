"""Django's flush, allowed to empty the append-only audit tables (see audit.models).

Transactional tests run flush after each test; on SQLite it DELETEs and on PostgreSQL it
TRUNCATEs, both refused by the audit triggers unless this command's marker is present.
"""

from typing import Any

from django.core.management.commands import flush
from django.db import DEFAULT_DB_ALIAS, connections

from audit import triggers


class Command(flush.Command):
    help = flush.Command.help + " This includes the audit trail."

    def handle(self, **options: Any) -> None:
        connection = connections[options.get("database") or DEFAULT_DB_ALIAS]
        if connection.vendor not in ("postgresql", "sqlite"):
            return super().handle(**options)
        with triggers.maintenance(connection):
            return super().handle(**options)
