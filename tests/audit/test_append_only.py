"""The database itself refuses UPDATE and DELETE of audit rows (raw SQL, both vendors)."""

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit import triggers
from audit.models import AuditAction, AuditEvent
from audit.services import audit_record

from .conftest import raw

pytestmark = pytest.mark.django_db


@pytest.fixture
def event():
    audit_record(action=AuditAction.LOGIN, detail="first")
    return audit_record(action=AuditAction.LOGOUT, detail="second")


def test_triggers_are_installed_by_migrations():
    assert triggers.missing(connection) == []


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET detail = 'edited' WHERE id = %s",
        "UPDATE audit_auditevent SET hash = 'x' WHERE id = %s",
        "UPDATE audit_auditevent SET id = id + 1000 WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ],
)
def test_raw_update_and_delete_fail_at_the_database(event, sql):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw(sql, [event.pk])
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.detail, stored.hash) == ("second", event.hash)
    assert AuditEvent.objects.count() == 2


def test_emptying_the_table_fails_at_the_database(event):
    statements = ["DELETE FROM audit_auditevent"]
    if connection.vendor == "postgresql":
        statements.append("TRUNCATE audit_auditevent")
    for sql in statements:
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            raw(sql)
    assert AuditEvent.objects.count() == 2


def test_an_empty_maintenance_table_lets_nothing_through(event):
    raw("DELETE FROM audit_maintenance")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])


def test_maintenance_never_allows_updates(event):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        triggers.maintenance(connection),
    ):
        raw("UPDATE audit_auditevent SET detail = 'edited' WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).detail == "second"


def test_migrate_restores_triggers_that_went_missing(event):
    triggers.uninstall(connection)
    assert triggers.missing(connection) == list(triggers.expected(connection))
    call_command("migrate", verbosity=0, skip_checks=True)
    assert triggers.missing(connection) == []
    with pytest.raises(DatabaseError), transaction.atomic():
        raw("UPDATE audit_auditevent SET detail = 'x'")


def test_admin_is_read_only(admin_client, event):
    assert admin_client.get("/admin/audit/auditevent/").status_code == 200
    for query in ("?q=abc", "?q=42", "?action=login", "?q=%00"):
        assert admin_client.get("/admin/audit/auditevent/" + query).status_code == 200, query
    assert admin_client.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403
    response = admin_client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    response = admin_client.post(
        f"/admin/audit/auditevent/{event.pk}/change/", {"detail": "edited"}
    )
    assert response.status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).detail == "second"
