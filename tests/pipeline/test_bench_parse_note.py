"""The bench notes a build whose dbt parsed the whole project (ingestion/bench.py).

A full parse costs seconds that a build reusing dbt's saved manifest does not pay, so the
bench table says which builds paid it. The log lines come from real `dbt parse` runs of this
project: a new target folder (no saved manifest), the same folder again (partial parse), then
another warehouse file (a changed profile).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ingestion.bench import full_parse_note
from ingestion.build import REPO_ROOT


def dbt_parse(target: Path, warehouse: Path) -> str:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "parse",
            "--project-dir",
            str(REPO_ROOT),
            "--profiles-dir",
            str(REPO_ROOT / "profiles"),
            "--target-path",
            str(target),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=dict(
            os.environ,
            RCM_WAREHOUSE_PATH=str(warehouse),
            DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        ),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_a_full_parse_is_noted_with_dbt_s_reason(tmp_path: Path) -> None:
    target, warehouse = tmp_path / "target", tmp_path / "rcm.duckdb"
    assert full_parse_note(dbt_parse(target, warehouse)) == (
        "full dbt parse: saved manifest not found"
    )
    assert full_parse_note(dbt_parse(target, warehouse)) == ""
    # the warehouse path is part of the profile
    changed = dbt_parse(target, tmp_path / "elsewhere.duckdb")
    assert full_parse_note(changed) == "full dbt parse: profile has changed", changed[-2000:]


def test_a_log_without_dbt_s_line_has_no_note() -> None:
    assert full_parse_note("rcm build: the warehouse is up to date\n") == ""
