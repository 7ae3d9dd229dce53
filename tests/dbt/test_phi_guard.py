"""The PHI guard passes on the built project and fails on a tainted copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
from phi_guard import find_phi_violations, load_manifest, manifest_violations, phi_column_names
from rcm_dbt_e2e import Pipeline


def test_no_phi_outside_restricted_schemas(pipeline: Pipeline) -> None:
    manifest = pipeline.target / "manifest.json"
    assert "ssn" in phi_column_names(load_manifest(manifest))
    assert find_phi_violations(manifest, pipeline.warehouse) == []


def test_guard_fails_on_a_tainted_manifest(pipeline: Pipeline, tmp_path: Path) -> None:
    manifest = load_manifest(pipeline.target / "manifest.json")
    fact = manifest["nodes"]["model.rcm.fct_transactions"]
    fact["columns"]["patient_ssn"] = {"name": "patient_ssn", "config": {"meta": {"phi": True}}}
    fact["columns"]["birth_date"] = {"name": "birth_date", "meta": {}}
    tainted = tmp_path / "manifest.json"
    tainted.write_text(json.dumps(manifest))
    problems = manifest_violations(load_manifest(tainted))
    assert any("patient_ssn" in problem for problem in problems)
    assert any("birth_date" in problem for problem in problems)


def test_guard_fails_on_a_mart_reading_the_restricted_schema(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    # a report that renames a PHI column (last_name as patient_surname) has no PHI name: its
    # read of restricted.dim_patient_phi is what gives it away
    manifest = load_manifest(pipeline.target / "manifest.json")
    report = manifest["nodes"]["model.rcm.kpi_monthly"]
    report["depends_on"]["nodes"].append("model.rcm.dim_patient_phi")
    tainted = tmp_path / "manifest.json"
    tainted.write_text(json.dumps(manifest))
    assert manifest_violations(load_manifest(tainted)) == [
        "model.rcm.kpi_monthly (schema marts) reads model.rcm.dim_patient_phi of schema "
        "restricted: only restricted nodes may read PHI marts"
    ]


def test_guard_follows_a_restricted_read_through_the_internal_layers(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    # a CDM model may read the PHI mart (it stays internal), but the mart built from it then
    # reads PHI too: the guard names the mart and the path, not the CDM models on it
    manifest = load_manifest(pipeline.target / "manifest.json")
    unioned = manifest["nodes"]["model.rcm.int_departments_unioned"]
    unioned["depends_on"]["nodes"].append("model.rcm.dim_patient_phi")
    tainted = tmp_path / "manifest.json"
    tainted.write_text(json.dumps(manifest))
    assert manifest_violations(load_manifest(tainted)) == [
        "model.rcm.dim_department (schema marts) reads model.rcm.dim_patient_phi of schema "
        "restricted through model.rcm.int_departments_conformed (schema cdm), "
        "model.rcm.int_departments_unioned (schema cdm): only restricted nodes may read PHI marts"
    ]


def test_guard_fails_on_a_tainted_warehouse(pipeline: Pipeline, tmp_path: Path) -> None:
    copy = tmp_path / "tainted.duckdb"
    shutil.copy(pipeline.warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "create table marts.patient_export as "
            "select patient_key, ssn from restricted.dim_patient_phi"
        )
    problems = find_phi_violations(pipeline.target / "manifest.json", copy)
    assert problems == ["marts.patient_export.ssn: PHI column outside the restricted schemas"]
