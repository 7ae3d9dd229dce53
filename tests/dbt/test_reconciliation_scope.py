"""The Bronze reconciliation test (dbt_project/tests/staging/assert_bronze_rows_in_staging_or_
superseded.sql) checks the loads that `rcm build` names in RCM_RECONCILE_LOADS, or all of them.

On a copy of the advanced warehouse, one transaction that only the advance's load carries is
deleted from staging (a row that staging "lost"). The test, run by dbt on that copy, must fail
when it checks that load or all loads, and pass when it checks only an earlier load.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from rcm_dbt_e2e import Advanced, Pipeline

from ingestion.build import REPO_ROOT

TEST = "assert_bronze_rows_in_staging_or_superseded"


def bronze_loads(pipeline: Pipeline) -> list[tuple[str, set[str]]]:
    """Hospital A's transaction loads, oldest first, with the ids each carries."""
    files = pipeline.lake / "bronze" / "hospital_a" / "transactions" / "*" / "*.parquet"
    with duckdb.connect() as con:
        rows = con.execute(
            f"select _load_id, list(distinct trim(TransactionID)) from read_parquet('{files}') "
            "group by _load_id order by min(_ingested_at)"
        ).fetchall()
    return [(str(load_id), set(ids)) for load_id, ids in rows]


def run_test(
    warehouse: Path, lake: Path, target: Path, scope: str
) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        RCM_WAREHOUSE_PATH=str(warehouse),
        RCM_LAKE_DIR=str(lake),
        RCM_RECONCILE_LOADS=scope,
    )
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "test",
            "--project-dir",
            str(REPO_ROOT),
            "--profiles-dir",
            str(REPO_ROOT / "profiles"),
            "--target-path",
            str(target),
            "--select",
            TEST,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def tampered(
    advanced: Advanced, pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str, str]:
    """A warehouse copy missing one staged transaction of the newest load; that load's id and
    the first load's id."""
    assert advanced.build.exit_code == 0
    loads = bronze_loads(pipeline)
    assert len(loads) >= 2, f"expected the first and the advance's loads: {loads}"
    (first, first_ids), (newest, newest_ids) = loads[0], loads[-1]
    only_newest = sorted(newest_ids - first_ids - {""})
    assert only_newest, "the advance added no transaction"
    copy = tmp_path_factory.mktemp("reconcile") / "rcm.duckdb"
    shutil.copyfile(pipeline.warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        deleted = con.execute(
            "delete from staging.stg_hospital_a__transactions where transaction_id = ?",
            [only_newest[0]],
        ).fetchall()
    assert deleted[0][0] >= 1
    return copy, newest, first


def test_scoped_to_the_load_that_lost_a_row_it_fails(
    tampered: tuple[Path, str, str], pipeline: Pipeline, tmp_path: Path
) -> None:
    copy, newest, _ = tampered
    result = run_test(copy, pipeline.lake, tmp_path / "target", newest)
    assert result.returncode != 0, result.stdout[-2000:]
    assert f"Failure in test {TEST}" in result.stdout


def test_checking_every_load_it_fails(
    tampered: tuple[Path, str, str], pipeline: Pipeline, tmp_path: Path
) -> None:
    copy, _, _ = tampered
    result = run_test(copy, pipeline.lake, tmp_path / "target", "all")
    assert result.returncode != 0, result.stdout[-2000:]


def test_scoped_to_an_earlier_load_it_passes(
    tampered: tuple[Path, str, str], pipeline: Pipeline, tmp_path: Path
) -> None:
    copy, _, first = tampered
    result = run_test(copy, pipeline.lake, tmp_path / "target", f"{first},none-such-load")
    assert result.returncode == 0, result.stdout[-2000:]
    assert "PASS=1" in result.stdout
