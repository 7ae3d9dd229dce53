"""The running dashboard: `streamlit run` on a free port against the fixture warehouse, driven
by a real headless Chromium (Debian's, through Python playwright).

Skipped, with the reason in pytest's summary, on a machine without Chromium; `.ci/run`
installs it. Every request the page makes to a host other than 127.0.0.1 is blocked and
recorded: the dashboard must work offline.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from dashboard.probes import (
    SECTIONS,
    SVG_CHARTS,
    TAB_DRAWN,
    TILE_COUNT,
    TILES_SHOWN,
    TREND_CHARTS,
)
from dashboard.queries import Filters
from dashboard.serve import serving
from ingestion import build_state
from tests.dashboard.expected import expected_kpis
from tests.dashboard.warehouse_fixture import MONTHS, FixtureData

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("RCM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=(
        f"!!! headless Chromium not found at {CHROMIUM}: the dashboard BROWSER TESTS DID NOT RUN. "
        "Install Debian's chromium (apt-get install chromium; .ci/run does it) or set RCM_CHROMIUM."
    ),
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def app_url(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    with serving(warehouse, log) as url:
        yield url


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.external_requests = []  # type: ignore[attr-defined]

    def guard(route: Route) -> None:
        if route.request.url.startswith(("http://127.0.0.1", "data:", "blob:")):
            route.continue_()
        else:
            page.external_requests.append(route.request.url)  # type: ignore[attr-defined]
            route.abort()

    page.route("**/*", guard)
    yield page
    context.close()


def _wait_for_tiles(page: Page) -> None:
    page.wait_for_function(TILES_SHOWN, arg=TILE_COUNT, timeout=TIMEOUT_MS)


def _tiles(page: Page) -> dict[str, str]:
    tiles = {}
    for tile in page.query_selector_all("[data-kpi]"):
        label = tile.query_selector(".rcm-label")
        value = tile.query_selector(".rcm-value")
        assert label is not None and value is not None
        tiles[label.inner_text().strip()] = value.inner_text().strip()
    return tiles


def _number(text: str) -> float:
    match = re.fullmatch(r"\$?(-?[\d,]+(?:\.\d+)?)\s*(?:%|days)?", text)
    assert match, f"tile value is not a number: {text!r}"
    return float(match.group(1).replace(",", ""))


def _assert_tiles_match(tiles: dict[str, str], want: dict[str, float | None]) -> None:
    labels = {
        "Gross charges": ("gross_charges", 1.0, 0.0051),
        "Payments": ("payments", 1.0, 0.0051),
        "Open A/R": ("ar_open", 1.0, 0.0051),
        "Visits": ("visits", 1.0, 0.0),
        "Days in A/R": ("days_in_ar", 1.0, 0.051),
        "A/R > 90 days": ("ar_over_90_pct", 100.0, 0.051),
        "Net collection rate": ("net_collection_rate", 100.0, 0.051),
        "Gross collection rate": ("gross_collection_rate", 100.0, 0.051),
        "Clean claim rate": ("clean_claim_rate", 100.0, 0.051),
        "Initial denial rate": ("initial_denial_rate", 100.0, 0.051),
        "Final denial rate": ("final_denial_rate", 100.0, 0.051),
        "Rejection rate": ("rejection_rate", 100.0, 0.051),
        "Avg days to payment": ("avg_days_to_payment", 1.0, 0.051),
        "Charges per visit": ("charges_per_visit", 1.0, 0.0051),
        "Payments per visit": ("payments_per_visit", 1.0, 0.0051),
    }
    assert set(tiles) == set(labels)
    for label, (key, scale, tolerance) in labels.items():
        expected = want[key]
        assert expected is not None
        assert _number(tiles[label]) == pytest.approx(expected * scale, abs=tolerance), label


def _assert_no_errors(page: Page) -> None:
    assert page.query_selector_all('[data-testid="stException"]') == []
    assert page.query_selector_all('[data-testid="stAlertContentError"]') == []
    assert page.external_requests == []  # type: ignore[attr-defined]


def _screenshot(page: Page, name: str) -> Path:
    """The whole page: Streamlit scrolls inside its main block, so grow the viewport to it."""
    height = page.evaluate(
        "() => (document.querySelector('[data-testid=\"stMain\"]') || document.body).scrollHeight"
    )
    page.set_viewport_size({"width": 1600, "height": int(height) + 40})
    page.wait_for_timeout(1500)  # charts re-render at the new size
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def _open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    page.wait_for_function(
        "name => [...document.querySelectorAll('[role=\"tab\"]')]"
        ".some(t => t.innerText.trim() === name && t.getAttribute('aria-selected') === 'true')",
        arg=name,
        timeout=TIMEOUT_MS,
    )


def test_dashboard_shows_the_kpis_of_the_warehouse(
    page: Page, app_url: str, fixture_data: FixtureData
) -> None:
    started = time.perf_counter()
    page.goto(app_url)
    _wait_for_tiles(page)
    page.wait_for_function(SVG_CHARTS, arg=TREND_CHARTS, timeout=TIMEOUT_MS)  # Trends is open
    cold = time.perf_counter() - started

    started = time.perf_counter()
    page.reload()
    _wait_for_tiles(page)
    page.wait_for_function(SVG_CHARTS, arg=TREND_CHARTS, timeout=TIMEOUT_MS)
    warm = time.perf_counter() - started
    print(f"\ndashboard load: first {cold:.2f} s, reload {warm:.2f} s (tiles and trend charts)")

    # The fixture has four months: the default range (the latest 12) covers all of them.
    _assert_tiles_match(_tiles(page), expected_kpis(fixture_data, Filters()))
    # The trend charts: a point per month and series, each month's value in its tooltip.
    charges = page.eval_on_selector(
        ".rcm-chart", "c => [...c.querySelectorAll('.rcm-point')].map(p => p.title)"
    )
    assert len(charges) == 2 * len(MONTHS)  # gross charges and payments
    for month in MONTHS:
        want = expected_kpis(fixture_data, Filters(start_month=month, end_month=month))
        label = f"Gross charges, {month:%Y-%m}: ${want['gross_charges']:,.2f}"
        assert label in charges, (label, charges)
    page.wait_for_timeout(1000)
    _assert_no_errors(page)
    path = _screenshot(page, "dashboard.png")
    assert path.stat().st_size > 50_000
    assert warm < 10, f"dashboard took {warm:.1f} s to show its tiles"

    for name, text, charts, grid in SECTIONS[1:]:
        _open_tab(page, name)
        page.wait_for_function(TAB_DRAWN, arg=[text, charts, grid], timeout=TIMEOUT_MS)
        # The tabs that are not open are not drawn.
        assert page.get_by_text("Charges and payments ($)").count() == 0, name
        _assert_no_errors(page)
    _assert_tiles_match(_tiles(page), expected_kpis(fixture_data, Filters()))
    _screenshot(page, "dashboard-alerts.png")


def test_hospital_filter_recomputes_the_tiles(
    page: Page, app_url: str, fixture_data: FixtureData
) -> None:
    page.goto(app_url)
    _wait_for_tiles(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.locator('[data-testid="stMultiSelect"]').first.click()
    page.get_by_role("option", name="Hospital B").click()
    page.keyboard.press("Escape")
    want = expected_kpis(fixture_data, Filters(hospitals=("hospital_b",)))
    shown = want["gross_charges"]
    assert shown is not None
    deadline = time.monotonic() + 20
    while _number(_tiles(page).get("Gross charges", "0")) != pytest.approx(shown, abs=0.51):
        assert time.monotonic() < deadline, f"tiles did not update: {_tiles(page)}"
        page.wait_for_timeout(200)
    _wait_for_tiles(page)
    page.wait_for_timeout(500)
    _assert_tiles_match(_tiles(page), want)
    _assert_no_errors(page)


def test_missing_warehouse_says_to_run_make_demo(
    browser: Browser, page: Page, missing_warehouse: Path, tmp_path: Path
) -> None:
    with serving(missing_warehouse, tmp_path / "streamlit.log") as url:
        page.goto(url)
        message = page.get_by_text("Warehouse not found.")
        message.wait_for(timeout=TIMEOUT_MS)
        body = page.locator('[data-testid="stMain"]').inner_text()
        assert "make demo" in body
        assert str(missing_warehouse) in body
        assert page.query_selector_all("[data-kpi]") == []
        assert page.query_selector_all('[data-testid="stException"]') == []
        _screenshot(page, "dashboard-missing.png")


def test_a_failed_last_build_is_a_warning_above_the_tiles(
    page: Page, warehouse: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "rcm.duckdb"
    shutil.copyfile(warehouse, copy)
    build_state.record_outcome(copy, "failed", ["not_null_int_claim_status_history"])
    with serving(copy, tmp_path / "streamlit.log") as url:
        page.goto(url)
        _wait_for_tiles(page)
        body = page.locator('[data-testid="stMain"]').inner_text()
        assert "The last warehouse build failed." in body
        assert "some figures may be out of date" in body
        # for finance readers: no node names, no file paths
        assert "not_null_int_claim_status_history" not in body and str(copy) not in body
        assert _tiles(page), "the figures are still shown"
        # the record is read on each load, not cached with the warehouse's figures
        build_state.record_outcome(copy, "ok")
        page.reload()
        _wait_for_tiles(page)
        assert "warehouse build" not in page.locator('[data-testid="stMain"]').inner_text()
        assert page.query_selector_all('[data-testid="stException"]') == []
