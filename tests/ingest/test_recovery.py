"""Crashes between writing and committing a load, and between committing and auditing it:
no partial data is visible, and the next run recovers."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from ingestion.bronze import LoadManifest, LoadWriter, WriteSettings, new_load_id
from ingestion.config import load_config
from ingestion.ingest import format_summary
from ingestion.lake import LocalLake

from .conftest import (
    CLAIM_COLUMNS,
    Crash,
    claim_row,
    crash_at,
    data_files,
    ingest,
    load_folders,
    read_audit,
    read_bronze,
    write_config,
)


def visible_rows(lake: Path, datasource: str, table: str) -> int:
    """What a reader (dbt on DuckDB) sees of a Bronze table."""
    pattern = lake / "bronze" / datasource / table / "*" / "*.parquet"
    if not list(pattern.parent.parent.glob("*/*.parquet")):
        return 0
    ((count,),) = duckdb.sql(f"select count(*) from read_parquet('{pattern}')").fetchall()
    return int(count)


def source_count(sources: Path, datasource: str, table: str) -> int:
    with sqlite3.connect(sources / "emr" / f"{datasource}.db") as conn:
        (count,) = conn.execute(f"select count(*) from {table}").fetchone()
    return int(count)


def test_crash_before_publish_leaves_nothing_visible(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"])
    with pytest.raises(Crash):
        ingest(sources, lake, config, hook=crash_at("before_publish"))
    assert list((lake / "_tmp").rglob("part-*.parquet")), "the parts were written under _tmp"
    assert visible_rows(lake, "hospital_a", "transactions") == 0
    assert read_audit(lake) == []
    (tmp,) = (lake / "_tmp").iterdir()
    stopped_run = json.loads((tmp / "bronze" / "_load.json").read_text())["run_id"]

    messages: list[str] = []
    result = ingest(sources, lake, config, messages=messages)
    assert result.ok
    assert any(
        f"removed the abandoned temporary load {tmp.name} of hospital_a.transactions" in m
        for m in messages
    )
    assert not list((lake / "_tmp").iterdir())
    expected = source_count(sources, "hospital_a", "transactions")
    assert visible_rows(lake, "hospital_a", "transactions") == expected
    # the stopped load is in the audit log too: it published nothing and moves no mark
    abandoned, loaded = read_audit(lake)
    assert (abandoned["status"], loaded["status"]) == ("abandoned", "success")
    assert abandoned["load_id"] == tmp.name and abandoned["run_id"] == result.run_id
    assert (abandoned["datasource"], abandoned["tablename"]) == ("hospital_a", "transactions")
    counts = ("rows_read", "rows_written", "rows_rejected")
    assert [abandoned[c] for c in counts] == [0, 0, 0]
    assert abandoned["watermark_after"] is None and abandoned["content_sha256"] is None
    assert abandoned["watermark_before"] == loaded["watermark_before"]
    # what the stopped run had written is in its message: the same rows the next load read
    read, written, rejected = (loaded[c] for c in counts)
    assert f"run {stopped_run} stopped before it published this load" in abandoned["error"]
    assert (
        f"({read:,} rows read, {written:,} written and {rejected:,} rejected"
        in (abandoned["error"])
    )
    assert [r.status for r in result.recovered] == ["abandoned"]
    summary = format_summary(result)
    assert "removed 1 load(s) an earlier run stopped before publishing" in summary
    assert "recovered" not in summary


def test_crash_between_rejected_and_bronze_rename_is_rolled_back(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    landing = sources / "landing" / "claims"
    path = landing / "hospital1_claim_data_2024_01.csv"
    path.write_text(path.read_text() + "broken,line\n")
    config = write_config(tmp_path / "c.csv", ["hospital_a.claims"])
    with pytest.raises(Crash):
        ingest(sources, lake, config, hook=crash_at("before_publish"))
    # the process died after moving the rejected rows into place, before the commit
    (tmp,) = (lake / "_tmp").iterdir()
    target = lake / "rejected" / "hospital_a" / "claims" / f"load_id={tmp.name}"
    target.parent.mkdir(parents=True)
    (tmp / "rejected").rename(target)
    assert path.exists(), "an uncommitted file stays in landing"

    result = ingest(sources, lake, config)
    assert result.ok
    assert not target.exists(), "the rejected rows of the uncommitted load are removed"
    (rejected_load,) = (lake / "rejected" / "hospital_a" / "claims").iterdir()
    assert rejected_load.name == f"load_id={result.entities[0].load_ids[0]}"
    assert result.entities[0].rows_rejected == 1


def test_crash_between_commit_and_audit_is_recovered(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.csv", ["hospital_a.encounters", "hospital_a.claims"])
    with pytest.raises(Crash):
        ingest(sources, lake, config, hook=crash_at("before_audit"))
    # the encounters load is committed and complete, only its audit row is missing
    (folder,) = load_folders(lake, "hospital_a", "encounters")
    expected = source_count(sources, "hospital_a", "encounters")
    assert visible_rows(lake, "hospital_a", "encounters") == expected
    assert read_audit(lake) == []
    manifest_path = folder / "_load.json"
    manifest = json.loads(manifest_path.read_text())
    # no lookback: the manifest a version without one wrote, which a rollback to it can read
    assert "boundary_from" not in manifest
    # as a later version may write it, with a key this one does not know: still recovered
    manifest["written_by_a_later_version"] = True
    manifest_path.write_text(json.dumps(manifest, indent=2))

    messages: list[str] = []
    result = ingest(sources, lake, config, messages=messages)
    assert result.ok
    (recovered,) = result.recovered
    assert recovered.status == "recovered"
    assert f"load_id={recovered.load_id}" == folder.name
    assert recovered.rows_written == expected
    assert recovered.watermark_after is not None
    # the recovered watermark is used: nothing is loaded twice
    encounters = next(e for e in result.entities if e.entity == "hospital_a.encounters")
    assert encounters.status == "no_change"
    assert visible_rows(lake, "hospital_a", "encounters") == expected
    statuses = [(r["tablename"], r["status"]) for r in read_audit(lake)]
    assert ("encounters", "recovered") in statuses and ("encounters", "no_change") in statuses


def test_killed_process_after_commit_recovers_the_file_load(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.csv", ["hospital_a.claims"])
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from ingestion.ingest import IngestSettings, run_ingest

        def die(stage, load_id):
            if stage == "before_audit":
                os._exit(9)

        run_ingest(IngestSettings(sources=Path({str(sources)!r}), lake={str(lake)!r},
                                  config_path=Path({str(config)!r}), env={{}}, hook=die))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 9, proc.stderr
    rows = read_bronze(lake, "hospital_a", "claims").num_rows
    assert rows > 0
    landing = sources / "landing" / "claims" / "hospital1_claim_data_2024_01.csv"
    assert landing.exists(), "killed before the file was moved"
    before = data_files(lake)

    result = ingest(sources, lake, config)
    assert result.ok
    assert [r.status for r in result.recovered] == ["recovered"]
    assert result.entities[0].status == "skipped_duplicate"
    assert data_files(lake) == before
    assert read_bronze(lake, "hospital_a", "claims").num_rows == rows
    assert not landing.exists()
    assert list((landing.parent / "processed").glob("hospital1_claim_data_2024_01*.csv"))


def _land_refused_claims_file(sources: Path) -> Path:
    """Land a hospital A claims file of three lines, each rejected (ClaimAmount 'n/a')."""
    path = sources / "landing" / "claims" / "hospital1_claim_data_2024_07.csv"
    rows = [claim_row(i, 1) | {"ClaimAmount": "n/a"} for i in range(60, 63)]
    lines = [",".join(CLAIM_COLUMNS)] + [",".join(r[c] for c in CLAIM_COLUMNS) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_crash_between_a_refused_files_rejects_and_its_audit_row_is_rolled_back(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # a file whose every line is rejected publishes its rejected rows and a `failed` audit row,
    # no Bronze: a crash between the two left a rejected folder no audit row named, for good
    config = write_config(tmp_path / "c.csv", ["hospital_a.claims"])
    assert ingest(sources, lake, config).ok  # the months already landed
    path = _land_refused_claims_file(sources)
    refused = lake / "rejected" / "hospital_a" / "claims"

    def refused_audit() -> list[tuple[str, int]]:
        return [
            (r["status"], r["rows_rejected"])
            for r in read_audit(lake)
            if r["source_name"] == path.name
        ]

    with pytest.raises(Crash):
        ingest(sources, lake, config, hook=crash_at("before_audit"))
    # the process died after moving the refused file's rejects into place
    (crashed,) = refused.glob("load_id=*")
    assert refused_audit() == []

    messages: list[str] = []
    result = ingest(sources, lake, config, messages=messages)
    assert not result.ok and path.exists()
    assert any("removed the abandoned temporary load" in m for m in messages)
    # the unaudited rejects were taken back; the file was refused again, rejects and audit row
    assert not crashed.exists()
    (folder,) = refused.glob("load_id=*")
    # the crashed refusal is audited as abandoned (nothing counted), then refused again
    assert refused_audit() == [("abandoned", 0), ("failed", 3)]
    assert folder.name == f"load_id={read_audit(lake)[-1]['load_id']}"
    assert not list((lake / "_tmp").iterdir()), "an audited refused load leaves no temporary"


def test_an_error_writing_a_refused_files_audit_row_takes_its_rejects_back(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # an error (not a crash) there went to the file loop's handler, which removed the
    # temporary folder and its manifest: recovery could never find the published rejects
    config = write_config(tmp_path / "c.csv", ["hospital_a.claims"])
    assert ingest(sources, lake, config).ok
    path = _land_refused_claims_file(sources)

    def audit_fails(stage: str, load_id: str) -> None:
        if stage == "before_audit":
            raise OSError(f"no space left writing the audit row of {load_id}")

    result = ingest(sources, lake, config, hook=audit_fails)
    assert not result.ok and "no space left" in (result.entities[0].error or "")
    assert not list((lake / "rejected" / "hospital_a" / "claims").glob("load_id=*"))
    assert not list((lake / "_tmp").iterdir()) and path.exists()
    # the next run refuses the file again, with its rejects and audit row
    assert not ingest(sources, lake, config).ok
    (folder,) = (lake / "rejected" / "hospital_a" / "claims").glob("load_id=*")
    refused = [r for r in read_audit(lake) if r["source_name"] == path.name]
    assert [(r["status"], r["rows_rejected"]) for r in refused][-1] == ("failed", 3)
    assert folder.name == f"load_id={refused[-1]['load_id']}"


def test_a_second_run_while_one_loads_is_refused_and_nothing_loads_twice(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    """A nightly run still going when the next starts (or a person reruns by hand): the second
    `rcm ingest` must not read the same marks, nor remove the first run's load in progress as
    abandoned; it stops at once and says which run holds the lake."""
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCM_")}
    command = [sys.executable, "-m", "ingestion.cli", "ingest", "--sources", str(sources)]
    command += ["--lake", str(lake), "--config", str(config)]
    second: list[subprocess.CompletedProcess[str]] = []

    def start_another_run(stage: str, load_id: str) -> None:
        if stage == "before_publish" and not second:
            second.append(
                subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
            )

    result = ingest(sources, lake, config, hook=start_another_run)

    assert result.ok
    (other,) = second
    assert other.returncode == 1, other.stdout + other.stderr
    message = " ".join(other.stderr.split())
    assert "another `rcm ingest` or `rcm run` is loading into the lake" in message
    assert str(lake.resolve()) in message and f"pid {os.getpid()}," in message
    assert "wait for it to end, then run again" in message
    expected = source_count(sources, "hospital_a", "transactions")
    assert visible_rows(lake, "hospital_a", "transactions") == expected
    assert [r["status"] for r in read_audit(lake)] == ["success"]

    # the lake is let go when the run ends: the next run finds nothing new
    again = ingest(sources, lake, config)
    assert [e.status for e in again.entities] == ["no_change"]
    assert visible_rows(lake, "hospital_a", "transactions") == expected


def _end_processes_of(lake: Path) -> None:
    """Kill what is left of an `rcm ingest` on ``lake`` (its orphaned workers), by pid."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(lake).encode() in command and b"ingest" in command:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def test_a_run_killed_by_its_pid_alone_lets_go_of_the_lake(sources: Path, lake: Path) -> None:
    """A scheduler's timeout kills the run's pid, not its forked workers: they waited on the
    pool's queue for ever, holding the lake, so every later run was refused."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCM_")}
    command = [sys.executable, "-m", "ingestion.cli", "ingest", "--sources", str(sources)]
    command += ["--lake", str(lake), "--workers", "2"]
    try:
        run = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env | {"PYTHONUNBUFFERED": "1"},
        )
        assert run.stdout is not None
        # a worker has started the ICD-10-CM list, seconds of work
        seen = []
        for line in run.stdout:
            seen.append(line)
            if "codesets.icd10cm_codes: full load" in line:
                break
        else:
            pytest.fail("the run ended before it loaded the ICD-10-CM list:\n" + "".join(seen))
        run.kill()
        run.wait(timeout=30)

        deadline = time.monotonic() + 15
        with (lake / ".ingest.lock").open("rb") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    assert time.monotonic() < deadline, "the killed run's workers hold the lake"
                    time.sleep(0.1)
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        _end_processes_of(lake)

    # the rows of the next run: written in the default batches (the ICD-10-CM list is large)
    result = ingest(sources, lake, batch_rows=50_000, write=WriteSettings())
    assert result.ok
    expected = source_count(sources, "hospital_a", "transactions")
    assert visible_rows(lake, "hospital_a", "transactions") == expected
    assert not list((lake / "_tmp").iterdir())


class _BronzeRenameFails(LocalLake):
    """A local lake whose rename of a load's Bronze folder fails (simulated: a network error or
    a lost ADLS lease between the two renames of a publish cannot be made to happen on cue)."""

    def rename(self, src: str, dst: str) -> None:
        if src.endswith("/bronze"):
            raise OSError(f"simulated failure renaming {src}")
        super().rename(src, dst)


def test_a_publish_that_fails_after_its_rejected_rows_takes_them_back(tmp_path: Path) -> None:
    # rejected rows go into place first, Bronze last (the commit): when the commit fails, the
    # rejected rows must not stay published with no load and no audit row to account for them
    lake = _BronzeRenameFails(tmp_path / "lake")
    config = load_config(write_config(tmp_path / "c.csv", ["hospital_a.claims"]))
    (entity,) = config.entities
    manifest = LoadManifest(
        load_id=new_load_id(), run_id="run", database=None, datasource=entity.datasource,
        tablename=entity.table, loadtype="full", source_kind="csv", source_system="hospital_a",
        source_name="claims.csv", columns=["ClaimID"],
        started_at=datetime.now(UTC).isoformat(), rows_read=2,
    )  # fmt: skip
    writer = LoadWriter(lake, entity, manifest, WriteSettings(), lambda _: None)
    writer.write([["C1"]], [1])
    writer.reject(2, "ClaimID: missing", "broken,line")
    writer.finish()
    with pytest.raises(OSError, match="simulated failure"):
        writer.publish(None)
    rejected = lake.root / entity.rejected_target
    assert not rejected.exists() or not list(rejected.iterdir())
    assert not (lake.root / entity.target).exists()
