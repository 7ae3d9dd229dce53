"""A dimension row that arrives late still replaces the unknown member in the facts.

The facts re-read the rows of patients with a version processed since their last run. A
snapshot taken in a later dbt invocation than the patient's CDM row gives the version an older
processed_at, so the facts also re-read the rows that point at the unknown patient when
dim_patient now holds that patient (fct_transactions.sql, macros/marts/fct_claims.sql).
fct_transactions does the same for every dimension (a CPT code added to the code set), and
re-reads only those rows: not every row at an unknown member.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from rcm_dbt_e2e import Advanced, Pipeline, dbt_test

# a key made up for a row added by hand (real keys are md5-based 64-bit integers)
LATE_KEY = 42


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def run_on_copy(
    pipeline: Pipeline, tmp_path: Path, select: str, statement: str, *params: object
) -> Path:
    """Copy the advanced warehouse, change it with one statement (a dimension or code-set row
    that arrives late), `dbt run --select <select>` on the copy; the copy's path."""
    copy = tmp_path / "rcm.duckdb"
    shutil.copyfile(pipeline.warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(statement, list(params))
    result = dbt_test(copy, pipeline.lake, tmp_path / "target", select, "all", "run")
    assert result.returncode == 0, result.stdout[-3000:]
    return copy


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
        "where claim_facts.patient_key = -1 and line_facts.patient_key = -1 "
        "and claims.patient_id is not null "
        "order by 1, 2, 3 limit 1"
    )
    assert rows, "the test data has no claim and transaction of an unknown patient"
    ((patient_id, claim_id, transaction_id),) = rows
    # the patient's version, processed long before the facts' last run
    copy = run_on_copy(
        pipeline,
        tmp_path,
        "fct_transactions fct_claims",
        "insert into marts.dim_patient "
        "(patient_key, patient_id, valid_from, valid_to, is_current, processed_at) "
        "values (?, ?, timestamp '1900-01-01', timestamp '9999-12-31', true, "
        "timestamp '2000-01-01')",
        LATE_KEY,
        str(patient_id),
    )
    with duckdb.connect(str(copy), read_only=True) as con:
        (claim_key,) = con.execute(
            "select patient_key from marts.fct_claims where claim_id = ?", [claim_id]
        ).fetchone() or (None,)
        (line_key,) = con.execute(
            "select patient_key from marts.fct_transactions where transaction_id = ?",
            [transaction_id],
        ).fetchone() or (None,)
    assert (claim_key, line_key) == (LATE_KEY, LATE_KEY)


LATE_CODE_KEY = 43


def test_a_code_the_code_set_now_holds_is_read_again_and_only_its_rows(
    advanced: Advanced, pipeline: Pipeline, tmp_path: Path
) -> None:
    assert advanced.build.exit_code == 0
    unknown = pipeline.query(
        "select lines.procedure_code, count(*) "
        "from cdm.int_transactions_conformed as lines "
        "inner join marts.fct_transactions as line_facts "
        "on lines.transaction_id = line_facts.transaction_id "
        "where line_facts.cpt_code_key = -1 and lines.procedure_code is not null "
        "group by 1 order by 1"
    )
    assert len(unknown) >= 2, f"the test data needs two unknown CPT codes, has {unknown}"
    code = str(unknown[0][0])
    literal = sql_literal(code)
    expected = {
        str(row[0])
        for row in pipeline.query(
            "select transaction_id from cdm.int_transactions_conformed "
            f"where procedure_code = {literal}"
        )
    }
    # the code reaches the code set (dim_cpt_code) between two runs of the fact
    copy = run_on_copy(
        pipeline,
        tmp_path,
        "fct_transactions",
        "insert into marts.dim_cpt_code (cpt_code_key, cpt_code) values (?, ?)",
        LATE_CODE_KEY,
        code,
    )
    with duckdb.connect(str(copy), read_only=True) as con:
        rewritten = con.execute(
            "select transaction_id, cpt_code_key from marts.fct_transactions "
            "where processed_at = (select max(processed_at) from marts.fct_transactions)"
        ).fetchall()
        still_unknown = con.execute(
            "select count(*) from marts.fct_transactions where cpt_code_key = -1"
        ).fetchone()
    # the run re-read the rows of that code, all now at its key, and nothing else: the rows at
    # the other unknown codes (and every other row) are as the advanced build wrote them
    assert {str(row[0]) for row in rewritten} == expected
    assert {row[1] for row in rewritten} == {LATE_CODE_KEY}
    assert still_unknown is not None and int(str(still_unknown[0])) > 0


@pytest.mark.parametrize(
    ("model", "key", "flag", "code_column", "code_set", "code_set_column"),
    [
        ("int_transactions_unioned", "transaction_id", "has_known_cpt_code", "procedure_code",
         "stg_codesets__cpt_codes", "cpt_code"),
        ("int_transactions_unioned", "transaction_id", "has_known_icd_code", "icd_code",
         "stg_codesets__icd10cm_codes", "icd_code"),
        ("int_encounters_unioned", "encounter_id", "has_known_cpt_code", "procedure_code",
         "stg_codesets__cpt_codes", "cpt_code"),
    ],
)  # fmt: skip
def test_a_code_the_code_set_now_holds_clears_its_flag_upstream_and_only_there(
    advanced: Advanced,
    pipeline: Pipeline,
    tmp_path: Path,
    model: str,
    key: str,
    flag: str,
    code_column: str,
    code_set: str,
    code_set_column: str,
) -> None:
    """The unioned CDM models flag a row whose CPT or ICD code no code set holds. A run re-reads
    the flagged rows whose code the code set now holds, and no other flagged row."""
    assert advanced.build.exit_code == 0
    flagged = pipeline.query(
        f"select {code_column}, count(*) from cdm.{model} "
        f"where not {flag} and {code_column} is not null group by 1 order by 1"
    )
    assert len(flagged) >= 2, f"the test data needs two unknown codes in {model}, has {flagged}"
    code = str(flagged[0][0])
    literal = sql_literal(code)
    expected = {
        str(row[0])
        for row in pipeline.query(f"select {key} from cdm.{model} where {code_column} = {literal}")
    }
    # the next release of the code set adds the code
    copy = run_on_copy(
        pipeline,
        tmp_path,
        model,
        f"insert into staging.{code_set} ({code_set_column}) values (?)",
        code,
    )
    with duckdb.connect(str(copy), read_only=True) as con:
        rewritten = con.execute(
            f"select {key}, {flag} from cdm.{model} "
            f"where processed_at = (select max(processed_at) from cdm.{model})"
        ).fetchall()
        still_flagged = con.execute(
            f"select count(*) from cdm.{model} where not {flag} and {code_column} is not null"
        ).fetchone()
    assert {str(row[0]) for row in rewritten} == expected
    assert {row[1] for row in rewritten} == {True}
    assert still_flagged is not None and int(str(still_flagged[0])) > 0
