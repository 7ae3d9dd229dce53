"""End-to-end fixture for the dbt project: generate -> ingest -> dbt build, in a temp folder.

The session runs the pipeline once (tiny scale) with its own lake, warehouse and dbt target
folder, then, for the SCD2 checks, advances the sources by a week, ingests and builds again.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from ingestion.build import REPO_ROOT, BuildResult, run_build

SCALE = "0.005"
SEED = "11"
START = "2024-04-01"
END = "2024-12-31"
ADVANCE_TO = "2025-01-07"  # END + 7 days
SNAPSHOT_KEYS = {
    "patients": ("snap_patients", "patient_id"),
    "providers": ("snap_providers", "provider_id"),
    "claims": ("snap_claims", "claim_id"),
}


@dataclass
class Pipeline:
    root: Path
    sources: Path
    lake: Path
    warehouse: Path
    target: Path
    build: BuildResult

    def query(self, sql: str) -> list[tuple[object, ...]]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()

    def truth(self, name: str) -> list[dict[str, str]]:
        with (self.sources / "truth" / name).open(newline="") as handle:
            return list(csv.DictReader(handle))

    def snapshot_version_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for entity, (snapshot, key) in SNAPSHOT_KEYS.items():
            rows = self.query(f"select {key}, count(*) from snapshots.{snapshot} group by {key}")
            counts[entity] = {str(k): int(n) for k, n in rows}
        return counts


def dbt_test(
    warehouse: Path,
    lake: Path,
    target: Path,
    select: str | None,
    reconcile_loads: str,
    command: str = "test",
    extra: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """`dbt <command> --select <select>` (`dbt test` by default; no `--select` when None, as
    `dbt parse` takes none) on a warehouse file (a tampered copy, say), with
    RCM_RECONCILE_LOADS as `rcm build` would set it ("all", or load ids), and `extra`
    arguments."""
    env = dict(
        os.environ,
        RCM_WAREHOUSE_PATH=str(warehouse),
        RCM_LAKE_DIR=str(lake),
        RCM_RECONCILE_LOADS=reconcile_loads,
    )
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            command,
            "--project-dir",
            str(REPO_ROOT),
            "--profiles-dir",
            str(REPO_ROOT / "profiles"),
            "--target-path",
            str(target),
            *(["--select", select] if select is not None else []),
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def dbt_test_on_copy(
    pipeline: Pipeline, folder: Path, test: str, *statements: str
) -> subprocess.CompletedProcess[str]:
    """Run `statements` on a copy of the built warehouse in `folder` (the session's own
    warehouse stays as its build left it), then `dbt test --select test` on the copy with
    every row checked."""
    folder.mkdir(parents=True)
    copy = folder / "rcm.duckdb"
    shutil.copyfile(pipeline.warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        for statement in statements:
            con.execute(statement)
    return dbt_test(copy, pipeline.lake, folder / "target", test, "all")


def rcm(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ingestion.cli", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"rcm {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    root = tmp_path_factory.mktemp("dbt_e2e")
    sources, lake, target = root / "sources", root / "lake", root / "target"
    warehouse = root / "warehouse" / "rcm.duckdb"
    warehouse.parent.mkdir()
    saved = {name: os.environ.get(name) for name in ("RCM_LAKE_DIR", "RCM_WAREHOUSE_PATH")}
    os.environ["RCM_LAKE_DIR"] = str(lake)
    os.environ["RCM_WAREHOUSE_PATH"] = str(warehouse)
    try:
        rcm("generate", "--out", str(sources), "--scale", SCALE, "--seed", SEED,
            "--start", START, "--end", END)  # fmt: skip
        rcm("ingest", "--sources", str(sources), "--lake", str(lake))
        build = run_build(target_path=target)
        yield Pipeline(root, sources, lake, warehouse, target, build)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class Advanced:
    before: dict[str, dict[str, int]]
    after: dict[str, dict[str, int]]
    build: BuildResult
    changes: list[dict[str, str]]
    new_defects: list[dict[str, str]]

    def dropped_versions(self) -> set[str]:
        """Keys whose advance version never reaches the clean CDM: quarantined (a required
        field missing) or refused at load (a malformed CSV line, whose key is file:line and
        whose detail starts with the claim id)."""
        keys: set[str] = set()
        for row in self.new_defects:
            if row["defect_type"] == "missing_required":
                keys.add(f"{row['hospital']}:{row['key']}")
            elif row["defect_type"] == "malformed_line":
                keys.add(f"{row['hospital']}:{row['detail'].split(':')[0]}")
        return keys


@pytest.fixture(scope="session")
def advanced(pipeline: Pipeline) -> Advanced:
    """Advance the sources by a week, ingest and build again (after the first build's tests)."""
    before = pipeline.snapshot_version_counts()
    defects_before = pipeline.truth("defects.csv")
    os.environ["RCM_LAKE_DIR"] = str(pipeline.lake)
    os.environ["RCM_WAREHOUSE_PATH"] = str(pipeline.warehouse)
    rcm("generate", "--out", str(pipeline.sources), "--advance-to", ADVANCE_TO)
    rcm("ingest", "--sources", str(pipeline.sources), "--lake", str(pipeline.lake))
    build = run_build(target_path=pipeline.target)
    changes_files = sorted((pipeline.sources / "truth").glob("changes_*.csv"))
    assert changes_files, "rcm generate --advance-to wrote no truth/changes_<date>.csv"
    changes: list[dict[str, str]] = []
    for path in changes_files:
        with path.open(newline="") as handle:
            changes += list(csv.DictReader(handle))
    new_defects = [row for row in pipeline.truth("defects.csv") if row not in defects_before]
    return Advanced(before, pipeline.snapshot_version_counts(), build, changes, new_defects)
