"""Small charts drawn on the server as SVG markup: no script, no style attribute, no fetch.

The strict Content-Security-Policy stays as it is: the SVG is part of the page, styled by
classes from style.css, and carries a <title> and <desc> for screen readers. Every text
that comes from data is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 360
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 76, 20, 20, 52
# Okabe-Ito colours: told apart with the common colour-vision deficiencies.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
SHAPES = ("circle", "square", "diamond", "triangle")
LEGEND_PER_ROW = 3


@dataclass(frozen=True)
class Axis:
    low: float
    high: float
    start: float  # pixel of `low`
    end: float  # pixel of `high`

    def at(self, value: float) -> float:
        span = self.high - self.low or 1.0
        return self.start + (value - self.low) / span * (self.end - self.start)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]: steps of 1, 2 or 5 times a power of ten."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def money_short(value: float) -> str:
    """$450k, $1.2M: axis labels that fit."""
    if abs(value) >= 1_000_000:
        return f"${value / 1_000_000:.1f}M".replace(".0M", "M")
    return f"${value / 1000:.0f}k" if value else "$0"


def _svg(title: str, desc: str, body: list[str], chart_id: str) -> Markup:
    head = (
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")


def _frame(x: Axis, y: Axis, x_ticks, y_ticks, x_label, y_label, x_text, y_text) -> list[str]:
    parts = [
        f'<rect class="chart-plot" x="{x.start}" y="{y.end}" width="{x.end - x.start}" '
        f'height="{y.start - y.end}"/>'
    ]
    for tick in y_ticks:
        py = y.at(tick)
        parts.append(
            f'<line class="chart-grid" x1="{x.start}" x2="{x.end}" y1="{py:.1f}" y2="{py:.1f}"/>'
        )
        parts.append(
            f'<text class="chart-tick" x="{x.start - 6}" y="{py + 4:.1f}" '
            f'text-anchor="end">{escape(y_text(tick))}</text>'
        )
    for tick in x_ticks:
        px = x.at(tick)
        parts.append(
            f'<line class="chart-grid" x1="{px:.1f}" x2="{px:.1f}" y1="{y.end}" y2="{y.start}"/>'
        )
        parts.append(
            f'<text class="chart-tick" x="{px:.1f}" y="{y.start + 18}" '
            f'text-anchor="middle">{escape(x_text(tick))}</text>'
        )
    parts.append(
        f'<text class="chart-label" x="{(x.start + x.end) / 2:.1f}" y="{HEIGHT - 8}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    parts.append(
        f'<text class="chart-label" x="16" y="{(y.start + y.end) / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {(y.start + y.end) / 2:.1f})">{escape(y_label)}</text>'
    )
    return parts


def _axes(xs: Sequence[float], ys: Sequence[float]) -> tuple[Axis, Axis, list, list]:
    x_ticks = nice_ticks(min(xs), max(xs))
    y_ticks = nice_ticks(min(ys), max(ys))
    x = Axis(x_ticks[0], x_ticks[-1], MARGIN_LEFT, WIDTH - MARGIN_RIGHT)
    y = Axis(y_ticks[0], y_ticks[-1], HEIGHT - MARGIN_BOTTOM, MARGIN_TOP)
    return x, y, x_ticks, y_ticks


def price_by_area(
    points: Sequence[Sequence[float]],
    house: tuple[float, float],
    statezip: str,
    interval: tuple[float, float] | None = None,
) -> Markup:
    """Sales of one zip as dots (living area, price), this house as a marked point.

    `interval` (low, high) draws the house's range as a vertical bar through its mark.
    """
    area, price = house
    xs = [p[0] for p in points] + [area]
    ys = [p[1] for p in points] + [price, *(interval or ())]
    x, y, x_ticks, y_ticks = _axes(xs, ys)
    body = _frame(
        x,
        y,
        x_ticks,
        y_ticks,
        "Living area (sq ft)",
        "Sale price",
        lambda v: f"{v:,.0f}",
        money_short,
    )
    for sqft, sold in points:
        body.append(
            f'<circle class="chart-sale" cx="{x.at(sqft):.1f}" cy="{y.at(sold):.1f}" r="3.5"/>'
        )
    hx, hy = x.at(area), y.at(price)
    if interval:
        low, high = interval
        body.append(
            f'<line class="chart-range" x1="{hx:.1f}" x2="{hx:.1f}" '
            f'y1="{y.at(low):.1f}" y2="{y.at(high):.1f}"/>'
        )
    size = 8
    body.append(
        f'<path class="chart-house" d="M{hx:.1f} {hy - size:.1f} L{hx + size:.1f} {hy:.1f} '
        f'L{hx:.1f} {hy + size:.1f} L{hx - size:.1f} {hy:.1f} Z"/>'
    )
    anchor = "end" if hx > (x.start + x.end) / 2 else "start"
    offset = -12 if anchor == "end" else 12
    body.append(
        f'<text class="chart-house-label" x="{hx + offset:.1f}" y="{hy - 10:.1f}" '
        f'text-anchor="{anchor}">This house</text>'
    )
    desc = (
        f"{len(points)} sales in {statezip} as dots, price against living area; this house, "
        f"{area:,.0f} sq ft at an estimated {money_short(price)}, is the diamond"
    )
    if interval:
        desc += f", its range from {money_short(interval[0])} to {money_short(interval[1])}"
    desc += "."
    return _svg(f"Sale price against living area in {statezip}", desc, body, "chart-zip")


@dataclass(frozen=True)
class Series:
    """One model folder's MdAPE at each dataset version it was scored on."""

    name: str
    points: tuple[tuple[int, float, bool], ...]  # (x position, MdAPE, is the champion)


def mdape_history(series: Sequence[Series], versions: Sequence[str]) -> Markup:
    """MdAPE (percent) per dataset version, a line per model folder, champion points ringed."""
    values = [p[1] for s in series for p in s.points]
    count = len(versions)
    x = Axis(
        -0.5 if count == 1 else 0,
        0.5 if count == 1 else count - 1,
        MARGIN_LEFT + 20,
        WIDTH - MARGIN_RIGHT - 20,
    )
    y_ticks = nice_ticks(min(values) * 100 * 0.9, max(values) * 100 * 1.05)
    legend_rows = math.ceil(len(series) / LEGEND_PER_ROW)
    y = Axis(y_ticks[0], y_ticks[-1], HEIGHT - MARGIN_BOTTOM, MARGIN_TOP + 26 * legend_rows)
    body = _frame(
        x,
        y,
        [],
        y_ticks,
        "Dataset version",
        "MdAPE (lower is better)",
        str,
        lambda v: f"{v:g} %",
    )
    for index, version in enumerate(versions):
        body.append(
            f'<text class="chart-tick" x="{x.at(index):.1f}" y="{y.start + 18}" '
            f'text-anchor="middle">{escape(version)}</text>'
        )
    for number, one in enumerate(series):
        colour = PALETTE[number % len(PALETTE)]
        coords = [(x.at(i), y.at(v * 100), champion) for i, v, champion in one.points]
        if len(coords) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in coords)
            body.append(f'<polyline class="chart-line" points="{path}" stroke="{colour}"/>')
        for px, py, champion in coords:
            body.append(_marker(SHAPES[number % len(SHAPES)], px, py, colour))
            if champion:
                body.append(f'<circle class="chart-champion" cx="{px:.1f}" cy="{py:.1f}" r="10"/>')
        # Legend along the top, one entry per folder, LEGEND_PER_ROW to a row.
        row, column = divmod(number, LEGEND_PER_ROW)
        lx = MARGIN_LEFT + 8 + column * 190
        ly = MARGIN_TOP + 6 + row * 26
        body.append(_marker(SHAPES[number % len(SHAPES)], lx, ly, colour))
        body.append(
            f'<text class="chart-legend" x="{lx + 10}" y="{ly + 5}">{escape(one.name[:18])}</text>'
        )
    desc = "; ".join(
        f"{one.name}: "
        + ", ".join(
            f"{versions[i]} {v:.1%}" + (" (champion)" if champion else "")
            for i, v, champion in one.points
        )
        for one in series
    )
    return _svg("MdAPE per dataset version, by model folder", desc, body, "chart-mdape")


def _marker(shape: str, px: float, py: float, colour: str) -> str:
    r = 5
    if shape == "circle":
        return f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{r}" fill="{colour}"/>'
    if shape == "square":
        return (
            f'<rect x="{px - r:.1f}" y="{py - r:.1f}" width="{2 * r}" height="{2 * r}" '
            f'fill="{colour}"/>'
        )
    if shape == "diamond":
        return (
            f'<path d="M{px:.1f} {py - r - 1:.1f} L{px + r + 1:.1f} {py:.1f} L{px:.1f} '
            f'{py + r + 1:.1f} L{px - r - 1:.1f} {py:.1f} Z" fill="{colour}"/>'
        )
    return (
        f'<path d="M{px:.1f} {py - r - 1:.1f} L{px + r + 1:.1f} {py + r:.1f} '
        f'L{px - r - 1:.1f} {py + r:.1f} Z" fill="{colour}"/>'
    )
