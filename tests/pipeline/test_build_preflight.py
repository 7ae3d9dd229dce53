"""`rcm build` before dbt runs: the warehouse's folder is made, and a lake with no Bronze data is
a one-line error that says what to do (dbt's own errors were a long traceback for the folder
and one "No files found" per source model for the lake)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingestion.build import default_target_path, local_preflight

ROOT = Path(__file__).resolve().parents[2]


def _rcm_build(
    tmp_path: Path, lake: Path, warehouse: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """`rcm build` in a fresh interpreter on ``lake`` and ``warehouse``, artifacts in tmp/t."""
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        RCM_LAKE_DIR=str(lake),
        RCM_WAREHOUSE_PATH=str(warehouse),
        RCM_TARGET="local",
        DBT_PROFILES_DIR=str(ROOT / "profiles"),
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ingestion.cli",
            "build",
            "--target-path",
            str(tmp_path / "t"),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )


def test_an_empty_lake_stops_rcm_build_with_what_to_do(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    warehouse = tmp_path / "not" / "yet" / "rcm.duckdb"
    done = _rcm_build(tmp_path, lake, warehouse)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"the lake {lake} holds no Bronze data" in done.stdout
    assert f"rcm ingest --lake {lake}" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert warehouse.parent.is_dir()  # made before the lake was looked at
    assert not (tmp_path / "t").exists()  # dbt never ran


def test_a_lake_with_a_load_or_a_selection_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    monkeypatch.setenv("RCM_LAKE_DIR", str(lake))
    monkeypatch.setenv("RCM_WAREHOUSE_PATH", str(tmp_path / "wh" / "rcm.duckdb"))
    monkeypatch.delenv("RCM_TARGET", raising=False)
    assert local_preflight(None, need_bronze=True) is not None
    assert local_preflight(None, need_bronze=False) is None  # `--select`: dbt decides
    part = lake / "bronze" / "hospital_a" / "claims" / "load_id=20240101T000000Z-x" / "p.parquet"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"")
    assert local_preflight(None, need_bronze=True) is None
    # another engine's warehouse is not a local folder
    assert local_preflight("databricks", need_bronze=True) is None


def test_a_warehouse_folder_that_cannot_be_made_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("RCM_WAREHOUSE_PATH", str(blocker / "rcm.duckdb"))
    monkeypatch.delenv("RCM_TARGET", raising=False)
    problem = local_preflight(None, need_bronze=False)
    assert problem is not None and f"cannot create the warehouse folder {blocker}" in problem


def test_a_selection_that_matches_nothing_is_an_error(tmp_path: Path) -> None:
    # dbt reports success for it; `rcm build` says nothing was built (a typo, nearly always)
    lake = tmp_path / "lake"
    done = _rcm_build(tmp_path, lake, tmp_path / "wh" / "rcm.duckdb", "--select", "no_such_model")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the selection matched no node, so nothing was built" in done.stdout
    assert "result: OK" not in done.stdout


def test_dbt_target_path_is_where_rcm_looks_for_the_artifacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `rcm docs` printed <project>/target/static_index.html while dbt wrote to DBT_TARGET_PATH
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    assert default_target_path(tmp_path) == tmp_path / "target"
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "elsewhere"))
    assert default_target_path(ROOT) == tmp_path / "elsewhere"
    monkeypatch.setenv("DBT_TARGET_PATH", "artifacts")
    assert default_target_path(ROOT) == ROOT / "artifacts"
