"""Helpers shared by the report tests: times, ids of a page, the CSV export. A swap requested at a
chosen time is `SwapFactory(created_at=...)` (tests/factories.py)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from django.urls import reverse


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ids(page_or_swaps: Any) -> list[int]:
    items = getattr(page_or_swaps, "items", page_or_swaps)
    return [swap.pk for swap in items]


def export_text(client: Any, **params: str) -> str:
    response = client.get(reverse("reports:swap_history_export"), params)
    assert response.status_code == 200
    assert response.streaming
    return b"".join(response.streaming_content).decode("utf-8")


def export_table(client: Any, **params: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(export_text(client, **params).lstrip("\ufeff"))))
