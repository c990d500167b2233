"""Helpers shared by the report tests: swaps at a chosen time, ids of a page, the CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from django.urls import reverse

from devices.models import Swap
from tests.devices.factories import make_swap


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def swap_at(created: datetime, **fields: Any) -> Swap:
    """A swap requested at `created` (auto_now_add is overwritten after the insert)."""
    swap = make_swap(**fields)
    Swap.objects.filter(pk=swap.pk).update(created_at=created)
    swap.refresh_from_db()
    return swap


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
