"""How long the dashboard takes to draw its first view, at the demo scale (`make bench-dashboard`).

Starts the dashboard as `make dashboard` does, over a warehouse built at the demo scale (in
benchmarks/work/demo, built first with `rcm run --scale 0.1` when it is missing; or
``--warehouse PATH``), and loads it in headless Chromium: first visits in fresh browser
contexts (nothing cached; the first one right after the server starts), then a returning
visitor's loads (Streamlit's scripts in the browser cache). A load ends when all 15 KPI tiles
show a value and the four trend charts of the open tab have drawn. Prints a table, the
medians and the slowest load; the issue's goal is under 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from dashboard.probes import (
    SECTIONS,
    SVG_CHARTS,
    TAB_DRAWN,
    TILE_COUNT,
    TILES_SHOWN,
    TREND_CHARTS,
)
from dashboard.serve import REPO_ROOT, serving

WORK = REPO_ROOT / "benchmarks" / "work" / "demo"
CHROMIUM = Path(os.environ.get("RCM_CHROMIUM", "/usr/bin/chromium"))
GOAL_SECONDS = 2.0


def build_demo_warehouse(work: Path) -> Path:
    warehouse = work / "warehouse" / "rcm.duckdb"
    if warehouse.exists():
        return warehouse
    print(f"dashboard bench: building a demo-scale warehouse in {work} (rcm run --scale 0.1)")
    env = dict(
        os.environ,
        RCM_LAKE_DIR=str(work / "lake"),
        RCM_WAREHOUSE_PATH=str(warehouse),
        DBT_TARGET_PATH=str(work / "target"),
    )
    command = [sys.executable, "-m", "ingestion.cli", "run", "--scale", "0.1", "--no-docs"]
    subprocess.run([*command, "--sources", str(work / "sources")], env=env, check=True)
    return warehouse


def _load(page: Page, url: str) -> float:
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_function(TILES_SHOWN, arg=TILE_COUNT, timeout=60_000)
    page.wait_for_function(SVG_CHARTS, arg=TREND_CHARTS, timeout=60_000)
    return time.perf_counter() - started


def _switch(page: Page, tab: str, text: str, charts: int, grid: bool) -> float:
    """Seconds from a click on ``tab`` until it has drawn."""
    started = time.perf_counter()
    page.get_by_role("tab", name=tab).click()
    page.wait_for_function(TAB_DRAWN, arg=[text, charts, grid], timeout=60_000)
    return time.perf_counter() - started


def measure(warehouse: Path, loads: int) -> tuple[list[float], list[float], dict[str, list[float]]]:
    """Loads in fresh browser contexts (a first visit: nothing cached, the first one also
    right after the server starts), each followed by opening every other tab once; then loads
    in one context (a returning visitor whose browser has Streamlit's scripts cached)."""
    first_visits: list[float] = []
    returning: list[float] = []
    switches: dict[str, list[float]] = {tab: [] for tab, *_ in SECTIONS[1:]}
    log = warehouse.parent / "dashboard-bench.log"
    with serving(warehouse, log) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        for _ in range(loads):
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            page = context.new_page()
            first_visits.append(_load(page, url))
            for tab, text, charts, grid in SECTIONS[1:]:
                switches[tab].append(_switch(page, tab, text, charts, grid))
            context.close()
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        page = context.new_page()
        _load(page, url)  # fills this browser's cache
        returning = [_load(page, url) for _ in range(loads)]
        context.close()
        browser.close()
    return first_visits, returning, switches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--warehouse", type=Path, default=None, help="default: a demo build")
    parser.add_argument("--loads", type=int, default=5, help="page loads of each kind")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"dashboard bench: no Chromium at {CHROMIUM} (apt-get install chromium)")
        return 1
    warehouse = args.warehouse or build_demo_warehouse(WORK)
    first_visits, returning, switches = measure(warehouse.resolve(), max(args.loads, 2))
    print(
        f"\ndashboard load over {warehouse} "
        f"(until {TILE_COUNT} KPI tiles show values and {TREND_CHARTS} trend charts have drawn)"
    )
    print("  load   first visit (empty browser cache)   returning visitor (cached scripts)")
    for number, (cold, warm) in enumerate(zip(first_visits, returning, strict=True), start=1):
        note = "  <- right after the server started" if number == 1 else ""
        print(f"  {number:>4}   {cold:9.2f} s {'':24}{warm:9.2f} s{note}")
    for name, values in (("first visit", first_visits), ("returning visitor", returning)):
        verdict = "met" if max(values) < GOAL_SECONDS else "NOT met"
        print(
            f"  {name}: median {statistics.median(values):.2f} s, max {max(values):.2f} s; "
            f"goal: every load under {GOAL_SECONDS:.0f} s: {verdict}"
        )
    print("  opening another tab after a first visit (click until drawn):")
    for tab, values in switches.items():
        print(f"    {tab:<31} median {statistics.median(values):.2f} s, max {max(values):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
