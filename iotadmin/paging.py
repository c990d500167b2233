"""Keyset pages: the cursor (opaque URL-safe text holding the last row's sort values) and the
filter for "the rows after this position" in an ordering on (column, id).

No OFFSET and no COUNT: a page costs the same at row 10 and at row 1,000,000. An unreadable
cursor decodes to None, and the list starts over from the top.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

MAX_CURSOR_LENGTH = 2048


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None, size: int) -> list[Any] | None:
    """The values of a cursor we made; None (start over) for anything else."""
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError):
        return None
    if not isinstance(values, list) or len(values) != size:
        return None
    return values


def encode_datetime_cursor(moment: datetime, pk: int) -> str:
    """The cursor of a row in an ordering on (a datetime column, id)."""
    return encode_cursor([moment.astimezone(UTC).isoformat(), pk])


def decode_datetime_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    """(moment, id) of a cursor made by encode_datetime_cursor; None for anything else."""
    position = decode_cursor(cursor, 2)
    if position is None:
        return None
    moment_text, pk = position
    moment = parse_datetime(moment_text) if isinstance(moment_text, str) else None
    if moment is None or type(pk) is not int:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment, pk


def after_position(*, column: str, value: Any, pk: Any, descending: bool = False) -> Q:
    """The rows after (value, pk) in the order (column, id), both ascending or both descending.

    The first condition bounds the index range on `column`; the second drops the ties before pk.
    """
    past, up_to = ("lt", "lte") if descending else ("gt", "gte")
    return Q(**{f"{column}__{up_to}": value}) & (
        Q(**{f"{column}__{past}": value}) | Q(**{f"id__{past}": pk})
    )
