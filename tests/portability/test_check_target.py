"""check_target() and the CLI on the toy project compiled by real dbt (DuckDB, main .venv)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingestion.portability import TargetError, check_target, main

from .conftest import CompileFn, add_broken_models


def test_clean_toy_project_passes_as_duckdb(toy_project: Path, compile_offline: CompileFn) -> None:
    target = compile_offline(toy_project, "local")
    report = check_target(target, "duckdb")
    assert report.findings == ()
    assert report.not_compiled == ()
    # 3 models + 7 generic tests + 1 singular test, every one of them checked
    assert len(report.checked) == 11
    assert report.passed()


def test_duckdb_only_model_fails_on_the_other_engines(
    toy_project: Path, compile_offline: CompileFn
) -> None:
    add_broken_models(toy_project, "toy_broken_duckdb_only")
    target = compile_offline(toy_project, "local")
    broken = "model.toy.toy_broken_duckdb_only"

    assert check_target(target, "duckdb").passed()  # it is valid DuckDB

    tsql = check_target(target, "tsql")
    assert broken in tsql.failing_nodes()
    assert {"limit", "double_colon_cast", "strftime", "list_aggregate"} <= {
        f.rule for f in tsql.findings if f.unique_id == broken
    }
    spark = {f.rule for f in check_target(target, "spark").findings if f.unique_id == broken}
    assert {"double_colon_cast", "strftime", "list_aggregate"} <= spark
    assert "limit" not in spark  # Spark has LIMIT
    databricks = {
        f.rule for f in check_target(target, "databricks").findings if f.unique_id == broken
    }
    assert databricks == {"strftime", "list_aggregate"}  # Databricks has `::` and LIMIT


def test_tsql_only_model_fails_on_duckdb_and_spark(
    toy_project: Path, compile_offline: CompileFn
) -> None:
    add_broken_models(toy_project, "toy_broken_tsql_only")
    target = compile_offline(toy_project, "local")
    broken = "model.toy.toy_broken_tsql_only"
    assert check_target(target, "duckdb").failing_nodes() == (broken,)
    for dialect in ("duckdb", "spark", "databricks"):
        kinds = {f.kind for f in check_target(target, dialect).findings if f.unique_id == broken}
        assert "parse" in kinds, dialect  # `select top 10`
    # compiled for DuckDB, the dispatched month key is strftime(): wrong for Spark, as it should be
    assert "model.toy.stg_toy__payments" in check_target(target, "spark").failing_nodes()


def test_cli_exit_codes_and_report(
    toy_project: Path, compile_offline: CompileFn, capsys: pytest.CaptureFixture[str]
) -> None:
    add_broken_models(toy_project, "toy_broken_duckdb_only")
    target = compile_offline(toy_project, "local")

    assert main(["--target-dir", str(target), "--dialect", "duckdb"]) == 0
    assert main(["--target-dir", str(target), "--dialect", "synapse"]) == 1
    out = capsys.readouterr().out
    assert "checking" in out and "as tsql SQL" in out
    assert "FAIL models/toy_broken_duckdb_only.sql (compiled line" in out
    assert "[function:strftime]" in out
    # the DuckDB-compiled month key (strftime) in stg_toy__payments fails as T-SQL too
    assert "12 nodes checked, 2 failing" in out


def test_missing_or_partial_compile_is_not_a_pass(
    tmp_path: Path, toy_project: Path, compile_offline: CompileFn
) -> None:
    assert main(["--target-dir", str(tmp_path), "--dialect", "spark"]) == 2
    with pytest.raises(TargetError, match=r"manifest\.json"):
        check_target(tmp_path, "spark")

    target = compile_offline(toy_project, "local")
    manifest_path = target / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["nodes"]["model.toy.toy_payments_by_month"]["compiled_code"] = None
    manifest_path.write_text(json.dumps(manifest))
    report = check_target(target, "duckdb")
    assert report.not_compiled == ("model.toy.toy_payments_by_month",)
    assert not report.passed()
    assert report.passed(allow_partial=True)
    assert main(["--target-dir", str(target), "--dialect", "duckdb"]) == 1
    assert main(["--target-dir", str(target), "--dialect", "duckdb", "--allow-partial"]) == 0


def test_incremental_branch_compiles_offline(toy_project: Path, compile_offline: CompileFn) -> None:
    full = compile_offline(toy_project, "local", name="full")
    incremental = compile_offline(toy_project, "local", incremental=True, name="incremental")
    rel = Path("compiled/toy/models/toy_payments_incremental.sql")
    assert "max(paid_date)" not in (full / rel).read_text()
    assert "max(paid_date)" in (incremental / rel).read_text()
    assert check_target(incremental, "duckdb").passed()
