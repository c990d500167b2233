"""Transactional tests flush the database after each test; that must empty the audit trail
without opening it to anyone else (see audit.models and audit.management.commands.flush).

Every test here stands alone: none relies on what another test left behind or on the order.
"""

import pytest
from django.core.management import CommandError, call_command, get_commands
from django.core.management.commands.flush import Command as DjangoFlush
from django.db import DatabaseError, connection, transaction
from django.test import TransactionTestCase

from audit.models import GENESIS_HASH, AuditAction, AuditChainHead, AuditEvent
from audit.services import audit_record
from audit.verification import audit_chain_verify

from .conftest import raw


def maintenance_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM audit_maintenance")
        return cursor.fetchone()[0]


def transactional_teardown_flush() -> None:
    """The flush Django runs after every transactional test, run the same way."""
    TransactionTestCase()._fixture_teardown()


def test_the_flush_command_is_the_audit_apps_own():
    assert get_commands()["flush"] == "audit"


@pytest.mark.django_db(transaction=True)
def test_flush_empties_the_audit_trail_and_leaves_it_protected():
    audit_record(action=AuditAction.LOGIN)
    audit_record(action=AuditAction.LOGOUT)

    call_command("flush", interactive=False, verbosity=0)

    assert AuditEvent.objects.count() == 0
    assert AuditChainHead.objects.count() == 0
    assert maintenance_rows() == 0
    event = audit_record(action=AuditAction.LOGIN)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert audit_chain_verify().intact


@pytest.mark.django_db(transaction=True)
def test_a_transactional_tests_teardown_empties_the_trail_and_the_chain_starts_fresh():
    audit_record(action=AuditAction.DEVICES_SYNCED, detail="left behind")
    audit_record(action=AuditAction.LOGOUT, detail="left behind")

    transactional_teardown_flush()

    assert not AuditEvent.objects.filter(detail="left behind").exists()
    assert AuditChainHead.objects.count() == AuditEvent.objects.count() == 0
    assert maintenance_rows() == 0
    first = audit_record(action=AuditAction.LOGIN)
    assert first.prev_hash == GENESIS_HASH
    second = audit_record(action=AuditAction.LOGOUT)
    assert second.prev_hash == first.hash
    assert audit_chain_verify().intact


@pytest.mark.django_db(transaction=True)
def test_djangos_own_flush_without_the_marker_is_refused_and_deletes_nothing():
    audit_record(action=AuditAction.LOGIN, detail="kept")

    with pytest.raises(CommandError, match="couldn't be flushed") as refused:
        call_command(DjangoFlush(), interactive=False, verbosity=0)

    assert "append-only" in str(refused.value.__cause__)
    assert AuditEvent.objects.filter(detail="kept").count() == 1
    assert maintenance_rows() == 0
    assert audit_chain_verify().intact


@pytest.mark.django_db(transaction=True)
def test_a_delete_outside_the_flush_is_refused():
    event = audit_record(action=AuditAction.LOGIN)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("DELETE FROM audit_auditevent")

    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert maintenance_rows() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("run", ["one", "another"])
def test_no_transactional_test_sees_the_audit_rows_of_an_earlier_one(run):
    # Whichever of the two runs second checks the first one's teardown; alone, each passes.
    assert not AuditEvent.objects.filter(detail__startswith="left by a transactional test").exists()

    audit_record(action=AuditAction.DEVICES_SYNCED, detail=f"left by a transactional test {run}")
