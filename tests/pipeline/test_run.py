"""`rcm run` end to end: generate, ingest and build in a temp folder, then the headline KPIs;
a rerun with nothing new skips the build, a changed Bronze file makes `rcm build` run again,
and a build rewrites a table most of whose stored rows are deleted (ingestion/compaction.py).

The printed days in A/R is checked against a value computed here from the additive
components of `marts.kpi_monthly` with the definition (A/R at month end / average daily
charges of the prior 3 months), not against the summary model that printed it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb


def test_rcm_run_builds_the_warehouse_and_prints_headline_kpis(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse" / "rcm.duckdb"
    env = dict(
        os.environ,
        RCM_LAKE_DIR=str(tmp_path / "lake"),
        RCM_WAREHOUSE_PATH=str(warehouse),
        DBT_TARGET_PATH=str(tmp_path / "target"),
        DBT_LOG_PATH=str(tmp_path / "logs"),
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ingestion.cli",
            "run",
            "--sources",
            str(tmp_path / "sources"),
            "--scale",
            "0.005",
            "--no-docs",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for stage in ("generate", "ingest", "build"):
        assert re.search(rf"^{stage}\s+\d", out, re.M), f"no {stage} row in the summary"
    assert "make dashboard" in out

    match = re.search(r"headline KPIs, (\w+ \d{4})", out)
    assert match, out[-2000:]
    printed = re.search(r"days in A/R \(charge-based\)\s+([\d.]+)", out)
    assert printed, out[-2000:]

    with duckdb.connect(str(warehouse), read_only=True) as con:
        month, ar, charges, days = con.execute(
            "select month_start_date, sum(ar_open_balance_amount),"
            " sum(charges_prior_3m_amount), max(days_prior_3m)"
            " from marts.kpi_monthly group by month_start_date"
            " order by month_start_date desc limit 1"
        ).fetchone()
    assert f"{month:%B %Y}" == match.group(1)
    expected = float(ar) / (float(charges) / float(days))
    assert abs(float(printed.group(1)) - expected) < 0.05 + 1e-9

    # a second run keeps the sources, loads nothing new and still succeeds
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "ingestion.cli",
            "run",
            "--sources",
            str(tmp_path / "sources"),
            "--no-docs",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "sources already in" in again.stdout
    assert "0 rows written" in again.stdout
    # ... and no Bronze file changed, so the build is skipped as up to date
    assert "is up to date" in again.stdout, again.stdout[-3000:]
    assert "dbt build summary" not in again.stdout

    def build(*extra: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "ingestion.cli", "build", *extra],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    # a table with many deleted rows, as daily builds leave them without DuckDB's vacuum
    with duckdb.connect(str(warehouse)) as con:
        con.execute("set max_vacuum_tasks = 0")
        con.execute("create schema scratch")
        con.execute("create table scratch.fragmented as select range as id from range(300000)")
        con.execute("checkpoint")
        con.execute("delete from scratch.fragmented where id % 5 < 3")
        con.execute("checkpoint")

    # a Bronze file rewritten (a re-published load) makes the next build run dbt
    part = next((tmp_path / "lake" / "bronze").rglob("*.parquet"))
    stat = part.stat()
    os.utime(part, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    rebuilt = build()
    assert "dbt build summary" in rebuilt
    # the build rewrote the fragmented table, and recorded the warehouse as the rewrite left it
    assert "compacted  scratch.fragmented (180,000 deleted of 300,000 stored rows" in rebuilt
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stored, live = con.execute(
            "select estimated_size, (select count(*) from scratch.fragmented)"
            " from duckdb_tables() where schema_name = 'scratch'"
        ).fetchone()
    assert stored == live == 120_000
    assert "is up to date" in build()
