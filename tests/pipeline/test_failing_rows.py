"""The rows `rcm build` shows under a failing or warning test: read again from a real DuckDB
file, never from a model that holds PHI, within a time budget."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from ingestion.failing_rows import MORE, FailedTest, failing_rows

PHI_MODEL = "model.rcm.int_patients_conformed"
PLAIN_MODEL = "model.rcm.stg_hospital_a__claims"
# a new mart whose YAML lists a PHI column by its name without tagging it
UNTAGGED_MODEL = "model.rcm.rpt_patient_list"


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "rcm.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema staging")
        connection.execute(
            "create table staging.claims as select 'CLM' || i as claim_id, "
            "case when i % 2 = 0 then 'Appealed' else 'paid' end as claim_status, "
            "cast(i * 1.5 as decimal(18, 2)) as paid_amount, null as note from range(8) t(i)"
        )
    return path


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "manifest.json"
    columns = {"first_name": {"meta": {"phi": True}}, "gender": {}}
    nodes = {
        PHI_MODEL: {"schema": "cdm", "columns": columns},
        # a provider's first name shares the name, in an internal layer: not PHI
        PLAIN_MODEL: {"schema": "staging", "columns": {"claim_id": {}, "first_name": {}}},
        UNTAGGED_MODEL: {
            "schema": "marts",
            "columns": {"patient_key": {}, "First_Name": {"description": "x"}},
        },
    }
    path.write_text(json.dumps({"nodes": nodes, "sources": {}}))
    return path


def test_rows_are_shown_as_columns_and_values_with_more_marked(
    warehouse: Path, manifest: Path
) -> None:
    tests = [
        # a singular test's last line may be a comment: the wrapper must not swallow it
        FailedTest(
            "test.a",
            "select claim_id, claim_status, paid_amount, note from staging.claims\n"
            "where claim_status = 'Appealed' order by claim_id -- unknown statuses",
            (PLAIN_MODEL,),
        ),
        FailedTest("test.b", "select * from staging.claims order by claim_id;", (PLAIN_MODEL,)),
    ]
    found = failing_rows(tests, warehouse, manifest)
    assert found["test.a"] == (
        "claim_id='CLM0', claim_status='Appealed', paid_amount=0.00, note=null",
        "claim_id='CLM2', claim_status='Appealed', paid_amount=3.00, note=null",
        "claim_id='CLM4', claim_status='Appealed', paid_amount=6.00, note=null",
        "claim_id='CLM6', claim_status='Appealed', paid_amount=9.00, note=null",
    )
    assert len(found["test.b"]) == 6 and found["test.b"][-1] == MORE


def test_a_test_of_a_model_with_phi_shows_no_rows(warehouse: Path, manifest: Path) -> None:
    query = "select claim_id from staging.claims"
    found = failing_rows([FailedTest("test.phi", query, (PHI_MODEL,))], warehouse, manifest)
    assert found == {"test.phi": ("(rows not shown: the test reads a model with PHI)",)}
    # a column named as a PHI column is PHI too, tagged or not
    found = failing_rows([FailedTest("test.named", query, (UNTAGGED_MODEL,))], warehouse, manifest)
    assert found == {"test.named": ("(rows not shown: the test reads a model with PHI)",)}
    # a manifest that cannot be read tells nothing about PHI: no rows at all
    missing = manifest.with_name("none.json")
    found = failing_rows([FailedTest("test.a", query, (PLAIN_MODEL,))], warehouse, missing)
    assert found == {"test.a": (f"(rows not shown: {missing} cannot be read)",)}


def test_a_query_that_fails_or_runs_out_of_time_says_so(warehouse: Path, manifest: Path) -> None:
    slow = "select count(*) as n from range(100000000000) as a(i) where i % 7 = 3"
    tests = [
        FailedTest("test.broken", "select missing_column from staging.claims", (PLAIN_MODEL,)),
        FailedTest("test.slow", slow, (PLAIN_MODEL,)),
        FailedTest("test.after", "select 1 as n", (PLAIN_MODEL,)),
    ]
    found = failing_rows(tests, warehouse, manifest, budget_seconds=0.5)
    (broken,) = found["test.broken"]
    assert broken.startswith("(its rows could not be read again:") and "missing_column" in broken
    (slow_message,) = found["test.slow"]
    assert slow_message == "(not read again: the 0.5 s allowed for these rows ran out)"
    assert "test.after" not in found  # the budget was spent
