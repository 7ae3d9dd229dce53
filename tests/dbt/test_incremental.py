"""Incremental builds are correct: after `rcm generate --advance-to`, ingest and an incremental
`rcm build`, every table equals what a full rebuild makes of the same lake and snapshots.

The full rebuild runs `rcm build --full-refresh` on a copy of the warehouse taken after the
incremental build, so both hold the same snapshots (SCD2 history that a fresh warehouse could
not rebuild) and differ only in how the other models were computed. `processed_at` (the run
that wrote a row) is the one column allowed to differ.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from rcm_dbt_e2e import Advanced, Pipeline

COMPARED_SCHEMAS = ("staging", "cdm", "quarantine", "marts", "restricted")
RUN_COLUMNS = ("processed_at",)


def table_differences(left: Path, right: Path) -> dict[str, tuple[int, int]]:
    """Tables of the compared schemas whose rows differ between two warehouses: name ->
    (rows only in left, rows only in right), as multisets, ignoring RUN_COLUMNS."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{left}' as lhs (read_only)")
        con.execute(f"attach '{right}' as rhs (read_only)")
        schemas = ", ".join(f"'{s}'" for s in COMPARED_SCHEMAS)
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            f"where database_name = 'lhs' and schema_name in ({schemas}) order by 1, 2"
        ).fetchall()
        assert tables, f"no tables in {COMPARED_SCHEMAS} of {left}"
        differences: dict[str, tuple[int, int]] = {}
        for schema, table in tables:
            columns = [
                name
                for (name,) in con.execute(
                    "select column_name from duckdb_columns() where database_name = 'lhs' "
                    "and schema_name = ? and table_name = ? order by column_index",
                    [schema, table],
                ).fetchall()
                if name not in RUN_COLUMNS
            ]
            listed = ", ".join(f'"{c}"' for c in columns)
            only: list[int] = []
            for a, b in (("lhs", "rhs"), ("rhs", "lhs")):
                row = con.execute(
                    f"select count(*) from (select {listed} from {a}.{schema}.{table} "
                    f"except all select {listed} from {b}.{schema}.{table})"
                ).fetchone()
                only.append(int(row[0]) if row else 0)
            if any(only):
                differences[f"{schema}.{table}"] = (only[0], only[1])
        return differences
    finally:
        con.close()


@pytest.fixture(scope="module")
def full_rebuild(
    advanced: Advanced, pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A copy of the incrementally built warehouse, rebuilt with --full-refresh."""
    assert advanced.build.exit_code == 0
    root = tmp_path_factory.mktemp("full_rebuild")
    copy = root / "rcm.duckdb"
    shutil.copyfile(pipeline.warehouse, copy)
    env = dict(os.environ, RCM_WAREHOUSE_PATH=str(copy), RCM_LAKE_DIR=str(pipeline.lake))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ingestion.cli",
            "build",
            "--full-refresh",
            "--target-path",
            str(root / "target"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"full-refresh build failed:\n{result.stdout[-3000:]}"
    return copy


def incremental_models(pipeline: Pipeline) -> set[str]:
    manifest = json.loads((pipeline.target / "manifest.json").read_text())
    return {
        f"{node['schema']}.{node['alias']}"
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] == "incremental"
    }


def test_the_claims_transactions_and_encounters_chains_are_incremental(
    pipeline: Pipeline,
) -> None:
    expected = {
        "staging.stg_hospital_a__claims",
        "staging.stg_hospital_a__encounters",
        "staging.stg_hospital_b__encounters",
        "cdm.int_encounters_unioned",
        "cdm.int_encounters_conformed",
        "staging.stg_hospital_b__transactions",
        "cdm.int_claim_versions_unioned",
        "cdm.int_claims_conformed",
        "cdm.int_claim_status_history",
        "cdm.int_transactions_unioned",
        "cdm.int_transactions_conformed",
        "marts.fct_claims",
        "marts.fct_transactions",
    }
    assert expected <= incremental_models(pipeline)


def test_incremental_build_rewrote_only_what_changed(
    advanced: Advanced, pipeline: Pipeline
) -> None:
    """The second build kept the first build's rows of unchanged keys (two processed_at values)
    and rewrote fewer rows than the tables hold."""
    for table in sorted(incremental_models(pipeline)):
        runs = pipeline.query(
            f"select processed_at, count(*) from {table} group by processed_at order by 1"
        )
        assert len(runs) == 2, f"{table}: rows of {len(runs)} runs, expected both builds'"
        first, second = runs[0][1], runs[1][1]
        assert int(str(second)) < int(str(first)), f"{table} rewrote most of its rows: {runs}"


def test_incremental_build_equals_a_full_rebuild(
    advanced: Advanced, pipeline: Pipeline, full_rebuild: Path
) -> None:
    differences = table_differences(pipeline.warehouse, full_rebuild)
    assert not differences, (
        f"incremental and full rebuild differ (only in incr., only in full): {differences}"
    )


def test_the_comparison_sees_a_missing_row(
    pipeline: Pipeline, full_rebuild: Path, tmp_path: Path
) -> None:
    """The comparison is not blind: a copy with one fact row removed differs."""
    tampered = tmp_path / "tampered.duckdb"
    shutil.copyfile(full_rebuild, tampered)
    with duckdb.connect(str(tampered)) as con:
        con.execute(
            "delete from marts.fct_claims "
            "where claim_key = (select min(claim_key) from marts.fct_claims)"
        )
    assert table_differences(pipeline.warehouse, tampered) == {"marts.fct_claims": (1, 0)}
