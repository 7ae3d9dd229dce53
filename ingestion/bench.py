"""`rcm bench`: time every stage of the pipeline and measure its peak memory.

Each stage runs as its own ``rcm`` sub-process so that the figures are those a user sees,
and its memory is the peak resident set size of the whole process tree (sampled), not of
this process. Results are printed as a table and written as JSON under
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from ingestion import build_state
from ingestion.console import format_table, info

EMR_TABLES = ("departments", "encounters", "patients", "providers", "transactions")
DEFAULT_END = date(2024, 12, 31)


@dataclass
class StageResult:
    """One measured stage."""

    scenario: str
    stage: str
    seconds: float
    peak_rss_mb: float
    rows: int
    exit_code: int
    slowest_nodes: list[tuple[str, float]] = field(default_factory=list)
    note: str = ""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class BenchReport:
    scale: float
    started_at: str
    machine: dict[str, Any]
    stages: list[StageResult] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "started_at": self.started_at,
            "machine": self.machine,
            "stages": [asdict(s) | {"rows_per_second": s.rows_per_second} for s in self.stages],
        }


class TreeMemorySampler:
    """Samples the summed RSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for proc in procs:
                try:
                    total += proc.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop.wait(self.interval)


def run_measured(command: Sequence[str], log_path: Path) -> tuple[float, float, int]:
    """Run ``command``; return (seconds, peak RSS of its process tree in MB, exit code)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT)
        with TreeMemorySampler(proc.pid) as sampler:
            code = proc.wait()
        seconds = time.perf_counter() - started
    return seconds, sampler.peak_bytes / 1_048_576, code


def count_source_rows(sources: Path) -> int:
    """Rows in the generated sources: every EMR table row plus every claims CSV data line."""
    total = 0
    for db in sorted((sources / "emr").glob("*.db")):
        with sqlite3.connect(db) as conn:
            for table in EMR_TABLES:
                total += int(conn.execute(f'select count(*) from "{table}"').fetchone()[0])
    claims = sources / "landing" / "claims"
    for csv_file in sorted(claims.rglob("*.csv")):
        with csv_file.open("rb") as handle:
            total += max(sum(1 for _ in handle) - 1, 0)
    return total


def audit_rows_written(lake: Path, known_runs: set[str]) -> tuple[int, set[str]]:
    """Rows written by the ingest runs that appeared since ``known_runs`` (from the audit)."""
    import duckdb

    audit = lake / "audit" / "load_audit"
    runs = {p.name for p in audit.glob("run_id=*")} if audit.exists() else set()
    new_runs = sorted(runs - known_runs)
    if not new_runs:
        return 0, runs
    files = [str(f) for run in new_runs for f in (audit / run).glob("*.parquet")]
    if not files:
        return 0, runs
    con = duckdb.connect()
    try:
        row = con.execute(
            "select coalesce(sum(rows_written), 0) from read_parquet(?, union_by_name = true)",
            [files],
        ).fetchone()
    finally:
        con.close()
    return int(row[0]) if row else 0, runs


def warehouse_rows(warehouse: Path) -> int:
    """Rows in the transaction fact (what a build produces), 0 when it is not there."""
    import duckdb

    if not warehouse.exists():
        return 0
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        row = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'marts' and table_name = 'fct_transactions'"
        ).fetchone()
        if not row or not row[0]:
            return 0
        counted = con.execute("select count(*) from marts.fct_transactions").fetchone()
        return int(counted[0]) if counted else 0
    finally:
        con.close()


def keep_run_results(
    target_path: Path, keep_as: Path, since: float, top: int = 8
) -> list[tuple[str, float]]:
    """Copy dbt's run_results.json next to the stage's log; return its slowest nodes.

    Nothing when dbt did not write it after ``since`` (a build skipped as up to date).
    """
    source = target_path / "run_results.json"
    if not source.exists() or source.stat().st_mtime < since:
        return []
    keep_as.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, keep_as.with_suffix(".run_results.json"))
    results = json.loads(source.read_text()).get("results", [])
    timed = [(str(r["unique_id"]), float(r.get("execution_time") or 0.0)) for r in results]
    timed.sort(key=lambda item: item[1], reverse=True)
    return [(name, round(seconds, 2)) for name, seconds in timed[:top]]


def node_label(unique_id: str) -> str:
    """A node's name from its dbt unique id: ``model.rcm.<name>``, ``test.rcm.<name>.<hash>``
    (the hash alone says nothing to a reader of the bench's output)."""
    parts = unique_id.split(".")
    return parts[2] if len(parts) > 2 else unique_id


# dbt's line when it cannot reuse its saved manifest (target/partial_parse.msgpack)
FULL_PARSE = "Unable to do partial parsing because "


def full_parse_note(log_text: str) -> str:
    """A note when the build's dbt parsed the whole project, with dbt's reason; else "".

    A full parse (a new target folder, a changed profile or dbt version) costs a scale-1 build
    about 4 s more than re-parsing only the changed files, so two builds compare only when both
    parsed the same way.
    """
    start = log_text.find(FULL_PARSE)
    if start < 0:
        return ""
    reason = log_text[start + len(FULL_PARSE) :].split("\n", 1)[0]
    reason = reason.split(". Starting full parse", 1)[0].strip().rstrip(".")
    return f"full dbt parse: {reason}" if reason else "full dbt parse"


@dataclass
class BenchPlan:
    scale: float
    workdir: Path
    seed: int
    end: date
    until: str = "all"
    start_at: str = "generate"
    advance_days: tuple[int, ...] = (1, 7)

    @property
    def sources(self) -> Path:
        return self.workdir / "sources"

    @property
    def lake(self) -> Path:
        return self.workdir / "lake"

    @property
    def warehouse(self) -> Path:
        return self.workdir / "warehouse" / "rcm.duckdb"


# A fixed amount of work, timed on one core: what a stage's seconds mean depends on how fast
# the machine is while it runs, and a shared virtual machine's speed moves by tens of per cent
# between hours (benchmarks/README.md, "Reading the figures"). Two figures: the interpreter
# (dbt's parse and scheduling are Python) and DuckDB (the models and tests are its work).
CALIBRATION_PYTHON_LOOPS = 6_000_000
CALIBRATION_DUCKDB_SQL = (
    "select count(distinct md5(cast(i as varchar))), sum(i % 97) from range(2000000) as t(i)"
)
CALIBRATION_TRIES = 3


def _python_work(loops: int) -> int:
    total = 0
    for i in range(loops):
        total += i * i % 7
    return total


def machine_calibration(tries: int = CALIBRATION_TRIES) -> dict[str, float]:
    """Seconds of the two fixed workloads, the best of ``tries`` each (the least disturbed):
    the same code's figures, so they change only with the machine."""
    import duckdb

    def best(work: Callable[[], object]) -> float:
        times = []
        for _ in range(tries):
            started = time.perf_counter()
            work()
            times.append(time.perf_counter() - started)
        return round(min(times), 3)

    con = duckdb.connect()
    try:
        con.execute("set threads = 1")
        duckdb_seconds = best(lambda: con.execute(CALIBRATION_DUCKDB_SQL).fetchall())
    finally:
        con.close()
    return {
        "python_seconds": best(lambda: _python_work(CALIBRATION_PYTHON_LOOPS)),
        "duckdb_seconds": duckdb_seconds,
    }


def calibration_line(report: BenchReport) -> str:
    """The calibration taken before and after the stages, as one line ('' when not taken)."""
    parts = [
        f"{when} python {figures['python_seconds']:.2f} s, duckdb {figures['duckdb_seconds']:.2f} s"
        for when in ("before", "after")
        if (figures := report.machine.get(f"calibration_{when}"))
    ]
    if not parts:
        return ""
    return (
        "machine speed (fixed work on one core, lower is faster): "
        + "; ".join(parts)
        + ". Compare two benches' seconds only where these are close (benchmarks/README.md)."
    )


def _rcm(*args: str) -> list[str]:
    return [sys.executable, "-m", "ingestion.cli", *args]


def run_bench(plan: BenchPlan, progress: Callable[[str], None] = info) -> BenchReport:
    """Generate, ingest and build at ``plan.scale``; then an incremental day, a no-change
    rerun and an advance of a week. Every stage is timed and its memory sampled."""
    report = BenchReport(
        scale=plan.scale,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        machine={
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    )
    reuse = plan.start_at == "build"  # keep the sources and the lake of an earlier run
    if reuse:
        state = plan.sources / "generator_state.json"
        generated_end = json.loads(state.read_text())["end"] if state.exists() else None
        if generated_end != plan.end.isoformat() or not (plan.lake / "bronze").is_dir():
            raise RuntimeError(
                f"--start-at build needs the sources (ending {plan.end}) and lake of an earlier "
                f"run stopped after its full ingest (--until ingest) in {plan.workdir}"
            )
    progress("bench: timing a fixed amount of work (machine speed) ...")
    report.machine["calibration_before"] = machine_calibration()
    _run_stages(plan, report, reuse, progress)
    progress("bench: timing the fixed work again ...")
    report.machine["calibration_after"] = machine_calibration()
    return report


def _run_stages(
    plan: BenchPlan, report: BenchReport, reuse: bool, progress: Callable[[str], None]
) -> None:
    """The stages of ``run_bench``, each appended to ``report`` as it ends."""
    for folder in (plan.warehouse.parent,) if reuse else (plan.lake, plan.warehouse.parent):
        if folder.exists():
            shutil.rmtree(folder)
    env_lake = str(plan.lake)
    os.environ["RCM_LAKE_DIR"] = env_lake
    os.environ["RCM_WAREHOUSE_PATH"] = str(plan.warehouse)
    plan.warehouse.parent.mkdir(parents=True, exist_ok=True)
    logs = plan.workdir / "logs"
    known_runs: set[str] = set()

    def stage(scenario: str, name: str, command: list[str], rows: Callable[[], int]) -> None:
        nonlocal known_runs
        progress(f"bench: {scenario} / {name} ...")
        log = logs / f"{scenario}-{name.replace(' --', '-')}.log"
        started = time.time()
        seconds, peak, code = run_measured(command, log)
        counted = rows() if code == 0 else 0
        result = StageResult(scenario, name, round(seconds, 2), round(peak, 1), counted, code)
        if name.startswith("build"):
            result.slowest_nodes = keep_run_results(target_path, log.with_suffix(""), since=started)
            text = log.read_text(errors="replace")
            skipped = "skipped: up to date" if build_state.UP_TO_DATE in text else ""
            result.note = "; ".join(note for note in (skipped, full_parse_note(text)) if note)
        report.stages.append(result)
        progress(
            f"bench: {scenario} / {name}: {seconds:.1f} s, {peak:,.0f} MB peak, "
            f"{counted:,} rows, exit {code}"
        )
        if code != 0:
            raise RuntimeError(f"stage {scenario}/{name} failed with exit code {code}; see {log}")

    def ingest_rows() -> int:
        nonlocal known_runs
        written, known_runs = audit_rows_written(plan.lake, known_runs)
        return written

    ingest_cmd = _rcm("ingest", "--sources", str(plan.sources), "--lake", env_lake)
    target_path = plan.workdir / "target"
    build_cmd = _rcm("build", "--target-path", str(target_path))

    if reuse:
        _, known_runs = audit_rows_written(plan.lake, set())
        progress("bench: reusing the sources and the lake; the full run starts at its build")
    else:
        stage(
            "full",
            "generate",
            _rcm(
                "generate",
                "--out",
                str(plan.sources),
                "--scale",
                str(plan.scale),
                "--seed",
                str(plan.seed),
                "--end",
                plan.end.isoformat(),
                "--force",
            ),
            lambda: count_source_rows(plan.sources),
        )
        if plan.until == "generate":
            return
        stage("full", "ingest", ingest_cmd, ingest_rows)
        if plan.until == "ingest":
            return
    stage("full", "build", build_cmd, lambda: warehouse_rows(plan.warehouse))
    if plan.until == "build":
        return

    current = plan.end
    for days in plan.advance_days:
        current = current + timedelta(days=days)
        scenario = f"advance_{days}d"
        stage(
            scenario,
            "generate",
            _rcm("generate", "--out", str(plan.sources), "--advance-to", current.isoformat()),
            lambda: 0,
        )
        stage(scenario, "ingest", ingest_cmd, ingest_rows)
        stage(scenario, "build", build_cmd, lambda: warehouse_rows(plan.warehouse))
        if days == plan.advance_days[0]:
            stage("no_change", "ingest", ingest_cmd, ingest_rows)
            stage("no_change", "build", build_cmd, lambda: warehouse_rows(plan.warehouse))
            # what dbt itself costs when nothing changed (the check above skips it)
            stage(
                "no_change",
                "build --force",
                [*build_cmd, "--force"],
                lambda: warehouse_rows(plan.warehouse),
            )


def summary_table(report: BenchReport) -> str:
    rows = [
        (
            s.scenario,
            s.stage,
            round(s.seconds, 1),
            round(s.rows_per_second),
            s.rows,
            round(s.peak_rss_mb),
            s.note,
        )
        for s in report.stages
    ]
    return format_table(("scenario", "stage", "seconds", "rows/s", "rows", "peak MB", "note"), rows)


def _seconds(report: BenchReport, scenario: str, *stages: str) -> float | None:
    found = [s.seconds for s in report.stages if s.scenario == scenario and s.stage in stages]
    return sum(found) if len(found) == len(stages) else None


def target_lines(report: BenchReport) -> list[str]:
    """The measured figures against the targets of issues 4 and 7, each at the scale it is set
    for (only those measured): the full build and the week's share of it at scale 1; the full
    run, its memory and the day's share of it at scale 10; the no-change rerun at any scale."""
    lines: list[str] = []

    def check(label: str, value: float | None, limit: float, unit: str) -> None:
        if value is not None:
            verdict = "met" if value <= limit else "NOT met"
            lines.append(f"  {label}: {value:,.1f} {unit} (target <= {limit:,.1f}) {verdict}")

    full_build = _seconds(report, "full", "build")
    full_run = _seconds(report, "full", "ingest", "build")
    if report.scale == 1:
        check("full dbt build, scale 1", full_build, 60, "s")
    if report.scale >= 10:
        check("full ingest + build", full_run, 600, "s")
        peak = max((s.peak_rss_mb for s in report.stages if s.scenario == "full"), default=None)
        check("peak memory of the full run", peak, 6144, "MB")
    week = _seconds(report, "advance_7d", "build")
    if report.scale == 1 and week is not None and full_build:
        check("build after a week, % of the full build", 100 * week / full_build, 25, "%")
    day = _seconds(report, "advance_1d", "ingest", "build")
    if report.scale >= 10 and day is not None and full_run:
        check("incremental day (ingest + build), % of the full run", 100 * day / full_run, 10, "%")
    check("no-change ingest + build", _seconds(report, "no_change", "ingest", "build"), 30, "s")
    return ["targets:", *lines] if lines else []


def write_report(report: BenchReport, results_dir: Path) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = report.started_at.replace(":", "").replace("-", "")
    path = results_dir / f"bench_scale{report.scale:g}_{stamp}.json"
    path.write_text(json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n")
    return path


def _handle(args: argparse.Namespace) -> int:
    plan = BenchPlan(
        scale=args.scale,
        workdir=Path(args.workdir) / f"scale{args.scale:g}",
        seed=args.seed,
        end=DEFAULT_END,
        until=args.until,
        start_at=args.start_at,
    )
    info(f"bench: scale {plan.scale:g}, working folder {plan.workdir}")
    try:
        report = run_bench(plan)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print()
    print(summary_table(report))
    for stage in report.stages:
        if stage.slowest_nodes:
            slow = ", ".join(f"{node_label(n)} {t:.1f}s" for n, t in stage.slowest_nodes[:5])
            print(f"slowest dbt nodes, {stage.scenario}: {slow}")
    for line in target_lines(report):
        print(line)
    print(calibration_line(report))
    path = write_report(report, Path(args.results))
    info(f"\nresults written to {path}")
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="time generate, ingest and build (full, incremental day, no-change, week)",
        description=(
            "Run the pipeline at a scale and print, per stage, wall time, rows per second and "
            "peak memory of the whole process tree, the figures against the targets set for the "
            "scale, and the machine's speed (a fixed amount of work timed before and after the "
            "stages); the figures also go to a JSON file in --results."
        ),
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="1 = about 1M transactions (default: 1)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=42,
        help="random seed of the generated sources: the same seed and scale, the same sources "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--workdir",
        default="benchmarks/work",
        help="where sources, lake and warehouse go, in a folder per scale (default: %(default)s)",
    )
    parser.add_argument(
        "--results",
        default="benchmarks/results",
        help="folder the run's figures are written to, as bench_scale<SCALE>_<time>.json "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--until",
        choices=("generate", "ingest", "build", "all"),
        default="all",
        help="stop after this stage of the full run (default: all scenarios)",
    )
    parser.add_argument(
        "--start-at",
        choices=("generate", "build"),
        default="generate",
        help="build: reuse the sources and lake of an earlier run stopped with --until ingest "
        "and start at the full build (the warehouse is rebuilt from nothing)",
    )
    parser.set_defaults(func=_handle)
