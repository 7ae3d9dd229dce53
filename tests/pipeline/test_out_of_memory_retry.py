"""`rcm build` runs the nodes again one at a time when DuckDB runs out of memory.

Two heavy queries that run side by side can each fit DuckDB's memory_limit alone and not
together. Such an error cannot be made to happen on cue at a test's size, so the models here
raise DuckDB's own "Out of Memory Error" text with DuckDB's error() function (simulated:
said so here) while dbt runs them with more than one thread; everything else is real: a
DuckDB file, dbt build and dbt retry through ingestion.build, in a process of their own.
The same small projects check that a compaction that fails after the build does not fail it,
and the level of dbt's log file.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from ingestion import build_state
from tests.pipeline.small_project import run

OOM = "Out of Memory Error: failed to allocate data of size 4.0 KiB (simulated)"

RUNNER = """
import json, sys
from pathlib import Path
from ingestion.build import build_unless_up_to_date, format_summary
project = Path(sys.argv[1])
result = build_unless_up_to_date(
    project_dir=project, profiles_dir=project, target_path=project / "target"
)
print(format_summary(result))
print("RESULT " + json.dumps({
    "exit_code": result.exit_code,
    "retried": list(result.retried),
    "status": {node.name: node.status for node in result.nodes},
}))
"""


def _project(root: Path, models: dict[str, str]) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        "name: oom_retry\nversion: '1.0'\nprofile: oom_retry\nmodel-paths: [models]\n"
        "models:\n  oom_retry:\n    +materialized: table\n"
    )
    (root / "profiles.yml").write_text(
        textwrap.dedent(
            f"""\
            oom_retry:
              target: local
              outputs:
                local:
                  type: duckdb
                  path: {root / "warehouse.duckdb"}
                  threads: 2
            """
        )
    )
    for name, sql in models.items():
        (root / "models" / f"{name}.sql").write_text(sql)
    return root


def _build(project: Path, **settings: str) -> tuple[dict[str, object], str]:
    return run(RUNNER, project, settings=settings)


def _fails_with_threads(message: str, above: int) -> str:
    return (
        f"{{% if target.threads > {above} %}}select error('{message}') as x"
        "{% else %}select 1 as x{% endif %}\n"
    )


def test_out_of_memory_nodes_and_their_children_run_again_one_at_a_time(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        {
            "heavy": _fails_with_threads(OOM, 1),
            "child": "select x + 1 as y from {{ ref('heavy') }}\n",
            "light": "select 2 as z\n",
        },
    )
    result, out = _build(project)
    assert result["exit_code"] == 0, out
    assert sorted(result["retried"]) == ["child", "heavy"]  # type: ignore[arg-type]
    assert result["status"] == {"heavy": "success", "child": "success", "light": "success"}
    assert "running the failed and skipped nodes again one at a time" in out
    assert "retried    2 node(s) one at a time" in out


def test_out_of_memory_at_one_thread_fails_with_what_to_do(tmp_path: Path) -> None:
    project = _project(tmp_path, {"heavy": _fails_with_threads(OOM, 0)})
    result, out = _build(project)
    assert result["exit_code"] == 1
    assert result["retried"] == ["heavy"]
    assert "RCM_DUCKDB_MEMORY_LIMIT" in out


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    project = _project(tmp_path, {"broken": _fails_with_threads("Conversion Error: no", 0)})
    result, out = _build(project)
    assert result["exit_code"] == 1
    assert result["retried"] == []
    assert "one at a time" not in out


def test_a_compaction_that_fails_leaves_a_passed_build_passed(tmp_path: Path) -> None:
    # After a successful build on the local target, `rcm build` compacts the warehouse file
    # (ingestion/compaction.py). Here that file is one DuckDB cannot open: the build still
    # passes, and says what it did not do.
    project = _project(tmp_path, {"light": "select 2 as z\n"})
    not_duckdb = tmp_path / "not-a-warehouse.duckdb"
    not_duckdb.write_text("this is not a DuckDB file\n")
    result, out = _build(
        project,
        RCM_TARGET="local",
        RCM_WAREHOUSE_PATH=str(not_duckdb),
        RCM_LAKE_DIR=str(tmp_path / "lake"),
    )
    assert result["exit_code"] == 0, out
    assert f"did not compact the warehouse {not_duckdb}" in out
    assert "result: OK" in out


def test_dbt_file_log_is_info_unless_the_environment_asks_for_more(tmp_path: Path) -> None:
    # `rcm build` keeps logs/dbt.log to dbt's info lines (its debug default formats every
    # statement of every node); DBT_LOG_LEVEL_FILE, dbt's own setting, still wins.
    model = "select 2 as z\n"
    quiet = _project(tmp_path / "quiet", {"light": model})
    result, out = _build(quiet)
    assert result["exit_code"] == 0, out
    log = (quiet / "logs" / "dbt.log").read_text()
    assert "OK created sql table model" in log
    assert "[debug]" not in log

    verbose = _project(tmp_path / "verbose", {"light": model})
    result, out = _build(verbose, DBT_LOG_LEVEL_FILE="debug")
    assert result["exit_code"] == 0, out
    log = (verbose / "logs" / "dbt.log").read_text()
    assert "[debug]" in log
    assert "create  table" in log or "create table" in log


def test_a_failed_build_is_recorded_for_the_warehouse_s_readers(tmp_path: Path) -> None:
    # what `rcm alerts` and the dashboard read (build_state.last_outcome): a real failing build,
    # then the same project fixed
    project = _project(tmp_path, {"broken": _fails_with_threads("Conversion Error: no", 0)})
    warehouse = tmp_path / "rcm.duckdb"
    local = {"RCM_TARGET": "local", "RCM_WAREHOUSE_PATH": str(warehouse)}
    result, out = _build(project, **local)
    assert result["exit_code"] == 1, out
    outcome = build_state.last_outcome(warehouse)
    assert outcome is not None and outcome.state == "failed", out
    assert outcome.failed == ("broken",)
    (project / "models" / "broken.sql").write_text("select 1 as x\n")
    result, out = _build(project, **local)
    assert result["exit_code"] == 0, out
    fixed = build_state.last_outcome(warehouse)
    assert fixed is not None and fixed.state == "ok" and fixed.failed == ()


def test_a_traceback_goes_to_dbt_s_log_file_not_the_console(tmp_path: Path) -> None:
    # An error not of dbt's own kind (here DuckDB refusing a setting of the profile as the
    # warehouse opens): dbt printed its traceback, some 30 lines, above rcm's summary.
    project = _project(tmp_path, {"light": "select 2 as z\n"})
    profile = project / "profiles.yml"
    profile.write_text(profile.read_text() + "      settings:\n        memory_limit: 'abc'\n")
    result, out = _build(project)
    assert result["exit_code"] == 1, out
    assert "dbt error: Parser Error: Memory must have a number" in out
    assert "Traceback" not in out
    assert f"its traceback: {project / 'logs' / 'dbt.log'}" in out
    assert "Traceback (most recent call last)" in (project / "logs" / "dbt.log").read_text()

    # no log file to hold it: the console keeps it
    result, out = _build(project, DBT_LOG_LEVEL_FILE="none")
    assert result["exit_code"] == 1, out
    assert "Traceback (most recent call last)" in out
    assert "its traceback" not in out
