"""``rcm generate``: deterministic synthetic sources (EMR databases, claim files, code sets)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from ingestion.console import error, format_table, info
from ingestion.generate.settings import (
    DEFAULT_DEFECT_RATES,
    DEFAULT_END,
    DEFAULT_START,
    GenerateSummary,
    GeneratorSettings,
    SettingsError,
)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _defect(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected TYPE=RATE, got {text!r}")
    if name not in DEFAULT_DEFECT_RATES:
        known = ", ".join(sorted(DEFAULT_DEFECT_RATES))
        raise argparse.ArgumentTypeError(f"unknown defect type {name!r}; known: {known}")
    try:
        rate = float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"rate of {name} is not a number: {value!r}") from exc
    return name, rate


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    defaults = ", ".join(f"{k}={v:g}" for k, v in DEFAULT_DEFECT_RATES.items())
    p = subparsers.add_parser(
        "generate",
        help="write deterministic synthetic source systems (EMR databases, claim files, code sets)",
        description=(
            "Write two hospital EMR databases, monthly claims CSV files, the CPT list, an NPPES "
            "extract and the ground truth of injected defects. Same seed and settings, same bytes."
        ),
    )
    p.add_argument(
        "--out", type=Path, default=Path("sources"), help="output folder (default: sources)"
    )
    p.add_argument("--seed", type=int, default=None, help="random seed (default: 42)")
    p.add_argument(
        "--scale",
        type=float,
        default=None,
        help="size: 1 is about 1,000,000 transactions over the date range (default: 0.1)",
    )
    p.add_argument(
        "--start", type=_date, default=None, help=f"first day (default: {DEFAULT_START})"
    )
    p.add_argument("--end", type=_date, default=None, help=f"last day (default: {DEFAULT_END})")
    # not read from RCM_EMR_HOSPITAL_*_URL, which name the EMRs `rcm ingest` reads: in
    # production those are the hospitals' own databases, whose tables --force would replace
    p.add_argument(
        "--emr-url-a",
        default=None,
        metavar="URL",
        help="write hospital A's demo EMR to this SQLAlchemy URL (default OUT/emr/hospital_a.db)",
    )
    p.add_argument(
        "--emr-url-b",
        default=None,
        metavar="URL",
        help="write hospital B's demo EMR to this SQLAlchemy URL (default OUT/emr/hospital_b.db)",
    )
    p.add_argument(
        "--defect-rate",
        type=_defect,
        action="append",
        default=[],
        metavar="TYPE=RATE",
        help=f"rate of one defect type, repeatable (defaults: {defaults})",
    )
    p.add_argument(
        "--advance-to",
        type=_date,
        default=None,
        metavar="DATE",
        help="continue the sources in --out up to DATE (seed, scale and rates come from its state)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imported here: the generator loads the ICD-10-CM list at import, which every other
    # `rcm` command would otherwise pay for
    from ingestion.generate.generator import GenerateError, advance, generate

    first_run_only = {
        "--seed": args.seed,
        "--scale": args.scale,
        "--start": args.start,
        "--end": args.end,
        "--defect-rate": args.defect_rate or None,
        "--force": args.force or None,
    }
    given = [flag for flag, value in first_run_only.items() if value is not None]
    if args.advance_to is not None and given:
        error(
            f"--advance-to continues {args.out} with the seed, scale, dates and defect rates of "
            f"its first run (generator_state.json): drop {', '.join(given)}, or generate anew "
            "without --advance-to"
        )
        return 2
    last_day = args.advance_to or args.end
    if last_day is not None and last_day > dt.date.today():
        info(
            f"rcm generate: warning: {last_day} is after today: `rcm ingest` rejects a row "
            "whose timestamps are more than a day later than the load (a record cannot change "
            "after it was exported), so the rows of days to come will be rejected until then"
        )
    try:
        if args.advance_to is not None:
            info(f"rcm generate: advancing {args.out} to {args.advance_to}")
            summary = advance(
                args.out,
                args.advance_to,
                emr_url_a=args.emr_url_a,
                emr_url_b=args.emr_url_b,
                progress=info,
            )
        else:
            settings = GeneratorSettings(
                out_dir=args.out,
                seed=GeneratorSettings.seed if args.seed is None else args.seed,
                scale=GeneratorSettings.scale if args.scale is None else args.scale,
                start=args.start or GeneratorSettings.start,
                end=args.end or GeneratorSettings.end,
                emr_url_a=args.emr_url_a,
                emr_url_b=args.emr_url_b,
                defect_rates={**DEFAULT_DEFECT_RATES, **dict(args.defect_rate)},
                force=args.force,
            )
            info(
                f"rcm generate: seed {settings.seed}, scale {settings.scale:g}, "
                f"{settings.start}..{settings.end} -> {settings.out_dir}"
            )
            summary = generate(settings, progress=info)
    except (GenerateError, SettingsError) as exc:
        error(str(exc))
        return 2
    info("")
    info(render_summary(summary))
    return 0


def render_summary(summary: GenerateSummary) -> str:
    rows: list[list[object]] = []
    for key in sorted(set(summary.rows) | set(summary.updates)):
        rows.append([key, summary.rows.get(key, 0), summary.updates.get(key, 0)])
    parts = [
        f"sources in {summary.out_dir} for {summary.start}..{summary.end}",
        format_table(["table / file group", "rows written", "rows updated"], rows),
        "",
        format_table(["defect type", "labelled"], [[k, v] for k, v in summary.defects.items()])
        if summary.defects
        else "no defects injected",
        "",
        f"{summary.total_rows:,} rows written, {len(summary.files)} files, {summary.seconds:.1f} s",
    ]
    return "\n".join(parts)
