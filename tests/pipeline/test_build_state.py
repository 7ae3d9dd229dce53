"""The up-to-date check of `rcm build` (ingestion/build_state.py), on real files.

The project is a copy of the repository's dbt project in a temp folder, the lake a folder of
files, the warehouse a file: the check only reads them. That a real `rcm build` writes the
state and a second one is skipped is tested end to end in tests/pipeline/test_run.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ingestion import build_state
from ingestion.build import REPO_ROOT


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO_ROOT / "dbt_project.yml", project / "dbt_project.yml")
    shutil.copytree(REPO_ROOT / "dbt_project", project / "dbt_project")
    profiles = tmp_path / "profiles"
    shutil.copytree(REPO_ROOT / "profiles", profiles)
    lake = tmp_path / "lake"
    part = lake / "bronze" / "hospital_a" / "claims" / "load_id=1" / "part-00000.parquet"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"rows of load 1")
    warehouse = tmp_path / "warehouse" / "rcm.duckdb"
    warehouse.parent.mkdir()
    warehouse.write_bytes(b"built tables")
    return {"project": project, "profiles": profiles, "lake": lake, "warehouse": warehouse}


def inputs(world: dict[str, Path], **env: str) -> build_state.BuildInputs | None:
    return build_state.local_build_inputs(
        project_dir=world["project"],
        profiles_dir=world["profiles"],
        target=None,
        env={
            "RCM_LAKE_DIR": str(world["lake"]),
            "RCM_WAREHOUSE_PATH": str(world["warehouse"]),
            **env,
        },
    )


def fingerprint(world: dict[str, Path], **env: str) -> str:
    found = inputs(world, **env)
    assert found is not None
    return found.fingerprint


def test_same_inputs_same_fingerprint(world: dict[str, Path]) -> None:
    assert fingerprint(world) == fingerprint(world)


def test_a_new_bronze_load_changes_the_fingerprint(world: dict[str, Path]) -> None:
    before = fingerprint(world)
    part = world["lake"] / "bronze" / "hospital_a" / "claims" / "load_id=2" / "part-00000.parquet"
    part.parent.mkdir()
    part.write_bytes(b"rows of load 2")
    assert fingerprint(world) != before


def test_a_rewritten_bronze_file_changes_the_fingerprint(world: dict[str, Path]) -> None:
    before = fingerprint(world)
    part = next((world["lake"] / "bronze").rglob("*.parquet"))
    stat = part.stat()
    os.utime(part, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert fingerprint(world) != before


def test_audit_rows_do_not_change_the_fingerprint(world: dict[str, Path]) -> None:
    """A no-change ingest appends audit rows only; the audit staging model is a view."""
    before = fingerprint(world)
    audit = world["lake"] / "audit" / "load_audit" / "run_id=2" / "hospital_a__claims.parquet"
    audit.parent.mkdir(parents=True)
    audit.write_bytes(b"no_change")
    assert fingerprint(world) == before


def test_an_edited_model_changes_the_fingerprint(world: dict[str, Path]) -> None:
    before = fingerprint(world)
    model = next((world["project"] / "dbt_project" / "models").rglob("fct_claims.sql"))
    model.write_text(model.read_text() + "\n-- an analyst's edit\n")
    assert fingerprint(world) != before


def test_an_edited_profile_or_setting_changes_the_fingerprint(world: dict[str, Path]) -> None:
    before = fingerprint(world)
    assert fingerprint(world, RCM_BRONZE_SCHEMA="bronze_test") != before
    profile = world["profiles"] / "profiles.yml"
    profile.write_text(profile.read_text().replace("threads: 8", "threads: 6"))
    assert fingerprint(world) != before


def test_dbt_user_file_beside_the_profiles_does_not_change_the_fingerprint(
    world: dict[str, Path],
) -> None:
    # a plain `dbt ... --profiles-dir profiles` writes .user.yml there on its first run: it
    # must not turn the next `rcm build` into an unscoped one
    (world["profiles"] / ".user.yml").unlink(missing_ok=True)
    before = fingerprint(world)
    (world["profiles"] / ".user.yml").write_text("id: 0c3e4f2a-anonymous-user-id\n")
    assert fingerprint(world) == before
    (world["profiles"] / "extra.yml").write_text("another: profile\n")
    assert fingerprint(world) != before


def test_no_check_for_remote_lakes_or_other_targets(world: dict[str, Path]) -> None:
    assert inputs(world, RCM_LAKE_DIR="abfss://lake@account.dfs.core.windows.net/rcm") is None
    assert inputs(world, RCM_TARGET="databricks") is None


def test_up_to_date_only_after_remember_and_until_the_warehouse_changes(
    world: dict[str, Path],
) -> None:
    found = inputs(world)
    assert found is not None
    assert build_state.up_to_date(found) is None  # never built

    build_state.remember(found)
    message = build_state.up_to_date(found)
    assert message is not None and "up to date" in message and "--force" in message
    # the lake it checked is named: a build pointed at another lake than the ingest's is seen
    assert f"no Bronze file of the lake {world['lake']} (1 checked)" in message

    # a write by something else (another build, a manual dbt run) makes it stale
    with world["warehouse"].open("ab") as handle:
        handle.write(b" and one more")
    assert build_state.up_to_date(found) is None

    build_state.remember(found)
    assert build_state.up_to_date(found) is not None
    wal = world["warehouse"].with_name("rcm.duckdb.wal")
    wal.write_bytes(b"uncheckpointed")
    assert build_state.up_to_date(found) is None, "a pending WAL is never up to date"
    wal.unlink()

    build_state.forget(found)  # what a build does before it starts
    assert not found.state_file.exists()
    assert build_state.up_to_date(found) is None


def test_a_corrupt_state_file_means_build(world: dict[str, Path]) -> None:
    found = inputs(world)
    assert found is not None
    found.state_file.write_text("{ not json")
    assert build_state.up_to_date(found) is None


# --- what the Bronze reconciliation test checks (reconcile_scope) ---------------------------


def add_load(world: dict[str, Path], load_id: str) -> None:
    part = world["lake"] / "bronze" / "hospital_b" / "claims" / f"load_id={load_id}" / "p.parquet"
    part.parent.mkdir(parents=True)
    part.write_bytes(f"rows of load {load_id}".encode())


def scope(world: dict[str, Path], **env: str) -> str:
    return build_state.reconcile_scope(inputs(world, **env))


def test_without_a_recorded_build_every_load_is_checked(world: dict[str, Path]) -> None:
    assert scope(world) == build_state.RECONCILE_ALL


def test_after_a_recorded_build_only_new_loads_are_checked(world: dict[str, Path]) -> None:
    recorded = inputs(world)
    assert recorded is not None
    build_state.remember(recorded)
    assert scope(world) == build_state.RECONCILE_NONE
    add_load(world, "3")
    add_load(world, "2")
    assert scope(world) == "2,3"


def test_a_rewritten_checked_load_means_a_full_check(world: dict[str, Path]) -> None:
    recorded = inputs(world)
    assert recorded is not None
    build_state.remember(recorded)
    add_load(world, "2")
    (
        world["lake"] / "bronze" / "hospital_a" / "claims" / "load_id=1" / "part-00000.parquet"
    ).write_bytes(b"rows of load 1, rewritten")
    assert scope(world) == build_state.RECONCILE_ALL


def test_a_removed_checked_load_means_a_full_check(world: dict[str, Path]) -> None:
    add_load(world, "2")
    recorded = inputs(world)
    assert recorded is not None
    build_state.remember(recorded)
    shutil.rmtree(world["lake"] / "bronze" / "hospital_b" / "claims" / "load_id=2")
    assert scope(world) == build_state.RECONCILE_ALL


def test_a_changed_project_or_warehouse_means_a_full_check(world: dict[str, Path]) -> None:
    recorded = inputs(world)
    assert recorded is not None
    build_state.remember(recorded)
    add_load(world, "2")
    assert scope(world) == "2"
    assert scope(world, RCM_BRONZE_SCHEMA="other") == build_state.RECONCILE_ALL
    model = next((world["project"] / "dbt_project" / "models").rglob("stg_hospital_a__claims.sql"))
    original = model.read_text()
    model.write_text(original + "\n-- edited\n")
    assert scope(world) == build_state.RECONCILE_ALL
    model.write_text(original)
    assert scope(world) == "2"
    world["warehouse"].write_bytes(b"tables changed by another tool")
    assert scope(world) == build_state.RECONCILE_ALL


def test_a_bronze_file_outside_a_load_folder_means_a_full_check(world: dict[str, Path]) -> None:
    """Its rows carry a load id the scope could not name, so only a full check sees them."""
    recorded = inputs(world)
    assert recorded is not None
    build_state.remember(recorded)
    stray = world["lake"] / "bronze" / "hospital_a" / "claims" / "backfill" / "part.parquet"
    stray.parent.mkdir()
    stray.write_bytes(b"rows copied in by hand")
    assert scope(world) == build_state.RECONCILE_ALL


def test_a_parent_folder_named_like_a_load_is_not_a_load(tmp_path: Path) -> None:
    lake = tmp_path / "load_id=parent" / "lake"
    part = lake / "bronze" / "hospital_a" / "claims" / "load_id=7" / "part.parquet"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"rows")
    found = build_state.local_build_inputs(
        project_dir=REPO_ROOT,
        profiles_dir=REPO_ROOT / "profiles",
        target=None,
        env={"RCM_LAKE_DIR": str(lake), "RCM_WAREHOUSE_PATH": str(tmp_path / "w.duckdb")},
    )
    assert found is not None
    assert set(found.bronze_loads) == {"7"}


# --- which sources a build scoped to new loads leaves alone (unchanged_sources) ----------------


def test_the_declared_sources_are_read_from_the_project_yaml() -> None:
    declared = build_state.declared_sources(REPO_ROOT)
    assert declared is not None
    assert {"hospital_a.claims", "hospital_b.providers", "codesets.npi"} <= set(declared)
    assert "lake_audit.load_audit" in declared
    assert declared == sorted(set(declared))


def test_a_project_yaml_that_does_not_parse_declares_nothing_known(world: dict[str, Path]) -> None:
    broken = world["project"] / "dbt_project" / "models" / "broken.yml"
    broken.write_text("sources: [unclosed\n")
    assert build_state.declared_sources(world["project"]) is None


def test_only_bronze_tables_without_a_new_load_are_unchanged(world: dict[str, Path]) -> None:
    add_load(world, "2")  # hospital_b/claims
    recorded = inputs(world)
    assert recorded is not None
    build_state.remember(recorded)
    add_load(world, "3")
    current = inputs(world)
    assert current is not None
    assert current.load_tables == {
        "1": "hospital_a/claims",
        "2": "hospital_b/claims",
        "3": "hospital_b/claims",
    }
    declared = ["hospital_a.claims", "hospital_b.claims", "hospital_b.patients", "lake_audit.x"]
    new = build_state.reconcile_scope(current)
    assert new == "3"
    # hospital_b.patients has no Bronze folder here and the audit log is not Bronze: a build
    # reads them whatever the loads; hospital_b.claims has the new load
    assert build_state.unchanged_sources(current, new, declared) == ["hospital_a.claims"]
    assert build_state.unchanged_sources(current, build_state.RECONCILE_ALL, declared) == []
    assert build_state.unchanged_sources(current, build_state.RECONCILE_NONE, declared) == [
        "hospital_a.claims",
        "hospital_b.claims",
    ]


def test_sources_declared_in_a_yaml_file_count_too(world: dict[str, Path]) -> None:
    """dbt reads .yaml as well as .yml: a source missed here would never be selected."""
    extra = world["project"] / "dbt_project" / "models" / "_extra__sources.yaml"
    extra.write_text(
        "version: 2\nsources:\n  - name: hospital_c\n    tables:\n      - name: claims\n"
    )
    declared = build_state.declared_sources(world["project"])
    assert declared is not None and "hospital_c.claims" in declared


def test_the_last_build_s_outcome_is_told_to_the_warehouse_s_readers(tmp_path: Path) -> None:
    warehouse = tmp_path / "rcm.duckdb"
    # no record (a warehouse built before there was one): nothing to say
    assert build_state.stale_warning(warehouse) is None
    build_state.record_outcome(warehouse, "running")
    running = build_state.stale_warning(warehouse)
    assert running is not None and "has not ended" in running and str(warehouse) in running
    failed = [f"test_{i}" for i in range(5)]
    build_state.record_outcome(warehouse, "failed", failed)
    said = build_state.stale_warning(warehouse)
    assert said is not None and "failed (test_0, test_1, test_2 and 2 more)" in said, said
    assert "run `rcm build`" in said
    headline, text = build_state.reader_notice(warehouse) or ("", "")
    assert headline == "The last warehouse build failed." and "test_0" not in text
    assert str(warehouse) not in text
    build_state.record_outcome(warehouse, "ok")
    assert build_state.stale_warning(warehouse) is None
    assert build_state.reader_notice(warehouse) is None
    # a record that is not JSON is no record
    build_state.outcome_path(warehouse).write_text("{")
    assert build_state.stale_warning(warehouse) is None
