"""The bench's verdicts name only the targets set for its scale (ingestion/bench.py): the full
build and a week's share of it at scale 1 (issue 4); the full run, its memory and a day's share
of it at scale 10 (issue 7); the no-change rerun at any scale."""

from __future__ import annotations

from ingestion.bench import BenchReport, StageResult, target_lines

STAGES = [
    # scenario, stage, seconds, peak MB
    ("full", "ingest", 20.0, 700.0),
    ("full", "build", 50.0, 2500.0),
    ("advance_1d", "ingest", 1.0, 400.0),
    ("advance_1d", "build", 13.0, 1500.0),
    ("no_change", "ingest", 1.0, 350.0),
    ("no_change", "build", 0.25, 40.0),
    ("advance_7d", "build", 15.0, 1500.0),
]


def _report(scale: float) -> BenchReport:
    stages = [StageResult(sc, st, sec, mb, 0, 0) for sc, st, sec, mb in STAGES]
    return BenchReport(scale=scale, started_at="2026-12-06", machine={}, stages=stages)


def _labels(lines: list[str]) -> list[str]:
    return [line.strip().split(":")[0] for line in lines[1:]]


def test_scale_one_is_held_to_the_build_and_week_targets() -> None:
    lines = target_lines(_report(1))

    assert _labels(lines) == [
        "full dbt build, scale 1",
        "build after a week, % of the full build",
        "no-change ingest + build",
    ]
    # a week of 15 s is 30 % of a 50 s full build
    assert "30.0 % (target <= 25.0) NOT met" in lines[2]
    assert "50.0 s (target <= 60.0) met" in lines[1]


def test_scale_ten_is_held_to_the_run_memory_and_day_targets() -> None:
    lines = target_lines(_report(10))

    assert _labels(lines) == [
        "full ingest + build",
        "peak memory of the full run",
        "incremental day (ingest + build), % of the full run",
        "no-change ingest + build",
    ]
    # a day of 1 + 13 s is 20 % of a 20 + 50 s full run
    assert "20.0 % (target <= 10.0) NOT met" in lines[3]


def test_another_scale_is_held_to_the_no_change_target_alone() -> None:
    assert _labels(target_lines(_report(0.1))) == ["no-change ingest + build"]
