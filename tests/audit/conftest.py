"""Helpers to tamper with the audit table the way an attacker with SQL access would."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection

from audit import triggers


@contextmanager
def triggers_removed() -> Iterator[None]:
    """Drop the append-only triggers for the block (as a DBA could), then put them back."""
    triggers.uninstall(connection)
    try:
        yield
    finally:
        triggers.install(connection)


def raw(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


@pytest.fixture
def tamper():
    return raw
