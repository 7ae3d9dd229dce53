"""sqlfluff as the README gives it (`make sqlfluff`, `.venv/bin/sqlfluff fix PATH`) works in a
fresh clone, before any warehouse exists, and never opens the warehouse file.

The dbt templater compiled the project on the local target, which opened
warehouse/rcm.duckdb: the README's `sqlfluff fix PATH` stopped with a DuckDB traceback before
`make demo` had made the folder, and took the warehouse's write lock when it existed (failing
while the dashboard or a build held it). It also wrote dbt's partial-parse state for the lint
target into target/, over the build's, so the next `rcm build` parsed the whole project again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ingestion.build import REPO_ROOT


def test_sqlfluff_lints_a_model_without_opening_the_warehouse(tmp_path: Path) -> None:
    # the warehouse the local target names, in a folder that does not exist
    warehouse = tmp_path / "never_built" / "rcm.duckdb"
    env = dict(os.environ, RCM_WAREHOUSE_PATH=str(warehouse))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "sqlfluff"), "lint",
         "dbt_project/models/marts/finance/kpi_denials_by_reason.sql"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "All Finished" in done.stdout + done.stderr
    assert not warehouse.parent.exists()


def test_sqlfluff_keeps_its_parse_state_out_of_the_builds_target(tmp_path: Path) -> None:
    # dbt's partial-parse state for the lint target went to target/, in place of the build's:
    # the next `rcm build` parsed the whole project again. In a copy of the project, so that
    # the checkout's own target/ is left as it is.
    project = tmp_path / "project"
    for name in ("dbt_project", "profiles"):
        shutil.copytree(REPO_ROOT / name, project / name)
    for name in ("dbt_project.yml", ".sqlfluff", ".sqlfluffignore"):
        shutil.copy(REPO_ROOT / name, project / name)
    env = {key: value for key, value in os.environ.items() if key != "DBT_TARGET_PATH"}
    env["RCM_WAREHOUSE_PATH"] = str(tmp_path / "never_built" / "rcm.duckdb")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "sqlfluff"), "lint",
         "dbt_project/models/marts/finance/kpi_denials_by_reason.sql"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (project / "target" / "lint" / "partial_parse.msgpack").is_file()
    assert sorted(path.name for path in (project / "target").iterdir()) == ["lint"]
