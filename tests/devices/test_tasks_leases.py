"""Leases through a real Celery worker: a redelivered send takes over a lapsed claim at once, and
a worker killed mid-send (SIGKILL of the pool child) costs at most the lease, not minutes."""

import os
import signal
from datetime import timedelta

import pytest
from django.utils import timezone

from devices.codes import decrypt_code
from devices.models import Swap, SwapAttempt, SwapAttemptOutcome, SwapState
from devices.platform_wiring import reset_client
from devices.services.transitions import swap_lease_seconds
from tests.devices.swap_support import REFRESH_PATH, offline_device, refresh_calls, request
from tests.factories import UserFactory
from tests.support.worker import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def short_lease(platform_settings):
    """A lease of a few seconds (the worker reads these settings when it starts)."""
    platform_settings.IOT_CONNECT_TIMEOUT = 1
    platform_settings.IOT_READ_TIMEOUT = 4
    platform_settings.SWAP_LEASE_MARGIN_SECONDS = 0.5
    platform_settings.SWAP_RETRY_BASE_SECONDS = 0.2
    platform_settings.SWAP_RETRY_MAX_SECONDS = 1.0
    reset_client()
    return platform_settings


@pytest.fixture
def device(sim, short_lease):
    return offline_device(sim)


def issued(swap, *, timeout):
    def check():
        swap.refresh_from_db()
        return swap.state == SwapState.CODE_ISSUED and swap

    return wait_for(check, timeout=timeout, interval=0.05)


def test_redelivered_send_takes_over_a_lapsed_claim_at_once(sim, device, celery_worker_process):
    from devices.tasks import swap_send

    swap = request(device, UserFactory(field_service=True))
    Swap.objects.filter(pk=swap.pk).update(
        state=SwapState.SENDING,
        attempts=1,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    swap_send.delay(swap.pk)  # the redelivered message
    # A generous deadline for a busy machine: a send that did not take the lapsed claim over
    # would never issue the code (nothing else runs here to hand the swap over).
    swap = issued(swap, timeout=60)
    assert swap.attempts == 2
    pending = sim.device(device.device_id)["binding"]["verifyCode"]
    assert decrypt_code(swap.verify_code_encrypted) == pending
    assert len(refresh_calls(sim, device)) == 1


def test_worker_killed_mid_send_shows_the_code_within_the_lease(
    sim, device, celery_prefork_worker_process
):
    worker = celery_prefork_worker_process
    # The first refresh is held by the simulator long enough to kill the worker during it.
    sim.faults(latency_ms=60_000, count=1, path_contains=REFRESH_PATH)
    swap = request(device, UserFactory(field_service=True))
    attempt = wait_for(
        lambda: SwapAttempt.objects.filter(swap=swap).first(), timeout=30, interval=0.02
    )
    # The simulator took the fault (count 1): the refresh has arrived and is being held.
    wait_for(lambda: sim.faults_in_force()["latency_ms"] == 0, timeout=10, interval=0.02)
    children = worker.pool_children()
    assert children, worker.log()[-2000:]
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    # Nothing else runs here (no beat, no sweeper, no page): only the redelivered message,
    # retried once the lease lapses, can take the send over. The deadline is generous (a busy
    # machine); the sweeper's path would take the send task's whole time limit and more.
    swap = issued(swap, timeout=swap_lease_seconds() + 60)
    pending = sim.device(device.device_id)["binding"]["verifyCode"]
    assert decrypt_code(swap.verify_code_encrypted) == pending
    attempt.refresh_from_db()
    assert attempt.outcome == SwapAttemptOutcome.OUTCOME_UNKNOWN
    assert swap.attempts == 2
