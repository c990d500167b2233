"""Appends from several processes and threads at once still make one unbroken chain."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections

from audit.models import AuditAction, AuditChainHead, AuditEvent
from audit.services import audit_record
from audit.verification import audit_chain_verify

WRITER = """
import os, sys, time
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iotadmin.settings")
django.setup()
from audit.models import AuditAction
from audit.services import audit_record
go, count, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + 60
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.005)
for i in range(count):
    audit_record(action=AuditAction.PUSH_RECEIVED, detail=f"{tag}-{i}")
"""


def child_database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def assert_one_chain(expected: int) -> None:
    report = audit_chain_verify()
    assert (report.intact, report.checked) == (True, expected), str(report)
    hashes = list(AuditEvent.objects.values_list("prev_hash", flat=True))
    assert len(set(hashes)) == expected  # no two events link to the same predecessor
    assert AuditChainHead.objects.get().event_count == expected


@pytest.mark.django_db(transaction=True)
def test_two_processes_appending_at_once_keep_one_chain(tmp_path: Path):
    per_process = 40
    go = tmp_path / "go"
    env = {**os.environ, "DATABASE_URL": child_database_url()}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(go), str(per_process), tag],
            cwd=settings.BASE_DIR,
            env=env,
        )
        for tag in ("a", "b")
    ]
    try:
        go.touch()
        codes = [writer.wait(timeout=120) for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
    assert codes == [0, 0]
    assert_one_chain(2 * per_process)
    details = set(AuditEvent.objects.values_list("detail", flat=True))
    assert details == {f"{tag}-{i}" for tag in "ab" for i in range(per_process)}


@pytest.mark.django_db(transaction=True)
def test_threads_appending_at_once_keep_one_chain():
    threads_count, per_thread = 4, 25
    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def append(tag: int) -> None:
        try:
            start.wait(timeout=30)
            for i in range(per_thread):
                audit_record(action=AuditAction.DEVICES_SYNCED, detail=f"{tag}-{i}")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=append, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert_one_chain(threads_count * per_thread)
