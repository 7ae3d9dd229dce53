"""`rcm build` on a full disk: dbt's failure keeps its message (DuckDB names the file), and the
summary says what to do. A real full disk: the warehouse on a small tmpfs of the build's own
process (tests/small_disk.py)."""

from __future__ import annotations

from pathlib import Path

from tests.pipeline.small_project import RUNNER, make_project, run
from tests.small_disk import on_small_disk

# more than the small disk holds, in one table
BIG_MODEL = (
    "{{ config(materialized='table') }}\n"
    "select range as id, md5(cast(range as varchar)) as digest from range(2000000)\n"
)


def test_a_full_disk_fails_the_build_with_what_to_do(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    make_project(tmp_path, {"big.sql": BIG_MODEL}, warehouse=disk / "warehouse.duckdb")

    result, out = run(RUNNER, tmp_path, prefix=on_small_disk(disk, 1024))

    assert result["exit_code"] == 1, out
    assert "No space left on device" in out, out
    assert f"{disk}/" in out  # DuckDB's error names the file it could not write
    assert "a disk is full" in out and "free space on it and run `rcm build` again" in out
