"""The singular test assert_kpi_days_to_payment_by_department_match_fct_claims counts a paid
claim without a claim date as kpi_days_to_payment_by_payer does: in the month of its
submission date (int_claim_kpi_outcomes: the claim date, else the first date a version of the
claim was known), with its days from that date to the first payment.

On a copy of the built warehouse, one paid claim loses its claim date in fct_claims (and the
days to payment that fct_claims derives from it), while the mart and int_claim_kpi_outcomes
keep counting it from its submission date: the test must pass. Moving that submission date
(and so the month the test expects) to another month must make it fail: the claim is still
checked.
"""

from __future__ import annotations

from pathlib import Path

from rcm_dbt_e2e import Pipeline, dbt_test_on_copy

TEST = "assert_kpi_days_to_payment_by_department_match_fct_claims"


def paid_claim(pipeline: Pipeline) -> int:
    """A paid claim's key."""
    rows = pipeline.query(
        "select claim_key from marts.int_claim_kpi_outcomes "
        "where is_paid order by claim_key limit 1"
    )
    assert rows, "the built warehouse has no paid claim"
    return int(str(rows[0][0]))


def run_on_copy(pipeline: Pipeline, folder: Path, *statements: str) -> str:
    """Run `statements` on a copy of the built warehouse, then the test on it; dbt's output."""
    return dbt_test_on_copy(pipeline, folder, TEST, *statements).stdout


def without_claim_date(key: int) -> str:
    return (
        "update marts.fct_claims set claim_date = null, days_to_payment = null "
        f"where claim_key = {key}"
    )


def test_a_paid_claim_without_claim_date_counts_from_its_submission_date(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    assert pipeline.build.exit_code == 0
    key = paid_claim(pipeline)
    out = run_on_copy(pipeline, tmp_path / "no_claim_date", without_claim_date(key))
    assert "PASS=1" in out, out[-3000:]


def test_it_still_checks_that_claims_month(pipeline: Pipeline, tmp_path: Path) -> None:
    key = paid_claim(pipeline)
    out = run_on_copy(
        pipeline,
        tmp_path / "moved",
        without_claim_date(key),
        "update marts.int_claim_kpi_outcomes "
        f"set submission_date = submission_date - interval 40 day where claim_key = {key}",
    )
    assert f"Failure in test {TEST}" in out, out[-3000:]
