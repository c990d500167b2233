"""The server-rendered SVG charts (reports.charts)."""

from __future__ import annotations

import re

import pytest

from reports import charts

pytestmark = pytest.mark.django_db


def test_charts_escape_text_and_scale_to_a_round_top() -> None:
    assert [charts.nice_ceiling(v) for v in (0, 1, 3, 7, 11, 240)] == [1, 1, 5, 10, 20, 250]
    svg = charts.horizontal_bars(
        chart_id="c",
        title="<script>",
        description="d",
        bars=[charts.Bar(label="a&b", value=2, css_class="fill-good")],
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a&amp;b" in svg


def test_a_long_bar_label_gets_room_instead_of_being_clipped() -> None:
    svg = charts.horizontal_bars(
        chart_id="c",
        title="t",
        description="d",
        bars=[charts.Bar(label="Waiting for approval", value=1, css_class="fill-wait")],
    )
    label_x = float(re.search(r'class="chart-label" x="([0-9.]+)"', svg).group(1))
    # The label ends at label_x (text-anchor end); 20 characters need about 9 px each at 15 px.
    assert label_x >= 20 * 9


def test_expired_is_hatched_apart_from_failed_in_both_summary_charts() -> None:
    from datetime import date

    from reports.selectors import DayCount, OutcomeCount

    outcomes = [
        OutcomeCount(state="failed", label="Failed", count=1, share=0.5),
        OutcomeCount(state="expired", label="Expired", count=1, share=0.5),
    ]
    bars = charts.outcome_mix_chart(outcomes, tone_of={"failed": "bad", "expired": "bad"})
    assert re.search(r"Failed</text><rect class=\"fill-bad\"", bars)
    assert re.search(r"Expired</text><rect class=\"fill-expired\"", bars)
    columns = charts.swaps_per_day_chart([DayCount(day=date(2024, 6, 1), failed=1, expired=2)])
    assert 'class="fill-bad"' in columns and 'class="fill-expired"' in columns
    assert "1 failed, 2 expired (hatched)" in columns
    assert [name for _, name in charts.DAY_LEGEND] == [
        "bound",
        "failed",
        "expired (hatched)",
        "open, cancelled or rejected",
    ]


def test_the_day_chart_draws_its_axis_on_both_sides() -> None:
    from datetime import date

    from reports.selectors import DayCount

    svg = charts.swaps_per_day_chart([DayCount(day=date(2024, 6, 1), bound=4)])
    assert svg.count('class="chart-axis"') == 3
    assert svg.count('class="chart-axis chart-axis-right"') == 3
