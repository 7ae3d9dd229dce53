"""`rcm run`: the whole pipeline in one command (generate if needed, ingest, build, docs).

Every stage is the same code that its own sub-command runs; this module only chains them,
stops at the first stage that fails and ends with one summary of what happened and where
to look next.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestion import build_state, compaction, console, model_logic
from ingestion.generate.settings import GeneratorSettings

DEFAULT_WAREHOUSE = Path("warehouse") / "rcm.duckdb"


@dataclass
class StageTiming:
    name: str
    seconds: float
    detail: str


@dataclass
class RunReport:
    stages: list[StageTiming] = field(default_factory=list)
    docs_path: Path | None = None
    warehouse: Path = DEFAULT_WAREHOUSE
    # what the summary repeats, as the stages' own output has scrolled away by then
    warnings: list[str] = field(default_factory=list)

    def table(self) -> str:
        rows = [(s.name, round(s.seconds, 1), s.detail) for s in self.stages]
        return console.format_table(("stage", "seconds", "result"), rows)


class StageFailedError(RuntimeError):
    """A stage failed; the message names it and says where its details are."""


def _check_sources(sources: Path, regenerate: bool, scale: float, seed: int) -> None:
    """Refuse a --sources that `rcm run` cannot generate into, and settings the generator
    refuses, before anything is removed or written (the generator's own messages would name
    its flags, --out and --force)."""
    GeneratorSettings(out_dir=sources, scale=scale, seed=seed, force=regenerate).validate()
    if sources.exists() and not sources.is_dir():
        raise StageFailedError(f"--sources {sources} is a file: point --sources at a folder")
    generated = (sources / "generator_state.json").exists()
    if not regenerate and not generated and sources.is_dir() and any(sources.iterdir()):
        raise StageFailedError(
            f"--sources {sources} holds files but no generated sources (no "
            "generator_state.json). For sources of your own, run `rcm ingest --sources "
            f"{sources}` and `rcm build`; for the demo, point --sources at a new folder, or pass "
            "--regenerate to write the synthetic sources into this one (it replaces its emr/, "
            "landing/ and truth/ folders)"
        )


def kept_settings_warning(sources: Path, scale: float | None, seed: int | None) -> str | None:
    """When `rcm run` keeps the generated sources in ``sources``: which of the --scale and
    --seed the user passed (None: not passed) were not applied, with the scale and seed the kept
    sources have (their generator_state.json); None when none was passed or all agree."""
    from ingestion.generate.generator import GenerateError, load_state

    try:
        state = load_state(sources)
        kept_scale, kept_seed = float(state["scale"]), int(state["seed"])
    except (GenerateError, OSError, ValueError, TypeError, KeyError) as error:
        # the flags were not applied either way; what the kept sources have is not known
        unapplied = [
            *([f"--scale {scale:g}"] if scale is not None else []),
            *([f"--seed {seed}"] if seed is not None else []),
        ]
        has = f"their scale and seed are not known: {error}"
    else:
        unapplied = [
            *([f"--scale {scale:g}"] if scale is not None and scale != kept_scale else []),
            *([f"--seed {seed}"] if seed is not None and seed != kept_seed else []),
        ]
        has = f"they were generated at scale {kept_scale:g}, seed {kept_seed}"
    if not unapplied:
        return None
    return (
        f"{' and '.join(unapplied)} not applied: the sources in {sources} were kept ({has}); "
        f"pass --regenerate with {' '.join(unapplied)} for new sources (it also removes the old "
        "lake and warehouse), or --sources a new folder"
    )


def _generate_if_needed(
    sources: Path,
    scale: float | None,
    seed: int | None,
    regenerate: bool,
    report: RunReport | None = None,
) -> str | None:
    """Generate into ``sources`` unless it holds generated sources and ``regenerate`` is off.
    ``scale`` and ``seed`` are None when not passed (the generator's defaults)."""
    from ingestion.generate.generator import generate

    if (sources / "generator_state.json").exists() and not regenerate:
        console.info(f"[generate] sources already in {sources}: kept (pass --regenerate to redo)")
        warning = kept_settings_warning(sources, scale, seed)
        if warning is not None:
            console.info(f"[generate] warning: {warning}")
            if report is not None:
                report.warnings.append(warning)
        return None
    scale = GeneratorSettings.scale if scale is None else scale
    seed = GeneratorSettings.seed if seed is None else seed
    console.info(f"[generate] synthetic sources at scale {scale:g}, seed {seed} -> {sources}")
    summary = generate(
        GeneratorSettings(out_dir=sources, scale=scale, seed=seed, force=regenerate),
        progress=lambda m: console.info(f"  {m}"),
    )
    return f"{summary.total_rows:,} rows written"


def _ingest(sources: Path, lake: str, report: RunReport) -> str:
    from ingestion.ingest import IngestSettings, format_summary, run_ingest

    console.info(f"[ingest] {sources} -> {lake}")
    result = run_ingest(IngestSettings.from_env(sources=sources, lake=lake))
    console.info(format_summary(result))
    if result.failed:
        names = ", ".join(f.entity for f in result.failed)
        raise StageFailedError(f"ingest failed for {names}; see the summary above")
    if result.unmatched_files:
        report.warnings.append(
            f"{len(result.unmatched_files)} landing file(s) were not loaded (NOT LOADED in the "
            "ingest summary): rename them to their entity's file_pattern and run again"
        )
    return f"{result.rows_written:,} rows written, {result.rows_rejected:,} rejected"


def _build(target: str | None) -> str:
    from ingestion.build import (
        SkippedBuild,
        build_unless_up_to_date,
        format_summary,
        local_preflight,
    )

    console.info("[build] dbt build")
    problem = local_preflight(target, need_bronze=False)
    if problem is not None:
        raise StageFailedError(problem)
    result = build_unless_up_to_date(target=target)
    if isinstance(result, SkippedBuild):
        console.info(f"[build] {result.reason}")
        return "skipped: up to date"
    console.info(format_summary(result))
    if result.exit_code != 0:
        raise StageFailedError("dbt build failed; see the summary above and logs/dbt.log")
    ok = sum(1 for n in result.nodes if not n.is_failure)
    return f"{ok} nodes ok, {len(result.warnings)} warnings"


def _reset(lake: str, warehouse: Path) -> None:
    """Fresh sources mean a new world: the old lake and warehouse would mix two of them.

    Nothing is removed while an `rcm ingest` loads into the lake (its lock,
    :func:`ingestion.lake.ingest_lock`, is held for the whole reset) or another process holds
    the warehouse open. The lake is renamed aside before it is deleted, so an ingest that
    starts meanwhile makes a new lake instead of writing into one half gone. An ADLS lake is
    refused: rcm does not delete a remote lake."""
    from ingestion.build import held_by_another_process
    from ingestion.lake import LocalLake, ingest_lock

    if lake.startswith("abfss://"):
        raise StageFailedError(
            f"--regenerate removes only a local lake, and {lake} is on ADLS: empty it yourself "
            "(or pass --lake a new one), then run `rcm run --sources <a new folder>`, which "
            "generates there without --regenerate; nothing was removed"
        )
    local = Path(lake) if Path(lake).is_dir() else None
    lock = ingest_lock(LocalLake(local), console.info) if local else contextlib.nullcontext()
    with lock:
        if warehouse.is_dir():
            raise StageFailedError(
                f"the warehouse {warehouse} is a folder: point RCM_WAREHOUSE_PATH at the "
                "warehouse file; --regenerate removed nothing"
            )
        held = held_by_another_process(warehouse, "--regenerate removed nothing")
        if held is not None:
            raise StageFailedError(held)
        stale = (
            ".wal",
            build_state.STATE_SUFFIX,
            build_state.OUTCOME_SUFFIX,
            model_logic.RECORD_SUFFIX,
        )
        for path in (warehouse, *(warehouse.with_name(warehouse.name + end) for end in stale)):
            if path.exists():
                console.info(f"[generate] --regenerate: removing the old warehouse {path}")
                path.unlink()
        if local is not None:
            console.info(f"[generate] --regenerate: removing the old lake {local}")
            aside = local.with_name(f".{local.name}.removing-{uuid.uuid4().hex}")
            try:
                local.rename(aside)
            except OSError:  # a mount point, or a parent folder that cannot be written
                aside = local
            shutil.rmtree(aside)


HEADLINE_KPIS: tuple[tuple[str, str, str], ...] = (
    # (column of marts.kpi_monthly_summary, label, format)
    ("gross_charges_amount", "gross charges", "money"),
    ("payments_amount", "payments", "money"),
    ("ar_open_balance_amount", "open A/R at month end", "money"),
    ("days_in_ar", "days in A/R (charge-based)", "days"),
    ("ar_over_90_pct", "A/R over 90 days", "pct"),
    ("initial_denial_rate", "initial denial rate", "pct"),
    ("clean_claim_rate", "clean claim rate", "pct"),
    ("net_collection_rate", "net collection rate", "pct"),
)


def headline_kpis(warehouse: Path) -> str | None:
    """The latest month's headline KPIs for all hospitals, or None when there are none."""
    import duckdb

    if not warehouse.exists():
        return None
    columns = ", ".join(column for column, _, _ in HEADLINE_KPIS)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        row = con.execute(
            f"select month_start_date, {columns} from marts.kpi_monthly_summary "
            "where source_system = 'all' order by month_start_date desc limit 1"
        ).fetchone()
    except duckdb.Error:
        return None
    finally:
        con.close()
    if row is None:
        return None
    lines = [f"headline KPIs, {row[0]:%B %Y} (all hospitals; the latest month is still maturing):"]
    for (_, label, kind), value in zip(HEADLINE_KPIS, row[1:], strict=True):
        lines.append(f"  {label:<28} {_format_kpi(value, kind)}")
    return "\n".join(lines)


def _format_kpi(value: object, kind: str) -> str:
    if value is None:
        return "n/a"
    number = float(value)  # type: ignore[arg-type]
    if kind == "money":
        return f"${number:,.2f}"
    if kind == "pct":
        return f"{number:.1%}"
    return f"{number:.1f}"


def _check_ingest_settings() -> None:
    """The ingest's settings from the environment (RCM_INGEST_WORKERS), before generate."""
    from ingestion.config import ConfigError
    from ingestion.ingest import IngestSettings

    try:
        workers = IngestSettings.from_env().workers
    except ConfigError as error:
        raise StageFailedError(str(error)) from None
    if workers < 1:
        raise StageFailedError(f"RCM_INGEST_WORKERS must be 1 or more, got {workers}")


def run_pipeline(
    *,
    sources: Path,
    lake: str,
    scale: float | None = None,
    seed: int | None = None,
    regenerate: bool = False,
    docs: bool = True,
    target: str | None = None,
) -> RunReport:
    """Run every stage in order; raise :class:`StageFailedError` at the first failure.
    ``scale`` and ``seed`` are None when the user did not pass them (the generator's defaults
    then, and no warning when kept sources have others)."""
    report = RunReport(warehouse=Path(os.environ.get("RCM_WAREHOUSE_PATH", DEFAULT_WAREHOUSE)))
    # before minutes of generate and ingest, not at the build
    settings = compaction.local_settings_problem()
    if settings is not None and build_state.local_warehouse(target) is not None:
        raise StageFailedError(settings)
    _check_ingest_settings()
    _check_sources(
        sources,
        regenerate,
        GeneratorSettings.scale if scale is None else scale,
        GeneratorSettings.seed if seed is None else seed,
    )
    if regenerate:
        _reset(lake, report.warehouse)
    report.warehouse.parent.mkdir(parents=True, exist_ok=True)
    os.environ["RCM_LAKE_DIR"] = lake

    def timed(name: str, work: Any) -> Any:
        started = time.perf_counter()
        detail = work()
        if detail is not None:
            report.stages.append(StageTiming(name, time.perf_counter() - started, str(detail)))
        return detail

    timed("generate", lambda: _generate_if_needed(sources, scale, seed, regenerate, report))
    timed("ingest", lambda: _ingest(sources, lake, report))
    timed("build", lambda: _build(target))
    if docs:
        from ingestion.build import run_docs

        console.info("[docs] dbt docs generate --static")
        path = timed("docs", lambda: run_docs(target=target))
        report.docs_path = Path(path)
    return report


def _command(args: argparse.Namespace) -> int:
    lake = args.lake or os.environ.get("RCM_LAKE_DIR", "lake")
    try:
        report = run_pipeline(
            sources=args.sources,
            lake=lake,
            scale=args.scale,
            seed=args.seed,
            regenerate=args.regenerate,
            docs=not args.no_docs,
            target=args.target,
        )
    except StageFailedError as exc:
        console.error(str(exc))
        return 1
    console.info("")
    console.info(report.table())
    for warning in report.warnings:
        console.info(f"warning: {warning}")
    console.info("")
    kpis = headline_kpis(report.warehouse)
    if kpis is not None:
        console.info(kpis)
        console.info("")
    console.info(f"warehouse: {report.warehouse} (DuckDB; schemas staging, cdm, marts, ...)")
    console.info("dashboard: make dashboard, then open http://localhost:8501")
    if report.docs_path is not None:
        console.info(f"lineage site: open {report.docs_path} in a browser (no server needed)")
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="the whole pipeline: generate if needed, ingest, build, docs",
        description=(
            "Generate synthetic sources when the sources folder has none, ingest them into "
            "the Bronze lake, build the warehouse with dbt and write the lineage site."
        ),
    )
    parser.add_argument(
        "--sources",
        type=Path,
        default=Path("sources"),
        help="folder of the synthetic sources: generated there when it holds none, kept and "
        "ingested when it holds some (default: sources)",
    )
    parser.add_argument("--lake", default=None, help="default: $RCM_LAKE_DIR, else lake")
    parser.add_argument(
        "--scale",
        type=float,
        default=None,
        help="size of generated sources, 0.1 = about 100k transactions (default: "
        f"{GeneratorSettings.scale:g}); applies only when sources are generated (a new "
        "--sources folder, or --regenerate)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed of generated sources: the same seed and scale, the same sources "
        f"(default: {GeneratorSettings.seed}); applies only when sources are generated, as "
        "--scale",
    )
    parser.add_argument(
        "--regenerate",
        action="store_true",
        help="write fresh sources even if some exist (and drop the old lake and warehouse)",
    )
    parser.add_argument("--no-docs", action="store_true", help="skip dbt docs generate")
    parser.add_argument(
        "--target", default=None, help="dbt target (default: $RCM_TARGET, else local)"
    )
    parser.set_defaults(func=_command)
