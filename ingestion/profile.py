"""`rcm profile`: DuckDB's EXPLAIN ANALYZE of the slowest models of a dbt build.

dbt's ``run_results.json`` says which models took longest and holds the SQL each one ran (its
compiled select). ``rcm profile`` runs that select again on the warehouse, read-only, under
``EXPLAIN (ANALYZE, FORMAT JSON)``: DuckDB executes the whole query, every column, and drops the
rows, then reports each operator's time and row count. The slowest operators of each model are
printed, and each model's whole plan is written as JSON for a closer look.

An incremental model's compiled select picks its rows by what its table held when the build
ran (rows processed since its last run, say): run again after the build, it finds what the
table holds now. Profile such a model on a copy of the warehouse taken before that build.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ingestion import build_state, compaction
from ingestion.console import format_table

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUN_RESULTS = REPO_ROOT / "target" / "run_results.json"
# the dbt commands whose run_results time the models' SQL
BUILD_COMMANDS = ("build", "run")
# the operator details worth a column in the printed table
_DETAILS = ("Table", "Join Type", "Conditions", "Groups", "Aggregates", "Filters", "Function")


class ProfileError(Exception):
    """A run_results file or warehouse that cannot be profiled, with what to do."""


@dataclass(frozen=True)
class SlowModel:
    """A model of the build, its time there and the SQL it ran."""

    unique_id: str
    name: str
    relation: str
    build_seconds: float
    sql: str


@dataclass(frozen=True)
class Operator:
    """One operator of a plan: its own time (summed over DuckDB's threads) and output rows."""

    kind: str
    seconds: float
    rows: int
    details: str


@dataclass(frozen=True)
class ModelProfile:
    model: SlowModel
    seconds: float
    operators: tuple[Operator, ...]
    plan_file: Path | None
    error: str | None = None

    @property
    def operator_seconds(self) -> float:
        return sum(operator.seconds for operator in self.operators)

    def slowest(self, limit: int) -> list[Operator]:
        return sorted(self.operators, key=lambda operator: operator.seconds, reverse=True)[:limit]


def slowest_models(run_results: Path, top: int) -> list[SlowModel]:
    """The ``top`` models of a run_results.json that took longest and have compiled SQL."""
    try:
        document = json.loads(run_results.read_text())
    except FileNotFoundError:
        raise ProfileError(
            f"{run_results}: no such file; run `rcm build` first, or pass --run-results (the "
            "bench keeps one per build in benchmarks/work/scale<S>/logs/)"
        ) from None
    except json.JSONDecodeError as error:
        raise ProfileError(f"{run_results}: not a dbt run_results.json ({error})") from None
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list):
        raise ProfileError(f"{run_results}: not a dbt run_results.json (no 'results' list)")
    command = (document.get("args") or {}).get("which")
    if command not in (None, *BUILD_COMMANDS):
        # `rcm docs` (the last step of `make demo` and `rcm run`) leaves the results of `dbt docs
        # generate`, whose times are compile times
        named = "docs generate" if command == "generate" else command
        raise ProfileError(
            f"{run_results}: the results of `dbt {named}`, not of a build; run `rcm build "
            "--force` to write a build's, or pass --run-results (the bench keeps one per build "
            "in benchmarks/work/scale<S>/logs/)"
        )
    models = [
        SlowModel(
            unique_id=str(result["unique_id"]),
            name=str(result["unique_id"]).rsplit(".", 1)[-1],
            relation=str(result.get("relation_name") or ""),
            build_seconds=float(result.get("execution_time") or 0.0),
            sql=str(result["compiled_code"]),
        )
        for result in results
        if str(result.get("unique_id", "")).startswith("model.") and result.get("compiled_code")
    ]
    models.sort(key=lambda model: model.build_seconds, reverse=True)
    return models[:top]


def _operators(node: dict[str, Any]) -> Iterator[Operator]:
    extra = node.get("extra_info") or {}
    shown = [key for key in _DETAILS if isinstance(extra, dict) and key in extra]
    details = "; ".join(f"{key}: {_flat(extra[key])}" for key in shown)
    kind = str(node.get("type") or node.get("operator_type") or "?")
    if kind not in ("RESULT_COLLECTOR", "EXPLAIN_ANALYZE"):
        yield Operator(
            kind,
            float(node.get("timing") or node.get("operator_timing") or 0.0),
            int(node.get("intermediate_rows") or node.get("operator_cardinality") or 0),
            details,
        )
    for child in node.get("children") or []:
        yield from _operators(child)


def _flat(value: object) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return " ".join(text.split())


def profile_model(
    con: duckdb.DuckDBPyConnection, model: SlowModel, out_dir: Path | None
) -> ModelProfile:
    """EXPLAIN ANALYZE one model's select; an error is kept, not raised."""
    started = time.perf_counter()
    try:
        row = con.execute(f"explain (analyze, format json) {model.sql}").fetchone()
    except duckdb.Error as error:
        return ModelProfile(model, time.perf_counter() - started, (), None, str(error))
    seconds = time.perf_counter() - started
    plan = json.loads(row[1]) if row else {}
    # DuckDB 2.0 writes {"operator": [root], "io": ..., "optimizer": ...}
    roots = (plan.get("operator") or []) if isinstance(plan, dict) else plan
    operators = tuple(op for root in roots for op in _operators(root))
    plan_file = None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        plan_file = out_dir / f"{model.name}.json"
        plan_file.write_text(json.dumps(plan, indent=1))
    return ModelProfile(model, seconds, operators, plan_file)


def connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """The warehouse, read-only, with the local profile's DuckDB settings (profiles.yml)."""
    if not warehouse.exists():
        raise ProfileError(
            f"{warehouse}: no such warehouse; set RCM_WAREHOUSE_PATH or pass --warehouse"
        )
    wrong = build_state.not_a_warehouse(warehouse)
    if wrong is not None:
        raise ProfileError(f"{wrong}; set RCM_WAREHOUSE_PATH or pass --warehouse")
    settings = compaction.local_settings_problem()
    if settings is not None:
        raise ProfileError(settings)
    try:
        return duckdb.connect(
            str(warehouse), read_only=True, config=compaction.local_duckdb_settings()
        )
    except duckdb.Error as error:
        raise ProfileError(f"{warehouse}: cannot open it read-only ({error})") from None


def format_profile(profile: ModelProfile, operators: int) -> str:
    model = profile.model
    head = (
        f"{model.name} ({model.relation}): {model.build_seconds:.2f} s in the build, "
        f"{profile.seconds:.2f} s alone"
    )
    if profile.error is not None:
        return f"{head}\n  could not run its select: {profile.error.splitlines()[0]}"
    rows = [
        (f"{op.seconds:.2f}", f"{op.rows:,}", op.kind, op.details[:90])
        for op in profile.slowest(operators)
    ]
    lines = [
        f"{head}, {profile.operator_seconds:.2f} s of operator time (all threads)",
        format_table(("seconds", "rows", "operator", "details"), rows),
    ]
    if profile.plan_file is not None:
        lines.append(f"  whole plan: {profile.plan_file}")
    return "\n".join(lines)


def run_profile(
    run_results: Path, warehouse: Path, *, top: int, operators: int, out_dir: Path | None
) -> list[ModelProfile]:
    models = slowest_models(run_results, top)
    if not models:
        raise ProfileError(f"{run_results}: no model with compiled SQL to profile")
    con = connect(warehouse)
    try:
        profiles = []
        for index, model in enumerate(models, 1):
            print(f"profile {index}/{len(models)}: {model.name} ...", flush=True)
            profile = profile_model(con, model, out_dir)
            profiles.append(profile)
            print(format_profile(profile, operators), flush=True)
        return profiles
    finally:
        con.close()


def _profile_command(args: argparse.Namespace) -> int:
    warehouse = args.warehouse or build_state.local_warehouse(None)
    if warehouse is None:
        print(
            "rcm profile: profiles the local DuckDB warehouse only (RCM_TARGET is not local)",
            file=sys.stderr,
        )
        return 1
    try:
        profiles = run_profile(
            args.run_results,
            Path(warehouse),
            top=args.top,
            operators=args.operators,
            out_dir=args.out,
        )
    except ProfileError as error:
        print(f"rcm profile: {error}", file=sys.stderr)
        return 1
    failed = [profile.model.name for profile in profiles if profile.error is not None]
    if failed:
        print(
            f"rcm profile: {len(failed)} select(s) did not run: {', '.join(failed)}",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "profile",
        help="EXPLAIN ANALYZE the slowest models of the last dbt build (DuckDB)",
        description=(__doc__ or "").split("\n\n", 1)[-1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--run-results",
        type=Path,
        default=DEFAULT_RUN_RESULTS,
        help="dbt's run_results.json of the build (default: target/run_results.json)",
    )
    parser.add_argument(
        "--warehouse",
        type=Path,
        default=None,
        help="the DuckDB file (default: $RCM_WAREHOUSE_PATH, else warehouse/rcm.duckdb)",
    )
    parser.add_argument("--top", type=_positive, default=5, help="how many models (default 5)")
    parser.add_argument(
        "--operators", type=_positive, default=8, help="operators printed per model (default 8)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write each model's whole plan as <model>.json in this folder",
    )
    parser.set_defaults(func=_profile_command)
