"""The bench times a fixed amount of work before and after its stages (ingestion/bench.py), so
that two benches taken in a faster and a slower hour of a shared machine can be compared."""

from __future__ import annotations

import json
from pathlib import Path

from ingestion.bench import BenchReport, calibration_line, machine_calibration, write_report


def _report(**machine: object) -> BenchReport:
    return BenchReport(scale=1.0, started_at="2026-12-06T06:00:00+00:00", machine=dict(machine))


def test_both_workloads_are_timed() -> None:
    figures = machine_calibration(tries=1)

    assert set(figures) == {"python_seconds", "duckdb_seconds"}
    assert all(isinstance(value, float) and value > 0 for value in figures.values())


def test_the_line_gives_both_figures_before_and_after() -> None:
    report = _report(
        calibration_before={"python_seconds": 0.5, "duckdb_seconds": 1.25},
        calibration_after={"python_seconds": 0.625, "duckdb_seconds": 1.5},
    )

    line = calibration_line(report)

    assert "before python 0.50 s, duckdb 1.25 s; after python 0.62 s, duckdb 1.50 s" in line
    assert "benchmarks/README.md" in line


def test_a_bench_stopped_before_the_second_timing_shows_the_first() -> None:
    report = _report(calibration_before={"python_seconds": 0.5, "duckdb_seconds": 1.25})

    line = calibration_line(report)

    assert "before python 0.50 s" in line
    assert "after" not in line


def test_no_timing_no_line() -> None:
    assert calibration_line(_report(cpus=2)) == ""


def test_the_figures_are_kept_in_the_results_file(tmp_path: Path) -> None:
    figures = {"python_seconds": 0.5, "duckdb_seconds": 1.25}
    path = write_report(_report(calibration_before=figures), tmp_path)

    assert json.loads(path.read_text())["machine"]["calibration_before"] == figures
