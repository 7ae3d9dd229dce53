"""`rcm run` on a folder that already holds generated sources keeps them; a --scale or --seed
the user passed that differs from theirs was not applied, and the run says so with the scale
and seed the kept sources have (their generator_state.json), on the generate line and again
under the summary. The sources folder is a real one with the state file the generator reads;
the generator itself does not run (it would not: the sources are kept)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingestion.cli import build_parser
from ingestion.generate.generator import STATE_FILE, STATE_VERSION
from ingestion.pipeline import RunReport, _generate_if_needed, kept_settings_warning


@pytest.fixture
def kept(tmp_path: Path) -> Path:
    sources = tmp_path / "sources"
    sources.mkdir()
    state = {"version": STATE_VERSION, "seed": 42, "scale": 0.1, "end": "2024-12-31"}
    (sources / STATE_FILE).write_text(json.dumps(state))
    return sources


def test_a_passed_scale_that_is_not_applied_is_named_with_the_kept_one(
    kept: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = RunReport()
    assert _generate_if_needed(kept, 0.05, None, regenerate=False, report=report) is None
    out = capsys.readouterr().out
    assert f"sources already in {kept}: kept" in out
    assert (
        f"[generate] warning: --scale 0.05 not applied: the sources in {kept} were kept (they "
        "were generated at scale 0.1, seed 42); pass --regenerate with --scale 0.05" in out
    )
    assert report.warnings == [out.splitlines()[1].removeprefix("[generate] warning: ")]


def test_only_the_flags_passed_and_different_are_named(kept: Path) -> None:
    assert kept_settings_warning(kept, None, None) is None  # nothing passed
    assert kept_settings_warning(kept, 0.1, 42) is None  # passed, and the same
    seed_only = kept_settings_warning(kept, 0.1, 7)
    assert seed_only is not None and seed_only.startswith("--seed 7 not applied")
    both = kept_settings_warning(kept, 2.0, 7)
    assert both is not None and both.startswith("--scale 2 and --seed 7 not applied")
    assert "pass --regenerate with --scale 2 --seed 7" in both


def test_a_state_file_that_does_not_read_still_says_the_flags_were_not_applied(
    kept: Path,
) -> None:
    (kept / STATE_FILE).write_text("{not json")
    warning = kept_settings_warning(kept, 0.05, None)
    assert warning is not None and warning.startswith("--scale 0.05 not applied")
    assert "scale and seed are not known" in warning and STATE_FILE in warning


def test_run_tells_a_passed_scale_or_seed_from_the_defaults() -> None:
    parse = build_parser("run").parse_args
    assert (parse(["run"]).scale, parse(["run"]).seed) == (None, None)
    passed = parse(["run", "--scale", "0.05", "--seed", "42"])
    assert (passed.scale, passed.seed) == (0.05, 42)
