"""What a browser waits for on the dashboard page, written once for the browser test
(tests/dashboard/test_app_browser.py) and the load benchmark (benchmarks/dashboard_load.py).

Each probe is a JavaScript function for Playwright's ``page.wait_for_function(probe, arg=...)``.
"""

from __future__ import annotations

TILE_COUNT = 15

# Every KPI tile shows a value (tiles are drawn by dashboard/tiles.py).
TILES_SHOWN = "n => document.querySelectorAll('[data-kpi] .rcm-value').length >= n"

# At least ``n`` of the trend charts (dashboard/svg_charts.py) have drawn: image and points.
SVG_CHARTS = (
    "n => [...document.querySelectorAll('.rcm-chart')].filter(c => {"
    " const img = c.querySelector('img');"
    " return img && img.complete && img.naturalWidth > 0 && c.querySelector('.rcm-point'); })"
    ".length >= n"
)
TREND_CHARTS = 4  # SVG, in the Trends tab, open on arrival

# The tabs below the tiles, in order; only the open one is computed and drawn. For each: the
# tab's name, a text it shows, how many Vega-Lite charts it draws, whether it has a data grid.
SECTIONS: tuple[tuple[str, str, int, bool], ...] = (
    ("Trends", "Charges and payments ($)", 0, False),  # TREND_CHARTS, in SVG
    ("A/R aging and payment", "Days to payment by payer", 2, False),
    ("Denials", "Denials by reason and payer", 1, True),
    ("Top providers and departments", "Top providers by charges", 2, False),
    ("Alerts", "rcm alerts --post", 0, True),
)

# A tab has drawn: its text shows, exactly its charts have drawn (the previous tab's are
# gone) and its data grid, if it has one, has drawn. arg: [text, charts, grid].
TAB_DRAWN = """([text, charts, grid]) => {
    const main = document.querySelector('[data-testid="stMain"]');
    const drawn = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
        .filter(c => c.querySelector('canvas, svg.marks')).length;
    const grids = document.querySelectorAll('[data-testid="stDataFrame"] canvas').length;
    return !!main && main.innerText.includes(text) && drawn === charts && (!grid || grids > 0);
}"""
