"""The bulk page's share of the platform's budget and its ETA, from the limiter's per-lane use."""

from bulk.selectors import bulk_share, eta_seconds
from oceanconnect import FlowUsage


def usage(**lanes):
    return FlowUsage(
        limit=90,
        used=sum(lanes.values()),
        window=61.0,
        seconds_until_free=0.0,
        reserve=10,
        lanes={"interactive": 0, "reconcile": 0, "bulk": 0, "background": 0, **lanes},
    )


def test_bulk_gets_the_limit_minus_the_reserve_when_nobody_else_calls():
    assert bulk_share(usage=usage()) == 80
    assert eta_seconds(remaining=160, usage=usage()) == 120


def test_people_beyond_the_reserve_and_reconcile_checks_slow_bulk_down():
    assert bulk_share(usage=usage(interactive=5)) == 80  # within the reserve
    assert bulk_share(usage=usage(interactive=25, reconcile=5)) == 60
    assert eta_seconds(remaining=120, usage=usage()) == 90
    assert eta_seconds(remaining=120, usage=usage(interactive=25, reconcile=5)) == 120


def test_background_calls_do_not_count_against_bulk():
    assert bulk_share(usage=usage(background=30)) == 80


def test_without_lanes_the_eta_is_the_one_before_lanes():
    plain = FlowUsage(limit=90, used=0, window=61.0, seconds_until_free=0.0)
    assert eta_seconds(remaining=90, usage=plain) == 60
