"""`rcm export`, the README's Parquet path for Power BI, exports the marts only, never the PHI.

The README told Power BI users to run DuckDB's ``EXPORT DATABASE``, which copies every schema:
restricted.dim_patient_phi, snapshots.snap_patients, the staging and CDM patient tables, with
names, SSN, birth dates and addresses, into a folder handed to a BI tool.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from ingestion.cli import main
from ingestion.export import export_marts
from tests.pipeline.small_project import held_open

ROOT = Path(__file__).resolve().parents[2]


def _warehouse(path: Path) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create schema restricted")
        con.execute("create schema snapshots")
        con.execute(
            "create table marts.fct_claims as "
            "select 1::bigint as claim_key, 12.50::decimal(18, 2) as claim_amount"
        )
        con.execute("create view marts.kpi_view as select claim_key from marts.fct_claims")
        con.execute("create table restricted.dim_patient_phi as select '123-45-6789' as ssn")
        con.execute("create table snapshots.snap_patients as select 'Doe' as last_name")
    return path


def test_export_writes_the_marts_and_nothing_else(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path / "rcm.duckdb")
    out = tmp_path / "export"
    written = export_marts(warehouse, out)
    assert sorted(p.name for p in written) == ["fct_claims.parquet", "kpi_view.parquet"]
    assert sorted(p.name for p in out.iterdir()) == ["fct_claims.parquet", "kpi_view.parquet"]
    with duckdb.connect() as con:
        rows = con.execute(
            f"select claim_key, claim_amount from '{out / 'fct_claims.parquet'}'"
        ).fetchall()
    assert [(int(k), str(a)) for k, a in rows] == [(1, "12.50")]


def test_a_mart_gone_from_the_warehouse_leaves_the_export_and_other_files_stay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a model removed (or renamed) since the last export: Power BI must not go on reading it
    warehouse = _warehouse(tmp_path / "rcm.duckdb")
    out = tmp_path / "export"
    export_marts(warehouse, out)
    (out / "notes.parquet").write_bytes(b"a file of the user's own")
    with duckdb.connect(str(warehouse)) as con:
        con.execute("drop view marts.kpi_view")
    assert [p.name for p in export_marts(warehouse, out)] == ["fct_claims.parquet"]
    assert sorted(p.name for p in out.iterdir()) == ["fct_claims.parquet", "notes.parquet"]
    assert "removed 1 file(s) of marts no longer in the warehouse: kpi_view.parquet" in (
        capsys.readouterr().out
    )


def test_rcm_export_names_the_folder_and_a_missing_warehouse(
    tmp_path: Path,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    warehouse = _warehouse(tmp_path / "rcm.duckdb")
    assert main(["export", "--warehouse", str(warehouse), "--out", str(tmp_path / "pbi")]) == 0
    assert "2 tables of schema marts written to" in capsys.readouterr().out
    missing = tmp_path / "none.duckdb"
    assert main(["export", "--warehouse", str(missing), "--out", str(tmp_path / "pbi")]) == 1
    assert f"no warehouse at {missing}" in capsys.readouterr().err
    assert not missing.exists()


def test_readme_power_bi_parquet_path_exports_only_the_marts() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Power BI and Synapse consumers", 1)[1].split("\n## ", 1)[0]
    local = re.search(r"- \*\*Local DuckDB\*\*.*?(?=\n- \*\*)", section, re.S)
    assert local, "no Local DuckDB item in the Power BI section"
    text = local.group(0)
    # no command that exports the whole database (EXPORT DATABASE ... (FORMAT parquet))
    assert "FORMAT PARQUET" not in text.upper(), text
    assert "rcm export" in text


def test_a_warehouse_being_built_is_a_message_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `rcm export` scheduled after the nightly build, while the build still runs
    warehouse = _warehouse(tmp_path / "rcm.duckdb")
    with held_open(warehouse) as pid:
        code = main(["export", "--warehouse", str(warehouse), "--out", str(tmp_path / "out")])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1
    assert f"cannot open the warehouse {warehouse} read-only" in err
    assert f"(PID {pid})" in err
    assert "wait for it to end and run `rcm export` again" in err
    assert not (tmp_path / "out").exists()


def test_an_export_that_fails_half_way_leaves_the_last_one_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # yesterday's export, then a mart after fct_claims that no longer reads (a view whose
    # table is gone): Power BI must not read today's fct_claims beside yesterday's others
    warehouse = _warehouse(tmp_path / "rcm.duckdb")
    out = tmp_path / "pbi"
    export_marts(warehouse, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update marts.fct_claims set claim_amount = claim_amount + 1")
        con.execute("create table marts.scratch as select 1 as x")
        con.execute("create view marts.zz_broken as select x from marts.scratch")
        con.execute("drop table marts.scratch")

    code = main(["export", "--warehouse", str(warehouse), "--out", str(out)])

    err = " ".join(capsys.readouterr().err.split())
    assert code == 1
    assert f"cannot export marts.zz_broken of {warehouse}" in err
    assert f"nothing was changed in {out}" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # no staging folder left beside it (only the list of the files the last export wrote)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".pbi.export.json", "pbi", "rcm.duckdb"]


def test_a_warehouse_without_marts_leaves_the_last_export_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a new, empty warehouse file (a rebuild that has not run yet): the export stops before
    # it writes or removes anything, and says so on stderr
    out = tmp_path / "pbi"
    export_marts(_warehouse(tmp_path / "rcm.duckdb"), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()

    code = main(["export", "--warehouse", str(empty), "--out", str(out)])

    captured = capsys.readouterr()
    err = " ".join(captured.err.split())
    assert code == 1
    assert f"{empty} has no schema marts (or nothing in it); nothing was changed in {out}" in err
    assert "removed" not in captured.out
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    fresh = tmp_path / "never"
    assert main(["export", "--warehouse", str(empty), "--out", str(fresh)]) == 1
    assert not fresh.exists()


def test_an_export_into_the_current_folder_lists_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `--out .`: the folder has no name of its own to place the staging folder and the list by
    warehouse = _warehouse(tmp_path / "rcm.duckdb")
    out = tmp_path / "pbi"
    out.mkdir()
    monkeypatch.chdir(out)
    assert main(["export", "--warehouse", str(warehouse), "--out", "."]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["fct_claims.parquet", "kpi_view.parquet"]
    assert (tmp_path / ".pbi.export.json").is_file()
