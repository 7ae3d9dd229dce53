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


def _tainted(pipeline: Pipeline, tmp_path: Path, *statements: str) -> Path:
    """A copy of the built warehouse with ``statements`` run on it."""
    copy = tmp_path / "tainted.duckdb"
    shutil.copy(pipeline.warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        for statement in statements:
            con.execute(statement)
    return copy


def test_guard_fails_on_a_tainted_warehouse(pipeline: Pipeline, tmp_path: Path) -> None:
    copy = _tainted(
        pipeline,
        tmp_path,
        "create table marts.patient_export as "
        "select patient_key, ssn from restricted.dim_patient_phi",
    )
    problems = find_phi_violations(pipeline.target / "manifest.json", copy)
    assert problems[0] == "marts.patient_export.ssn: PHI column outside the restricted schemas"
    assert problems[1:] == [
        f"marts.patient_export.ssn: holds {_patients(copy)} ssn value(s) of "
        "restricted.dim_patient_phi: PHI outside the restricted schemas"
    ]


def _patients(warehouse: Path, column: str = "ssn") -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ((count,),) = con.execute(
            f"select count(distinct {column}) from restricted.dim_patient_phi"
        ).fetchall()
    return int(count)


def test_guard_finds_phi_values_under_other_names(pipeline: Pipeline, tmp_path: Path) -> None:
    # a CDM model that renames the PHI (ssn as member_ref) and a mart that passes it on: no
    # PHI name, no read of the restricted schema; the values give it away
    copy = _tainted(
        pipeline,
        tmp_path,
        "create table marts.member_contacts as select patient_key, ssn as member_ref, "
        "phone_number as contact, address as mail_to, last_name as surname "
        "from restricted.dim_patient_phi",
        # one patient's phone number in a free-text column is a leak too
        "create table marts.call_notes as select 'called back' as note union all "
        "(select phone_number from restricted.dim_patient_phi order by phone_number limit 1)",
    )
    problems = find_phi_violations(pipeline.target / "manifest.json", copy)
    assert problems == [
        "marts.call_notes.note: holds 1 phone_number value(s) of restricted.dim_patient_phi: "
        "PHI outside the restricted schemas",
        f"marts.member_contacts.contact: holds {_patients(copy, 'phone_number')} phone_number "
        "value(s) of restricted.dim_patient_phi: PHI outside the restricted schemas",
        f"marts.member_contacts.mail_to: holds {_patients(copy, 'address')} address value(s) "
        "of restricted.dim_patient_phi: PHI outside the restricted schemas",
        f"marts.member_contacts.member_ref: holds {_patients(copy)} ssn value(s) of "
        "restricted.dim_patient_phi: PHI outside the restricted schemas",
    ]
