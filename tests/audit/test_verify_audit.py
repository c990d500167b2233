"""verify_audit: OK on an intact chain; the first edited, deleted or moved event otherwise."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from audit import triggers
from audit.models import AuditAction
from audit.services import audit_record

from .conftest import raw, triggers_removed

pytestmark = pytest.mark.django_db


def verify(*args: str) -> tuple[int, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code), out.getvalue() + err.getvalue()
    return 0, out.getvalue() + err.getvalue()


def record(n: int) -> list:
    return [
        audit_record(action=AuditAction.PUSH_RECEIVED, device_id=f"d{i}", detail=f"event {i}")
        for i in range(n)
    ]


def test_empty_trail_is_intact():
    assert verify() == (0, "OK: 0 events, chain intact\n")


def test_intact_chain_is_reported_ok_across_batches():
    record(7)
    assert verify("--batch-size", "3") == (0, "OK: 7 events, chain intact\n")


def test_an_edited_row_is_found():
    events = record(5)
    with triggers_removed():
        raw("UPDATE audit_auditevent SET detail = 'nothing happened' WHERE id = %s", [events[2].pk])
    code, output = verify("--batch-size", "2")
    assert code == 1
    assert output.startswith(f"BROKEN at event #{events[2].pk} (")
    assert "push_received" in output
    assert f"stored hash {events[2].hash} != computed " in output


def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link():
    events = record(4)
    victim = events[1]
    victim.detail = "nothing happened"
    new_hash = victim.compute_hash()
    with triggers_removed():
        raw(
            "UPDATE audit_auditevent SET detail = %s, hash = %s WHERE id = %s",
            ["nothing happened", new_hash, victim.pk],
        )
    code, output = verify()
    assert code == 1
    assert output.startswith(f"BROKEN at event #{events[2].pk} (")
    assert f"prev_hash {events[1].hash} != hash of event #{victim.pk} {new_hash}" in output


def test_a_deleted_row_is_found():
    events = record(5)
    with triggers_removed():
        raw("DELETE FROM audit_auditevent WHERE id = %s", [events[2].pk])
    code, output = verify()
    assert code == 1
    assert output.startswith(f"BROKEN at event #{events[3].pk} (")
    assert "deleted" in output


def test_a_deleted_first_row_is_found():
    events = record(3)
    with triggers_removed():
        raw("DELETE FROM audit_auditevent WHERE id = %s", [events[0].pk])
    code, output = verify()
    assert code == 1
    assert output.startswith(f"BROKEN at event #{events[1].pk} (")
    assert "the start of the chain" in output


def test_a_deleted_last_row_is_found_through_the_chain_head():
    events = record(3)
    with triggers_removed():
        raw("DELETE FROM audit_auditevent WHERE id = %s", [events[2].pk])
    code, output = verify()
    assert code == 1
    assert output.startswith("BROKEN at the end:")
    assert f"event #{events[2].pk}" in output


def test_an_event_after_a_deleted_last_row_still_shows_the_gap():
    events = record(3)
    with triggers_removed():
        raw("DELETE FROM audit_auditevent WHERE id = %s", [events[2].pk])
    later = audit_record(action=AuditAction.LOGIN)
    code, output = verify()
    assert code == 1
    assert output.startswith(f"BROKEN at event #{later.pk} (")


def test_a_reordered_row_is_found():
    events = record(4)
    a, b = events[1].pk, events[2].pk
    with triggers_removed():
        raw("UPDATE audit_auditevent SET id = %s WHERE id = %s", [-1, a])
        raw("UPDATE audit_auditevent SET id = %s WHERE id = %s", [a, b])
        raw("UPDATE audit_auditevent SET id = %s WHERE id = %s", [b, -1])
    code, output = verify()
    assert code == 1
    assert output.startswith(f"BROKEN at event #{a} (")


def test_missing_triggers_are_reported():
    record(2)
    triggers.uninstall(connection)
    code, output = verify()
    assert code == 1
    assert "append-only triggers missing" in output


@pytest.mark.django_db(transaction=True)
def test_manage_py_exits_non_zero_on_a_broken_chain():
    """The real command line, in its own process, on the test database."""
    events = record(3)
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{db['NAME']}"
    else:
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url}
    command = [sys.executable, "manage.py", "verify_audit"]
    cwd = Path(settings.BASE_DIR)
    ok = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert (ok.returncode, ok.stdout) == (0, "OK: 3 events, chain intact\n"), ok.stderr
    with triggers_removed():
        raw("UPDATE audit_auditevent SET after = %s WHERE id = %s", ['{"x": 1}', events[1].pk])
    broken = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert broken.returncode == 1
    assert f"BROKEN at event #{events[1].pk}" in broken.stderr
