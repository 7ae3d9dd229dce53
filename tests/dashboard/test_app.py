"""The dashboard page run in-process by Streamlit's AppTest over fixture warehouses: what the
page says, without a browser (the browser test, test_app_browser.py, checks the drawing)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import queries
from ingestion import build_state
from tests.dashboard.warehouse_fixture import MONTHS, FixtureData, month_end, write_warehouse

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    """The page caches queries per warehouse file and version, process-wide."""
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def open_page(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, section: str | None = None
) -> AppTest:
    monkeypatch.setenv(queries.WAREHOUSE_ENV, str(warehouse))
    page = AppTest.from_file(APP, default_timeout=60)
    page.run()
    if section is not None:
        page.session_state["section"] = section
        page.run()
    assert not page.exception, [e.value for e in page.exception]
    return page


def test_alert_counts_cover_every_alert_not_only_the_listed_ones(
    tmp_path: Path, fixture_data: FixtureData, monkeypatch: pytest.MonkeyPatch
) -> None:
    # more alerts than the table lists (200, the most severe first): the counts are of them all
    data = copy.deepcopy(fixture_data)
    severities = ["high"] * 150 + ["medium"] * 120 + ["low"] * 30
    data.tables["alerts"] = [
        {
            "alert_id": f"a-{number:04d}",
            "alert_type": "claim_unpaid_over_90_days",
            "severity": severity,
            "source_system": "hospital_a" if number % 3 else "hospital_b",
            "subject": f"Claim {number}",
            "detail": "Unpaid for 104 days",
            "amount": 100.0 + number,
            "as_of_date": dt.date(2024, 4, 30),
        }
        for number, severity in enumerate(severities)
    ]
    warehouse = write_warehouse(tmp_path / "rcm.duckdb", data)
    page = open_page(warehouse, monkeypatch, section="Alerts")
    want = Counter(severities)
    caption = next(c.value for c in page.caption if "rcm alerts --post" in c.value)
    assert f"{want['high']} high · {want['medium']} medium · {want['low']} low" in caption
    assert f"{len(severities)} open; the 200 most severe are listed" in caption


def test_an_alert_type_filter_reaches_the_alerts_behind_the_first_200(
    tmp_path: Path, fixture_data: FixtureData, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the demo: 392 high claim-level alerts fill the table; its two medium "A/R over 90 days
    # above threshold" alerts could not be seen on the dashboard
    data = copy.deepcopy(fixture_data)
    claims = [
        {
            "alert_id": f"c-{number:04d}",
            "alert_type": "claim_unpaid_over_90_days",
            "severity": "high",
            "source_system": "hospital_a",
            "subject": f"Claim {number}",
            "detail": "Unpaid for 104 days",
            "amount": 100.0 + number,
            "as_of_date": dt.date(2024, 4, 30),
        }
        for number in range(250)
    ]
    ar = [
        {
            "alert_id": f"ar-{hospital}",
            "alert_type": "ar_over_90_above_threshold",
            "severity": "medium",
            "source_system": hospital,
            "subject": f"A/R over 90 days at 31 % ({hospital})",
            "detail": "Above the 20 % threshold",
            "amount": 45_000.0,
            "as_of_date": dt.date(2024, 4, 30),
        }
        for hospital in ("hospital_a", "hospital_b")
    ]
    data.tables["alerts"] = claims + ar
    warehouse = write_warehouse(tmp_path / "rcm.duckdb", data)
    page = open_page(warehouse, monkeypatch, section="Alerts")
    listed = page.dataframe[0].value
    assert len(listed) == 200 and set(listed["severity"]) == {"high"}
    kinds = [m for m in page.multiselect if m.label == "Alert type"]
    assert kinds, "no way to list the alerts behind the first 200"
    kinds[0].set_value(["ar_over_90_above_threshold"])
    page.run()
    assert not page.exception
    listed = page.dataframe[0].value
    assert sorted(listed["subject"]) == sorted(a["subject"] for a in ar)
    caption = next(c.value for c in page.caption if "rcm alerts --post" in c.value)
    assert "0 high · 2 medium · 0 low (2 open)" in caption


@contextmanager
def build_holding_the_write_lock(warehouse: Path) -> Iterator[None]:
    """Another process with the warehouse open read-write, as `rcm build` has it."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('locked', "
            "flush=True); time.sleep(120)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("section", [None, "Alerts"])
def test_a_build_starting_after_the_page_loaded_is_a_message_not_a_traceback(
    tmp_path: Path,
    warehouse: Path,
    monkeypatch: pytest.MonkeyPatch,
    section: str | None,
) -> None:
    # the status (ready) is cached per file version, and a build locks the file before it
    # changes its modification time: a new filter or tab then meets the lock
    copy_ = tmp_path / "rcm.duckdb"
    shutil.copyfile(warehouse, copy_)
    page = open_page(copy_, monkeypatch)
    if section is not None:  # the tiles of the filter are cached, the tab is not
        page.sidebar.multiselect[0].set_value(["hospital_b"])
        page.run()
    with build_holding_the_write_lock(copy_):
        if section is None:
            page.sidebar.multiselect[0].set_value(["hospital_b"])
        else:
            page.session_state["section"] = section
        page.run()
    assert not page.exception, [e.value for e in page.exception][:1]
    errors = [e.value for e in page.error]
    assert any("wait for it to finish and reload" in e for e in errors), errors


def test_the_page_reads_the_warehouse_again_once_the_lock_is_released(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a writer that changed nothing (a build that stopped early, a DuckDB shell or ODBC client
    # opened read-write) leaves the file's modification time as it was: "wait and reload"
    # must then work
    copy_ = tmp_path / "rcm.duckdb"
    shutil.copyfile(warehouse, copy_)
    monkeypatch.setenv(queries.WAREHOUSE_ENV, str(copy_))
    page = AppTest.from_file(APP, default_timeout=60)
    with build_holding_the_write_lock(copy_):
        page.run()
        assert any("wait for it to finish and reload" in e.value for e in page.error)
    page.run()
    assert not page.exception and not page.error, [e.value for e in page.error]
    assert any("rcm-tiles" in h.proto.body for h in page.get("html"))


@pytest.mark.parametrize("section", ["Denials", "A/R aging and payment"])
def test_the_department_filter_applies_to_the_other_tabs(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, section: str
) -> None:
    # their marts have one row per department: no caption may say the filter does not apply
    page = open_page(warehouse, monkeypatch)
    page.sidebar.multiselect[2].set_value(["Cardiology"])
    page.session_state["section"] = section
    page.run()
    assert not page.exception
    captions = [c.value for c in page.caption]
    assert not [c for c in captions if "department filter does not apply" in c], captions


def test_the_denials_table_shows_the_chosen_departments_denials(
    warehouse: Path, fixture_data: FixtureData, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the tiles count Oncology's denials; the denials tab must count the same department's
    page = open_page(warehouse, monkeypatch)
    page.sidebar.multiselect[2].set_value(["Oncology"])
    page.session_state["section"] = "Denials"
    page.run()
    assert not page.exception
    months = {r["month_start_date"] for r in fixture_data.rows("kpi_monthly")}
    latest_12 = sorted(months)[-12:]  # the default month range
    want: dict[str, int] = {}
    for r in fixture_data.rows("kpi_denials_by_reason"):
        if r["department_name"] == "Oncology" and r["month_start_date"] in latest_12:
            reason = r["denial_reason_code"]
            want[reason] = want.get(reason, 0) + r["denied_claims"]
    (table,) = [d.value for d in page.dataframe]
    got = dict(zip(table["denial_reason_code"], table["denied_claims"], strict=True))
    assert got == want


def test_the_page_says_what_date_the_figures_are_as_of(
    warehouse: Path, fixture_data: FixtureData, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the sidebar's "built" time is when the file was written, not the date of the data
    (row,) = fixture_data.rows("int_reporting_as_of")
    page = open_page(warehouse, monkeypatch)
    captions = [c.value for c in page.caption]
    assert any(f"as of **{row['as_of_date']:%d %b %Y}**" in c for c in captions), captions


def test_the_page_says_why_the_tiles_show_no_change(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the default range takes every month of the fixture (the demo: 12 of 15), so there is no
    # preceding period of the same length: no tile shows a change, and the page says why
    page = open_page(warehouse, monkeypatch)
    assert 'class="rcm-delta' not in next(
        h.proto.body for h in page.get("html") if "rcm-tiles" in h.proto.body
    )
    assert any("No change is shown" in c.value for c in page.caption)
    # two months of four: the preceding two are there, and each tile shows its change
    page.sidebar.select_slider[0].set_value((MONTHS[2], MONTHS[3]))
    page.run()
    assert not any("No change is shown" in c.value for c in page.caption)


def _tile_delta(page: AppTest, key: str) -> str | None:
    body = next(h.proto.body for h in page.get("html") if "rcm-tiles" in h.proto.body)
    tile = body.split(f'data-kpi="{key}"', 1)[1].split('class="rcm-tile"', 1)[0]
    match = re.search(r'class="rcm-delta[^"]*"[^>]*>([^<]*)<', tile)
    return None if match is None else match.group(1)


def test_the_change_is_against_the_calendar_months_before_a_month_missing_in_the_data(
    tmp_path: Path, fixture_data: FixtureData, monkeypatch: pytest.MonkeyPatch
) -> None:
    # February has no row: counting the months present, March - April had no two months
    # before it (no change shown), and March alone was compared with January
    data = copy.deepcopy(fixture_data)
    january, february, march, april = MONTHS
    data.tables["kpi_monthly"] = [
        r for r in data.rows("kpi_monthly") if r["month_start_date"] != february
    ]
    page = open_page(write_warehouse(tmp_path / "rcm.duckdb", data), monkeypatch)

    def charges(months: set[dt.date]) -> float:
        return sum(
            r["gross_charges_amount"]
            for r in data.rows("kpi_monthly")
            if r["month_start_date"] in months
        )

    page.sidebar.select_slider[0].set_value((march, april))
    page.run()
    assert not page.exception
    # against January and February, whose charges are January's
    current, prior = charges({march, april}), charges({january, february})
    change = round((current - prior) / prior * 100, 1)
    shown = _tile_delta(page, "gross_charges")
    assert shown is not None and shown.endswith(f"{change:+.1f} %"), shown
    assert not any("No change is shown" in c.value for c in page.caption)

    # March alone: against February, which has no data, so no change (not one against January)
    page.sidebar.select_slider[0].set_value((march, march))
    page.run()
    assert not page.exception
    assert _tile_delta(page, "gross_charges") is None
    captions = [c.value for c in page.caption]
    assert any("Feb 2024 - Feb 2024, has no data" in c for c in captions), captions


def test_an_upgrade_of_the_query_code_is_not_served_the_old_code_s_cached_results(
    tmp_path: Path,
    warehouse: Path,
    fixture_data: FixtureData,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Streamlit keys a cached function on its own source and arguments: where a file watcher
    # reloads an upgraded dashboard/queries.py, the page kept the old code's results (the
    # warehouse file, the other part of the key, had not changed)
    code = tmp_path / "queries.py"
    code.write_text("# the query code before the upgrade\n")
    monkeypatch.setattr(queries, "CODE_FILES", (code,))
    page = open_page(warehouse, monkeypatch)
    rows = fixture_data.rows("kpi_monthly")
    charges = sum(r["gross_charges_amount"] for r in rows)  # the default range: every month
    assert _tile_value(page, "gross_charges") == f"${charges:,.2f}"

    # the upgrade: a query that returns other figures (here: twice the charges)
    monthly_components = queries.monthly_components

    def upgraded(path: Path, filters: queries.Filters) -> pd.DataFrame:
        frame = monthly_components(path, filters)
        return frame.assign(gross_charges_amount=frame["gross_charges_amount"] * 2)

    monkeypatch.setattr(queries, "monthly_components", upgraded)
    code.write_text("# the query code after the upgrade\n")
    page.run()
    assert not page.exception
    assert _tile_value(page, "gross_charges") == f"${2 * charges:,.2f}"


def _tile_value(page: AppTest, key: str) -> str:
    body = next(h.proto.body for h in page.get("html") if "rcm-tiles" in h.proto.body)
    tile = body.split(f'data-kpi="{key}"', 1)[1]
    match = re.search(r'class="rcm-value">([^<]*)<', tile)
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize("section", ["A/R aging and payment", "Denials"])
def test_payer_legends_wrap_instead_of_losing_payers(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, section: str
) -> None:
    # one row of the demo's eight payer names is wider than the chart: the last payers' colours
    # were cut off (UnitedHealthcare and Self-pay had no label on the A/R aging chart)
    page = open_page(warehouse, monkeypatch, section=section)
    specs = [json.loads(chart.proto.spec) for chart in page.get("vega_lite_chart")]
    legends = [s["encoding"]["color"]["legend"] for s in specs if "color" in s["encoding"]]
    assert legends, "a chart coloured by payer"
    for legend in legends:
        assert 1 <= legend.get("columns", 0) <= 4, legend
    # and the taller legend leaves every bar its name (Vega drops every other label that
    # comes close to the next: on the demo, three of the seven denial reasons went unnamed)
    for spec in specs:
        category = spec["encoding"]["y" if spec["encoding"]["x"].get("aggregate") else "x"]
        assert category["axis"].get("labelOverlap") is False, category


def test_a_running_build_that_locks_the_warehouse_says_to_wait_not_to_run_make_demo(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rcm build records "running", then holds DuckDB's write lock for most of the build
    copy_ = tmp_path / "rcm.duckdb"
    shutil.copyfile(warehouse, copy_)
    build_state.record_outcome(copy_, "running")
    monkeypatch.setenv(queries.WAREHOUSE_ENV, str(copy_))
    page = AppTest.from_file(APP, default_timeout=60)
    with build_holding_the_write_lock(copy_):
        page.run()
    assert not page.exception
    shown = [i.value for i in page.info]
    assert any("A warehouse build is in progress" in i for i in shown), shown
    assert not page.error, "not an error: the build is doing its job"
    assert not [c for c in page.code if "make demo" in c.value], "a second build would fail"


def test_a_selection_without_rows_says_so_instead_of_zero_tiles(
    tmp_path: Path, fixture_data: FixtureData, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a hospital and a department it does not have showed Gross charges $0.00 and Visits 0
    assert not [
        r
        for r in fixture_data.rows("kpi_monthly")
        if (r["source_system"], r["department_name"]) == ("hospital_b", "Oncology")
    ]
    path = write_warehouse(tmp_path / "rcm.duckdb", fixture_data)
    page = open_page(path, monkeypatch)
    page.sidebar.multiselect[0].set_value(["hospital_b"])
    page.sidebar.multiselect[2].set_value(["Oncology"])
    page.run()
    assert not page.exception, [e.value for e in page.exception]
    infos = [i.value for i in page.info]
    assert any(i.startswith("No figures for this selection in these months") for i in infos)
    assert not [h for h in page.get("html") if "rcm-tile" in str(h.proto)]


def test_empty_marts_after_a_failed_build_say_the_build_failed(
    tmp_path: Path, fixture_data: FixtureData, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the empty-warehouse page said only "run make demo", though the last build had failed
    path = write_warehouse(tmp_path / "rcm.duckdb", fixture_data, empty=True)
    build_state.record_outcome(path, "failed", ["model.rcm.kpi_monthly"])
    monkeypatch.setenv(queries.WAREHOUSE_ENV, str(path))
    page = AppTest.from_file(APP, default_timeout=60)
    page.run()
    assert not page.exception
    headline, _ = build_state.reader_notice(path) or ("", "")
    assert headline and any(headline in w.value for w in page.warning), [
        w.value for w in page.warning
    ]


@pytest.mark.parametrize("section", ["A/R aging and payment", "Top providers and departments"])
def test_money_chart_tooltips_show_cents(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, section: str
) -> None:
    # finance compares a bar's tooltip with the warehouse to the cent; the axis may round
    page = open_page(warehouse, monkeypatch, section=section)
    specs = [json.loads(chart.proto.spec) for chart in page.get("vega_lite_chart")]
    values = [
        (spec["encoding"]["x" if "aggregate" in spec["encoding"]["x"] else "y"], spec)
        for spec in specs
    ]
    money = [
        spec["encoding"]["tooltip"][-1] for axis, spec in values if "$" in axis["axis"]["format"]
    ]
    assert money, "a chart of amounts"
    for tooltip in money:
        assert tooltip["format"].startswith("$") and tooltip["format"].endswith(".2f"), tooltip


def test_the_built_time_says_its_time_zone(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a server in New York wrote the file at 22:13 UTC; the sidebar showed "2023-11-14 17:13"
    # with no zone, which a reader elsewhere cannot place
    copy = tmp_path / warehouse.name
    shutil.copy2(warehouse, copy)
    written = dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    os.utime(copy, (written.timestamp(), written.timestamp()))
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        page = open_page(copy, monkeypatch)
    finally:
        monkeypatch.undo()
        time.tzset()
    captions = [c.value for c in page.sidebar.caption]
    assert any("built 2023-11-14 22:13 UTC" in c for c in captions), captions


def test_a_department_without_open_ar_at_the_range_end_says_so(
    tmp_path: Path, fixture_data: FixtureData, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Oncology has no open A/R at the range's last month end: the tab says so for that month
    # end instead of drawing the month before's aging as if it were current
    last = month_end(MONTHS[-1])
    data = copy.deepcopy(fixture_data)
    data.tables["kpi_ar_aging"] = [
        r
        for r in data.rows("kpi_ar_aging")
        if not (r["department_name"] == "Oncology" and r["month_end_date"] == last)
    ]
    path = write_warehouse(tmp_path / "rcm.duckdb", data)
    page = open_page(path, monkeypatch, "A/R aging and payment")
    page.sidebar.multiselect[2].set_value(["Oncology"])
    page.run()
    assert not page.exception, [e.value for e in page.exception]
    infos = [i.value for i in page.info]
    assert f"No open A/R at {last:%d %b %Y} for this selection." in infos, infos
    assert not [c.value for c in page.caption if "Open balance by days outstanding" in c.value]
    # Cardiology has open A/R in that month: its aging is drawn, at the as-of date, at which
    # the month's snapshot is taken (the month had not ended)
    page.sidebar.multiselect[2].set_value(["Cardiology"])
    page.run()
    captions = [c.value for c in page.caption]
    (as_of,) = [r["as_of_date"] for r in data.rows("int_reporting_as_of")]
    assert as_of < last
    assert (
        f"Open balance by days outstanding, at {as_of:%d %b %Y} (the as-of date: the month "
        "has not ended)." in captions
    ), captions


@pytest.mark.parametrize("section", ["A/R aging and payment", "Denials"])
def test_marts_built_before_they_had_a_department_say_to_run_rcm_build(
    tmp_path: Path, fixture_data: FixtureData, monkeypatch: pytest.MonkeyPatch, section: str
) -> None:
    # a warehouse not rebuilt since the marts gained a department: choosing a department
    # is a message to rebuild, not a traceback
    path = write_warehouse(tmp_path / "rcm.duckdb", fixture_data)
    with duckdb.connect(str(path)) as con:
        for table in ("kpi_ar_aging", "kpi_denials_by_reason", "kpi_days_to_payment_by_payer"):
            for column in ("department_name", "department_key"):
                con.execute(f"alter table marts.{table} drop column {column}")
    page = open_page(path, monkeypatch, section)
    page.sidebar.multiselect[2].set_value(["Cardiology"])
    page.run()
    assert not page.exception, [e.value for e in page.exception]
    assert not page.error, [e.value for e in page.error]  # was "Warehouse unreadable"
    infos = [i.value for i in page.info if "rcm build" in i.value]
    assert len(infos) == (2 if section == "A/R aging and payment" else 1), infos
