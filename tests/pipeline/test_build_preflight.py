"""`rcm build` before dbt runs: the warehouse's folder is made, and a lake with no Bronze data is
a one-line error that says what to do (dbt's own errors were a long traceback for the folder
and one "No files found" per source model for the lake). `--lake` and `--warehouse` of
`rcm build` and `rcm docs` take the place of RCM_LAKE_DIR and RCM_WAREHOUSE_PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ingestion import build_state
from ingestion.build import (
    DEFAULT_PROFILES_DIR,
    DEFAULT_PROJECT_DIR,
    default_target_path,
    local_preflight,
)
from ingestion.cli import main
from ingestion.pipeline import StageFailedError
from ingestion.pipeline import _build as pipeline_build
from tests.pipeline.small_project import held_open

ROOT = Path(__file__).resolve().parents[2]


def _rcm(tmp_path: Path, env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    """`rcm <command>` in a fresh interpreter, in tmp_path, with ``env`` added to the
    environment."""
    return subprocess.run(
        [sys.executable, "-m", "ingestion.cli", *command],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        cwd=tmp_path,
        timeout=300,
        check=False,
    )


def _rcm_build(
    tmp_path: Path, lake: Path, warehouse: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """`rcm build` in a fresh interpreter on ``lake`` and ``warehouse``, artifacts in tmp/t."""
    env = {
        "RCM_LAKE_DIR": str(lake),
        "RCM_WAREHOUSE_PATH": str(warehouse),
        "RCM_TARGET": "local",
        "DBT_PROFILES_DIR": str(ROOT / "profiles"),
    }
    return _rcm(tmp_path, env, "build", "--target-path", str(tmp_path / "t"), *args)


def test_an_empty_lake_stops_rcm_build_with_what_to_do(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    warehouse = tmp_path / "not" / "yet" / "rcm.duckdb"
    done = _rcm_build(tmp_path, lake, warehouse)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"the lake {lake} holds no Bronze data" in done.stderr
    assert f"rcm ingest --lake {lake}" in done.stderr
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
    assert "the selection matched no node, so nothing was built" in done.stderr
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


def test_lake_and_warehouse_options_win_over_the_environment(tmp_path: Path) -> None:
    # the environment names one lake and warehouse, the options others: the options are used
    env_lake, env_warehouse = tmp_path / "env_lake", tmp_path / "env_wh" / "rcm.duckdb"
    lake, warehouse = tmp_path / "lake", tmp_path / "wh" / "rcm.duckdb"
    lake.mkdir()
    done = _rcm_build(
        tmp_path, env_lake, env_warehouse, "--lake", str(lake), "--warehouse", str(warehouse)
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"the lake {lake} holds no Bronze data" in done.stderr
    assert "point --lake (or RCM_LAKE_DIR) at the lake you ingested into" in done.stderr
    assert warehouse.parent.is_dir() and not env_warehouse.parent.exists()


def test_an_up_to_date_build_through_the_options_names_their_lake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A warehouse recorded as built from a lake: `rcm build --lake --warehouse` on both finds
    it up to date (so the options reach the check), says which lake it checked, and leaves the
    environment as it was (dbt never runs: nothing changed)."""
    monkeypatch.delenv("RCM_TARGET", raising=False)
    monkeypatch.setenv("RCM_LAKE_DIR", str(tmp_path / "other_lake"))
    monkeypatch.setenv("RCM_WAREHOUSE_PATH", str(tmp_path / "other" / "rcm.duckdb"))
    lake, warehouse = tmp_path / "lake", tmp_path / "wh" / "rcm.duckdb"
    part = lake / "bronze" / "hospital_a" / "claims" / "load_id=1" / "part-00000.parquet"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"rows of load 1")
    warehouse.parent.mkdir()
    warehouse.write_bytes(b"built tables")
    recorded = build_state.local_build_inputs(
        project_dir=DEFAULT_PROJECT_DIR,
        profiles_dir=DEFAULT_PROFILES_DIR,
        target=None,
        env=dict(os.environ, RCM_LAKE_DIR=str(lake), RCM_WAREHOUSE_PATH=str(warehouse)),
    )
    assert recorded is not None
    build_state.remember(recorded)

    assert main(["build", "--lake", str(lake), "--warehouse", str(warehouse)]) == 0
    out = capsys.readouterr().out
    assert f"rcm build: the warehouse {warehouse} is up to date" in out
    assert f"no Bronze file of the lake {lake} (1 checked)" in out
    assert os.environ["RCM_LAKE_DIR"] == str(tmp_path / "other_lake")
    assert os.environ["RCM_WAREHOUSE_PATH"] == str(tmp_path / "other" / "rcm.duckdb")


def test_docs_takes_the_warehouse_option_and_another_target_refuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RCM_TARGET", raising=False)
    monkeypatch.setenv("RCM_WAREHOUSE_PATH", str(tmp_path / "wh" / "rcm.duckdb"))
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["docs", "--warehouse", str(blocker / "rcm.duckdb")]) == 1
    assert f"rcm docs: cannot create the warehouse folder {blocker}" in capsys.readouterr().err
    # --warehouse is the local target's file: another target's build would ignore it
    for command in ("build", "docs"):
        assert main([command, "--target", "databricks", "--warehouse", "w.duckdb"]) == 2
        out = capsys.readouterr().err
        assert f"rcm {command}: --warehouse is the DuckDB file of the local target" in out
        assert "databricks" in out
        # so is --lake: another target reads Bronze from its external tables, not the folder
        assert main([command, "--target", "synapse", "--lake", str(tmp_path)]) == 2
        out = capsys.readouterr().err
        assert f"rcm {command}: --lake is the folder the local target reads Bronze from" in out
        assert "synapse" in out


def test_a_warehouse_another_process_holds_open_stops_rcm_build_naming_it(
    tmp_path: Path,
) -> None:
    # a dashboard or a Python session left open on the file: dbt parsed the project, then
    # stopped with a traceback of some 200 lines and no word of what to do
    warehouse = tmp_path / "wh" / "rcm.duckdb"
    warehouse.parent.mkdir()
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table t as select 1 as x")
    lake = tmp_path / "lake"
    part = lake / "bronze" / "hospital_a" / "claims" / "load_id=20240101T000000Z-x" / "p.parquet"
    part.parent.mkdir(parents=True)
    duckdb.sql(f"copy (select 1 as x) to '{part}' (format parquet)")
    with held_open(warehouse) as pid:
        done = _rcm_build(tmp_path, lake, warehouse)
    out = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1, out
    assert f"the warehouse {warehouse} is open in process {pid} (" in out
    assert "Close it, or wait for it to end, and run the command again; nothing was built" in out
    assert "Traceback" not in out
    assert not (tmp_path / "t").exists()  # dbt never ran


def test_rcm_run_stops_at_the_build_stage_naming_the_process_that_holds_the_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "rcm.duckdb"
    duckdb.connect(str(warehouse)).close()
    monkeypatch.setenv("RCM_WAREHOUSE_PATH", str(warehouse))
    monkeypatch.delenv("RCM_TARGET", raising=False)
    with held_open(warehouse) as pid, pytest.raises(StageFailedError) as stopped:
        pipeline_build(None)
    assert f"the warehouse {warehouse} is open in process {pid} (" in str(stopped.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RCM_DUCKDB_MEMORY_LIMIT", "abc"),
        ("RCM_DUCKDB_MEMORY_LIMIT", "4"),  # DuckDB wants a unit
        ("RCM_DUCKDB_THREADS", "0"),
        ("RCM_DBT_THREADS", "two"),
        ("RCM_DUCKDB_MAX_VACUUM_TASKS", "-1"),
        ("RCM_DUCKDB_THREADS", "\u00b2"),  # a digit to str.isdigit, not to int()
        # these abort DuckDB 2.0's process (not an error it raises)
        ("RCM_DUCKDB_BLOCK_ALLOCATOR_MEMORY", "20%"),
        ("RCM_DUCKDB_BLOCK_ALLOCATOR_MEMORY", "none"),
        ("RCM_DUCKDB_BLOCK_ALLOCATOR_MEMORY", "999999TB"),
    ],
)
def test_a_local_setting_dbt_or_duckdb_cannot_use_is_named_before_dbt_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("RCM_WAREHOUSE_PATH", str(tmp_path / "wh" / "rcm.duckdb"))
    monkeypatch.delenv("RCM_TARGET", raising=False)
    monkeypatch.setenv(name, value)
    problem = local_preflight(None, need_bronze=False)
    assert problem is not None and problem.startswith(f"{name}={value!r} is "), problem
    assert "or unset it for the default" in problem
    # another engine's build does not read them
    assert local_preflight("databricks", need_bronze=False) is None


def test_the_local_settings_take_duckdb_s_forms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RCM_WAREHOUSE_PATH", str(tmp_path / "wh" / "rcm.duckdb"))
    monkeypatch.delenv("RCM_TARGET", raising=False)
    settings = {
        "RCM_DUCKDB_MEMORY_LIMIT": "50%",
        "RCM_DUCKDB_BLOCK_ALLOCATOR_MEMORY": "0B",
        "RCM_DUCKDB_THREADS": "1",
        "RCM_DBT_THREADS": "4",
        "RCM_DUCKDB_MAX_VACUUM_TASKS": "0",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    assert local_preflight(None, need_bronze=False) is None
    # and DuckDB opens a database with them
    with duckdb.connect(
        ":memory:",
        config={
            "memory_limit": settings["RCM_DUCKDB_MEMORY_LIMIT"],
            "block_allocator_memory": settings["RCM_DUCKDB_BLOCK_ALLOCATOR_MEMORY"],
        },
    ) as connection:
        assert connection.sql("select 1").fetchall() == [(1,)]
    for size in ("4 GiB", "512mb", "1.5GB", "8G", "2 gigabytes", "none", "-1"):
        monkeypatch.setenv("RCM_DUCKDB_MEMORY_LIMIT", size)
        assert local_preflight(None, need_bronze=False) is None, size
    for size in ("512 MB", "2 gigabytes", "1G", "3GB"):
        monkeypatch.setenv("RCM_DUCKDB_BLOCK_ALLOCATOR_MEMORY", size)
        assert local_preflight(None, need_bronze=False) is None, size


def test_rcm_build_and_rcm_run_stop_on_a_bad_setting_before_they_start(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    env = {
        "RCM_WAREHOUSE_PATH": str(tmp_path / "wh" / "rcm.duckdb"),
        "RCM_TARGET": "local",
        "RCM_DUCKDB_THREADS": "0",
    }
    for command in (
        ["build", "--lake", str(lake), "--target-path", str(tmp_path / "t")],
        ["run", "--sources", str(tmp_path / "sources"), "--lake", str(lake), "--scale", "0.01"],
    ):
        done = _rcm(tmp_path, env, *command)
        output = done.stdout + done.stderr
        assert done.returncode == 1, output
        assert "RCM_DUCKDB_THREADS='0' is not a whole number of 1 or more" in output
        assert "Traceback" not in output
    assert not (tmp_path / "t").exists()  # dbt never ran
    assert not (tmp_path / "sources").exists()  # nothing generated
