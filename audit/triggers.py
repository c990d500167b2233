"""The database half of "append-only": triggers on audit_auditevent, for PostgreSQL and SQLite.

UPDATE is always refused. DELETE (and TRUNCATE on PostgreSQL) is refused unless the
`audit_maintenance` table holds a row, which only the audit app's `flush` command writes, inside
its own transaction (see audit.models for why). Installed by migration 0002 and re-checked after
every migrate (a SQLite table rebuild by a later migration would drop them).
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "audit_auditevent"
TRIGGERS = ("audit_auditevent_no_update", "audit_auditevent_no_delete")
PG_TRIGGERS = (*TRIGGERS, "audit_auditevent_no_truncate")

_PG_INSTALL = [
    "CREATE TABLE IF NOT EXISTS audit_maintenance (allow_delete boolean NOT NULL DEFAULT true)",
    """
    CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('DELETE', 'TRUNCATE')
           AND EXISTS (SELECT 1 FROM audit_maintenance WHERE allow_delete) THEN
            IF TG_LEVEL = 'ROW' THEN
                RETURN OLD;
            END IF;
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'audit events are append-only (% refused on %)', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END
    $$
    """,
    "DROP TRIGGER IF EXISTS audit_auditevent_no_update ON audit_auditevent",
    """CREATE TRIGGER audit_auditevent_no_update BEFORE UPDATE ON audit_auditevent
        FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    "DROP TRIGGER IF EXISTS audit_auditevent_no_delete ON audit_auditevent",
    """CREATE TRIGGER audit_auditevent_no_delete BEFORE DELETE ON audit_auditevent
        FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    "DROP TRIGGER IF EXISTS audit_auditevent_no_truncate ON audit_auditevent",
    """CREATE TRIGGER audit_auditevent_no_truncate BEFORE TRUNCATE ON audit_auditevent
        FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
]
_PG_UNINSTALL = [
    "DROP TRIGGER IF EXISTS audit_auditevent_no_truncate ON audit_auditevent",
    "DROP TRIGGER IF EXISTS audit_auditevent_no_delete ON audit_auditevent",
    "DROP TRIGGER IF EXISTS audit_auditevent_no_update ON audit_auditevent",
    "DROP FUNCTION IF EXISTS audit_refuse_change()",
    "DROP TABLE IF EXISTS audit_maintenance",
]
_SQLITE_INSTALL = [
    "CREATE TABLE IF NOT EXISTS audit_maintenance (allow_delete integer NOT NULL DEFAULT 1)",
    "DROP TRIGGER IF EXISTS audit_auditevent_no_update",
    """CREATE TRIGGER audit_auditevent_no_update BEFORE UPDATE ON audit_auditevent
        BEGIN
            SELECT RAISE(ABORT, 'audit events are append-only (UPDATE refused)');
        END""",
    "DROP TRIGGER IF EXISTS audit_auditevent_no_delete",
    """CREATE TRIGGER audit_auditevent_no_delete BEFORE DELETE ON audit_auditevent
        WHEN NOT EXISTS (SELECT 1 FROM audit_maintenance WHERE allow_delete = 1)
        BEGIN
            SELECT RAISE(ABORT, 'audit events are append-only (DELETE refused)');
        END""",
]
_SQLITE_UNINSTALL = [
    "DROP TRIGGER IF EXISTS audit_auditevent_no_delete",
    "DROP TRIGGER IF EXISTS audit_auditevent_no_update",
    "DROP TABLE IF EXISTS audit_maintenance",
]


def _statements(connection: BaseDatabaseWrapper, *, install: bool) -> list[str]:
    if connection.vendor == "postgresql":
        return _PG_INSTALL if install else _PG_UNINSTALL
    if connection.vendor == "sqlite":
        return _SQLITE_INSTALL if install else _SQLITE_UNINSTALL
    raise NotImplementedError(
        f"the audit trail's append-only triggers exist for PostgreSQL and SQLite, "
        f"not {connection.vendor}"
    )


def install(connection: BaseDatabaseWrapper) -> None:
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        for statement in _statements(connection, install=True):
            cursor.execute(statement)


def uninstall(connection: BaseDatabaseWrapper) -> None:
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        for statement in _statements(connection, install=False):
            cursor.execute(statement)


def expected(connection: BaseDatabaseWrapper) -> tuple[str, ...]:
    return PG_TRIGGERS if connection.vendor == "postgresql" else TRIGGERS


def missing(connection: BaseDatabaseWrapper) -> list[str]:
    """The append-only triggers that are not in place (empty when all are)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND tgenabled <> 'D'",
                [TABLE],
            )
        elif connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [TABLE]
            )
        else:
            return list(expected(connection))
        present = {row[0] for row in cursor.fetchall()}
    return [name for name in expected(connection) if name not in present]


@contextmanager
def maintenance(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """Let DELETE/TRUNCATE of audit rows through, for this transaction only (flush)."""
    with transaction.atomic(using=connection.alias):
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO audit_maintenance (allow_delete) VALUES (%s)", [True])
        yield
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_maintenance")
