"""sqlfluff as the README gives it (`make sqlfluff`, `.venv/bin/sqlfluff fix PATH`) works in a
fresh clone, before any warehouse exists, and never opens the warehouse file.

The dbt templater compiled the project on the local target, which opened
warehouse/rcm.duckdb: the README's `sqlfluff fix PATH` stopped with a DuckDB traceback before
`make demo` had made the folder, and took the warehouse's write lock when it existed (failing
while the dashboard or a build held it).
"""

from __future__ import annotations

import os
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
