"""Nearly-distinct text columns stored without compression on DuckDB (config
`uncompressed_columns`, macro dbt_project/macros/engines/uncompressed_columns.sql).

The built warehouse is read with DuckDB's `pragma_storage_info`: every segment of a listed
column is stored uncompressed, after the first build and the incremental runs that inserted
into the table since, and the table's other text columns keep DuckDB's own choice. A name
that is not a column of the model fails the build with a message that names it, and
RCM_DUCKDB_UNCOMPRESSED_COLUMNS=false leaves every column to DuckDB.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
from rcm_dbt_e2e import Advanced, Pipeline

from ingestion.build import REPO_ROOT

# low-cardinality text columns of int_claims_conformed, left to DuckDB's compression
COMPRESSED_HERE = ("source_system", "claim_status", "payer_type")


def configured(pipeline: Pipeline) -> dict[str, list[str]]:
    """Relation ("schema.table") -> the uncompressed_columns its model or snapshot lists."""
    manifest = json.loads((pipeline.target / "manifest.json").read_text(encoding="utf-8"))
    found: dict[str, list[str]] = {}
    for node in manifest["nodes"].values():
        columns = node["config"].get("uncompressed_columns")
        if columns and node["resource_type"] in ("model", "snapshot"):
            found[f"{node['schema']}.{node['alias'] or node['name']}"] = list(columns)
    return found


def storage(pipeline: Pipeline, relation: str) -> dict[str, set[str]]:
    """Text column -> the compressions of its stored segments."""
    rows = pipeline.query(
        f"select column_name, compression from pragma_storage_info('{relation}') "
        "where segment_type = 'VARCHAR'"
    )
    found: dict[str, set[str]] = {}
    for column, compression in rows:
        found.setdefault(str(column), set()).add(str(compression))
    return found


def test_listed_columns_are_stored_uncompressed(pipeline: Pipeline, advanced: Advanced) -> None:
    # after the first build and the week's incremental build (fixture advanced) inserted rows
    assert advanced.build.exit_code == 0
    listed = configured(pipeline)
    # the large claim, transaction and encounter tables, and the claims snapshot
    assert {
        "cdm.int_claims_conformed",
        "marts.fct_ar_snapshots",
        "staging.stg_hospital_a__claims",
        "snapshots.snap_claims",
    } <= set(listed)
    for relation, columns in listed.items():
        stored = storage(pipeline, relation)
        for column in columns:
            assert stored.get(column) == {"Uncompressed"}, (relation, column, stored.get(column))


def test_other_text_columns_keep_duckdbs_compression(pipeline: Pipeline) -> None:
    stored = storage(pipeline, "cdm.int_claims_conformed")
    for column in COMPRESSED_HERE:
        assert stored[column] and "Uncompressed" not in stored[column], (column, stored[column])


def run_encounters_staging(
    pipeline: Pipeline, folder: Path, project: Path = REPO_ROOT, **env: str
) -> subprocess.CompletedProcess[str]:
    """`dbt run --full-refresh` of Hospital A's encounters staging (a table created again) on
    a copy of the built warehouse in `folder`."""
    warehouse = folder / "rcm.duckdb"
    shutil.copyfile(pipeline.warehouse, warehouse)
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "run",
            "--full-refresh",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(REPO_ROOT / "profiles"),
            "--target-path",
            str(folder / "target"),
            "--select",
            "stg_hospital_a__encounters",
        ],
        env=dict(
            os.environ, RCM_WAREHOUSE_PATH=str(warehouse), RCM_LAKE_DIR=str(pipeline.lake), **env
        ),
        capture_output=True,
        text=True,
        check=False,
    )


def test_an_unknown_column_fails_the_build_and_is_named(pipeline: Pipeline, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO_ROOT / "dbt_project.yml", project / "dbt_project.yml")
    shutil.copytree(REPO_ROOT / "dbt_project", project / "dbt_project")
    model = project / "dbt_project" / "models" / "staging" / "hospital_a"
    model /= "stg_hospital_a__encounters.sql"
    text = model.read_text(encoding="utf-8")
    assert "uncompressed_columns=['encounter_id', 'patient_id']" in text
    model.write_text(
        text.replace(
            "uncompressed_columns=['encounter_id', 'patient_id']",
            "uncompressed_columns=['encounter_id', 'no_such_column']",
        ),
        encoding="utf-8",
    )
    result = run_encounters_staging(pipeline, tmp_path, project)
    assert result.returncode != 0, result.stdout[-3000:]
    assert (
        "uncompressed_columns of stg_hospital_a__encounters names no_such_column, "
        "which is not one of its columns"
    ) in result.stdout, result.stdout[-3000:]


def test_the_switch_leaves_every_column_to_duckdb(pipeline: Pipeline, tmp_path: Path) -> None:
    result = run_encounters_staging(pipeline, tmp_path, RCM_DUCKDB_UNCOMPRESSED_COLUMNS="false")
    assert result.returncode == 0, result.stdout[-3000:]
    with duckdb.connect(str(tmp_path / "rcm.duckdb"), read_only=True) as con:
        stored = con.execute(
            "select column_name, string_agg(distinct compression) from pragma_storage_info("
            "'staging.stg_hospital_a__encounters') where segment_type = 'VARCHAR' "
            "and column_name in ('encounter_id', 'patient_id') group by all"
        ).fetchall()
    assert len(stored) == 2 and all(found != "Uncompressed" for _, found in stored), stored
