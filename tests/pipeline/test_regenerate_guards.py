"""`rcm run --regenerate` removes the old lake and warehouse, but not from under another run:
not while an `rcm ingest` holds the lake's lock, nor while another process has the warehouse
open. Real processes and a real lock file; nothing is generated (the guards come first)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ingestion import cli
from ingestion.lake import LocalLake, ingest_lock
from tests.pipeline.small_project import held_open


def _old_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    lake = tmp_path / "lake"
    kept = lake / "bronze" / "hospital_a" / "patients" / "kept.parquet"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"PAR1")
    warehouse = tmp_path / "warehouse" / "rcm.duckdb"
    warehouse.parent.mkdir()
    duckdb.connect(str(warehouse)).close()
    monkeypatch.setenv("RCM_WAREHOUSE_PATH", str(warehouse))
    monkeypatch.setenv("RCM_LAKE_DIR", str(lake))  # `rcm run` sets it: restored after the test
    return lake, kept, warehouse


def _regenerate(tmp_path: Path, lake: Path | str) -> list[str]:
    sources = tmp_path / "sources"
    return ["run", "--sources", str(sources), "--lake", str(lake), "--regenerate", "--no-docs"]


def test_regenerate_waits_for_an_ingest_holding_the_lake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lake, kept, warehouse = _old_world(tmp_path, monkeypatch)
    with ingest_lock(LocalLake(lake)):  # what a running `rcm ingest` holds
        assert cli.main(_regenerate(tmp_path, lake)) == 1
    err = capsys.readouterr().err
    assert "another `rcm ingest` or `rcm run` is loading into the lake" in err
    assert kept.exists() and warehouse.exists()
    assert not (tmp_path / "sources").exists()  # nothing generated either


def test_regenerate_leaves_a_warehouse_another_process_holds_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lake, kept, warehouse = _old_world(tmp_path, monkeypatch)
    with held_open(warehouse) as pid:
        assert cli.main(_regenerate(tmp_path, lake)) == 1
    err = capsys.readouterr().err
    assert f"is open in process {pid}" in err and "--regenerate removed nothing" in err
    assert kept.exists() and warehouse.exists()


def test_regenerate_refuses_an_adls_lake_it_cannot_remove(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # refused before any call to Azure: nothing here reaches the network
    _lake, _kept, warehouse = _old_world(tmp_path, monkeypatch)
    remote = "abfss://lake@account.dfs.core.windows.net/rcm"
    assert cli.main(_regenerate(tmp_path, remote)) == 1
    err = capsys.readouterr().err
    assert f"--regenerate removes only a local lake, and {remote} is on ADLS" in err
    assert "nothing was removed" in err and warehouse.exists()


def test_regenerate_with_a_folder_for_a_warehouse_removes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lake, kept, warehouse = _old_world(tmp_path, monkeypatch)
    folder = tmp_path / "a_folder"
    folder.mkdir()
    monkeypatch.setenv("RCM_WAREHOUSE_PATH", str(folder))
    assert cli.main(_regenerate(tmp_path, lake)) == 1
    err = capsys.readouterr().err
    assert f"the warehouse {folder} is a folder" in err and "removed nothing" in err
    assert kept.exists() and warehouse.exists()


def test_regenerate_removes_the_old_lake_and_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the removal itself, stopped right after it (no sources are generated): the lake is moved
    # aside and deleted, and nothing of it is left beside it
    from ingestion import pipeline

    lake, _kept, warehouse = _old_world(tmp_path, monkeypatch)
    pipeline._reset(str(lake), warehouse)
    assert not lake.exists() and not warehouse.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["warehouse"]
