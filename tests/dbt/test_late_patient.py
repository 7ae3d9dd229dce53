"""A patient that reaches dim_patient late still replaces the unknown member in the facts.

The facts re-read the rows of patients with a version processed since their last run. A
snapshot taken in a later dbt invocation than the patient's CDM row gives the version an older
processed_at, so the facts also re-read the rows that point at the unknown patient when
dim_patient now holds that patient (fct_transactions.sql, macros/marts/fct_claims.sql).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from rcm_dbt_e2e import Advanced, Pipeline, dbt_test

LATE_KEY = "late-patient-version"


def test_an_unknown_patient_that_dim_patient_now_holds_is_read_again(
    advanced: Advanced, pipeline: Pipeline, tmp_path: Path
) -> None:
    assert advanced.build.exit_code == 0
    # a patient missing from dim_patient (quarantined) with a claim and a transaction
    rows = pipeline.query(
        "select claims.patient_id, claims.claim_id, lines.transaction_id "
        "from cdm.int_claims_conformed as claims "
        "inner join marts.fct_claims as claim_facts on claims.claim_id = claim_facts.claim_id "
        "inner join cdm.int_transactions_conformed as lines "
        "on lines.patient_id = claims.patient_id "
        "inner join marts.fct_transactions as line_facts "
        "on lines.transaction_id = line_facts.transaction_id "
        "where claim_facts.patient_key = '-1' and line_facts.patient_key = '-1' "
        "and claims.patient_id is not null "
        "order by 1, 2, 3 limit 1"
    )
    assert rows, "the test data has no claim and transaction of an unknown patient"
    ((patient_id, claim_id, transaction_id),) = rows
    copy = tmp_path / "rcm.duckdb"
    shutil.copyfile(pipeline.warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        # the patient's version, processed long before the facts' last run
        con.execute(
            "insert into marts.dim_patient "
            "(patient_key, patient_id, valid_from, valid_to, is_current, processed_at) "
            "values (?, ?, timestamp '1900-01-01', timestamp '9999-12-31', true, "
            "timestamp '2000-01-01')",
            [LATE_KEY, patient_id],
        )
    result = dbt_test(
        copy, pipeline.lake, tmp_path / "target", "fct_transactions fct_claims", "all", "run"
    )
    assert result.returncode == 0, result.stdout[-3000:]
    with duckdb.connect(str(copy), read_only=True) as con:
        (claim_key,) = con.execute(
            "select patient_key from marts.fct_claims where claim_id = ?", [claim_id]
        ).fetchone() or (None,)
        (line_key,) = con.execute(
            "select patient_key from marts.fct_transactions where transaction_id = ?",
            [transaction_id],
        ).fetchone() or (None,)
    assert (claim_key, line_key) == (LATE_KEY, LATE_KEY)
