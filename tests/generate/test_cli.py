"""The `rcm generate` command: exit codes, refusal without --force, summary."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest

from ingestion.cli import main

from .conftest import END, SCALE, START

ARGS = ["--scale", str(SCALE), "--start", START.isoformat(), "--end", END.isoformat()]


def test_generate_refuse_force_and_advance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "src"
    assert main(["generate", "--out", str(out), *ARGS]) == 0
    text = capsys.readouterr().out
    assert "hospital_a.transactions" in text and "rows written" in text
    assert "defect type" in text

    assert main(["generate", "--out", str(out), *ARGS]) == 2
    err = capsys.readouterr().err
    assert "--force" in err and str(out) in err

    (out / "landing" / "claims" / "stray.txt").write_text("x")
    assert main(["generate", "--out", str(out), "--force", *ARGS, "--seed", "3"]) == 0
    assert not (out / "landing" / "claims" / "stray.txt").exists()
    capsys.readouterr()

    assert main(["generate", "--out", str(out), "--advance-to", "2024-07-10"]) == 0
    text = capsys.readouterr().out
    assert "rows updated" in text
    assert (out / "landing" / "claims" / "hospital1_claim_data_2024_07_10.csv").exists()
    assert main(["generate", "--out", str(out), "--advance-to", "2024-07-01"]) == 2


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--out", str(tmp_path), "--defect-rate", "nonsense=0.1"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--out", str(tmp_path), "--start", "2024-13-01"])
    assert exc.value.code == 2
    assert main(["generate", "--out", str(tmp_path / "x"), "--scale", "0"]) == 2


def test_the_emr_url_is_a_flag_never_the_ingest_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # RCM_EMR_HOSPITAL_A_URL names the EMR `rcm ingest` reads, in production the hospital's
    # own database: `rcm generate --force` replaced its tables
    real = tmp_path / "real_emr_a.db"
    with sqlite3.connect(real) as con:
        con.execute("create table patients (PatientID text)")
        con.execute("insert into patients values ('P1')")
    monkeypatch.setenv("RCM_EMR_HOSPITAL_A_URL", f"sqlite:///{real}")
    out = tmp_path / "src"
    assert main(["generate", "--out", str(out), "--force", *ARGS]) == 0
    assert (out / "emr" / "hospital_a.db").exists() and (out / "emr" / "hospital_b.db").exists()
    with sqlite3.connect(real) as con:
        assert con.execute("select * from patients").fetchall() == [("P1",)]
        assert con.execute("select count(*) from sqlite_master").fetchone() == (1,)

    db = tmp_path / "elsewhere_a.db"
    elsewhere = tmp_path / "src2"
    assert main(["generate", "--out", str(elsewhere), "--emr-url-a", f"sqlite:///{db}", *ARGS]) == 0
    assert db.exists() and not (elsewhere / "emr" / "hospital_a.db").exists()
    assert (elsewhere / "emr" / "hospital_b.db").exists()


def test_advance_refuses_the_first_runs_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # they used to be ignored without a word: the sources continue with their own settings
    out = tmp_path / "src"
    argv = ["generate", "--out", str(out), "--advance-to", "2024-07-10", "--scale", "0.5"]
    assert main([*argv, "--seed", "7"]) == 2
    err = capsys.readouterr().err
    assert "drop --seed, --scale" in err and "generator_state.json" in err
    assert not out.exists()  # refused before anything was read or written


def test_a_last_day_after_today_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # ingest rejects timestamps more than a day later than the load: say so before generating
    past = ["--scale", str(SCALE), "--start", START.isoformat(), "--end", END.isoformat()]
    assert main(["generate", "--out", str(tmp_path / "past"), *past]) == 0
    assert "is after today" not in capsys.readouterr().out
    start, end = date.today() + timedelta(days=30), date.today() + timedelta(days=40)
    future = ["--scale", str(SCALE), "--start", start.isoformat(), "--end", end.isoformat()]
    assert main(["generate", "--out", str(tmp_path / "future"), *future]) == 0
    text = capsys.readouterr().out
    assert f"warning: {end} is after today" in text and "will be rejected" in text
