"""Leases instead of guesses: a send's claim lapses after the longest time one send can take;
then a redelivered task, a starting worker, the beat recovery or a page's poll hands it to a
worker at once, while a live claim is never touched."""

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from devices.codes import decrypt_code
from devices.models import Swap, SwapAttempt, SwapAttemptOutcome, SwapState
from devices.services import SwapRetryLater, swap_send, swaps_recover
from devices.services.transitions import swap_claim_for_send, swap_lease_seconds
from tests.devices.swap_support import (
    REFRESH_PATH,
    offline_device,
    pending_binding,
    refresh_calls,
    request,
)
from tests.factories import SwapFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def device(sim, platform_settings):
    return offline_device(sim)


@pytest.fixture
def field_user():
    return UserFactory(field_service=True)


@pytest.fixture
def enqueued(monkeypatch):
    sent = []
    monkeypatch.setattr("devices.tasks.swap_send.delay", lambda swap_id: sent.append(swap_id))
    return sent


def sending(swap, *, lease_in: float, attempts: int = 1):
    Swap.objects.filter(pk=swap.pk).update(
        state=SwapState.SENDING,
        attempts=attempts,
        lease_expires_at=timezone.now() + timedelta(seconds=lease_in),
    )
    swap.refresh_from_db()
    return swap


def test_lease_is_one_exchange_the_flow_wait_and_the_margin(settings):
    settings.IOT_CONNECT_TIMEOUT = 5
    settings.IOT_READ_TIMEOUT = 15
    settings.SWAP_LEASE_MARGIN_SECONDS = 5
    assert swap_lease_seconds() == 5 + 15 + 2 + 5  # renewed before each exchange: not 2 x


def test_default_timeouts_give_a_lease_of_twenty_seconds():
    from iotadmin import settings as defaults

    assert (defaults.IOT_CONNECT_TIMEOUT, defaults.IOT_READ_TIMEOUT) == (3.0, 10.0)
    assert defaults.SWAP_LEASE_SECONDS == 3 + 10 + 2 + defaults.SWAP_LEASE_MARGIN_SECONDS == 20


class FakeClock:
    """timezone.now() that moves only when told (an exchange that takes most of a lease)."""

    def __init__(self):
        self.now = timezone.now()

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr("django.utils.timezone.now", fake)
    return fake


@pytest.fixture
def exchanges(monkeypatch):
    """Spy on every HTTP exchange of the client: (path, the swap row as the exchange starts);
    `then` runs after an exchange whose path contains its key (the exchange's duration)."""
    from oceanconnect.client import PlatformClient

    seen: list[tuple[str, Swap | None]] = []
    then: dict[str, object] = {}
    real = PlatformClient._send

    def spy(self, request, *, token):
        seen.append((request.path, Swap.objects.order_by("-pk").first()))
        try:
            return real(self, request, token=token)
        finally:
            for key, action in then.items():
                if key in request.path:
                    action()

    monkeypatch.setattr(PlatformClient, "_send", spy)
    spy.seen = seen
    spy.then = then
    return spy


def _no_cached_token():
    from devices.platform_wiring import get_client
    from oceanconnect.tokens import TOKEN_KEY

    get_client().store.delete(TOKEN_KEY)


def test_every_exchange_starts_with_a_whole_lease(sim, device, field_user, clock, exchanges):
    """A taken-over send that logs in, reads the device back and refreshes: each exchange,
    however long the one before took, starts with the claim renewed by a whole lease."""
    lease = timedelta(seconds=swap_lease_seconds())
    swap = sending(request(device, field_user), lease_in=-1)
    _no_cached_token()
    exchanges.seen.clear()  # the request's own pre-check

    def slow():  # each exchange takes all but a second of the lease
        clock.now += lease - timedelta(seconds=1)

    exchanges.then[""] = slow
    swap_send(swap_id=swap.pk)

    paths = [path.split("?")[0] for path, _ in exchanges.seen]
    assert paths == [
        "/iocm/app/sec/v1.1.0/login",
        f"/iocm/app/dm/v1.4.0/devices/{device.device_id}",
        REFRESH_PATH + device.device_id,
    ]
    for _path, row in exchanges.seen:
        assert (row.state, row.attempts) == (SwapState.SENDING, 2)
        assert row.lease_expires_at == row.updated_at + lease  # renewed as it started
    starts = [row.updated_at for _, row in exchanges.seen]
    assert starts == sorted(set(starts))  # three renewals, one per exchange
    swap.refresh_from_db()
    assert swap.state == SwapState.CODE_ISSUED
    assert decrypt_code(swap.verify_code_encrypted) == pending_binding(sim, device)["verifyCode"]


def test_a_slow_login_and_read_back_keep_the_claim_from_being_taken_over(
    sim, device, field_user, clock, exchanges
):
    """Together they outlast one lease; the claim is still live before the refresh."""
    lease = timedelta(seconds=swap_lease_seconds())
    swap = sending(request(device, field_user), lease_in=-1)  # taken over: reads back first
    _no_cached_token()
    takeovers = []

    def slow():
        clock.now += lease - timedelta(seconds=1)

    def slow_then_someone_tries():
        slow()
        takeovers.append(swap_claim_for_send(swap_id=swap.pk))

    exchanges.then["/login"] = slow
    exchanges.then["/dm/v1.4.0/devices/"] = slow_then_someone_tries
    swap_send(swap_id=swap.pk)

    assert takeovers == [False]  # 2 x (lease - 1 s) after the claim, it was still live
    swap.refresh_from_db()
    assert (swap.state, swap.attempts) == (SwapState.CODE_ISSUED, 2)
    assert len(refresh_calls(sim, device)) == 1


def test_a_send_whose_claim_was_taken_over_sends_nothing_more(
    sim, device, field_user, clock, exchanges
):
    """The claim lapses during the login that precedes the refresh and another worker takes
    it over: the refresh is not sent, and this send leaves no attempt of its own."""
    lease = timedelta(seconds=swap_lease_seconds())
    swap = request(device, field_user)
    _no_cached_token()

    def login_outlives_the_lease_and_another_worker_takes_over():
        clock.now += lease + timedelta(seconds=1)
        assert swap_claim_for_send(swap_id=swap.pk)  # attempt 2 is someone else's now

    exchanges.then["/login"] = login_outlives_the_lease_and_another_worker_takes_over
    swap_send(swap_id=swap.pk)

    assert refresh_calls(sim, device) == []
    swap.refresh_from_db()
    assert (swap.state, swap.attempts, swap.needs_reconcile) == (SwapState.SENDING, 2, True)
    assert not SwapAttempt.objects.filter(swap=swap).exists()


def test_claim_carries_a_lease_and_ends_it_with_the_send(sim, device, field_user):
    swap = request(device, field_user)
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert swap.state == SwapState.CODE_ISSUED
    assert swap.lease_expires_at is None


def test_a_lapsed_claim_is_taken_over_reconciled_and_sent_at_once(sim, device, field_user):
    swap = sending(request(device, field_user), lease_in=-1)
    lost = SwapAttempt.objects.create(swap=swap, number=1, started_at=timezone.now())
    since = time.time()
    swap_send(swap_id=swap.pk)
    swap.refresh_from_db()
    assert swap.state == SwapState.CODE_ISSUED
    assert swap.attempts == 2
    assert decrypt_code(swap.verify_code_encrypted) == pending_binding(sim, device)["verifyCode"]
    lost.refresh_from_db()
    assert lost.outcome == SwapAttemptOutcome.OUTCOME_UNKNOWN
    assert AuditEvent.objects.filter(
        swap_id=swap.pk, action=AuditAction.SWAP_ATTEMPTED, after__attempt=1
    ).exists()
    calls = [
        (c["method"], c["path"]) for c in sim.calls(since=since) if device.device_id in c["path"]
    ]
    assert calls == [
        ("GET", f"/iocm/app/dm/v1.4.0/devices/{device.device_id}"),
        ("PUT", REFRESH_PATH + device.device_id),
    ]


def test_a_live_lease_is_left_alone_and_looked_at_again_when_it_lapses(sim, device, field_user):
    swap = sending(request(device, field_user), lease_in=30)
    lease = swap.lease_expires_at
    with pytest.raises(SwapRetryLater) as later:
        swap_send(swap_id=swap.pk)
    assert 29 < later.value.countdown <= 31
    swap.refresh_from_db()
    assert (swap.state, swap.attempts, swap.lease_expires_at) == (SwapState.SENDING, 1, lease)
    assert refresh_calls(sim, device) == []


def test_a_stale_worker_cannot_store_over_a_takeover(sim, device, field_user):
    from devices.services.send import _fail

    swap = sending(request(device, field_user), lease_in=-1)
    stale = Swap.objects.select_related("device").get(pk=swap.pk)
    swap_send(swap_id=swap.pk)  # the takeover (attempt 2) issues the code
    _fail(stale, "50252", "the old worker's late view")  # attempt 1 ends afterwards
    swap.refresh_from_db()
    assert swap.state == SwapState.CODE_ISSUED


def test_beat_recovery_is_one_query_when_nothing_is_stuck(django_assert_num_queries):
    sending(SwapFactory(), lease_in=30)
    SwapFactory()
    SwapFactory(issued=True, verify_code="ISSUED01")
    with django_assert_num_queries(1):
        assert swaps_recover() == 0


def test_beat_recovery_hands_only_lapsed_claims_to_a_worker(
    enqueued, django_capture_on_commit_callbacks
):
    lapsed = sending(SwapFactory(), lease_in=-1)
    sending(SwapFactory(), lease_in=30)
    with django_capture_on_commit_callbacks(execute=True):
        assert swaps_recover() == 1
    assert enqueued == [lapsed.pk]
    assert Swap.objects.get(pk=lapsed.pk).state == SwapState.SENDING  # the task takes it over


def test_beat_recovery_hands_over_a_claim_that_lapses_before_the_next_run_at_its_end(
    settings, enqueued, monkeypatch, django_capture_on_commit_callbacks
):
    settings.SWAP_RECOVER_INTERVAL_SECONDS = 10
    delayed = []
    monkeypatch.setattr(
        "devices.tasks.swap_send.apply_async",
        lambda args, countdown: delayed.append((args[0], countdown)),
    )
    soon = sending(SwapFactory(), lease_in=4)
    sending(SwapFactory(), lease_in=30)  # lapses after the next run: that run sees to it
    with django_capture_on_commit_callbacks(execute=True):
        assert swaps_recover() == 1
    assert enqueued == []
    [(swap_id, countdown)] = delayed
    assert swap_id == soon.pk
    assert 0.5 < countdown <= 4.5  # the lease's end (+ 0.5 s), not the next beat tick
    assert Swap.objects.get(pk=soon.pk).state == SwapState.SENDING  # left alone until then


def test_a_starting_worker_asks_for_recovery(monkeypatch):
    from devices import tasks

    asked = []
    monkeypatch.setattr(tasks.swaps_recover, "delay", lambda: asked.append(True))
    tasks.recover_swaps_on_worker_start(sender=None)
    assert asked == [True]


def test_the_send_task_runs_on_its_own_queue_with_limits_past_a_lease_per_exchange(settings):
    from devices.tasks import swap_send as swap_send_task
    from iotadmin import settings as defaults

    route = settings.CELERY_TASK_ROUTES[swap_send_task.name]
    assert route == {"queue": settings.SWAP_SEND_QUEUE}
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert swap_send_task.soft_time_limit == settings.SWAP_SEND_SOFT_TIME_LIMIT
    # Two calls, each at worst a refused token refresh, a login, the call, a re-login, a retry.
    assert defaults.SWAP_SEND_MAX_EXCHANGES == 10
    assert swap_send_task.soft_time_limit > 10 * defaults.SWAP_LEASE_SECONDS
    assert swap_send_task.time_limit > swap_send_task.soft_time_limit
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout")
    if visibility is not None:
        assert visibility > swap_send_task.time_limit + settings.SWAP_RETRY_MAX_SECONDS


def test_code_panel_poll_hands_a_lapsed_send_to_a_worker(
    client, enqueued, django_capture_on_commit_callbacks
):
    tech = UserFactory(field_service=True)
    swap = sending(SwapFactory(requested_by=tech), lease_in=-1)
    client.force_login(tech)
    url = reverse("devices:swap_detail", args=[swap.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(url, **HTMX).status_code == 200
        client.get(url, **HTMX)  # the next poll finds it queued: nothing more
    assert enqueued == [swap.pk]
    swap.refresh_from_db()
    assert (swap.state, swap.needs_reconcile) == (SwapState.QUEUED, True)


def test_code_panel_poll_leaves_a_live_send_alone(client, enqueued):
    tech = UserFactory(field_service=True)
    swap = sending(SwapFactory(requested_by=tech), lease_in=30)
    client.force_login(tech)
    client.get(reverse("devices:swap_detail", args=[swap.pk]), **HTMX)
    assert enqueued == []
    assert Swap.objects.get(pk=swap.pk).state == SwapState.SENDING


def test_swap_page_lists_the_attempts_for_helpdesk_only(client):
    tech = UserFactory(field_service=True)
    swap = SwapFactory(issued=True, requested_by=tech, verify_code="SHOWN123", attempts=2)
    now = timezone.now()
    SwapAttempt.objects.create(
        swap=swap,
        number=1,
        started_at=now,
        finished_at=now,
        outcome=SwapAttemptOutcome.OUTCOME_UNKNOWN,
        code_hash="feedface",
    )
    SwapAttempt.objects.create(
        swap=swap, number=2, started_at=now, finished_at=now, outcome="ok", http_status=200
    )
    url = reverse("devices:swap_detail", args=[swap.pk])
    client.force_login(UserFactory(helpdesk=True))
    page = client.get(url).content.decode()
    assert 'id="swap-attempts"' in page
    assert "No answer (outcome unknown)" in page
    assert "feedface" not in page
    client.force_login(tech)
    assert 'id="swap-attempts"' not in client.get(url).content.decode()
