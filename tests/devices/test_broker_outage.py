"""A swap requested while the broker is down stays QUEUED and is sent once it is back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from devices.models import Swap, SwapState
from devices.services.lifecycle import swaps_sweep
from devices.services.transitions import swap_enqueue_send
from tests.factories import SwapFactory
from tests.support.broker import broker_unreachable

pytestmark = pytest.mark.django_db


def test_an_enqueue_lost_after_commit_leaves_the_swap_queued_for_the_sweeper(
    settings: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    swap = SwapFactory(queued=True)
    with broker_unreachable(), django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            swap_enqueue_send(swap_id=swap.pk)  # the broker error is logged, not raised

    swap.refresh_from_db()
    assert swap.state == SwapState.QUEUED

    sent = []
    monkeypatch.setattr("devices.tasks.swap_send.delay", lambda swap_id: sent.append(swap_id))
    grace = timedelta(seconds=settings.SWAP_EXPIRY_GRACE_SECONDS + 1)
    Swap.objects.filter(pk=swap.pk).update(updated_at=timezone.now() - grace)
    with django_capture_on_commit_callbacks(execute=True):
        result = swaps_sweep()

    assert result.requeued == 1
    assert sent == [swap.pk]
