"""The server-rendered SVG charts (reports.charts)."""

from __future__ import annotations

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
