"""`rcm`'s last line of defence: an error meant for the user (a file-system error, or one of this
package's own error classes) is one line on stderr and exit code 1; any other exception is a bug
and keeps its traceback."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ingestion import cli
from ingestion.generate.generator import GenerateError


def _parser_raising(error: BaseException) -> argparse.ArgumentParser:
    def fail(_args: argparse.Namespace) -> int:
        raise error

    parser = argparse.ArgumentParser(prog="rcm")
    subparsers = parser.add_subparsers(dest="command")
    subparsers.add_parser("boom").set_defaults(func=fail)
    return parser


@pytest.mark.parametrize(
    "error",
    [
        NotADirectoryError(20, "Not a directory", "/data/afile/sub"),
        GenerateError("/data/src/generator_state.json not found: run `rcm generate` first"),
    ],
)
def test_an_error_for_the_user_is_one_line(
    error: BaseException, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "build_parser", lambda _command=None: _parser_raising(error))
    assert cli.main(["boom"]) == 1
    err = capsys.readouterr().err
    assert err == f"rcm boom: {error}\n"


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "build_parser", lambda _command=None: _parser_raising(KeyError("x")))
    with pytest.raises(KeyError):
        cli.main(["boom"])


def test_generate_under_a_file_and_a_broken_state_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("")
    assert cli.main(["generate", "--out", str(blocker / "sub"), "--scale", "0.01"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rcm generate: ") and str(blocker) in err
    assert "Traceback" not in err

    out = tmp_path / "src"
    out.mkdir()
    (out / "generator_state.json").write_text("{not json")
    assert cli.main(["generate", "--out", str(out), "--advance-to", "2025-01-10"]) == 2
    err = capsys.readouterr().err
    assert "generator_state.json is not the state file" in err
    assert f"rcm generate --out {out} --force" in err


def test_run_on_a_folder_it_did_not_generate_names_its_own_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `rcm run` generates through the generator, whose messages name `--out` and `--force`
    monkeypatch.setenv("RCM_WAREHOUSE_PATH", str(tmp_path / "warehouse" / "rcm.duckdb"))
    lake = str(tmp_path / "lake")
    monkeypatch.setenv("RCM_LAKE_DIR", lake)  # `rcm run` sets it: restored after the test
    own = tmp_path / "real_sources"
    (own / "landing").mkdir(parents=True)
    assert cli.main(["run", "--sources", str(own), "--lake", lake, "--no-docs"]) == 1
    err = capsys.readouterr().err
    assert "no generated sources" in err and f"rcm ingest --sources {own}" in err
    assert "--regenerate" in err and "--out" not in err and "--force" not in err
    assert sorted(p.name for p in own.iterdir()) == ["landing"]  # nothing written there

    afile = tmp_path / "afile"
    afile.write_text("")
    kept = Path(lake) / "bronze" / "kept.parquet"  # --regenerate removes the lake: not here
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"")
    run = ["run", "--sources", str(afile), "--lake", lake, "--no-docs", "--regenerate"]
    assert cli.main(run) == 1
    err = capsys.readouterr().err
    assert f"--sources {afile} is a file" in err and "--out" not in err
    assert kept.exists()
    fresh = tmp_path / "fresh"
    assert (
        cli.main(["run", "--sources", str(fresh), "--lake", lake, "--regenerate", "--scale", "0"])
        == 1
    )
    assert "--scale must be positive" in capsys.readouterr().err
    assert kept.exists() and not fresh.exists()


@pytest.mark.parametrize(("value", "said"), [("abc", "is not a whole number"), ("0", "1 or more")])
def test_rcm_ingest_workers_that_is_no_count_is_named_before_anything_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    value: str,
    said: str,
) -> None:
    # 'abc' ended `rcm ingest` in a traceback, and `rcm run` only after it had generated the
    # sources; '0' blamed a --workers flag nobody passed
    monkeypatch.setenv("RCM_WAREHOUSE_PATH", str(tmp_path / "warehouse" / "rcm.duckdb"))
    lake = str(tmp_path / "lake")
    monkeypatch.setenv("RCM_LAKE_DIR", lake)
    monkeypatch.setenv("RCM_INGEST_WORKERS", value)
    sources = tmp_path / "sources"
    assert cli.main(["ingest", "--sources", str(sources), "--lake", lake]) == 2
    err = capsys.readouterr().err
    assert "RCM_INGEST_WORKERS" in err and said in err and "--workers" not in err
    # --workers wins over the variable: the run goes on to what is wrong next (no sources)
    cli.main(["ingest", "--sources", str(sources), "--lake", lake, "--workers", "1"])
    err = capsys.readouterr().err
    assert "RCM_INGEST_WORKERS" not in err and str(sources) in err
    assert cli.main(["run", "--sources", str(sources), "--lake", lake, "--no-docs"]) == 1
    err = capsys.readouterr().err
    assert "RCM_INGEST_WORKERS" in err and said in err
    assert not sources.exists()


@pytest.mark.parametrize("scale", ["nan", "inf"])
def test_a_scale_that_is_no_size_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scale: str
) -> None:
    out = tmp_path / "src"
    assert cli.main(["generate", "--out", str(out), "--scale", scale]) == 2
    assert f"--scale must be positive and finite, got {scale}" in capsys.readouterr().err
    assert not out.exists()
