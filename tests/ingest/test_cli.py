"""`rcm ingest` as a person runs it: progress, summary, exit codes, failing sources."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from pathlib import Path

import duckdb
import pytest

from ingestion.bronze import WriteSettings
from ingestion.build import REPO_ROOT
from ingestion.cli import main
from ingestion.config import load_config
from ingestion.pipeline import RunReport, _ingest
from tests.small_disk import run_on_small_disk

from .conftest import SQL_ENTITIES, ingest, read_audit, read_bronze, write_config


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RCM_EMR_HOSPITAL_A_URL", "RCM_EMR_HOSPITAL_B_URL", "RCM_LAKE_DIR"):
        monkeypatch.delenv(name, raising=False)


def run(sources: Path, lake: Path, *extra: str) -> int:
    return main(["ingest", "--sources", str(sources), "--lake", str(lake), *extra])


def test_online_without_the_api_urls_stops_before_anything_loads(
    sources: Path, lake: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the code set alone failed, after every other entity had loaded, with exit 1
    monkeypatch.delenv("RCM_NPPES_URL", raising=False)
    monkeypatch.delenv("RCM_ICD_URL", raising=False)
    assert run(sources, lake, "--online") == 2
    err = capsys.readouterr().err
    assert "--online needs RCM_NPPES_URL (the NPPES API, e.g. " in err
    assert "and RCM_ICD_URL (the ICD-10-CM API, e.g. " in err
    assert "nothing was loaded" in err
    assert read_audit(lake) == []
    monkeypatch.setenv("RCM_NPPES_URL", "http://127.0.0.1:9/api/")
    only = ["--only", "hospital_a.providers", "--only", "codesets.npi"]
    assert run(sources, lake, "--online", *only) != 2
    assert "--online needs" not in capsys.readouterr().err


def test_default_config_end_to_end_and_audit_readable_by_duckdb(
    sources: Path, lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(sources, lake) == 0
    out = capsys.readouterr().out
    for header in ("entity", "mode", "rows", "rejected", "watermark", "seconds", "status"):
        assert header in out
    entities = [e.name for e in load_config().entities if e.is_active]
    summary = out[out.index("entity  ") :]
    for name in entities:
        assert name in summary
    assert "0 failed" in out
    # dbt reads the audit log and Bronze with DuckDB globs
    audit = duckdb.sql(
        f"select datasource || '.' || tablename as entity, status, rows_written "
        f"from read_parquet('{lake}/audit/load_audit/*/*.parquet')"
    ).fetchall()
    assert {a[0] for a in audit} == set(entities)
    assert {a[1] for a in audit} == {"success"}
    icd = read_bronze(lake, "codesets", "icd10cm_codes")
    audited_icd = sum(a[2] for a in audit if a[0] == "codesets.icd10cm_codes")
    assert icd.num_rows == audited_icd > 0
    assert set(icd.column("_source_system").to_pylist()) == {"cms"}


def test_second_run_of_the_whole_config_writes_nothing(
    sources: Path, lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(sources, lake) == 0
    bronze = lake / "bronze"
    before = sorted(p.relative_to(lake) for p in bronze.rglob("load_id=*"))
    assert run(sources, lake) == 0
    after = sorted(p.relative_to(lake) for p in bronze.rglob("load_id=*"))
    assert after == before
    runs = sorted({r["run_id"] for r in read_audit(lake)})
    second = [r for r in read_audit(lake) if r["run_id"] == runs[-1]]
    assert second and {r["status"] for r in second} == {"no_change"}
    assert sum(r["rows_written"] for r in second) == 0


def test_only_and_rerun_is_a_no_change_run(
    sources: Path, lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(sources, lake, "--only", "hospital_a.encounters", "--only", "hospital_b.patients") == 0
    )
    assert {r["tablename"] for r in read_audit(lake)} == {"encounters", "patients"}
    capsys.readouterr()
    assert run(sources, lake, "--only", "hospital_a.encounters") == 0
    out = capsys.readouterr().out
    assert "no_change" in out
    assert read_audit(lake)[-1]["status"] == "no_change"


def test_bad_arguments_and_config_exit_2(
    sources: Path, lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(sources, lake, "--only", "hospital_c.patients") == 2
    assert "no such entity" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("datasource,tablename,loadtype,is_active,source_kind\nh,t,sometimes,1,sql\n")
    assert run(sources, lake, "--config", str(bad)) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "'loadtype'" in err
    inactive = write_config(
        tmp_path / "c.csv", ["hospital_a.patients"], {"hospital_a.patients": {"is_active": "0"}}
    )
    assert run(sources, lake, "--config", str(inactive), "--only", "hospital_a.patients") == 2
    assert "inactive" in capsys.readouterr().err
    assert not lake.exists() or not list(lake.rglob("*.parquet"))


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16"])
def test_a_config_excel_saved_in_another_encoding_exits_2_saying_so(
    encoding: str,
    sources: Path,
    lake: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Excel's "CSV (Comma delimited)" and "Unicode Text": a traceback and exit 1 before
    config = write_config(tmp_path / "c.csv", ["hospital_a.departments"])
    text = config.read_text(encoding="utf-8").replace("hospital_a,departments", "hospital_a,d\xe9p")
    config.write_bytes(text.encode(encoding))
    assert run(sources, lake, "--config", str(config)) == 2
    err = capsys.readouterr().err
    line = 2 if encoding == "cp1252" else 1
    assert f"{config}: line {line}: not UTF-8" in err
    assert "save the load config as CSV UTF-8" in err


def test_a_missing_sources_folder_is_one_error_before_anything_loads(
    sources: Path,
    lake: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "no_such_sources"
    assert run(missing, lake) == 2
    err = capsys.readouterr().err
    assert f"sources folder {missing} does not exist" in err
    assert f"rcm generate --out {missing}" in err and err.count("\n") == 1
    assert not lake.exists() or not list(lake.rglob("*.parquet"))
    # entities that do not read the folder still load: EMR tables at a URL of their own
    monkeypatch.setenv("RCM_EMR_HOSPITAL_A_URL", f"sqlite:///{sources / 'emr' / 'hospital_a.db'}")
    config = write_config(tmp_path / "c.csv", ["hospital_a.patients"])
    assert run(missing, lake, "--config", str(config)) == 0
    assert read_bronze(lake, "hospital_a", "patients").num_rows > 0


def test_a_missing_sqlite_file_named_by_the_environment_says_so(
    sources: Path,
    lake: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the advice to "set RCM_EMR_HOSPITAL_A_URL" repeated what the user had done
    missing = tmp_path / "nope" / "hospital_a.db"
    monkeypatch.setenv("RCM_EMR_HOSPITAL_A_URL", f"sqlite:///{missing}")
    config = write_config(tmp_path / "c.csv", ["hospital_a.patients"])
    assert run(sources, lake, "--config", str(config)) == 1
    out = capsys.readouterr().out
    assert (
        f"SQLite file {missing} (from RCM_EMR_HOSPITAL_A_URL) does not exist; fix the path in "
        "RCM_EMR_HOSPITAL_A_URL, or unset it to read <sources>/emr/hospital_a.db"
    ) in out, out


def test_missing_database_fails_that_source_only(
    sources: Path, lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (sources / "emr" / "hospital_b.db").unlink()
    config = write_config(tmp_path / "c.csv", [*SQL_ENTITIES, "codesets.cpt_codes"])
    assert run(sources, lake, "--config", str(config)) == 1
    captured = capsys.readouterr()
    assert "hospital_b.db does not exist; run `rcm generate --out <sources>`" in captured.out
    assert "5 entity(ies) failed" in captured.err
    for table in ("departments", "encounters", "patients", "providers", "transactions"):
        assert read_bronze(lake, "hospital_a", table).num_rows > 0
    assert read_bronze(lake, "codesets", "cpt_codes").num_rows > 0
    assert not (sources / "emr" / "hospital_b.db").exists(), "a missing SQLite file is not created"
    failed = [r for r in read_audit(lake) if r["status"] == "failed"]
    assert sorted(r["tablename"] for r in failed) == sorted(
        ["departments", "encounters", "patients", "providers", "transactions"]
    )
    assert all("RCM_EMR_HOSPITAL_B_URL" in r["error"] for r in failed)


def test_a_corrupt_sqlite_file_is_named_by_its_path(
    sources: Path, lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = sources / "emr" / "hospital_a.db"
    db.write_bytes(b"this is not a database" * 300)
    config = write_config(tmp_path / "c.csv", ["hospital_a.patients"])
    assert run(sources, lake, "--config", str(config)) == 1
    out = capsys.readouterr().out
    assert f"FAILED hospital_a.patients: cannot read patients from SQLite file {db}:" in out
    assert "file is not a database" in out and "mode=ro" not in out


def test_database_server_down_fails_with_its_url(
    sources: Path,
    lake: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RCM_EMR_HOSPITAL_B_URL", "postgresql+psycopg://rcm:secret@127.0.0.1:1/emr")
    config = write_config(tmp_path / "c.csv", ["hospital_a.patients", "hospital_b.patients"])
    assert run(sources, lake, "--config", str(config)) == 1
    out = capsys.readouterr().out
    assert "FAILED hospital_b.patients" in out
    assert "127.0.0.1:1" in out
    assert "secret" not in out
    assert read_bronze(lake, "hospital_a", "patients").num_rows > 0


def test_a_password_with_an_unescaped_at_sign_is_not_shown_in_part(
    sources: Path,
    lake: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the password "sec@ret4": SQLAlchemy ends it at its '@' and takes "ret4@127.0.0.1" for
    # the host, which the message and the audit row printed
    url = "postgresql+psycopg://rcm:sec@ret4@127.0.0.1:1/emr"
    monkeypatch.setenv("RCM_EMR_HOSPITAL_B_URL", url)
    config = write_config(tmp_path / "c.csv", ["hospital_b.patients"])
    assert run(sources, lake, "--config", str(config)) == 1
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "FAILED hospital_b.patients: RCM_EMR_HOSPITAL_B_URL: the host part" in out
    assert "percent-encode" in out
    assert "ret4" not in out and "sec@" not in out
    assert not [r for r in read_audit(lake) if "ret4" in (r["error"] or "")]


def test_parallel_workers_load_what_one_process_loads(sources: Path, tmp_path: Path) -> None:
    lakes = {workers: tmp_path / f"lake{workers}" for workers in (1, 2)}
    messages: dict[int, list[str]] = {}
    for workers, lake in lakes.items():
        copy = tmp_path / f"sources{workers}"
        shutil.copytree(sources, copy)
        messages[workers] = []
        result = ingest(
            copy,
            lake,
            messages=messages[workers],
            workers=workers,
            batch_rows=50_000,
            write=WriteSettings(),
        )
        assert result.ok
    # the same rows in every Bronze table, whichever process loaded them
    for datasource, table in {(e.datasource, e.table) for e in load_config().entities}:
        one = read_bronze(lakes[1], datasource, table)
        two = read_bronze(lakes[2], datasource, table)
        assert one.num_rows == two.num_rows, (datasource, table)
        if one.num_rows:
            keep = [c for c in one.column_names if not c.startswith("_") or c == "_source_row"]
            assert sorted(map(str, one.select(keep).to_pylist())) == sorted(
                map(str, two.select(keep).to_pylist())
            ), (datasource, table)
    # the workers' progress lines reach the caller's callback
    assert any("(2 workers)" in m for m in messages[2])
    per_entity = [m for m in messages[2] if m.startswith("hospital_a.transactions:")]
    assert per_entity, messages[2][:20]
    statuses = {
        (r["datasource"], r["tablename"], r["status"], r["rows_written"])
        for r in read_audit(lakes[2])
    }
    assert statuses == {
        (r["datasource"], r["tablename"], r["status"], r["rows_written"])
        for r in read_audit(lakes[1])
    }


def test_a_landing_file_no_pattern_matches_fails_the_command_after_loading_the_rest(
    sources: Path, lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a hand-fixed claims file under a name outside the pattern was only warned about, and the
    # command exited 0: a scheduler saw a clean run while the month's fixes were never loaded
    landing = sources / "landing" / "claims"
    misnamed = landing / "hospital1_claim_data_2024_01_fixed.csv"
    shutil.copyfile(next(landing.glob("hospital1_*.csv")), misnamed)
    # a copy still on its way in, under the README's temporary name, is not named (and it
    # must not be renamed to the pattern while it is incomplete)
    (landing / "hospital1_claim_data_2024_02.csv.part").write_text("ClaimID,Trans")
    assert run(sources, lake) == 1
    out, err = capsys.readouterr()
    assert "NOT LOADED: 1 landing file(s)" in out and ".part" not in out
    assert "1 landing file(s) were not loaded" in err
    assert "0 failed" in out and read_bronze(lake, "hospital_a", "claims").num_rows > 0
    assert misnamed.exists()
    # `rcm run` goes on to build what did load, and says so again under its summary
    report = RunReport()
    _ingest(sources, str(lake), report)
    assert report.warnings == [
        "1 landing file(s) were not loaded (NOT LOADED in the ingest summary): rename them to "
        "their entity's file_pattern and run again"
    ]
    # renamed to the pattern, it loads and the command succeeds
    misnamed.rename(landing / "hospital1_claim_data_2024_01_31.csv")
    assert run(sources, lake) == 0


@pytest.mark.parametrize("how", ["a file in its place", "a read-only folder"])
def test_an_unwritable_lake_is_one_error_before_anything_is_read_or_moved(
    sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    lake = tmp_path / "lake"
    if how == "a file in its place":
        lake.write_text("not a folder")
        lake = lake / "bronze_lake"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes through a read-only folder's permissions")
        lake.mkdir()
        lake.chmod(0o555)
    landing = sorted(p.name for p in (sources / "landing" / "claims").iterdir())

    assert run(sources, lake) == 1

    err = " ".join(capsys.readouterr().err.split())
    assert f"cannot write to the lake {lake}" in err
    assert "nothing was loaded" in err and "pass --lake" in err
    assert sorted(p.name for p in (sources / "landing" / "claims").iterdir()) == landing


def test_an_audit_log_that_cannot_be_written_fails_the_entities_not_the_run(
    sources: Path, lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a full disk, or an audit folder that cannot be written: the failed entity's own audit
    # row failed too, that error escaped, and the run ended on a bare errno, no summary
    (lake / "audit").mkdir(parents=True)
    (lake / "audit" / "load_audit").write_text("not a folder")

    assert run(sources, lake) == 1

    out = " ".join(capsys.readouterr().out.split())
    assert "entity mode rows rejected watermark seconds status" in out
    assert "FAILED hospital_a.transactions:" in out
    assert "its audit row could not be written either" in out
    assert "the next run audits what this one published (status recovered)" in out

    (lake / "audit" / "load_audit").unlink()
    assert run(sources, lake) == 0
    assert "status recovered" in capsys.readouterr().out
    with sqlite3.connect(sources / "emr" / "hospital_a.db") as emr:
        ((expected,),) = emr.execute("select count(*) from transactions").fetchall()
    assert read_bronze(lake, "hospital_a", "transactions").num_rows == expected


def test_a_full_disk_fails_its_entities_with_what_to_do(sources: Path, tmp_path: Path) -> None:
    # a real full disk: the lake on a 96 KB tmpfs of the command's own (tests/small_disk.py)
    lake = tmp_path / "lake"
    command = [sys.executable, "-m", "ingestion.cli", "ingest", "--sources", str(sources)]
    done = run_on_small_disk(lake, 96, [*command, "--lake", str(lake)], cwd=REPO_ROOT, timeout=300)

    assert done.returncode == 1, done.stdout + done.stderr
    out = " ".join(done.stdout.split())
    assert "entity mode rows rejected watermark seconds status" in out  # the summary
    failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED ")]
    assert failed, done.stdout
    for line in failed:
        assert "No space left on device" in line
        assert "the disk that holds" in line and "is full: free space on it" in line
        assert str(lake) in line  # the lake, or the file in it the error names
    assert "Traceback" not in done.stderr
