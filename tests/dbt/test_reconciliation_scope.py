"""The Bronze reconciliation test (dbt_project/tests/staging/assert_bronze_rows_in_staging_or_
superseded.sql) checks the loads that `rcm build` names in RCM_RECONCILE_LOADS, or all of them.

On a copy of the advanced warehouse, one transaction that only the advance's load carries is
deleted from staging (a row that staging "lost"). The test, run by dbt on that copy, must fail
when it checks that load or all loads, and pass when it checks only an earlier load. On
another copy, an older version of a claim that the advance's load touches is deleted: staging
rewrites every version of such a claim, so checking the new load alone must catch it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from rcm_dbt_e2e import Advanced, Pipeline, dbt_test

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
    return dbt_test(warehouse, lake, target, TEST, scope)


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


@pytest.mark.parametrize("scope", ["newest", "first,newest", "all"])
def test_checking_the_load_that_lost_a_row_or_every_load_it_fails(
    scope: str, tampered: tuple[Path, str, str], pipeline: Pipeline, tmp_path: Path
) -> None:
    copy, newest, first = tampered
    loads = {"newest": newest, "first,newest": f"{first},{newest}", "all": "all"}[scope]
    result = run_test(copy, pipeline.lake, tmp_path / "target", loads)
    assert result.returncode != 0, result.stdout[-2000:]
    assert f"Failure in test {TEST}" in result.stdout


def test_scoped_to_an_earlier_load_it_passes(
    tampered: tuple[Path, str, str], pipeline: Pipeline, tmp_path: Path
) -> None:
    copy, _, first = tampered
    # the scope's first and last ids ("none-such-load" sorts after every timestamped id) bound
    # a range that holds the newest load: the range only narrows the scan, the list decides
    result = run_test(copy, pipeline.lake, tmp_path / "target", f"{first},none-such-load")
    assert result.returncode == 0, result.stdout[-2000:]
    assert "PASS=1" in result.stdout


@pytest.fixture(scope="module")
def claim_version_lost(
    advanced: Advanced, pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """A warehouse copy missing an older staged version of a claim that the newest claims load
    of hospital A touches; that load's id."""
    assert advanced.build.exit_code == 0
    files = pipeline.lake / "bronze" / "hospital_a" / "claims" / "*" / "*.parquet"
    with duckdb.connect() as con:
        row = con.execute(
            f"""
            with bronze as (
                select _load_id, _ingested_at, trim(ClaimID) as claim_id,
                    try_cast(trim(ModifiedDate) as timestamp) as modified_at
                from read_parquet('{files}')
                where trim(ClaimID) not in ('', 'null')
            ),
            newest as (select _load_id from bronze order by _ingested_at desc limit 1),
            touched as (
                select claim_id, modified_at from bronze
                where _load_id = (select _load_id from newest)
            )
            select claim_id, modified_at, (select _load_id from newest)
            from bronze
            where claim_id in (select claim_id from touched)
                and modified_at is not null
                and (claim_id, modified_at) not in (select (claim_id, modified_at) from touched)
            order by claim_id, modified_at
            limit 1
            """
        ).fetchone()
    assert row is not None, "the newest claims load touches no claim with an older version"
    claim_id, modified_at, newest = row
    copy = tmp_path_factory.mktemp("reconcile_claims") / "rcm.duckdb"
    shutil.copyfile(pipeline.warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        deleted = con.execute(
            "delete from staging.stg_hospital_a__claims where claim_id = ? and modified_at = ?",
            [claim_id, modified_at],
        ).fetchall()
    assert deleted[0][0] >= 1
    return copy, str(newest)


def test_an_older_version_of_a_touched_claim_is_checked(
    claim_version_lost: tuple[Path, str], pipeline: Pipeline, tmp_path: Path
) -> None:
    copy, newest = claim_version_lost
    result = run_test(copy, pipeline.lake, tmp_path / "target", newest)
    assert result.returncode != 0, result.stdout[-2000:]
    assert f"Failure in test {TEST}" in result.stdout
