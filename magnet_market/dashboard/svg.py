"""Small charts as inline SVG, drawn on the server: no chart library, no script, nothing to fetch.

Colours and line styles come from CSS classes (``static/dashboard.css``), so the markup carries
no inline styles and works under the dashboard's strict Content-Security-Policy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 30, 40
Scale = Callable[[float], float]


@dataclass(frozen=True)
class Series:
    """Points drawn one way: ``line`` (joined, with markers), ``step`` (running value, no
    markers), ``points`` (markers only) or ``hline`` (one horizontal reference line)."""

    name: str
    points: Sequence[tuple[float, float]]
    kind: str = "line"
    css: str = "s1"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]``."""
    if high <= low:
        pad = abs(low) * 0.05 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def chart(series: Sequence[Series], x_label: str, y_label: str, title: str) -> Markup:
    """An SVG line/scatter chart of ``series`` with integer x ticks (rounds, experiments).

    Non-finite values (a diverged run's NaN loss) are left out rather than breaking the axes.
    """
    series = [
        Series(s.name, [(x, y) for x, y in s.points if math.isfinite(y)], s.kind, s.css)
        for s in series
    ]
    xs = [x for s in series if s.kind != "hline" for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    if not xs or not ys:
        return Markup('<p class="empty">nothing to plot yet</p>')
    y_ticks = nice_ticks(min(ys), max(ys))
    x_low, x_high = min(xs), max(xs)
    if x_high == x_low:  # one point: centre it
        x_low, x_high = x_low - 0.5, x_high + 0.5
    y_low, y_high = y_ticks[0], y_ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return round(LEFT + (x - x_low) / (x_high - x_low) * plot_w, 2)

    def py(y: float) -> float:
        return round(TOP + (y_high - y) / (y_high - y_low) * plot_h, 2)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for y in y_ticks:
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py(y)}" y2="{py(y)}"/>'
        )
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{py(y) + 4}" text-anchor="end">{y:g}</text>'
        )
    for x in _x_ticks(x_low, x_high):
        parts.append(
            f'<text class="tick" x="{px(x)}" y="{HEIGHT - BOTTOM + 16}" '
            f'text-anchor="middle">{x:g}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
        f'y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}"/>'
    )
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>')
    parts.append(
        f'<text class="label" x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    parts.append(
        f'<text class="label" x="14" y="{TOP + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {TOP + plot_h / 2})">{escape(y_label)}</text>'
    )
    for s in series:
        parts.extend(_draw(s, px, py, LEFT, WIDTH - RIGHT))
    parts.append(_legend(series))
    parts.append("</svg>")
    return Markup("".join(parts))


def _x_ticks(low: float, high: float) -> list[float]:
    """Integer ticks, at most about ten of them."""
    step = max(1, math.ceil((high - low) / 10))
    return [float(x) for x in range(math.ceil(low), math.floor(high) + 1, step)]


def _draw(s: Series, px: Scale, py: Scale, x_min: float, x_max: float) -> list[str]:
    css = escape(s.css)
    if s.kind == "hline":
        y = py(s.points[0][1])
        return [f'<line class="ref {css}" x1="{x_min}" x2="{x_max}" y1="{y}" y2="{y}"/>']
    out = []
    coords = [(px(x), py(y)) for x, y in s.points]
    if s.kind == "line" and len(coords) > 1:
        path = " ".join(f"{x},{y}" for x, y in coords)
        out.append(f'<polyline class="series {css}" points="{path}"/>')
    if s.kind == "step" and coords:
        d = f"M{coords[0][0]},{coords[0][1]}"
        for (x, y), (_, prev_y) in zip(coords[1:], coords, strict=False):
            d += f" H{x} V{y}" if y != prev_y else f" H{x}"
        out.append(f'<path class="series step {css}" d="{d}"/>')
        return out
    for (x, y), (cx, cy) in zip(s.points, coords, strict=True):
        out.append(
            f'<circle class="point {css}" cx="{cx}" cy="{cy}" r="4.5" '
            f'data-x="{x:g}" data-y="{y:.6g}"><title>{escape(s.name)} {x:g}: {y:.6g}</title>'
            "</circle>"
        )
    return out


def _legend(series: Sequence[Series]) -> str:
    items, x = [], LEFT + 8
    for s in series:
        items.append(
            f'<rect class="swatch {escape(s.css)}" x="{x}" y="{TOP - 22}" width="10" height="10"/>'
            f'<text class="legend" x="{x + 14}" y="{TOP - 13}">{escape(s.name)}</text>'
        )
        x += 24 + 7 * len(s.name)
    return '<g class="legend">' + "".join(items) + "</g>"
