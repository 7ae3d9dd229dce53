"""Incremental builds are correct: after `rcm generate --advance-to`, ingest and an incremental
`rcm build`, every table equals what a full rebuild makes of the same lake and snapshots.

The full rebuild runs `rcm build --full-refresh` on a copy of the warehouse taken after the
incremental build, so both hold the same snapshots (SCD2 history that a fresh warehouse could
not rebuild) and differ only in how the other models were computed. `processed_at` (the run
that wrote a row) is the one column allowed to differ.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rcm_dbt_e2e import Advanced, Pipeline, dbt_test

from ingestion import build_state
from ingestion.build import REPO_ROOT

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


def materializations(pipeline: Pipeline) -> dict[str, str]:
    """Every model's materialization, by schema.table."""
    manifest = json.loads((pipeline.target / "manifest.json").read_text())
    return {
        f"{node['schema']}.{node['alias']}": node["config"]["materialized"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }


def incremental_models(pipeline: Pipeline) -> set[str]:
    return {table for table, kind in materializations(pipeline).items() if kind == "incremental"}


def test_the_claims_transactions_encounters_and_patients_chains_are_incremental(
    pipeline: Pipeline,
) -> None:
    expected = {
        "staging.stg_hospital_a__patients",
        "staging.stg_hospital_b__patients",
        "cdm.int_patients_unioned",
        "staging.stg_hospital_a__claims",
        "staging.stg_hospital_a__encounters",
        "staging.stg_hospital_b__encounters",
        "cdm.int_encounters_unioned",
        "staging.stg_hospital_b__transactions",
        "cdm.int_claims_conformed",
        "cdm.int_claim_status_history",
        "cdm.int_transactions_unioned",
        "marts.fct_claims",
        "marts.fct_transactions",
        "quarantine.int_transactions_quarantined",
        "marts.dim_patient",
        "restricted.dim_patient_phi",
    }
    assert expected <= incremental_models(pipeline)


def test_pass_through_cdm_models_are_views(pipeline: Pipeline, tmp_path: Path) -> None:
    """A union or a filter of an incremental table is a view: copying millions of rows once
    more would cost every full build, and the readers' filters reach the tables beneath.
    The views still work in a copy of the warehouse file opened under another name."""
    views = (
        "int_claim_versions_unioned",
        "int_transactions_conformed",
        "int_encounters_conformed",
        "int_patients_conformed",
    )
    materialized = materializations(pipeline)
    assert {view: materialized[f"cdm.{view}"] for view in views} == dict.fromkeys(views, "view")
    copy = tmp_path / "renamed_copy.duckdb"
    shutil.copyfile(pipeline.warehouse, copy)
    with duckdb.connect(str(copy), read_only=True) as con:
        for view in views:
            (rows,) = con.execute(f"select count(*) from cdm.{view}").fetchone() or (0,)
            assert rows > 0, f"cdm.{view} is empty in a renamed copy"


def test_incremental_build_rewrote_only_what_changed(
    advanced: Advanced, pipeline: Pipeline
) -> None:
    """The second build kept the first build's rows of unchanged keys (two processed_at values)
    and rewrote fewer rows than the tables hold. A table whose sources the advance did not
    touch (hospital B's patients, in the test data) holds the first build's rows alone."""
    ((first_build,),) = pipeline.query("select min(processed_at) from marts.fct_transactions")
    untouched = []
    for table in sorted(incremental_models(pipeline)):
        runs = pipeline.query(
            f"select processed_at, count(*) from {table} group by processed_at order by 1"
        )
        if len(runs) == 1 and runs[0][0] == first_build:
            untouched.append(table)
            continue
        assert len(runs) == 2, f"{table}: rows of {len(runs)} runs, expected both builds'"
        first, second = runs[0][1], runs[1][1]
        assert int(str(second)) < int(str(first)), f"{table} rewrote most of its rows: {runs}"
    assert len(untouched) <= 1, f"the advance reached none of these tables: {untouched}"


def test_the_incremental_run_computes_the_changed_claims_versions_first(
    advanced: Advanced, pipeline: Pipeline
) -> None:
    """On DuckDB, int_claim_kpi_outcomes' incremental run materializes the status versions of
    the changed claims before joining them (macro materialized_cte)."""
    assert advanced.build.exit_code == 0
    compiled = pipeline.target / "compiled" / "rcm" / "dbt_project" / "models" / "marts"
    sql = (compiled / "finance" / "int_claim_kpi_outcomes.sql").read_text()
    assert "status_history as materialized (" in sql, sql[:3000]


def test_a_complete_month_end_is_rewritten_only_for_rederived_claims(
    advanced: Advanced, pipeline: Pipeline
) -> None:
    """The first build's data ends on 2024-12-31, so it held that month end as of its own date.
    The advance into January must not rewrite it, except the rows of the claims fct_claims
    re-derived (ar_snapshot_replaced_from); that the rows kept are still right is the full
    rebuild comparison's job."""
    assert advanced.build.exit_code == 0
    ((held, complete, rewritten, rewritten_not_rederived),) = pipeline.query(
        """
        with first_run as (select min(processed_at) as at from marts.fct_ar_snapshots)
        select
            count(*),
            count(*) filter (where ar.as_of_date = ar.month_end_date),
            count(*) filter (where ar.processed_at > first_run.at),
            count(*) filter (
                where ar.processed_at > first_run.at and claims.processed_at <= first_run.at
            )
        from marts.fct_ar_snapshots as ar
        inner join marts.fct_claims as claims on ar.claim_key = claims.claim_key
        cross join first_run
        where ar.month_end_date = date '2024-12-31'
        """
    )
    assert int(str(held)) > 0, "no A/R rows at 2024-12-31"
    assert complete == held, "the 2024-12-31 month end should be as of its own date"
    assert rewritten_not_rederived == 0, (
        f"{rewritten_not_rederived} rows of 2024-12-31 were rewritten for claims that "
        "fct_claims did not re-derive"
    )
    assert int(str(rewritten)) < int(str(held)), "every 2024-12-31 row was rewritten"
    ((january,),) = pipeline.query(
        "select count(*) from marts.fct_ar_snapshots where month_end_date = date '2025-01-31'"
    )
    assert int(str(january)) > 0, "the advance wrote no rows for the January as-of month"


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


@pytest.mark.parametrize(
    ("schema", "model", "column", "change"),
    [
        # dbt's schema check finds the difference ("out of sync")
        ("staging", "stg_hospital_a__encounters", "processed_at", "drop column processed_at"),
        # the model's own select asks its table for processed_at first (a DuckDB binder error)
        ("cdm", "int_encounters_unioned", "processed_at", "drop column processed_at"),
        # keys were md5 strings before they were 64-bit integers (macro require_integer_keys)
        ("marts", "fct_claims", "claim_key", "alter claim_key type varchar"),
    ],
)
def test_a_warehouse_from_an_older_project_gets_told_to_full_refresh(
    schema: str,
    model: str,
    column: str,
    change: str,
    advanced: Advanced,
    pipeline: Pipeline,
    tmp_path: Path,
) -> None:
    """An incremental table that an older project wrote (without processed_at; with text keys)
    fails the build with the fix in the summary, and that fix works."""
    assert advanced.build.exit_code == 0
    old = tmp_path / "old.duckdb"
    shutil.copyfile(pipeline.warehouse, old)
    with duckdb.connect(str(old)) as con:
        con.execute(f"alter table {schema}.{model} {change}")
    env = dict(os.environ, RCM_WAREHOUSE_PATH=str(old), RCM_LAKE_DIR=str(pipeline.lake))

    def build(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ingestion.cli", "build", "--select", model,
             "--target-path", str(tmp_path / "target"), *flags],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip

    failed = build()
    assert failed.returncode == 1, failed.stdout[-3000:]
    assert "what to do:" in failed.stdout and "rcm build --full-refresh" in failed.stdout, (
        failed.stdout[-3000:]
    )
    refreshed = build("--full-refresh")
    assert refreshed.returncode == 0, refreshed.stdout[-3000:]
    with duckdb.connect(str(old), read_only=True) as con:
        columns = dict(
            con.execute(
                "select column_name, data_type from duckdb_columns() "
                "where schema_name = ? and table_name = ?",
                [schema, model],
            ).fetchall()
        )
    assert column in columns
    assert column != "claim_key" or columns[column] == "BIGINT", columns


@pytest.mark.parametrize(
    ("relation", "node", "grain_column"),
    [
        ("cdm.int_claim_status_history", "int_claim_status_history", "claim_status_version_id"),
        # two columns: the scope is the pair, not the claim alone
        ("marts.fct_ar_snapshots", "fct_ar_snapshots", "month_end_date"),
    ],
)
def test_the_latest_run_uniqueness_tests_catch_a_duplicate_the_latest_run_wrote(
    advanced: Advanced,
    pipeline: Pipeline,
    tmp_path: Path,
    relation: str,
    node: str,
    grain_column: str,
) -> None:
    """unique_combination_of_columns with latest_run_only checks only the combinations of the
    latest run's rows in a daily build (RCM_RECONCILE_LOADS names loads, as `rcm build` sets it
    on top of a recorded successful build): a duplicate of such a row is still found, in the
    whole table."""
    assert advanced.build.exit_code == 0
    copy = tmp_path / "tampered.duckdb"
    shutil.copyfile(pipeline.warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        latest = f"(select max(processed_at) from {relation})"
        old_rows, latest_rows = (
            int(str(n))
            for n in con.execute(
                "select count(*) filter (where processed_at < " + latest + "), "
                "count(*) filter (where processed_at = " + latest + ") "
                f"from {relation}"
            ).fetchone()
            or (0, 0)
        )
        assert old_rows > latest_rows > 0, "the advance build should rewrite a slice only"
        con.execute(
            f"insert into {relation} select * from {relation} where processed_at = {latest} limit 1"
        )
    env = dict(
        os.environ,
        RCM_WAREHOUSE_PATH=str(copy),
        RCM_LAKE_DIR=str(pipeline.lake),
        RCM_RECONCILE_LOADS="some-new-load",
        DBT_USE_COLORS="false",
    )
    dbt = Path(sys.executable).with_name("dbt")
    selector = f"{node},test_name:unique_combination_of_columns"
    result = subprocess.run(
        [str(dbt), "test", "--select", selector, "--target-path", str(tmp_path / "target")],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-3000:]
    # the table's one uniqueness test, on its grain
    failed = [line for line in result.stdout.splitlines() if "FAIL 1 unique_combination" in line]
    assert len(failed) == 1, result.stdout[-3000:]
    assert grain_column in failed[0], failed[0]


def _copy_of(pipeline: Pipeline, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the built pipeline's lake and warehouse under tmp_path, for a test to change."""
    lake, warehouse = tmp_path / "lake", tmp_path / "rcm.duckdb"
    shutil.copytree(pipeline.lake, lake)
    shutil.copyfile(pipeline.warehouse, warehouse)
    return lake, warehouse


def _rcm_on(warehouse: Path, lake: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, RCM_WAREHOUSE_PATH=str(warehouse), RCM_LAKE_DIR=str(lake))
    return subprocess.run(
        [sys.executable, "-m", "ingestion.cli", *args],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def _copy_with_sources(pipeline: Pipeline, tmp_path: Path) -> tuple[Path, Path, Path]:
    """Copies of the built pipeline's sources, lake and warehouse under tmp_path."""
    sources = tmp_path / "sources"
    shutil.copytree(pipeline.sources, sources)
    return (sources, *_copy_of(pipeline, tmp_path))


def _ingest_only_and_build(
    tmp_path: Path, sources: Path, lake: Path, warehouse: Path, entity: str
) -> None:
    """`rcm ingest --only entity` from ``sources``, then `rcm build`; both must succeed."""
    ingest = _rcm_on(
        warehouse, lake, "ingest", "--sources", str(sources), "--lake", str(lake), "--only", entity
    )
    assert ingest.returncode == 0, ingest.stdout[-3000:] + ingest.stderr[-3000:]
    build = _rcm_on(warehouse, lake, "build", "--target-path", str(tmp_path / "target"))
    assert build.returncode == 0, build.stdout[-3000:]


def _latest_bronze_claim(lake: Path, claim_id: str) -> tuple[list[str], dict[str, object]]:
    bronze = duckdb.connect().execute(
        f"select * exclude (_source_system, _source_name, _source_row, _load_id, _ingested_at)"
        f" from read_parquet('{lake}/bronze/hospital_a/claims/*/*.parquet', union_by_name = true,"
        f" hive_partitioning = false) where trim(ClaimID) = ? order by _ingested_at desc limit 1",
        [claim_id],
    )
    columns = [d[0] for d in bronze.description]
    row = dict(zip(columns, bronze.fetchone() or (), strict=True))
    assert row, f"claim {claim_id} is not in Bronze"
    return columns, row


def _land_claims_and_build(
    tmp_path: Path, warehouse: Path, lake: Path, name: str, rows: list[dict[str, object]]
) -> subprocess.CompletedProcess[str]:
    """Land ``rows`` (Bronze claim rows, in their columns' order) as hospital A's claims file
    ``name`` under tmp_path/sources, ingest it into ``lake`` (which must succeed), then build
    ``warehouse`` and return the build."""
    _land_claims(tmp_path, warehouse, lake, name, rows)
    return _rcm_on(warehouse, lake, "build", "--target-path", str(tmp_path / "target"))


def _land_claims(
    tmp_path: Path, warehouse: Path, lake: Path, name: str, rows: list[dict[str, object]]
) -> None:
    """Land ``rows`` as hospital A's claims file ``name`` and ingest it (which must succeed)."""
    landing = tmp_path / "sources" / "landing" / "claims"
    landing.mkdir(parents=True, exist_ok=True)
    with (landing / name).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(list(rows[0]))
        writer.writerows(["" if value is None else value for value in row.values()] for row in rows)
    ingest = _rcm_on(
        warehouse, lake, "ingest", "--sources", str(tmp_path / "sources"), "--lake", str(lake),
        "--only", "hospital_a.claims",
    )  # fmt: skip
    assert ingest.returncode == 0, ingest.stdout[-3000:] + ingest.stderr[-3000:]


def _assert_equals_a_full_rebuild(warehouse: Path, lake: Path, tmp_path: Path) -> None:
    """A `--full-refresh` build of a copy of ``warehouse`` holds the same rows."""
    rebuilt = tmp_path / "rebuilt.duckdb"
    shutil.copyfile(warehouse, rebuilt)
    full = _rcm_on(
        rebuilt, lake, "build", "--full-refresh", "--target-path", str(tmp_path / "target_full")
    )
    assert full.returncode == 0, full.stdout[-3000:]
    differences = table_differences(warehouse, rebuilt)
    assert not differences, f"incremental and full rebuild differ: {differences}"


def test_a_replay_that_quarantines_a_claims_only_version_equals_a_full_rebuild(
    advanced: Advanced, pipeline: Pipeline, tmp_path: Path
) -> None:
    """A claims file replays the one version of a clean claim with its PatientID blank. Staging
    keeps the replayed row (same version, later load), so every version of the claim is
    quarantined: a full build has no clean row for it. An incremental build must drop it too,
    from the CDM and from every mart, not keep the row of the version it replaced.

    The copy is built once by `rcm build` first, which records the build: the build after the
    replay is then scoped to the one new load. It leaves out the unit tests and every node that
    reads only sources without a new load (providers, departments, code sets), but not the
    known-dirty tests, and must still equal the full rebuild."""
    assert advanced.build.exit_code == 0
    lake, warehouse = _copy_of(pipeline, tmp_path)
    recorded = _rcm_on(warehouse, lake, "build", "--target-path", str(tmp_path / "target"))
    assert recorded.returncode == 0, recorded.stdout[-3000:]
    assert "not run" not in recorded.stdout, "a build with no record must run every node"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        found = con.execute(
            "select staged.claim_id from staging.stg_hospital_a__claims as staged "
            "inner join cdm.int_claims_conformed as conformed "
            "on conformed.claim_id = 'hospital_a:' || staged.claim_id "
            "group by staged.claim_id having count(*) = 1 order by staged.claim_id limit 1"
        ).fetchone()
    assert found is not None, "no hospital A claim with a single clean version"
    claim_id = str(found[0])
    _, row = _latest_bronze_claim(lake, claim_id)
    row["PatientID"] = None
    build = _land_claims_and_build(
        tmp_path, warehouse, lake, "hospital1_claim_data_2025_02_01.csv", [row]
    )
    assert build.returncode == 0, build.stdout[-3000:]
    assert "reconciliation pass: 1 new load" in build.stdout, build.stdout[-3000:]
    # the project did not change: its daily build names no incremental model as edited (dbt
    # lists more macros for a model after an incremental run than after a full one)
    assert "changed incremental models" not in build.stdout, build.stdout[-3000:]
    skipped = next(line for line in build.stdout.splitlines() if "not run" in line)
    assert "hospital_a.providers" in skipped and "codesets.icd10cm_codes" in skipped, skipped
    assert "hospital_a.claims" not in skipped, skipped
    ran = {
        node["unique_id"].split(".")[0] + "." + node["unique_id"].split(".")[2]
        for node in json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    }
    assert {"model.stg_hospital_a__claims", "model.fct_claims"} <= ran
    assert "model.stg_hospital_a__providers" not in ran and "model.dim_icd_code" not in ran
    assert not any(name.startswith("unit_test.") for name in ran), sorted(ran)
    # a warn-threshold test counts over all rows: it runs though its model did not
    assert "test.valid_npi_check_digit_dim_provider_npi" in ran

    with duckdb.connect(str(warehouse), read_only=True) as con:
        conformed = con.execute(
            "select count(*) from cdm.int_claims_conformed where claim_id = ?",
            [f"hospital_a:{claim_id}"],
        ).fetchone()
        quarantined = con.execute(
            "select count(*) from quarantine.int_claim_versions_quarantined where claim_id = ?",
            [f"hospital_a:{claim_id}"],
        ).fetchone()
    assert conformed == (0,), "the claim whose every version is quarantined kept its clean row"
    assert quarantined == (1,)

    _assert_equals_a_full_rebuild(warehouse, lake, tmp_path)


def test_a_transaction_quarantined_by_a_build_that_left_out_its_fact_leaves_it_later(
    advanced: Advanced, pipeline: Pipeline, tmp_path: Path
) -> None:
    """A transaction's new version has no ProviderID, so the CDM quarantines it and a full
    build has no row for it in fct_transactions. The build that quarantined it did not run
    fct_transactions (a selection, as `rcm build`'s retry after a failure is another dbt run):
    the next build must remove the row. It removed only keys quarantined in its own run."""
    assert advanced.build.exit_code == 0
    lake, warehouse = _copy_of(pipeline, tmp_path)
    sources = tmp_path / "sources"
    shutil.copytree(pipeline.sources, sources)
    recorded = _rcm_on(warehouse, lake, "build", "--target-path", str(tmp_path / "target"))
    assert recorded.returncode == 0, recorded.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        found = con.execute(
            "select substr(transaction_id, length('hospital_a:') + 1) from "
            "marts.fct_transactions where source_system = 'hospital_a' "
            "order by transaction_key limit 1"
        ).fetchone()
    assert found is not None
    transaction_id = str(found[0])
    with sqlite3.connect(sources / "emr" / "hospital_a.db") as emr:
        emr.execute(
            "update transactions set ProviderID = null, ModifiedDate = (select "
            "strftime('%Y-%m-%d %H:%M:%S', max(ModifiedDate), '+1 second') from transactions) "
            "where TransactionID = ?",
            [transaction_id],
        )
    ingest = _rcm_on(
        warehouse, lake, "ingest", "--sources", str(sources), "--lake", str(lake),
        "--only", "hospital_a.transactions",
    )  # fmt: skip
    assert ingest.returncode == 0, ingest.stdout[-3000:] + ingest.stderr[-3000:]
    cdm_only = _rcm_on(
        warehouse, lake, "build", "--select", "stg_hospital_a__transactions+",
        "--exclude", "fct_transactions+", "--target-path", str(tmp_path / "target"),
    )  # fmt: skip
    assert cdm_only.returncode == 0, cdm_only.stdout[-3000:]
    key = f"hospital_a:{transaction_id}"
    query = "select count(*) from {} where transaction_id = ?"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        quarantined = con.execute(
            query.format("cdm.int_transactions_unioned") + " and failed_rules is not null", [key]
        ).fetchone()
        before = con.execute(query.format("marts.fct_transactions"), [key]).fetchone()
    assert quarantined == (1,), "the version without a ProviderID was not quarantined"
    assert before == (1,), "the CDM-only build ran fct_transactions"
    build = _rcm_on(warehouse, lake, "build", "--target-path", str(tmp_path / "target"))
    assert build.returncode == 0, build.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        after = con.execute(query.format("marts.fct_transactions"), [key]).fetchone()
    assert after == (0,), "the quarantined transaction kept its row in fct_transactions"
    _assert_equals_a_full_rebuild(warehouse, lake, tmp_path)


def test_a_claim_status_the_seed_does_not_know_is_quarantined_and_fixed_forward(
    advanced: Advanced, pipeline: Pipeline, tmp_path: Path
) -> None:
    """A claims file gives a clean claim a new version with status `Appealed` and another one
    `paid`. Neither has a KPI outcome: before the rule unknown_claim_status, the status history
    got a null outcome and every later build failed its not-null test, a corrected version
    included. The versions go to quarantine, the build passes, and the claims keep their last
    clean version; a later version with a known status is then their current one."""
    assert advanced.build.exit_code == 0
    lake, warehouse = _copy_of(pipeline, tmp_path)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        found = con.execute(
            "select source_claim_id, claim_status from cdm.int_claims_conformed "
            "where source_system = 'hospital_a' order by claim_id limit 2"
        ).fetchall()
    assert len(found) == 2, "hospital A has fewer than two clean claims"

    def land(name: str, statuses: list[str], modified: str) -> subprocess.CompletedProcess[str]:
        rows = [
            _latest_bronze_claim(lake, str(claim_id))[1]
            | {"ClaimStatus": status, "ModifiedDate": modified}
            for (claim_id, _), status in zip(found, statuses, strict=True)
        ]
        return _land_claims_and_build(tmp_path, warehouse, lake, name, rows)

    def current() -> list[tuple[object, ...]]:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute(
                "select current_claim_status from marts.fct_claims where claim_id in (?, ?) "
                "order by claim_id",
                [f"hospital_a:{claim_id}" for claim_id, _ in found],
            ).fetchall()

    build = land("hospital1_claim_data_2025_02_01.csv", ["Appealed", "paid"], "2025-02-01 09:00:00")
    assert build.returncode == 0, build.stdout[-3000:]
    # staging's accepted-values tests warn, and the summary shows the values they found
    summary = build.stdout[build.stdout.index("dbt build summary") :]
    for status in ("Appealed", "paid"):
        assert f"column_name='claim_status', value_field='{status}', n_records=1" in summary
    with duckdb.connect(str(warehouse), read_only=True) as con:
        quarantined = con.execute(
            "select source_claim_id, claim_status, failed_rules "
            "from quarantine.int_claim_versions_quarantined where source_claim_id in (?, ?) "
            "order by claim_id",
            [claim_id for claim_id, _ in found],
        ).fetchall()
        unknown_outcomes = con.execute(
            "select count(*) from cdm.int_claim_status_history where kpi_outcome is null"
        ).fetchone()
    assert quarantined == [
        (found[0][0], "Appealed", "unknown_claim_status"),
        (found[1][0], "paid", "unknown_claim_status"),
    ]
    assert unknown_outcomes == (0,)
    assert current() == [(status,) for _, status in found]

    fixed = land("hospital1_claim_data_2025_02_02.csv", ["Denied", "Paid"], "2025-02-02 09:00:00")
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    # the build's outcome is recorded for the warehouse's readers (alerts, the dashboard)
    outcome = json.loads(build_state.outcome_path(warehouse).read_text())
    assert outcome["state"] == "ok" and outcome["failed"] == []
    assert current() == [("Denied",), ("Paid",)]

    _assert_equals_a_full_rebuild(warehouse, lake, tmp_path)


def test_a_negative_amount_is_kept_as_sent_and_counted_for_review(
    advanced: Advanced, pipeline: Pipeline, tmp_path: Path
) -> None:
    """A payer's take-back comes as a negative PaidAmount: the claim's new version is kept as
    sent (no business rule says what else to do with it), and the data-quality summary counts
    it under negative_amount, where finance can find it."""
    assert advanced.build.exit_code == 0
    lake, warehouse = _copy_of(pipeline, tmp_path)
    counted = (
        "select rows_failed from marts.rpt_data_quality_summary "
        "where entity = 'claims' and check_kind = 'flag' and check_name = 'negative_amount'"
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ((claim_id,),) = con.execute(
            "select source_claim_id from cdm.int_claims_conformed "
            "where source_system = 'hospital_a' and paid_amount > 0 order by claim_id limit 1"
        ).fetchall()
        negative_before = con.execute(
            "select count(*) from cdm.int_claims_conformed where paid_amount < 0 "
            "or claim_amount < 0 or allowed_amount < 0 or deductible_amount < 0 "
            "or coinsurance_amount < 0 or copay_amount < 0"
        ).fetchone()
    _, row = _latest_bronze_claim(lake, str(claim_id))
    row |= {"PaidAmount": "-50.00", "ModifiedDate": "2025-02-03 09:00:00"}
    build = _land_claims_and_build(
        tmp_path, warehouse, lake, "hospital1_claim_data_2025_02_03.csv", [row]
    )
    assert build.returncode == 0, build.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        paid = con.execute(
            "select paid_amount from marts.fct_claims where claim_id = ?",
            [f"hospital_a:{claim_id}"],
        ).fetchone()
        after = con.execute(counted).fetchone()
    assert paid == (Decimal("-50.00"),)
    assert negative_before is not None and after == (negative_before[0] + 1,)


def test_a_service_date_outside_dim_date_keys_the_unknown_date_and_is_counted(
    advanced: Advanced, pipeline: Pipeline, tmp_path: Path
) -> None:
    """A claim whose service and claim dates fall before dim_date's first day (var
    dim_date_start) keys dim_date's unknown member, as any foreign key to a missing row does:
    the build passes (a key to a day dim_date does not hold failed its relationships test and
    the build), the fact keeps the dates themselves, and the data-quality summary counts it."""
    assert advanced.build.exit_code == 0
    lake, warehouse = _copy_of(pipeline, tmp_path)
    counted = (
        "select rows_failed from marts.rpt_data_quality_summary where entity = 'claims' "
        "and check_kind = 'unknown_member' and check_name = 'service_date_key_unknown'"
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ((claim_id,),) = con.execute(
            "select source_claim_id from cdm.int_claims_conformed "
            "where source_system = 'hospital_a' order by claim_id limit 1"
        ).fetchall()
        before = con.execute(counted).fetchone()
    _, row = _latest_bronze_claim(lake, str(claim_id))
    row |= {
        "ServiceDate": "2012-03-04",
        "ClaimDate": "2012-03-10",
        "ModifiedDate": "2025-02-03 09:00:00",
    }
    build = _land_claims_and_build(
        tmp_path, warehouse, lake, "hospital1_claim_data_2025_02_03.csv", [row]
    )
    assert build.returncode == 0, build.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        keyed = con.execute(
            "select service_date, service_date_key, claim_date_key from marts.fct_claims "
            "where claim_id = ?",
            [f"hospital_a:{claim_id}"],
        ).fetchone()
        after = con.execute(counted).fetchone()
    assert keyed == (dt.date(2012, 3, 4), -1, -1)
    assert before == (0,) and after == (1,)


def test_the_merge_form_of_replace_scope_removes_the_rows_its_delete_form_does(
    advanced: Advanced, pipeline: Pipeline, tmp_path: Path
) -> None:
    """On Databricks the replace_scope strategy removes a run's scope with a MERGE, as Delta's
    DELETE takes no subquery inside another and the scope predicates hold such. The MERGE
    removes the target rows equal, in every column, to a row in the scope. DuckDB runs the
    same MERGE with var replace_scope_by_merge: after a further advance of the sources, a build
    in that form and one in the DELETE form must leave the same rows, and every replace_scope
    model must have run its MERGE."""
    assert advanced.build.exit_code == 0
    sources, lake, warehouse = _copy_with_sources(pipeline, tmp_path)
    generated = _rcm_on(
        warehouse, lake, "generate", "--out", str(sources), "--advance-to", "2025-01-10"
    )
    assert generated.returncode == 0, generated.stderr[-3000:]
    ingest = _rcm_on(warehouse, lake, "ingest", "--sources", str(sources), "--lake", str(lake))
    assert ingest.returncode == 0, ingest.stdout[-3000:] + ingest.stderr[-3000:]
    merged = tmp_path / "merged.duckdb"
    shutil.copyfile(warehouse, merged)

    by_delete = dbt_test(warehouse, lake, tmp_path / "target_delete", None, "all", "build")
    assert by_delete.returncode == 0, by_delete.stdout[-3000:]
    by_merge = dbt_test(
        merged, lake, tmp_path / "target_merge", None, "all", "build",
        ["--vars", "{replace_scope_by_merge: true}"],
    )  # fmt: skip
    assert by_merge.returncode == 0, by_merge.stdout[-3000:]

    scoped = {
        path.stem
        for path in (REPO_ROOT / "dbt_project" / "models").rglob("*.sql")
        if "replace_scope_strategy()" in path.read_text()
    }
    assert len(scoped) >= 5, scoped
    ran: dict[str, dict[str, bool]] = {}
    for form in ("delete", "merge"):
        for path in (tmp_path / f"target_{form}" / "run").rglob("*.sql"):
            if path.stem in scoped and path.parent.name != "_unit_tests.yml":
                ran.setdefault(path.stem, {})[form] = "merge into" in path.read_text().lower()
    assert ran == {name: {"delete": False, "merge": True} for name in scoped}
    differences = table_differences(warehouse, merged)
    assert not differences, f"the MERGE and DELETE forms left different rows: {differences}"


def test_a_provider_deleted_in_the_emr_gets_a_deletion_version_and_keeps_its_facts(
    advanced: Advanced, pipeline: Pipeline, tmp_path: Path
) -> None:
    """The providers table is a full load: a provider the EMR deleted is not in the next load.
    Staging read every load and kept the provider from an older one, so it stayed current for
    good. Staging reads the latest load only: the provider leaves the CDM, snap_providers
    records its deletion, dim_provider keeps it as inactive, and its facts keep their key."""
    assert advanced.build.exit_code == 0
    sources, lake, warehouse = _copy_with_sources(pipeline, tmp_path)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ((provider_id, source_id, lines),) = con.execute(
            "select p.provider_id, p.source_provider_id, count(*) from marts.dim_provider as p "
            "join marts.fct_transactions as f on f.provider_key = p.provider_key "
            "where p.source_system = 'hospital_a' group by all order by 3 desc, 1 limit 1"
        ).fetchall()
        active = con.execute("select count(*) from marts.dim_provider where is_active").fetchone()
    with sqlite3.connect(sources / "emr" / "hospital_a.db") as emr:
        assert emr.execute("delete from providers where ProviderID = ?", [source_id]).rowcount == 1
    _ingest_only_and_build(tmp_path, sources, lake, warehouse, "hospital_a.providers")

    with duckdb.connect(str(warehouse), read_only=True) as con:
        staged = con.execute(
            "select count(*) from staging.stg_hospital_a__providers where provider_id = ?",
            [source_id],
        ).fetchone()
        versions = con.execute(
            "select dbt_is_deleted, dbt_valid_to is null from snapshots.snap_providers "
            "where provider_id = ? order by dbt_valid_from",
            [provider_id],
        ).fetchall()
        dimension = con.execute(
            "select is_active, provider_last_name is not null from marts.dim_provider "
            "where provider_id = ?",
            [provider_id],
        ).fetchall()
        kept = con.execute(
            "select count(*) from marts.fct_transactions as f join marts.dim_provider as p "
            "on f.provider_key = p.provider_key where p.provider_id = ?",
            [provider_id],
        ).fetchone()
        active_after = con.execute(
            "select count(*) from marts.dim_provider where is_active"
        ).fetchone()
    assert staged == (0,)
    assert versions[-1] == ("True", True) and [v[0] for v in versions[:-1]] == ["False"] * (
        len(versions) - 1
    )
    assert dimension == [(False, True)]
    assert kept == (lines,)
    assert active is not None and active_after == (active[0] - 1,)


def test_a_provider_s_registry_flag_follows_the_registry_without_a_new_version(
    advanced: Advanced, pipeline: Pipeline, tmp_path: Path
) -> None:
    """snap_providers opens a version when the provider's own columns change, not when the NPI
    registry extract does; dim_provider took has_registered_npi from the snapshot, so an NPI
    that left the registry stayed registered there while its npi_key went to the unknown
    member. A new extract without one provider's NPI: the flag follows, with no new version."""
    assert advanced.build.exit_code == 0
    sources, lake, warehouse = _copy_with_sources(pipeline, tmp_path)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ((provider_id, npi),) = con.execute(
            "select provider_id, npi from marts.dim_provider where has_registered_npi "
            "order by provider_id limit 1"
        ).fetchall()
        versions = con.execute(
            "select count(*) from snapshots.snap_providers where provider_id = ?", [provider_id]
        ).fetchone()
    landing = sources / "landing" / "npi"
    (extract,) = (landing / "processed").glob("nppes_npi_extract*.json")
    registry = json.loads(extract.read_text())
    registry["results"] = [r for r in registry["results"] if str(r["number"]) != npi]
    registry["result_count"] = len(registry["results"])
    (landing / "nppes_npi_extract_2025_01_08.json").write_text(json.dumps(registry))
    _ingest_only_and_build(tmp_path, sources, lake, warehouse, "codesets.npi")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        provider = con.execute(
            "select has_registered_npi, npi_key from marts.dim_provider where provider_id = ?",
            [provider_id],
        ).fetchall()
        conformed = con.execute(
            "select has_registered_npi from cdm.int_providers_conformed where provider_id = ?",
            [provider_id],
        ).fetchall()
        after = con.execute(
            "select count(*) from snapshots.snap_providers where provider_id = ?", [provider_id]
        ).fetchone()
    assert conformed == [(False,)]
    assert provider == [(False, -1)]
    assert after == versions


def _keyless_bronze_line(warehouse: Path, lake: Path) -> dict[str, object]:
    """A hospital A claims line without a ClaimID, as Bronze holds it (without lineage)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        found = con.execute(
            "select load_id, source_row from staging.stg_hospital_a__claims "
            "where claim_id is null order by load_id, source_row limit 1"
        ).fetchone()
    assert found is not None, "hospital A has no claim line without id"
    bronze = duckdb.connect().execute(
        f"select * exclude (_source_system, _source_name, _source_row, _load_id, _ingested_at)"
        f" from read_parquet('{lake}/bronze/hospital_a/claims/*/*.parquet', union_by_name = true,"
        f" hive_partitioning = false) where _load_id = ? and _source_row = ?",
        list(found),
    )
    columns = [d[0] for d in bronze.description]
    line = dict(zip(columns, bronze.fetchone() or (), strict=True))
    assert line, f"the staged line {found} is not in Bronze"
    return line


KEYLESS_QUARANTINED = (
    "select count(*) from quarantine.int_claim_versions_quarantined "
    "where source_system = 'hospital_a' and claim_id is null"
)


def test_a_claims_line_without_an_id_landed_again_is_quarantined_once(
    advanced: Advanced, pipeline: Pipeline, tmp_path: Path
) -> None:
    """A line without a ClaimID has no key that staging's replace could match: every landing of
    it was quarantined again, so a re-landed month counted its keyless lines twice. Quarantine
    keeps the same line once, from its first landing, in an incremental build as in a full one
    (the reconciliation test counts the repeats, and the data-quality summary checks the line
    once); a keyless line with other values is a line of its own."""
    assert advanced.build.exit_code == 0
    lake, warehouse = _copy_of(pipeline, tmp_path)
    checked = (
        "select rows_checked, rows_failed from marts.rpt_data_quality_summary "
        "where entity = 'claim_versions' and check_name = 'missing_claim_id'"
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        before = con.execute(KEYLESS_QUARANTINED).fetchone()
        summary_before = con.execute(checked).fetchone()
    line = _keyless_bronze_line(warehouse, lake)
    other = line | {"ModifiedDate": "2025-02-05 09:00:00"}
    build = _land_claims_and_build(
        tmp_path, warehouse, lake, "hospital1_claim_data_2025_02_05.csv", [line, line, other]
    )
    assert build.returncode == 0, build.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        after = con.execute(KEYLESS_QUARANTINED).fetchone()
        summary_after = con.execute(checked).fetchone()
    assert before is not None and after == (before[0] + 1,)
    assert summary_before is not None
    assert summary_after == (summary_before[0] + 1, summary_before[1] + 1)

    _assert_equals_a_full_rebuild(warehouse, lake, tmp_path)


def test_a_keyless_line_staged_late_from_an_earlier_load_is_kept_from_it_as_a_full_build_does(
    advanced: Advanced, pipeline: Pipeline, tmp_path: Path
) -> None:
    """Staging reads a load published late (by an ingest that ran alongside another) in a later
    build, though its load id is the earlier one. A keyless line that landed in both is kept
    from the earlier load, as a full build keeps it: an incremental run kept the copy it read
    first. The late load is made here by renaming the second load's folder and ids to an
    earlier id, since two ingests cannot be made to publish out of order on demand."""
    assert advanced.build.exit_code == 0
    lake, warehouse = _copy_of(pipeline, tmp_path)
    line = _keyless_bronze_line(warehouse, lake) | {"ModifiedDate": "2025-02-06 09:00:00"}
    claims = lake / "bronze" / "hospital_a" / "claims"
    build = _land_claims_and_build(
        tmp_path, warehouse, lake, "hospital1_claim_data_2025_02_06.csv", [line]
    )
    assert build.returncode == 0, build.stdout[-3000:]
    first = max(p.name for p in claims.iterdir()).removeprefix("load_id=")
    # the same line again, in a file with one more line (the same bytes would be skipped)
    again = [line, line | {"ModifiedDate": "2025-02-07 09:00:00"}]
    _land_claims(tmp_path, warehouse, lake, "hospital1_claim_data_2025_02_07.csv", again)
    late = max(p.name for p in claims.iterdir()).removeprefix("load_id=")
    assert late > first
    earlier = first[:9] + "000000" + first[15:]  # the same day's load id, at midnight
    assert earlier < first
    folder = claims / f"load_id={earlier}"
    (claims / f"load_id={late}").rename(folder)
    for file in folder.glob("*.parquet"):
        table = pq.read_table(file)
        index = table.schema.get_field_index("_load_id")
        ids = pa.array([earlier] * table.num_rows, table.schema.field(index).type)
        pq.write_table(table.set_column(index, "_load_id", ids), file)
    build = _rcm_on(warehouse, lake, "build", "--target-path", str(tmp_path / "target"))
    assert build.returncode == 0, build.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        kept = con.execute(
            "select load_id, source_name from quarantine.int_claim_versions_quarantined "
            "where claim_id is null and modified_at = timestamp '2025-02-06 09:00:00'"
        ).fetchall()
    assert kept == [(earlier, "hospital1_claim_data_2025_02_07.csv")]

    _assert_equals_a_full_rebuild(warehouse, lake, tmp_path)
