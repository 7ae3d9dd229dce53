"""The toy project on the other engines: offline compile for Databricks and Synapse, a real
`dbt build` on a local Spark session. Each needs its venv (`make venv-<engine>`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ingestion.portability import TARGET_DIALECT, check_target, write_spark_conf

from .conftest import CompileFn, add_broken_models, run_dbt

pytestmark = pytest.mark.engines

# What the dispatched toy_month_key macro must become on each target.
MONTH_KEY = {
    "databricks": "date_format(paid_on, 'yyyy-MM')",
    "synapse": "convert(char(7), paid_on, 126)",
}


@pytest.mark.parametrize("target", ["databricks", "synapse"])
def test_offline_compile_dispatches_and_passes_the_dialect_check(
    target: str, toy_project: Path, compile_offline: CompileFn
) -> None:
    started = time.monotonic()
    compiled = compile_offline(toy_project, target)
    # no connection attempt: an unreachable databricks host would retry for many minutes
    assert time.monotonic() - started < 60

    staging = (compiled / "compiled/toy/models/stg_toy__payments.sql").read_text()
    assert MONTH_KEY[target] in staging
    assert "strftime" not in staging
    if target == "databricks":  # the project's databricks__datediff/dateadd, not the adapter's
        assert "timestampdiff(day" in staging and "timestampadd(day, 30" in staging

    report = check_target(compiled, TARGET_DIALECT[target])
    assert report.findings == ()
    assert len(report.checked) == 11 and report.not_compiled == ()


@pytest.mark.parametrize("target", ["databricks", "synapse"])
def test_offline_compile_of_the_incremental_branch(
    target: str, toy_project: Path, compile_offline: CompileFn
) -> None:
    compiled = compile_offline(toy_project, target, incremental=True)
    sql = (compiled / "compiled/toy/models/toy_payments_incremental.sql").read_text()
    assert "max(paid_date)" in sql and "toy_payments_incremental" in sql
    assert check_target(compiled, TARGET_DIALECT[target]).passed()


@pytest.mark.parametrize("target", ["databricks", "synapse"])
def test_offline_compile_then_check_catches_a_duckdb_only_model(
    target: str, toy_project: Path, compile_offline: CompileFn
) -> None:
    add_broken_models(toy_project, "toy_broken_duckdb_only")
    compiled = compile_offline(toy_project, target)
    report = check_target(compiled, TARGET_DIALECT[target])
    assert report.failing_nodes() == ("model.toy.toy_broken_duckdb_only",)


def test_spark_session_build(tmp_path: Path, toy_project: Path) -> None:
    """`dbt build` (seed, view, table, incremental, tests) twice on local Spark: the second run
    takes the incremental branch (append: merge needs Delta, which is not installable here)."""
    spark_dir = tmp_path / "spark"
    env = {"SPARK_CONF_DIR": str(write_spark_conf(spark_dir)), "SPARK_SCHEMA": "toy"}
    args = ["--target", "spark", "--target-path", str(toy_project / "target" / "spark")]

    first = run_dbt("spark", toy_project, ["build", *args], extra_env=env, timeout=480)
    assert first.returncode == 0, first.stdout[-4000:]
    assert "PASS=12 WARN=0 ERROR=0" in first.stdout

    second = run_dbt(
        "spark",
        toy_project,
        ["run", "--select", "toy_payments_incremental", *args],
        extra_env=env,
        timeout=480,
    )
    assert second.returncode == 0, second.stdout[-4000:]
    compiled = toy_project / "target/spark/compiled/toy/models/toy_payments_incremental.sql"
    assert "max(paid_date)" in compiled.read_text()  # the incremental branch ran

    tables = {p.name for p in (spark_dir / "warehouse" / "toy.db").iterdir()}
    assert {"toy_payments", "toy_payments_by_month", "toy_payments_incremental"} <= tables
    assert list((spark_dir / "warehouse/toy.db/toy_payments_by_month").glob("*.parquet"))
