"""The summary (reports.selectors.swap_summary) and its page with the SVG charts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.urls import reverse

from devices.models import Swap, SwapState
from reports import selectors
from reports.selectors import percentile
from tests.factories import SwapFactory, UserFactory
from tests.reports.helpers import at

pytestmark = pytest.mark.django_db


def test_percentile_matches_percentile_cont() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([60.0, 120.0, 180.0, 240.0], 0.5) == 150.0
    assert percentile([60.0, 120.0, 180.0, 240.0, 600.0], 0.9) == pytest.approx(456.0)


def test_summary_numbers_on_a_known_data_set() -> None:
    alice = UserFactory(field_service=True, username="alice")
    bob = UserFactory(field_service=True, username="bob")
    carol = UserFactory(field_service=True, username="carol")
    day1, day3 = at("2024-06-01T08:00:00"), at("2024-06-03T08:00:00")
    for seconds in (60, 120, 180, 240, 600):
        swap = SwapFactory(created_at=day1, requested_by=alice, bound=True)
        Swap.objects.filter(pk=swap.pk).update(bound_at=day1 + timedelta(seconds=seconds))
    for text in ("Old text", "Take the device offline, then retry."):
        SwapFactory(
            created_at=day3, requested_by=bob, failed=True, error_code="100611", error_text=text
        )
    SwapFactory(
        created_at=day3, requested_by=carol, failed=True, error_code="100426", error_text="Dup"
    )
    SwapFactory(created_at=day3, requested_by=bob, expired=True)
    SwapFactory(created_at=day3, requested_by=carol, cancelled=True)
    SwapFactory(created_at=at("2024-06-05T08:00:00"), requested_by=carol, failed=True)  # outside

    summary = selectors.swap_summary(date_from=date(2024, 6, 1), date_to=date(2024, 6, 3))
    assert summary.total == 10
    assert summary.bound == 5
    assert [(d.day, d.bound, d.failed, d.expired, d.other) for d in summary.per_day] == [
        (date(2024, 6, 1), 5, 0, 0, 0),
        (date(2024, 6, 2), 0, 0, 0, 0),
        (date(2024, 6, 3), 0, 3, 1, 1),
    ]
    assert [(o.state, o.count) for o in summary.outcomes] == [
        (SwapState.BOUND, 5),
        (SwapState.EXPIRED, 1),
        (SwapState.FAILED, 3),
        (SwapState.CANCELLED, 1),
    ]
    assert summary.outcomes[0].share == 0.5
    assert summary.median_seconds_to_bind == 180.0
    assert summary.p90_seconds_to_bind == pytest.approx(456.0)
    assert [(e.code, e.count, e.handling_text) for e in summary.top_errors] == [
        ("100611", 2, "Take the device offline, then retry."),  # the latest text
        ("100426", 1, "Dup"),
    ]
    assert [
        (t.username, t.failed, t.expired, t.total) for t in summary.top_failing_technicians
    ] == [
        ("bob", 2, 1, 3),
        ("carol", 1, 0, 2),
    ]


def test_summary_page_draws_accessible_charts(client: Any, supervisor: Any) -> None:
    SwapFactory(failed=True, error_code="100611", error_text="Take it offline <now>")
    response = client.get(reverse("reports:swap_summary"))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('role="img"') == 2
    assert '<title id="chart-per-day-title">Swaps per day</title>' in html
    assert "1 swaps over 30 days" in html
    assert "Take it offline &lt;now&gt;" in html and "<now>" not in html
    assert "css/reports.css" in html and "cdn" not in html.lower()


def test_summary_refuses_a_backwards_or_too_long_period(client: Any, supervisor: Any) -> None:
    url = reverse("reports:swap_summary")
    backwards = client.get(url, {"date_from": "2024-02-01", "date_to": "2024-01-01"})
    assert backwards.status_code == 400 and "“To” is before “From”" in backwards.content.decode()
    too_long = client.get(url, {"date_from": "2020-01-01", "date_to": "2024-01-01"})
    assert too_long.status_code == 400 and "at most 366 days" in too_long.content.decode()


def test_a_sub_second_median_shows_one_decimal_not_zero(client: Any, supervisor: Any) -> None:
    from django.utils import timezone

    now = timezone.now() - timedelta(hours=1)
    swap = SwapFactory(created_at=now, bound=True)
    Swap.objects.filter(pk=swap.pk).update(bound_at=now + timedelta(seconds=0.87))
    html = client.get(reverse("reports:swap_summary")).content.decode()
    median = html.split('id="kpi-median">')[1].split("</dd>")[0]
    assert median == "0.9 s"
