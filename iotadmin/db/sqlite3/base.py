"""Django's SQLite backend; the database file's folder is made when a connection is first opened.

Settings create no folder when imported: `migrate`, `runserver`, a worker or a test run make the
var dir here, the first time they connect.
"""

from pathlib import Path
from typing import Any

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        name = str(conn_params["database"])
        if not self.is_in_memory_db() and not name.startswith("file:"):
            Path(name).parent.mkdir(parents=True, exist_ok=True)
        return super().get_new_connection(conn_params)
