"""The keyed chain (HMAC with AUDIT_HMAC_KEY) and the signed checkpoints outside the database."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from audit.checkpoints import audit_checkpoint_write, audit_checkpoints_read
from audit.models import GENESIS_HASH, AuditAction, AuditEvent
from audit.services import audit_record
from audit.tasks import audit_checkpoint
from audit.verification import audit_chain_verify

from .conftest import raw, triggers_removed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def audit_key(settings, tmp_path):
    settings.AUDIT_HMAC_KEY = "test-audit-key-outside-the-database"
    settings.AUDIT_CHECKPOINT_PATH = str(tmp_path / "checkpoints" / "audit.jsonl")
    return settings


def record(n: int) -> list[AuditEvent]:
    return [
        audit_record(action=AuditAction.SWAP_APPROVED, actor=None, detail=f"event {i}")
        for i in range(n)
    ]


def rewrite_plain(events: list[AuditEvent], *, change: dict) -> None:
    """Rewrite every event from the first given on, recomputing unkeyed SHA-256 hashes."""
    rows = list(AuditEvent.objects.order_by("id"))
    prev = GENESIS_HASH
    with triggers_removed():
        for row in rows:
            if row.pk >= events[0].pk:
                for name, value in change.items():
                    setattr(row, name, value)
                row.keyed = False
            row.prev_hash = prev
            row.hash = row.compute_hash()
            raw(
                "UPDATE audit_auditevent SET actor_name = %s, keyed = %s, prev_hash = %s, "
                "hash = %s WHERE id = %s",
                [row.actor_name, row.keyed, row.prev_hash, row.hash, row.pk],
            )
            prev = row.hash
        raw("UPDATE audit_auditchainhead SET last_hash = %s", [prev])


def test_an_intact_keyed_chain_with_checkpoints_passes():
    record(3)
    assert audit_checkpoint_write() is not None
    record(2)
    audit_checkpoint.apply()
    report = audit_chain_verify()
    assert report.intact, report.problem
    assert report.checked == 5
    assert [c.seq for c in audit_checkpoints_read()] == [
        AuditEvent.objects.order_by("id")[2].pk,
        AuditEvent.objects.order_by("id")[4].pk,
    ]


def test_new_events_are_keyed_and_their_hash_needs_the_key(settings):
    [event] = record(1)
    assert event.keyed
    settings.AUDIT_HMAC_KEY = "another-key"
    assert event.compute_hash() != event.hash


def test_checkpoint_lines_are_signed_json(settings, tmp_path):
    record(1)
    checkpoint = audit_checkpoint_write()
    line = json.loads((tmp_path / "checkpoints" / "audit.jsonl").read_text().splitlines()[0])
    assert set(line) == {"seq", "hash", "at", "signature"}
    assert line["seq"] == checkpoint.seq and line["hash"] == checkpoint.hash


def test_tail_deletion_is_detected_through_the_checkpoint():
    events = record(4)
    audit_checkpoint_write()
    # The attacker deletes the last two events and makes the head agree.
    with triggers_removed():
        raw("DELETE FROM audit_auditevent WHERE id >= %s", [events[2].pk])
        raw(
            "UPDATE audit_auditchainhead SET last_event_id = %s, last_hash = %s, event_count = 2",
            [events[1].pk, events[1].hash],
        )
    report = audit_chain_verify()
    assert not report.intact
    assert f"checkpoint records event #{events[3].pk}" in report.problem
    assert "removed from the end" in report.problem


def test_an_actor_rewrite_with_recomputed_plain_hashes_is_detected():
    events = record(4)
    rewrite_plain(events[2:], change={"actor_name": "someone-else"})
    report = audit_chain_verify()
    assert not report.intact
    assert f"event #{events[2].pk}" in report.problem
    assert "recomputed without the key" in report.problem


def test_a_full_plain_rewrite_is_detected_by_the_checkpoint():
    events = record(3)
    audit_checkpoint_write()
    rewrite_plain(events, change={"actor_name": "someone-else"})
    report = audit_chain_verify()
    assert not report.intact
    assert "differs from the signed checkpoint" in report.problem


def test_a_forged_checkpoint_line_is_reported(tmp_path):
    record(1)
    audit_checkpoint_write()
    path = tmp_path / "checkpoints" / "audit.jsonl"
    line = json.loads(path.read_text())
    line["seq"] += 100
    path.write_text(json.dumps(line) + "\n")
    report = audit_chain_verify()
    assert "wrong signature" in report.problem


def test_unkeyed_rows_from_before_the_key_still_verify():
    events = record(3)
    rewrite_plain(events, change={})  # what rows written before this change look like
    assert audit_chain_verify().intact
    record(1)  # keyed rows follow the legacy ones
    assert audit_chain_verify().intact


def test_verify_audit_writes_a_checkpoint_when_intact():
    record(2)
    call_command("verify_audit", stdout=StringIO(), stderr=StringIO())
    [checkpoint] = audit_checkpoints_read()
    assert checkpoint.seq == AuditEvent.objects.order_by("-id")[0].pk
