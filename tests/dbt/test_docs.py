"""`rcm docs`: dbt docs generate --static gives one self-contained HTML file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from docs_guard import find_documentation_gaps, load_manifest
from rcm_dbt_e2e import Pipeline

from ingestion.build import run_docs


def test_static_docs_site(pipeline: Pipeline) -> None:
    html = run_docs(target_path=pipeline.target)
    assert html.is_file()
    text = html.read_text()
    assert "fct_transactions" in text
    assert "rcm_finance_dashboard" in text


def test_docs_without_a_warehouse_say_what_the_site_lacks(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    # it used to succeed quietly, leaving an empty warehouse file and a site with no columns
    missing = tmp_path / "never_built" / "rcm.duckdb"
    env = dict(os.environ, RCM_WAREHOUSE_PATH=str(missing), RCM_LAKE_DIR=str(pipeline.lake))
    done = subprocess.run(
        [sys.executable, "-m", "ingestion.cli", "docs", "--target-path", str(tmp_path / "t")],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"rcm docs: warning: no warehouse at {missing}" in done.stderr, done.stderr[-2000:]
    assert "run `rcm build` first" in done.stderr
    # dbt's catalog read an empty warehouse elsewhere: none is left at the path, so the next
    # run warns again (and a build started meanwhile is never removed)
    assert not missing.exists() and not missing.with_name("rcm.duckdb.wal").exists()


def test_every_model_and_column_is_described(pipeline: Pipeline) -> None:
    gaps = find_documentation_gaps(pipeline.target / "manifest.json", pipeline.warehouse)
    assert gaps == []


def test_the_docs_guard_finds_what_is_missing(pipeline: Pipeline, tmp_path: Path) -> None:
    # a model without a description, a column described nowhere, a column the YAML misspells
    manifest = load_manifest(pipeline.target / "manifest.json")
    report = manifest["nodes"]["model.rcm.kpi_denials_by_reason"]
    report["description"] = ""
    del report["columns"]["still_denied_amount"]
    report["columns"]["payer_nam"] = {"name": "payer_nam", "description": "Payer name."}
    tainted = tmp_path / "manifest.json"
    tainted.write_text(json.dumps(manifest))
    gaps = find_documentation_gaps(tainted, pipeline.warehouse)
    assert gaps == [
        "model.rcm.kpi_denials_by_reason (dbt_project/models/marts/finance/"
        "kpi_denials_by_reason.sql): no description in the folder's YAML",
        "model.rcm.kpi_denials_by_reason: column still_denied_amount of "
        "marts.kpi_denials_by_reason is not in the model's YAML",
        "model.rcm.kpi_denials_by_reason: the YAML lists column payer_nam, which "
        "marts.kpi_denials_by_reason does not have",
    ]
