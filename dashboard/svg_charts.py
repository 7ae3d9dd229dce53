"""Monthly line charts drawn on the server as SVG, for the tab that is open on arrival.

A Vega-Lite chart makes a first visit download and run Vega (about 0.8 MB of script), which
on the build machine put 0.6-0.9 s between the tiles and the first drawn chart. The trend
charts need no more than lines, points, axes and a legend, so they are drawn here: axes,
lines and legend as an SVG image, and each point as a small HTML dot over it whose tooltip
gives series, month and value (``st.html`` keeps HTML but strips inline SVG, so the SVG goes
in as an ``<img>`` data URI). The other tabs keep Vega-Lite, loaded when one is opened.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

Unit = Literal["$", "days", "%"]

WIDTH, HEIGHT = 640.0, 250.0
LEFT, RIGHT, TOP, BOTTOM = 58.0, 12.0, 10.0, 58.0  # plot margins: axis labels, legend
COLOURS = ("#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b")  # Vega's category10 start
MAX_MONTH_LABELS = 7  # 12 months: every other one, so the labels do not touch


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2, 2.5 or 5 x 10^k) covering low..high."""
    if high < low:
        low, high = high, low
    if high == low:
        high = low + (abs(low) or 1.0)
    rough = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(rough))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= rough)
    first, last = math.floor(low / step) * step, math.ceil(high / step) * step
    return [round(first + i * step, 10) for i in range(round((last - first) / step) + 1)]


def axis_label(value: float, unit: Unit) -> str:
    """A tick label: compact money ($1.5M, $250k), plain numbers for days and per cent."""
    if unit == "$":
        for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= size:
                return f"${value / size:g}{suffix}"
        return f"${value:g}"
    return f"{value:g}"


def value_label(value: float, unit: Unit) -> str:
    """A point's tooltip: money to the cent, so it can be reconciled with the warehouse."""
    if unit == "$":
        return f"${value:,.2f}"
    if unit == "%":
        return f"{value:.1f} %"
    return f"{value:.1f} days"


Point = tuple[float, float, str, str]  # x, y (in SVG units), colour, tooltip


def _layout(
    months: Sequence[str], series: Mapping[str, Sequence[float | None]], unit: Unit
) -> tuple[list[float], list[Point], Callable[[float], float], Callable[[int], float]]:
    """Ticks, the points to draw, and the x and y scales (value -> SVG units)."""
    values = [v for points in series.values() for v in points if v is not None]
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values)) if values else nice_ticks(0, 1)
    bottom, top = ticks[0], ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(months), 1)

    def x(index: int) -> float:
        return LEFT + step * (index + 0.5)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (value - bottom) / ((top - bottom) or 1.0))

    points: list[Point] = []
    for number, (name, values_) in enumerate(series.items()):
        colour = COLOURS[number % len(COLOURS)]
        for index, value in enumerate(values_):
            if value is not None:
                tip = f"{name}, {months[index]}: {value_label(value, unit)}"
                points.append((x(index), y(value), colour, tip))
    return ticks, points, y, x


def svg(
    title: str, months: Sequence[str], series: Mapping[str, Sequence[float | None]], unit: Unit
) -> str:
    """The chart without its points: grid, axis labels, one line per series (lifted where a
    month has no value) and the legend. The y axis always includes zero."""
    ticks, _, y, x = _layout(months, series, unit)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH:g} {HEIGHT:g}" '
        'font-family="Source Sans Pro, sans-serif" font-size="11" fill="#555">',
        f"<title>{html.escape(title)}</title>",
    ]
    for tick in ticks:
        parts.append(
            f'<line x1="{LEFT:g}" x2="{WIDTH - RIGHT:g}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#e3e3e6"/>'
            f'<text x="{LEFT - 6:g}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{html.escape(axis_label(tick, unit))}</text>"
        )
    every = max(1, math.ceil(len(months) / MAX_MONTH_LABELS))
    for index, month in enumerate(months):
        if index % every == 0:
            parts.append(
                f'<text x="{x(index):.1f}" y="{HEIGHT - BOTTOM + 16:g}" text-anchor="middle">'
                f"{html.escape(month)}</text>"
            )
    for number, values in enumerate(series.values()):
        path, pen_down = [], False
        for index, value in enumerate(values):
            if value is None:  # a gap: lift the pen
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{x(index):.1f} {y(value):.1f}")
            pen_down = True
        if path:
            colour = COLOURS[number % len(COLOURS)]
            parts.append(
                f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
    legend_x, legend_y = LEFT, HEIGHT - 10
    for number, name in enumerate(series):
        colour = COLOURS[number % len(COLOURS)]
        parts.append(
            f'<circle cx="{legend_x + 5:.1f}" cy="{legend_y - 4:g}" r="5" fill="{colour}"/>'
            f'<text x="{legend_x + 14:.1f}" y="{legend_y:g}">{html.escape(name)}</text>'
        )
        legend_x += 30 + 6.5 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    title: str, months: Sequence[str], series: Mapping[str, Sequence[float | None]], unit: Unit
) -> str:
    """The chart as HTML: the SVG as an image, each point a dot over it with its tooltip."""
    _, points, _, _ = _layout(months, series, unit)
    image = base64.b64encode(svg(title, months, series, unit).encode()).decode()
    dots = "".join(
        f'<span class="rcm-point" style="left:{px / WIDTH * 100:.2f}%;top:{py / HEIGHT * 100:.2f}%;'
        f'background:{colour}" title="{html.escape(tip)}"></span>'
        for px, py, colour, tip in points
    )
    return (
        f'<div class="rcm-chart" role="img" aria-label="{html.escape(title)}">'
        f'<img alt="{html.escape(title)}" src="data:image/svg+xml;base64,{image}">{dots}</div>'
    )


def chart_grid(charts: Sequence[str], titles: Sequence[str]) -> str:
    """Charts two to a row, each under its title."""
    figures = "".join(
        f'<figure class="rcm-figure"><figcaption>{html.escape(title)}</figcaption>{chart}</figure>'
        for title, chart in zip(titles, charts, strict=True)
    )
    return (
        "<style>.rcm-charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr));"
        " gap: 1rem 2rem; } .rcm-figure { margin: 0; }"
        " .rcm-figure figcaption { font-weight: 600; margin-bottom: 0.25rem; }"
        " .rcm-chart { position: relative; } .rcm-chart img { display: block; width: 100%; }"
        " .rcm-point { position: absolute; width: 8px; height: 8px; margin: -4px 0 0 -4px;"
        " border-radius: 50%; }"
        " @media (max-width: 900px) { .rcm-charts { grid-template-columns: 1fr; } }</style>"
        f'<div class="rcm-charts">{figures}</div>'
    )
