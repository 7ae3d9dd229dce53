"""The bench notes a build whose dbt parsed the whole project (ingestion/bench.py).

A full parse costs seconds that a build reusing dbt's saved manifest does not pay, so the
bench table says which builds paid it. The log lines come from real `dbt parse` runs of this
project: a new target folder (no saved manifest), the same folder again (partial parse), then
another warehouse file (a changed profile).
"""

from __future__ import annotations

from pathlib import Path

from rcm_dbt_e2e import dbt_test

from ingestion.bench import full_parse_note


def dbt_parse(target: Path, warehouse: Path) -> str:
    result = dbt_test(warehouse, target.parent / "lake", target, None, "all", "parse")
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
