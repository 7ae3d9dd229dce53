"""Daily builds test the rows they wrote (dbt_project/macros/tests/changed_rows.sql).

When `rcm build` checks only new Bronze loads (RCM_RECONCILE_LOADS names loads), row tests
and key-uniqueness tests of incremental models read the rows of the model's latest run, and
for uniqueness every row that shares a key with one of them. Each case below tampers with a
copy of the advanced warehouse (whose last build was incremental, so fct_transactions holds
rows of earlier runs and of the latest one) and runs the test with dbt, scoped and not.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from rcm_dbt_e2e import Advanced, Pipeline, dbt_test

FCT = "marts.fct_transactions"
LATEST = f"processed_at = (select max(processed_at) from {FCT})"
UNIQUE = "unique_fct_transactions_transaction_key"
NOT_NULL = "not_null_fct_transactions"
RELATIONSHIP = "relationships_fct_transactions"
AR = "marts.fct_ar_snapshots"
# the month end and claim uniqueness test of the A/R snapshots, with latest_run_only
AR_UNIQUE = "unique_combination_of_columns_fct_ar_snapshots_month_end_date__claim_key__True"


def run_test(
    warehouse: Path, pipeline: Pipeline, target: Path, test: str, *, scoped: bool
) -> subprocess.CompletedProcess[str]:
    # a load id stands for "only new loads": the scope a daily `rcm build` runs with
    return dbt_test(warehouse, pipeline.lake, target, test, "some-new-load" if scoped else "all")


@pytest.fixture(scope="module")
def tamper(
    advanced: Advanced, pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Path]:
    """A function that copies the advanced warehouse and runs one SQL statement on the copy."""
    assert advanced.build.exit_code == 0
    ((older, latest),) = pipeline.query(
        f"select count(*) filter (where not ({LATEST})), count(*) filter (where {LATEST}) "
        f"from {FCT}"
    )
    assert older and latest, f"expected rows of earlier runs and of the latest: {older}, {latest}"

    def copy_with(statement: str) -> Path:
        copy = tmp_path_factory.mktemp("changed_rows") / "rcm.duckdb"
        shutil.copyfile(pipeline.warehouse, copy)
        with duckdb.connect(str(copy)) as con:
            changed = con.execute(statement).fetchall()
        assert changed[0][0] == 1, statement
        return copy

    return copy_with


def duplicate_of(run: str) -> str:
    """Insert a copy of one row of the latest run or of an earlier one, dated earlier."""
    where = LATEST if run == "latest" else f"not ({LATEST})"
    return (
        f"insert into {FCT} select * replace "
        f"(processed_at - interval 1 day as processed_at) "
        f"from {FCT} where {where} order by transaction_key limit 1"
    )


def set_on_one_row(run: str, assignment: str) -> str:
    where = LATEST if run == "latest" else f"not ({LATEST})"
    return (
        f"update {FCT} set {assignment} where transaction_key = "
        f"(select min(transaction_key) from {FCT} where {where})"
    )


def duplicate_of_an_earlier_ar_row() -> str:
    """A second copy of one A/R snapshot row that the latest run did not write."""
    return (
        f"insert into {AR} select * from {AR} "
        f"where processed_at < (select max(processed_at) from {AR}) "
        "order by month_end_date, claim_key limit 1"
    )


def failed(result: subprocess.CompletedProcess[str], test: str) -> bool:
    assert "ERROR=0" in result.stdout or "Failure in test" in result.stdout, result.stdout[-3000:]
    return result.returncode != 0 and f"Failure in test {test}" in result.stdout


@pytest.mark.parametrize(
    ("test", "tampering"),
    [
        (UNIQUE, duplicate_of("earlier")),
        (NOT_NULL, set_on_one_row("earlier", "charge_amount = null")),
        # latest_run_only scopes a uniqueness test in the same builds only: a build after a
        # failed one must still find a duplicate that a later run's rows no longer point at
        (AR_UNIQUE, duplicate_of_an_earlier_ar_row()),
    ],
    ids=["duplicate", "null", "duplicate-latest-run-only"],
)
def test_a_defect_in_a_row_no_run_rewrote_is_left_to_full_checks(
    test: str, tampering: str, tamper: Callable[[str], Path], pipeline: Pipeline, tmp_path: Path
) -> None:
    copy = tamper(tampering)
    assert failed(run_test(copy, pipeline, tmp_path / "all", test, scoped=False), test)
    assert not failed(run_test(copy, pipeline, tmp_path / "scoped", test, scoped=True), test)


@pytest.mark.parametrize(
    ("test", "tampering"),
    [
        # the copy is dated before the latest run: only its key ties it to that run
        (UNIQUE, duplicate_of("latest")),
        (NOT_NULL, set_on_one_row("latest", "charge_amount = null")),
        # relationships are never scoped: a parent can go away under a row that stays
        (RELATIONSHIP, set_on_one_row("earlier", "patient_key = 7")),
        # on DuckDB the test is a `not in` the parent's keys (macros/tests/generic_tests.sql):
        # a null among them must not hide the orphan
        (
            RELATIONSHIP,
            "insert into marts.dim_patient (patient_key) values (null); "
            + set_on_one_row("earlier", "patient_key = 7"),
        ),
    ],
    ids=[
        "duplicate-of-latest",
        "null-in-latest",
        "dangling-key-in-earlier",
        "dangling-key-beside-a-null-parent-key",
    ],
)
def test_scoped_checks_still_catch(
    test: str, tampering: str, tamper: Callable[[str], Path], pipeline: Pipeline, tmp_path: Path
) -> None:
    copy = tamper(tampering)
    assert failed(run_test(copy, pipeline, tmp_path / "scoped", test, scoped=True), test)
