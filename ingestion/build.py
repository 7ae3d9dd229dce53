"""`rcm build` and `rcm docs`: run the dbt project through dbt's Python API.

``run_build`` runs ``dbt build`` (seeds, models, snapshots, tests) with the repository's project
and profiles folders and returns a :class:`BuildResult`; ``run_docs`` runs ``dbt docs generate
--static`` and returns the path of the single-file HTML site. ``build_unless_up_to_date`` (what
``rcm build`` and ``rcm run`` call) skips a build whose inputs have not changed since the last
successful one (see :mod:`ingestion.build_state`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ingestion import build_state, compaction, console, dbt_speedups, failing_rows, model_logic
from ingestion.lake import DISK_FULL

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROJECT_DIR = REPO_ROOT
DEFAULT_PROFILES_DIR = REPO_ROOT / "profiles"

# dbt writes logs/dbt.log at this level unless DBT_LOG_LEVEL_FILE says otherwise. dbt's own
# default, debug, adds every statement and connection event of every node; formatting them cost
# a scale-1 full build about 1.4 s of its 64 s, a forced build 0.5 s of its 22 s
# (benchmarks/README.md). The compiled and run SQL of each node stays in the target folder.
LOG_LEVEL_FILE_ENV = "DBT_LOG_LEVEL_FILE"
# the local target's DuckDB file (profiles/profiles.yml)
WAREHOUSE_ENV = "RCM_WAREHOUSE_PATH"
# the lake dbt reads Bronze from (the sources' external locations, and build_state)
LAKE_ENV = "RCM_LAKE_DIR"
DEFAULT_LOG_LEVEL_FILE = "info"

# dbt result statuses that make a build fail.
FAILING_STATUSES = frozenset({"error", "fail", "runtime error"})


@dataclass(frozen=True)
class NodeResult:
    """One dbt node's outcome."""

    unique_id: str
    resource_type: str
    name: str
    status: str
    execution_time: float
    message: str
    failures: int | None
    tags: tuple[str, ...] = ()
    # a failing or warning test: its compiled query (the rows it found) and the nodes it
    # reads, for ingestion/failing_rows.py
    compiled_sql: str = ""
    # where dbt wrote that query (target/compiled/...), to read all its rows
    compiled_path: str = ""
    parents: tuple[str, ...] = ()

    @property
    def is_failure(self) -> bool:
        return self.status in FAILING_STATUSES

    @property
    def is_warning(self) -> bool:
        return self.status == "warn"


@dataclass(frozen=True)
class BuildResult:
    """What ``dbt build`` did: one entry per node, plus whether dbt itself succeeded."""

    success: bool
    nodes: tuple[NodeResult, ...]
    elapsed_seconds: float
    target_path: Path
    exception: str | None = None
    # dbt wrote the exception's traceback to its log file (an error not of dbt's own kind)
    traceback_logged: bool = False
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    # what the Bronze reconciliation test checked (build_state.reconcile_scope), when known
    reconciled: str | None = None
    # the nodes run again one at a time after DuckDB ran out of memory (retry_out_of_memory)
    retried: tuple[str, ...] = ()
    # a build scoped to new Bronze loads: the sources whose nodes it left as they were
    # (unchanged_sources), and whether it left out the unit tests
    unchanged_sources: tuple[str, ...] = ()
    skipped_unit_tests: bool = False
    # the tables rewritten after the build to drop their deleted rows (ingestion/compaction.py)
    compacted: tuple[compaction.Compacted, ...] = ()
    # the dbt project built (dbt's compiled paths are relative to it)
    project_dir: Path = REPO_ROOT
    # the first rows each failing or warning test found (failing_rows), by unique_id
    examples: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # the incremental models whose SQL changed after their rows were built (model_logic)
    changed_logic: tuple[str, ...] = ()
    # of those, the ones that read none of the others (a full refresh of each and its readers)
    rebuild_first: tuple[str, ...] = ()

    @property
    def failures(self) -> tuple[NodeResult, ...]:
        return tuple(node for node in self.nodes if node.is_failure)

    @property
    def warnings(self) -> tuple[NodeResult, ...]:
        return tuple(node for node in self.nodes if node.is_warning)

    @property
    def exit_code(self) -> int:
        return 0 if self.success and not self.failures and self.exception is None else 1

    def slowest(self, limit: int = 5) -> tuple[NodeResult, ...]:
        return tuple(sorted(self.nodes, key=lambda node: node.execution_time, reverse=True)[:limit])


def _dbt_args(
    command: Sequence[str],
    *,
    project_dir: Path,
    profiles_dir: Path,
    target: str | None,
    target_path: Path | None,
) -> list[str]:
    args = [*command, "--project-dir", str(project_dir), "--profiles-dir", str(profiles_dir)]
    if not os.environ.get(LOG_LEVEL_FILE_ENV):
        args += ["--log-level-file", DEFAULT_LOG_LEVEL_FILE]
    if target:
        args += ["--target", target]
    if target_path is not None:
        args += ["--target-path", str(target_path)]
    return args


def _resolved_target_path(project_dir: Path, target_path: Path | None) -> Path:
    """The target folder as a full path: dbt takes a relative --target-path from the project,
    not from the working folder, so this reads dbt's artifacts where dbt wrote them."""
    return project_dir / target_path if target_path else default_target_path(project_dir)


def default_target_path(project_dir: Path) -> Path:
    """Where dbt writes its artifacts when no --target-path is given: DBT_TARGET_PATH (relative
    to the project) if set, else the project's target folder."""
    configured = os.environ.get("DBT_TARGET_PATH")
    return project_dir / (configured or "target")


# dbt commands that write manifest.json when they end (see dbt_speedups.manifest_written_once)
_GRAPH_COMMANDS = frozenset({"build", "retry"})


def _invoke(args: list[str], target_path: Path) -> Any:
    with dbt_speedups.collector_paused():  # from dbt's import on: see the function
        # Imported here: dbt is heavy and only the build/docs commands need it.
        from dbt.cli.main import dbtRunner

        os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        dbt_speedups.skip_unlogged_debug_events()
        dbt_speedups.flat_macro_namespaces()
        dbt_speedups.shared_type_testers()
        dbt_speedups.use_jinja_code_cache(target_path)
        try:
            with _tracebacks_in_log_file_only():
                if args[0] in _GRAPH_COMMANDS:
                    with dbt_speedups.manifest_written_once():
                        return dbtRunner().invoke(args)
                return dbtRunner().invoke(args)
        finally:
            dbt_speedups.save_jinja_code_cache()
            _release_duckdb()


def _file_log_written() -> bool:
    """Whether dbt writes its log file (DBT_LOG_LEVEL_FILE=none turns it off)."""
    return os.environ.get(LOG_LEVEL_FILE_ENV, "").lower() != "none"


@contextmanager
def _tracebacks_in_log_file_only() -> Iterator[None]:
    """Keep the traceback dbt prints for an error that is not its own (a fault in DuckDB, an
    adapter or dbt's Python) out of the console: it came before rcm's summary, some 30 lines of
    it, above the one line that says what failed. dbt's log file keeps it, and the summary
    says where. When that file is not written (DBT_LOG_LEVEL_FILE=none), the console keeps it.
    """
    if not _file_log_written():
        yield
        return
    import dbt.events.logging

    dbt_logging: Any = dbt.events.logging  # where dbt's console logger gets its settings
    console_config = dbt_logging.get_stdout_config

    def without_tracebacks(*args: Any, **kwargs: Any) -> Any:
        config = console_config(*args, **kwargs)
        shown = config.filter
        config.filter = lambda msg: msg.info.name != "MainStackTrace" and shown(msg)
        return config

    dbt_logging.get_stdout_config = without_tracebacks
    try:
        yield
    finally:
        dbt_logging.get_stdout_config = console_config


def _release_duckdb() -> None:
    """Let go of dbt-duckdb's in-process database handle.

    dbt-duckdb keeps one DuckDB instance per process; while it lives, the warehouse file cannot
    be opened by the caller (`rcm run`, the tests) with another configuration.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter
        return
    # Closed here rather than when the handle is next collected: this runs with the collector
    # off (dbt_speedups.collector_paused), and in `rcm build` it stays off until the end.
    environment = getattr(DuckDBConnectionManager, "_ENV", None)
    close = getattr(environment, "close", None)
    if callable(close):
        close()
    DuckDBConnectionManager.close_all_connections()  # type: ignore[no-untyped-call]


def _node_result(result: Any) -> NodeResult:
    node = result.node
    status = str(result.status)
    found_rows = str(node.resource_type) == "test" and status in ("fail", "warn")
    return NodeResult(
        unique_id=str(node.unique_id),
        resource_type=str(node.resource_type),
        name=str(node.name),
        status=status,
        execution_time=float(result.execution_time or 0.0),
        message=str(result.message or ""),
        failures=result.failures,
        tags=tuple(str(tag) for tag in (getattr(node, "tags", None) or ())),
        compiled_sql=str(getattr(node, "compiled_code", None) or "") if found_rows else "",
        parents=tuple(str(p) for p in node.depends_on.nodes) if found_rows else (),
        compiled_path=str(getattr(node, "compiled_path", None) or "") if found_rows else "",
    )


def run_build(
    *,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    full_refresh: bool = False,
    target: str | None = None,
    project_dir: Path = DEFAULT_PROJECT_DIR,
    profiles_dir: Path = DEFAULT_PROFILES_DIR,
    target_path: Path | None = None,
    extra_args: Sequence[str] = (),
) -> BuildResult:
    """Run ``dbt build`` and collect every node's outcome."""
    target_path = _resolved_target_path(project_dir, target_path)
    args = _dbt_args(
        ["build"],
        project_dir=project_dir,
        profiles_dir=profiles_dir,
        target=target,
        target_path=target_path,
    )
    if select:
        args += ["--select", *select]
    if exclude:
        args += ["--exclude", *exclude]
    if full_refresh:
        args.append("--full-refresh")
    args += list(extra_args)
    return _build_result(_invoke(args, target_path), target_path, project_dir)


def _build_result(outcome: Any, target_path: Path, project_dir: Path) -> BuildResult:
    results = getattr(outcome.result, "results", None) or []
    nodes = tuple(_node_result(result) for result in results)
    elapsed = float(getattr(outcome.result, "elapsed_time", 0.0) or 0.0)
    return BuildResult(
        success=bool(outcome.success),
        nodes=nodes,
        elapsed_seconds=elapsed,
        target_path=target_path,
        exception=None if outcome.exception is None else str(outcome.exception),
        traceback_logged=_traceback_logged(outcome.exception),
        counts=_counts(nodes),
        project_dir=project_dir,
    )


def _traceback_logged(exception: BaseException | None) -> bool:
    """Whether dbt wrote a traceback for ``exception`` (it does for any error but its own)."""
    if exception is None or not _file_log_written():
        return False
    from dbt_common.exceptions import DbtBaseException

    return not isinstance(exception, DbtBaseException)


def dbt_log_file(project_dir: Path) -> Path:
    """dbt's log file: DBT_ENGINE_LOG_PATH or DBT_LOG_PATH (dbt prefers the first), else the
    project's logs folder (its log-path)."""
    folder = os.environ.get("DBT_ENGINE_LOG_PATH") or os.environ.get("DBT_LOG_PATH")
    return Path(folder or project_dir / "logs") / "dbt.log"


def _counts(nodes: Sequence[NodeResult]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for node in nodes:
        counts.setdefault(node.resource_type, Counter())[node.status] += 1
    return counts


# DuckDB's words when a query needs more than its memory_limit
OUT_OF_MEMORY = "Out of Memory Error"


def ran_out_of_memory(result: BuildResult) -> tuple[NodeResult, ...]:
    """The failed nodes whose error is DuckDB running out of memory."""
    return tuple(node for node in result.failures if OUT_OF_MEMORY in node.message)


def retry_out_of_memory(
    result: BuildResult,
    *,
    target: str | None = None,
    project_dir: Path = DEFAULT_PROJECT_DIR,
    profiles_dir: Path = DEFAULT_PROFILES_DIR,
    target_path: Path | None = None,
) -> BuildResult:
    """After a build in which DuckDB ran out of memory, run ``dbt retry --threads 1``: the
    failed and skipped nodes again, one at a time, so that no two heavy queries share the
    memory limit. The result is the build's, with the retried nodes' new outcomes."""
    args = _dbt_args(
        ["retry", "--threads", "1"],
        project_dir=project_dir,
        profiles_dir=profiles_dir,
        target=target,
        target_path=target_path,  # the build's; none: where dbt put it (DBT_TARGET_PATH)
    )
    retry = _build_result(_invoke(args, result.target_path), result.target_path, project_dir)
    again = {node.unique_id: node for node in retry.nodes}
    nodes = tuple(again.pop(node.unique_id, node) for node in result.nodes) + tuple(again.values())
    return dataclasses.replace(
        result,
        success=retry.success,
        nodes=nodes,
        elapsed_seconds=result.elapsed_seconds + retry.elapsed_seconds,
        exception=retry.exception,
        counts=_counts(nodes),
        retried=tuple(node.name for node in retry.nodes),
    )


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """Set an environment variable for dbt (run in this process), then put it back."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


# what a build scoped to new Bronze loads leaves out besides the unreached nodes
UNIT_TESTS = "resource_type:unit_test"
# ... and what it runs besides the reached ones: the tests with a warn threshold (the tag is
# how the project marks them; tests/dbt/test_build.py checks that only these warn)
KNOWN_DIRTY_TESTS = "tag:known_dirty"


@dataclass(frozen=True)
class SkippedBuild:
    """A build that did not run because nothing it reads has changed (see build_state)."""

    reason: str
    exit_code: int = 0


def build_unless_up_to_date(
    *,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    full_refresh: bool = False,
    force: bool = False,
    target: str | None = None,
    project_dir: Path = DEFAULT_PROJECT_DIR,
    profiles_dir: Path = DEFAULT_PROFILES_DIR,
    target_path: Path | None = None,
) -> BuildResult | SkippedBuild:
    """Run ``dbt build`` unless the warehouse is already built from the same inputs.

    Only a whole-project build (no selection, no full refresh) on the local target is skipped
    or recorded; every other build removes the record first.
    """
    inputs = build_state.local_build_inputs(
        project_dir=project_dir, profiles_dir=profiles_dir, target=target
    )
    whole = not select and not exclude and not full_refresh
    # the last-build record says whether the whole warehouse is as a build left it: a part
    # built alone (--select, --exclude) neither clears an earlier failure nor is one (a daily
    # build's own selection below is the whole project's change)
    project_wide = not select and not exclude
    if inputs is not None and whole and not force:
        reason = build_state.up_to_date(inputs)
        if reason is not None:
            return SkippedBuild(reason)
    # Only a whole build on top of a recorded one may check just the new Bronze loads.
    scope = (
        build_state.reconcile_scope(inputs) if whole and not force else build_state.RECONCILE_ALL
    )
    unchanged: list[str] = []
    scoped = inputs is not None and whole and scope != build_state.RECONCILE_ALL
    if inputs is not None and scoped:
        # The project is as the last successful build left it and only new loads differ:
        # the unit tests (fixed inputs) passed then, and a node that reads none of the new
        # loads would compute what it holds. Build what the new loads reach.
        exclude = [UNIT_TESTS]
        declared = build_state.declared_sources(project_dir) or []
        unchanged = build_state.unchanged_sources(inputs, scope, declared)
        if unchanged and len(unchanged) < len(declared):
            # the known-dirty tests judge a count over all rows: they always run, so a daily
            # build still reports the warnings of tables it did not rebuild
            select = [f"source:{name}+" for name in declared if name not in unchanged]
            select.append(KNOWN_DIRTY_TESTS)
        else:
            unchanged = []
    build_state.forget(inputs)
    warehouse = build_state.local_warehouse(target)
    new_warehouse = warehouse is not None and not warehouse.exists()
    if warehouse is not None and project_wide:
        build_state.record_outcome(warehouse, "running")
    with _environment(build_state.RECONCILE_ENV, scope):
        result = run_build(
            select=select,
            exclude=exclude,
            full_refresh=full_refresh,
            target=target,
            project_dir=project_dir,
            profiles_dir=profiles_dir,
            target_path=target_path,
        )
        out_of_memory = ran_out_of_memory(result)
        if out_of_memory:
            console.info(
                f"rcm build: DuckDB ran out of memory in {len(out_of_memory)} node(s) "
                f"({', '.join(node.name for node in out_of_memory)}); running the failed and "
                "skipped nodes again one at a time (dbt retry --threads 1)"
            )
            result = retry_out_of_memory(
                result,
                target=target,
                project_dir=project_dir,
                profiles_dir=profiles_dir,
                target_path=target_path,
            )
    if any(node.name == RECONCILIATION_TEST for node in result.nodes):
        result = dataclasses.replace(result, reconciled=scope)
    result = _check_logic(
        result,
        full_refresh=full_refresh,
        warehouse=warehouse,
        new_warehouse=new_warehouse,
        target=target,
    )
    if scoped:
        result = dataclasses.replace(
            result, unchanged_sources=tuple(unchanged), skipped_unit_tests=True
        )
    if warehouse is not None and project_wide:
        state = "ok" if result.exit_code == 0 else "failed"
        build_state.record_outcome(warehouse, state, [node.name for node in result.failures])
    if warehouse is not None:
        found = [
            failing_rows.FailedTest(node.unique_id, node.compiled_sql, node.parents)
            for node in result.nodes
            if node.compiled_sql
        ]
        if found:
            examples = failing_rows.failing_rows(
                found, warehouse, result.target_path / "manifest.json"
            )
            result = dataclasses.replace(result, examples=examples)
    if warehouse is not None and result.exit_code == 0:
        # before remember(): the record holds the warehouse file as the build leaves it
        try:
            compacted = compaction.compact_warehouse(warehouse)
        except (duckdb.Error, OSError, ValueError) as error:
            # upkeep, not the build: the tables keep their rows, the next build tries again
            console.info(f"rcm build: did not compact the warehouse {warehouse}: {error}")
            compacted = []
        result = dataclasses.replace(result, compacted=tuple(compacted))
    if inputs is not None and whole and result.exit_code == 0:
        build_state.remember(inputs)
    return result


def _check_logic(
    result: BuildResult,
    *,
    full_refresh: bool,
    warehouse: Path | None,
    new_warehouse: bool,
    target: str | None,
) -> BuildResult:
    """Name the incremental models whose logic changed after their rows were built."""
    parsed = dbt_speedups.take_parsed()
    if parsed is None:  # dbt stopped before its manifest
        return result
    manifest, project, variables = parsed
    built = [n.name for n in result.nodes if n.resource_type == "model" and n.status == "success"]
    try:
        found = model_logic.check(
            model_logic.logic_versions(manifest, project, variables),
            built,
            full_refresh=full_refresh,
            record=model_logic.record_path(warehouse, result.target_path, target),
            new_warehouse=new_warehouse,
        )
        first = model_logic.first_of(manifest, found.changed)
    except (AttributeError, KeyError, TypeError, ValueError, OSError) as error:
        # a check of the build, not the build: its tables are as dbt left them
        console.info(f"rcm build: could not check the incremental models' logic: {error!r}")
        return result
    return dataclasses.replace(result, changed_logic=found.changed, rebuild_first=first)


def run_docs(
    *,
    target: str | None = None,
    project_dir: Path = DEFAULT_PROJECT_DIR,
    profiles_dir: Path = DEFAULT_PROFILES_DIR,
    target_path: Path | None = None,
) -> Path:
    """Run ``dbt docs generate --static``; return the single-file HTML site."""
    target_path = _resolved_target_path(project_dir, target_path)
    args = _dbt_args(
        ["docs", "generate", "--static"],
        project_dir=project_dir,
        profiles_dir=profiles_dir,
        target=target,
        target_path=target_path,
    )
    outcome = _invoke(args, target_path)
    if not outcome.success:
        raise RuntimeError(f"dbt docs generate failed: {outcome.exception}")
    return target_path / "static_index.html"


# the singular test whose scope build_state.reconcile_scope sets
RECONCILIATION_TEST = "assert_bronze_rows_in_staging_or_superseded"


def describe_scope(scope: str) -> str:
    """A reconciliation scope in words (see build_state.reconcile_scope)."""
    if scope == build_state.RECONCILE_ALL:
        return "all loads"
    if scope == build_state.RECONCILE_NONE:
        return "no load (none new since the last build)"
    count = len(scope.split(","))
    return (
        f"{count} new load{'s' if count != 1 else ''} and every version of the claims they "
        "touch (the rest was checked by earlier builds)"
    )


# Failure messages that have one known cause, and what to do about it.
_OLDER_PROJECT_HINT = (
    "an incremental model's table was built by an older version of the project (its "
    "columns differ): run `rcm build --full-refresh` once to rebuild the incremental models"
)
FAILURE_HINTS: tuple[tuple[str, str], ...] = (
    ("out of sync", _OLDER_PROJECT_HINT),
    # macro require_integer_keys: a table whose keys are still md5 strings
    ("keys are 64-bit integers now", _OLDER_PROJECT_HINT),
    # DuckDB's words when an incremental model asks its own older table for processed_at
    ('Referenced table "previous_run" not found', _OLDER_PROJECT_HINT),
    (
        OUT_OF_MEMORY,
        "DuckDB ran out of memory even with one node at a time: raise "
        "RCM_DUCKDB_MEMORY_LIMIT (the default is in profiles/profiles.yml) or lower "
        "RCM_DUCKDB_THREADS",
    ),
    (
        DISK_FULL,
        "a disk is full (the one that holds the file the error names: the warehouse, or "
        "DuckDB's temporary folder beside it): free space on it and run `rcm build` again; "
        "the models that failed keep the tables of the last build until then",
    ),
)


def _full_refresh_hint(models: Sequence[str]) -> str:
    # the models whose table no longer matches: an edit of theirs (a column added or removed)
    # needs the same full refresh as an upgrade, and only of them and what reads them
    names = ", ".join(models)
    selection = " ".join(f"{name}+" for name in models)
    return (
        f"the table of incremental model {names} has other columns than the model (the model "
        "was edited, or the table was built by an older version of the project): run "
        f"`rcm build --full-refresh --select {selection}` to rebuild it and the models that "
        "read it, or `rcm build --full-refresh` to rebuild every incremental model"
    )


def failure_hints(result: BuildResult) -> list[str]:
    """The hints of FAILURE_HINTS whose message text appears in a failure of this build; the
    full-refresh one names the models that failed that way."""
    texts = [node.message for node in result.failures]
    if result.exception:
        texts.append(result.exception)
    hints: list[str] = []
    for needle, hint in FAILURE_HINTS:
        if not any(needle in text for text in texts):
            continue
        if hint == _OLDER_PROJECT_HINT:
            needles = [n for n, h in FAILURE_HINTS if h == _OLDER_PROJECT_HINT]
            models = [
                node.name
                for node in result.failures
                if node.resource_type == "model" and any(n in node.message for n in needles)
            ]
            hint = _full_refresh_hint(models) if models else hint
        if hint not in hints:
            hints.append(hint)
    return hints


def _from_here(path: Path) -> Path:
    """``path`` as the user can open it: relative to the working folder when under it."""
    path = path.resolve()
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _example_lines(result: BuildResult, node: NodeResult) -> list[str]:
    rows = result.examples.get(node.unique_id, ())
    if rows and rows[-1] == failing_rows.MORE:
        compiled = node.compiled_path or result.target_path / "compiled"
        query = _from_here(result.project_dir / compiled)
        more = f"... (more; the test's query is in {query})"
        rows = (*rows[:-1], more)
    return [f"          {row}" for row in rows]


def format_summary(result: BuildResult, *, slowest: int = 5) -> str:
    """A one-screen summary of a build."""
    lines = ["", "dbt build summary", "-----------------"]
    for resource_type in sorted(result.counts):
        statuses = ", ".join(
            f"{status} {n}" for status, n in sorted(result.counts[resource_type].items())
        )
        lines.append(f"  {resource_type:<10} {statuses}")
    lines.append(f"  elapsed    {result.elapsed_seconds:.1f}s")
    if result.retried:
        lines.append(
            f"  retried    {len(result.retried)} node(s) one at a time after DuckDB ran out of "
            "memory"
        )
    if result.reconciled is not None:
        status = next(
            (node.status for node in result.nodes if node.name == RECONCILIATION_TEST), "?"
        )
        lines.append(f"  bronze     reconciliation {status}: {describe_scope(result.reconciled)}")
    if result.skipped_unit_tests:
        skipped = "the unit tests"
        if result.unchanged_sources:
            skipped += " and the nodes that read only unchanged sources: " + ", ".join(
                result.unchanged_sources
            )
        lines.append(
            f"  not run    {skipped} (the last successful build ran them on the same inputs; "
            "`rcm build --force` runs everything)"
        )
    for table in result.compacted:
        lines.append(f"  compacted  {table.describe()}")
    if result.nodes:
        lines.append("slowest nodes:")
        for node in result.slowest(slowest):
            lines.append(f"  {node.execution_time:6.2f}s  {node.resource_type} {node.name}")
    if result.warnings:
        lines.append(f"warnings ({len(result.warnings)}):")
        for node in result.warnings:
            lines.append(f"  WARN  {node.name}: {node.message}")
            lines += _example_lines(result, node)
    if result.failures:
        lines.append(f"failures ({len(result.failures)}):")
        for node in result.failures:
            lines.append(f"  {node.status.upper()}  {node.name}: {node.message}")
            lines += _example_lines(result, node)
    if result.changed_logic:
        lines.append(f"changed incremental models ({len(result.changed_logic)}):")
        lines.append(f"  CHANGED  {model_logic.advice(result.changed_logic, result.rebuild_first)}")
    if result.exception:
        lines.append(f"dbt error: {result.exception}")
        if result.traceback_logged:
            lines.append(f"  its traceback: {_from_here(dbt_log_file(result.project_dir))}")
    lines += [f"what to do: {hint}" for hint in failure_hints(result)]
    lines.append("result: " + ("OK" if result.exit_code == 0 else "FAILED"))
    return "\n".join(lines)


def local_preflight(target: str | None, *, need_bronze: bool) -> str | None:
    """Before dbt runs on the local target: check the profile's variables (threads, DuckDB's
    memory), make the warehouse file's folder (DuckDB does not, and dbt would stop with a long
    traceback), and when ``need_bronze``, check that the lake holds Bronze data (else every
    source model fails with its own "No files found"). Returns what to tell the user, or None
    to go on."""
    warehouse = build_state.local_warehouse(target)
    if warehouse is None:
        return None
    settings = compaction.local_settings_problem()
    if settings is not None:
        return settings
    try:
        warehouse.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return (
            f"cannot create the warehouse folder {warehouse.parent} ({error.strerror}); point "
            f"--warehouse (or {WAREHOUSE_ENV}) at a file in a folder you can write"
        )
    busy = held_by_another_process(warehouse)
    if busy is not None:
        return busy
    lake = build_state.local_lake()
    if not need_bronze or lake is None:
        return None
    if not any((lake / "bronze").glob("*/*/load_id=*/*.parquet")):
        return (
            f"the lake {lake} holds no Bronze data (no load under {lake / 'bronze'}): run "
            f"`rcm ingest --lake {lake}` first, or point --lake (or {LAKE_ENV}) at the lake you "
            "ingested into"
        )
    return None


def held_by_another_process(warehouse: Path, outcome: str = "nothing was built") -> str | None:
    """What to tell the user when another process holds the warehouse file open (a
    dashboard, a DuckDB shell, a Python session): DuckDB lets one process write a file, or
    several read it, and dbt would stop after parsing with a traceback of some 200 lines."""
    if not warehouse.is_file():
        return None
    try:
        duckdb.connect(str(warehouse)).close()
    except duckdb.Error as error:
        text = str(error)
        if not isinstance(error, duckdb.IOException) or "lock" not in text:
            return None  # another fault of the file (a WAL that does not replay): not busy
        holder = re.search(r"is held in (.*?) \(PID (\d+)\)", text)
        who = f"process {holder.group(2)} ({holder.group(1)})" if holder else "another process"
        return (
            f"the warehouse {warehouse} is open in {who}: a dashboard, `rcm alerts` or "
            "`rcm export`, a DuckDB shell or a Python session. Close it, or wait for it to "
            f"end, and run the command again; {outcome}"
        )
    return None


@contextmanager
def _locations(args: argparse.Namespace) -> Iterator[None]:
    """--lake and --warehouse as the environment variables that dbt's profile and sources and
    build_state read, for the command's length (put back after it, for callers in-process)."""
    with contextlib.ExitStack() as stack:
        if args.lake is not None:
            stack.enter_context(_environment(LAKE_ENV, args.lake))
        if args.warehouse is not None:
            stack.enter_context(_environment(WAREHOUSE_ENV, str(args.warehouse)))
        yield


def _unused_location(command: str, args: argparse.Namespace) -> str | None:
    """--warehouse and --lake name the local target's DuckDB file and the folder it reads
    Bronze from: with another target either would be ignored without a word."""
    if build_state.local_warehouse(args.target) is not None:
        return None
    target = args.target or os.environ.get("RCM_TARGET")
    if args.warehouse is not None:
        return (
            f"rcm {command}: --warehouse is the DuckDB file of the local target; the target "
            f"{target} has its own warehouse (see profiles/profiles.yml): drop --warehouse"
        )
    if args.lake is not None:
        return (
            f"rcm {command}: --lake is the folder the local target reads Bronze from; the "
            f"target {target} reads Bronze from its external tables (schemas "
            "<bronze_schema>_<source>, registered over the lake as the README's 'Production "
            "engines' shows): drop --lake"
        )
    return None


def _located(command: str, body: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """The command ``body`` with --lake and --warehouse checked against the target, then set
    for its length."""

    def run(args: argparse.Namespace) -> int:
        unused = _unused_location(command, args)
        if unused is not None:
            print(unused, file=sys.stderr)
            return 2
        with _locations(args):
            return body(args)

    return run


def _build(args: argparse.Namespace) -> int:
    problem = local_preflight(args.target, need_bronze=not args.select)
    if problem is not None:
        print(f"rcm build: {problem}", file=sys.stderr)
        return 1
    result = build_unless_up_to_date(
        select=args.select or (),
        exclude=args.exclude or (),
        full_refresh=bool(args.full_refresh),
        force=bool(args.force),
        target=args.target,
        target_path=args.target_path,
    )
    if isinstance(result, SkippedBuild):
        # up to date (exit 0) is news; a refusal is an error, for a scheduler's error log
        print(f"rcm build: {result.reason}", file=sys.stderr if result.exit_code else sys.stdout)
        return result.exit_code
    if result.exit_code == 0 and not result.nodes and (args.select or args.exclude):
        # dbt calls a selection that matches nothing a success: here it is almost always a typo
        print(
            "rcm build: the selection matched no node, so nothing was built; check the names "
            "(`dbt ls --profiles-dir profiles --select ...` lists what a selection matches)",
            file=sys.stderr,
        )
        return 1
    print(format_summary(result))
    return result.exit_code


def _docs(args: argparse.Namespace) -> int:
    problem = local_preflight(args.target, need_bronze=False)
    if problem is not None:
        print(f"rcm docs: {problem}", file=sys.stderr)
        return 1
    warehouse = build_state.local_warehouse(args.target)
    unbuilt = warehouse is not None and not warehouse.is_file()
    if unbuilt:
        # dbt makes an empty warehouse then, and a site with no tables' columns or row counts
        print(
            f"rcm docs: warning: no warehouse at {warehouse}: the site shows the project "
            "(models, lineage, descriptions) but no table's columns or row counts; run "
            f"`rcm build` first, or point --warehouse (or {WAREHOUSE_ENV}) at the warehouse "
            "you built",
            file=sys.stderr,
        )
    try:
        if unbuilt:
            # dbt's catalog query opens the warehouse and would create it: an empty one in a
            # scratch folder instead, so the path stays free (and the next `rcm docs` warns)
            with (
                tempfile.TemporaryDirectory(prefix="rcm-docs-") as scratch,
                _environment(WAREHOUSE_ENV, str(Path(scratch) / "empty.duckdb")),
            ):
                html = run_docs(target=args.target, target_path=args.target_path)
        else:
            html = run_docs(target=args.target, target_path=args.target_path)
    except RuntimeError as error:
        print(f"rcm docs: {error}", file=sys.stderr)
        return 1
    print(f"docs site (single static HTML): {html}")
    return 0


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target", default=None, help="dbt target (default: $RCM_TARGET, else local)"
    )
    parser.add_argument(
        "--target-path",
        type=Path,
        default=None,
        help="where dbt writes its artifacts; a relative path is taken from the repository "
        "root, as dbt takes it from the project (default: $DBT_TARGET_PATH, else target)",
    )
    parser.add_argument(
        "--lake",
        default=None,
        metavar="DIR",
        help=f"local lake folder that the local DuckDB target reads Bronze from (default: "
        f"${LAKE_ENV}, else lake); an ADLS lake is read by Databricks or Synapse through their "
        "external tables",
    )
    parser.add_argument(
        "--warehouse",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"the local target's DuckDB file (default: ${WAREHOUSE_ENV}, else "
        "warehouse/rcm.duckdb)",
    )


# what to run when, for the person paged at night (`rcm build --help`)
BUILD_EPILOG = """\
re-run (after a failed build, or one killed mid-way): `rcm build`. Models built before the
  failure keep their rows; the rest are built.
full refresh: `rcm build --full-refresh` rebuilds every incremental model from all of
  Bronze; `rcm build --full-refresh --select MODEL+` only MODEL and what reads it.
a build although nothing changed (an environment variable a model reads): `rcm build --force`.
a backfill: load it with `rcm ingest` (see `rcm ingest --help`), then `rcm build`."""


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    build = subparsers.add_parser(
        "build",
        help="run dbt build (seeds, models, snapshots, tests) and print a summary",
        description=(
            "Run `dbt build` on the warehouse. Env: RCM_TARGET, RCM_LAKE_DIR (--lake), "
            "RCM_WAREHOUSE_PATH (--warehouse)."
        ),
        epilog=BUILD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(build)
    build.add_argument("--select", "-s", nargs="+", default=None, help="dbt node selection")
    build.add_argument("--exclude", nargs="+", default=None, help="dbt nodes to exclude")
    build.add_argument("--full-refresh", action="store_true", help="rebuild incremental models")
    build.add_argument(
        "--force",
        action="store_true",
        help="build even when no Bronze file, project file or setting changed since the last "
        "successful build",
    )
    build.set_defaults(func=_located("build", _build))

    docs = subparsers.add_parser(
        "docs",
        help="generate the dbt docs site as one static HTML file",
        description=(
            "Run `dbt docs generate --static` and print where the HTML is. Env: RCM_TARGET, "
            "RCM_LAKE_DIR (--lake), RCM_WAREHOUSE_PATH (--warehouse)."
        ),
    )
    _add_common(docs)
    docs.set_defaults(func=_located("docs", _docs))
