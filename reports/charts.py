"""Server-rendered SVG charts for the summary page: no JavaScript, no chart library.

Each chart is an inline <svg role="img"> with a <title> and <desc> (what a screen reader
announces), a <title> on every bar (the tooltip), and visible text labels. Colours come from
classes styled in static/css/reports.css, so the charts follow the page's palette. Every piece
of text is escaped here: callers pass plain strings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class Segment:
    """One coloured part of a column: `css_class` picks the colour, `name` the legend entry."""

    value: float
    css_class: str
    name: str


@dataclass(frozen=True)
class Column:
    label: str  # under the axis (may be left out when columns are dense)
    segments: Sequence[Segment]
    long_label: str = ""  # in the tooltip; defaults to `label`

    @property
    def total(self) -> float:
        return sum(s.value for s in self.segments)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    css_class: str
    value_text: str = ""  # shown after the bar; defaults to the value


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def nice_ceiling(value: float) -> float:
    """The axis top: 1, 2, 2.5 or 5 times a power of ten, at least `value` (1 for nothing)."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            top = step * magnitude
            return top if top >= 1 else 1
    return 10 * magnitude  # pragma: no cover - the loop always returns


def _open_svg(
    chart_id: str, title: str, description: str, width: int, height: int, css: str
) -> str:
    return (
        f'<svg class="chart {css}" id="{escape(chart_id)}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>'
    )


def stacked_columns(
    *,
    chart_id: str,
    title: str,
    description: str,
    columns: Sequence[Column],
    label_every: int = 1,
    width: int = 720,
    height: int = 260,
) -> SafeString:
    """Vertical stacked columns with a y axis of three gridlines (0, half, top)."""
    # The axis is drawn on both sides: on a phone the chart scrolls, starting at the right.
    left, right, top, bottom = 44, 44, 14, 34
    plot_w = width - left - right
    plot_h = height - top - bottom
    axis_top = nice_ceiling(max((c.total for c in columns), default=0))
    slot = plot_w / max(len(columns), 1)
    bar_w = max(slot * 0.72, 1.0)
    parts = [_open_svg(chart_id, title, description, width, height, "chart-columns")]

    for fraction in (0, 0.5, 1):
        y = top + plot_h - plot_h * fraction
        parts.append(
            f'<line class="chart-grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="chart-axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_number(axis_top * fraction))}</text>"
            f'<text class="chart-axis chart-axis-right" x="{width - right + 6}" y="{y + 4:.1f}">'
            f"{escape(_number(axis_top * fraction))}</text>"
        )
    for index, column in enumerate(columns):
        x = left + index * slot + (slot - bar_w) / 2
        y = top + plot_h
        name = column.long_label or column.label
        breakdown = ", ".join(f"{_number(s.value)} {s.name}" for s in column.segments if s.value)
        parts.append(
            f'<g class="chart-column"><title>{escape(name)}: {escape(breakdown or "none")}</title>'
        )
        for segment in column.segments:
            if segment.value <= 0:
                continue
            h = plot_h * segment.value / axis_top
            y -= h
            parts.append(
                f'<rect class="{escape(segment.css_class)}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}"/>'
            )
        parts.append("</g>")
        if label_every and index % label_every == 0:
            parts.append(
                f'<text class="chart-label" x="{x + bar_w / 2:.1f}" y="{height - 12}" '
                f'text-anchor="middle">{escape(column.label)}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def horizontal_bars(
    *,
    chart_id: str,
    title: str,
    description: str,
    bars: Sequence[Bar],
    width: int = 420,
    label_width: int = 130,
    row_height: int = 34,
) -> SafeString:
    """One labelled horizontal bar per row, scaled to the largest value, the value after it."""
    value_room = 84
    # Room for the longest label (about 0.6 em a character at 15 px): never clipped at the left.
    label_width = max(label_width, math.ceil(max((len(b.label) for b in bars), default=0) * 9) + 12)
    width = max(width, label_width + value_room + 160)
    height = max(len(bars), 1) * row_height + 8
    plot_w = width - label_width - value_room
    biggest = max((b.value for b in bars), default=0) or 1
    parts = [_open_svg(chart_id, title, description, width, height, "chart-bars")]
    for index, bar in enumerate(bars):
        y = 4 + index * row_height
        w = plot_w * bar.value / biggest
        text = bar.value_text or _number(bar.value)
        parts.append(
            f'<g class="chart-bar"><title>{escape(bar.label)}: {escape(text)}</title>'
            f'<text class="chart-label" x="{label_width - 8}" y="{y + row_height / 2 + 5:.1f}" '
            f'text-anchor="end">{escape(bar.label)}</text>'
            f'<rect class="{escape(bar.css_class)}" x="{label_width}" y="{y + 5}" '
            f'width="{max(w, 1.5 if bar.value else 0):.1f}" height="{row_height - 10}" rx="3"/>'
            f'<text class="chart-value" x="{label_width + w + 6:.1f}" '
            f'y="{y + row_height / 2 + 5:.1f}">{escape(text)}</text></g>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


# --- The summary page's charts ------------------------------------------------------------------

# Expired is hatched and failed solid red, so they differ without colour (WCAG 1.4.1); the
# hatch is the pattern #pattern-expired that templates/reports/summary.html defines once.
_DAY_GROUPS = (
    ("bound", "fill-good", "bound"),
    ("failed", "fill-bad", "failed"),
    ("expired", "fill-expired", "expired (hatched)"),
    ("other", "fill-muted", "open, cancelled or rejected"),
)
# Outcome bars whose fill differs from the state's badge tone (expired and failed are both "bad").
_OUTCOME_FILLS = {"expired": "fill-expired"}
DAY_LEGEND = tuple((css_class, name) for _, css_class, name in _DAY_GROUPS)


def swaps_per_day_chart(per_day: Sequence) -> SafeString:
    """Columns of swaps per day (reports.selectors.DayCount), stacked by outcome group."""
    columns = [
        Column(
            label=day.day.strftime("%d %b"),
            long_label=day.day.strftime("%a %d %b %Y"),
            segments=[Segment(getattr(day, attr), css, name) for attr, css, name in _DAY_GROUPS],
        )
        for day in per_day
    ]
    total = sum(day.total for day in per_day)
    busiest = max(per_day, key=lambda d: d.total, default=None)
    description = f"{total} swaps over {len(per_day)} days"
    if busiest is not None and busiest.total:
        description += f"; the busiest day was {busiest.day:%d %b %Y} with {busiest.total}"
    return stacked_columns(
        chart_id="chart-per-day",
        title="Swaps per day",
        description=description + ".",
        columns=columns,
        label_every=max(1, math.ceil(len(columns) / 8)),
    )


def outcome_mix_chart(outcomes: Sequence, *, tone_of: dict[str, str]) -> SafeString:
    """One bar per outcome (reports.selectors.OutcomeCount) with its count and share."""
    bars = [
        Bar(
            label=outcome.label,
            value=outcome.count,
            css_class=_OUTCOME_FILLS.get(
                str(outcome.state), f"fill-{tone_of.get(outcome.state, 'muted')}"
            ),
            value_text=f"{outcome.count} · {outcome.share:.0%}",
        )
        for outcome in outcomes
    ]
    description = "; ".join(f"{o.label}: {o.count} ({o.share:.0%})" for o in outcomes)
    return horizontal_bars(
        chart_id="chart-outcomes",
        title="Outcome mix",
        description=description or "No swaps in this period.",
        bars=bars,
    )
