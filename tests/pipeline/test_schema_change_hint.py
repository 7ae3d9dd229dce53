"""An analyst adds a column to an incremental model: `rcm build`'s summary names the model
and the full refresh that rebuilds it and what reads it, and that refresh works.

A small real project (DuckDB file, dbt through ingestion.build, in a process of its own): an
incremental model with on_schema_change='fail', as the project's, and a table reading it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from ingestion.build import REPO_ROOT

RUNNER = """
import json, sys
from pathlib import Path
from ingestion.build import build_unless_up_to_date, format_summary
project = Path(sys.argv[1])
result = build_unless_up_to_date(
    project_dir=project, profiles_dir=project, target_path=project / "target",
    select=sys.argv[2:], full_refresh=bool(sys.argv[2:]),
)
print(format_summary(result))
print("RESULT " + json.dumps({"exit_code": result.exit_code}))
"""

INCREMENTAL = (
    "{{ config(materialized='incremental', on_schema_change='fail') }}\n"
    "select 1 as visit_id{extra}\n"
)


def _build(project: Path, *select: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "RCM_TARGET": "other",  # not the RCM warehouse: no build-state record
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(project), *select],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, done.stdout + done.stderr
    return int(json.loads(line.removeprefix("RESULT "))["exit_code"]), done.stdout


def test_a_column_added_to_an_incremental_model_names_the_full_refresh(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (tmp_path / "dbt_project.yml").write_text(
        "name: edited\nversion: '1.0'\nprofile: edited\nmodel-paths: [models]\n"
    )
    (tmp_path / "profiles.yml").write_text(
        textwrap.dedent(
            f"""\
            edited:
              target: local
              outputs:
                local:
                  type: duckdb
                  path: {tmp_path / "warehouse.duckdb"}
                  threads: 1
            """
        )
    )
    (models / "int_visits.sql").write_text(INCREMENTAL.replace("{extra}", ""))
    (models / "rpt_visits.sql").write_text(
        "{{ config(materialized='table') }}\nselect * from {{ ref('int_visits') }}\n"
    )
    assert _build(tmp_path)[0] == 0
    (models / "int_visits.sql").write_text(INCREMENTAL.replace("{extra}", ", 2024 as visit_year"))

    failed, out = _build(tmp_path)
    assert failed == 1, out
    fix = "rcm build --full-refresh --select int_visits+"
    assert "what to do: the table of incremental model int_visits has other columns" in out, out
    assert f"`{fix}`" in out, out
    # the command it gives rebuilds the model and its reader
    assert _build(tmp_path, "int_visits+")[0] == 0
    assert _build(tmp_path)[0] == 0
