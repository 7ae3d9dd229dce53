"""The bench keeps each build's run_results.json and names its slowest nodes
(ingestion/bench.py). A test's unique id ends in a hash, which must not stand for its name."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ingestion.bench import keep_run_results, node_label

RESULTS = [
    ("model.rcm.fct_claims", 7.1),
    ("test.rcm.unique_combination_of_columns_fct_ar_snapshots_month_end_date__claim_key__True"
     ".1e17d5afbf", 3.8),
    ("snapshot.rcm.snap_claims", 4.9),
    ("model.rcm.dim_payer", 0.1),
]  # fmt: skip


def _write_run_results(target: Path) -> Path:
    target.mkdir()
    path = target / "run_results.json"
    results = [{"unique_id": uid, "execution_time": seconds} for uid, seconds in RESULTS]
    path.write_text(json.dumps({"results": results}))
    return path


def test_the_slowest_nodes_are_kept_in_order_with_their_names(tmp_path: Path) -> None:
    run_results = _write_run_results(tmp_path / "target")
    since = run_results.stat().st_mtime - 1
    slowest = keep_run_results(tmp_path / "target", tmp_path / "logs" / "day-build", since, top=3)
    assert [node_label(uid) for uid, _ in slowest] == [
        "fct_claims",
        "snap_claims",
        "unique_combination_of_columns_fct_ar_snapshots_month_end_date__claim_key__True",
    ]
    assert [seconds for _, seconds in slowest] == [7.1, 4.9, 3.8]
    kept = tmp_path / "logs" / "day-build.run_results.json"
    assert json.loads(kept.read_text()) == json.loads(run_results.read_text())


def test_run_results_older_than_the_stage_are_not_kept(tmp_path: Path) -> None:
    # a build skipped as up to date leaves the previous build's file in place
    run_results = _write_run_results(tmp_path / "target")
    os.utime(run_results, (1_000_000, 1_000_000))
    assert keep_run_results(tmp_path / "target", tmp_path / "logs" / "skip-build", 2_000_000) == []
    assert not (tmp_path / "logs").exists()


def test_an_id_without_a_package_is_shown_whole() -> None:
    assert node_label("fct_claims") == "fct_claims"
