"""Transactional tests flush the database after each test; that must empty the audit trail
without opening it to anyone else (see audit.models)."""

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit.models import AuditAction, AuditChainHead, AuditEvent
from audit.services import audit_record
from audit.verification import audit_chain_verify

from .conftest import raw


@pytest.mark.django_db(transaction=True)
def test_flush_empties_the_audit_trail_and_leaves_it_protected():
    audit_record(action=AuditAction.LOGIN)
    audit_record(action=AuditAction.LOGOUT)
    call_command("flush", interactive=False, verbosity=0)
    assert AuditEvent.objects.count() == 0
    assert AuditChainHead.objects.count() == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM audit_maintenance")
        assert cursor.fetchone()[0] == 0
    event = audit_record(action=AuditAction.LOGIN)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert audit_chain_verify().intact


@pytest.mark.django_db(transaction=True)
def test_events_left_by_a_transactional_test_are_flushed_at_teardown():
    # Leaves rows behind on purpose: the next test starts from an empty table.
    audit_record(action=AuditAction.DEVICES_SYNCED, detail="left behind")


@pytest.mark.django_db(transaction=True)
def test_the_previous_transactional_test_left_nothing_behind():
    assert not AuditEvent.objects.filter(detail="left behind").exists()
