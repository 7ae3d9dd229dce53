"""`rcm profile` (ingestion/profile.py): EXPLAIN ANALYZE of the slowest models of a build.

The first test profiles a real build of three of the project's models (on a copy of the session
pipeline's warehouse); the others write a small DuckDB file and a run_results.json of their
own to check the order, the plan files and the failure paths.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from rcm_dbt_e2e import Pipeline

from ingestion.build import run_build


def rcm_profile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingestion.cli", "profile", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_slowest_models_of_a_real_build_are_profiled(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a build of three of the project's models on a copy of the session's warehouse, with its
    # own target folder (the session's holds whatever dbt command ran last there)
    warehouse = tmp_path / "rcm.duckdb"
    shutil.copyfile(pipeline.warehouse, warehouse)
    monkeypatch.setenv("RCM_WAREHOUSE_PATH", str(warehouse))
    build = run_build(
        select=["int_claim_status_history", "fct_claims", "fct_ar_snapshots"],
        target_path=tmp_path / "target",
    )
    assert build.exit_code == 0, build.failures
    run_results = tmp_path / "target" / "run_results.json"
    results = json.loads(run_results.read_text())["results"]
    models = [r for r in results if r["unique_id"].startswith("model.") and r["compiled_code"]]
    expected = [
        r["unique_id"].rsplit(".", 1)[-1]
        for r in sorted(models, key=lambda r: r["execution_time"], reverse=True)
    ]
    assert len(expected) == 3, expected

    result = rcm_profile(
        "--run-results", str(run_results), "--warehouse", str(warehouse),
        "--top", "3", "--out", str(tmp_path / "plans"),
    )  # fmt: skip

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    headers = [line for line in result.stdout.splitlines() if " s in the build, " in line]
    assert [line.split(" ", 1)[0] for line in headers] == expected
    assert "TABLE_SCAN" in result.stdout
    for name in expected:
        plan = json.loads((tmp_path / "plans" / f"{name}.json").read_text())
        assert plan["operator"], name


def _tiny_build(tmp_path: Path, selects: dict[str, tuple[float, str]]) -> tuple[Path, Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    warehouse = tmp_path / "tiny.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "create table claims as select range as claim_id, range % 5 as payer from range(50000)"
        )
    results = [
        {"unique_id": f"model.rcm.{name}", "execution_time": seconds, "compiled_code": sql,
         "relation_name": f'"tiny"."main"."{name}"'}
        for name, (seconds, sql) in selects.items()
    ]  # fmt: skip
    # a test node has compiled SQL too, but is not a model
    results.append({"unique_id": "test.rcm.slow_test", "execution_time": 99.0,
                    "compiled_code": "select 1"})  # fmt: skip
    run_results = tmp_path / "run_results.json"
    run_results.write_text(json.dumps({"results": results}))
    return run_results, warehouse


def test_models_are_taken_slowest_first_and_a_failing_select_is_reported(tmp_path: Path) -> None:
    run_results, warehouse = _tiny_build(
        tmp_path,
        {
            "quick": (0.5, "select payer, count(*) as n from claims group by payer"),
            "slow": (3.0, "select c.claim_id, d.payer from claims c join claims d using(claim_id)"),
            "broken": (2.0, "select * from no_such_table"),
        },
    )
    result = rcm_profile("--run-results", str(run_results), "--warehouse", str(warehouse))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    headers = [line.split(" ", 1)[0] for line in lines if " in the build, " in line]
    assert headers == ["slow", "broken", "quick"]
    assert "HASH_JOIN" in result.stdout and "HASH_GROUP_BY" in result.stdout
    assert "could not run its select: Catalog Error" in result.stdout
    assert "1 select(s) did not run: broken" in result.stderr
    assert "slow_test" not in result.stdout


def test_a_missing_or_malformed_run_results_says_which_file_and_what_to_do(tmp_path: Path) -> None:
    _, warehouse = _tiny_build(tmp_path, {})
    missing = tmp_path / "nowhere" / "run_results.json"
    result = rcm_profile("--run-results", str(missing), "--warehouse", str(warehouse))
    assert result.returncode == 1
    assert f"{missing}: no such file; run `rcm build` first" in result.stderr

    malformed = tmp_path / "bad.json"
    malformed.write_text("{not json")
    result = rcm_profile("--run-results", str(malformed), "--warehouse", str(warehouse))
    assert result.returncode == 1
    assert f"{malformed}: not a dbt run_results.json" in result.stderr

    docs = tmp_path / "docs_run_results.json"  # what `rcm docs` leaves in target/
    docs.write_text(json.dumps({"args": {"which": "generate"}, "results": []}))
    result = rcm_profile("--run-results", str(docs), "--warehouse", str(warehouse))
    assert result.returncode == 1
    assert f"{docs}: the results of `dbt docs generate`, not of a build" in result.stderr

    only_tests = tmp_path / "run_results.json"  # written by _tiny_build: no model in it
    result = rcm_profile("--run-results", str(only_tests), "--warehouse", str(warehouse))
    assert result.returncode == 1
    assert f"{only_tests}: no model with compiled SQL to profile" in result.stderr

    run_results, _ = _tiny_build(tmp_path / "with_model", {"quick": (0.5, "select 1")})
    no_warehouse = tmp_path / "none.duckdb"
    result = rcm_profile("--run-results", str(run_results), "--warehouse", str(no_warehouse))
    assert result.returncode == 1
    assert f"{no_warehouse}: no such warehouse" in result.stderr


@pytest.mark.parametrize("argument", [["--top", "0"], ["--top", "-1"], ["--operators", "x"]])
def test_counts_below_one_are_refused(argument: list[str]) -> None:
    # --top -1 used to profile every model and --top 0 to say no model had compiled SQL
    done = subprocess.run(
        [sys.executable, "-m", "ingestion.cli", "profile", *argument],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert f"argument {argument[0]}:" in done.stderr
