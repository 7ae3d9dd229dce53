"""``rcm export``: the gold tables (schema ``marts``) of the DuckDB warehouse as Parquet, one
file per table or view, for Power BI's *Get data > Parquet*.

Only ``marts``: DuckDB's ``EXPORT DATABASE`` copies every schema, and with them the PHI that
the warehouse keeps out of ``marts`` (``restricted.dim_patient_phi``, the patient snapshots,
staging and CDM tables: names, SSN, birth dates, addresses).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from ingestion import console
from ingestion.alerts import WAREHOUSE_ENV, add_warehouse_argument, default_warehouse

MARTS_SCHEMA = "marts"


class ExportError(RuntimeError):
    """The warehouse cannot be read: the message says why and what to do."""


def export_marts(warehouse: Path, out: Path, schema: str = MARTS_SCHEMA) -> list[Path]:
    """Write each table and view of ``schema`` in ``warehouse`` (opened read-only) to
    ``out/<name>.parquet``; the files written."""
    import duckdb

    # `--out .`: the folder's own name places its staging folder and its list beside it
    out = out.resolve()
    try:
        opened = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as error:
        # a build writing it (DuckDB lets one process write a file, or several read it), or a
        # file that is no DuckDB database: a message, not a traceback
        raise ExportError(
            f"cannot open the warehouse {warehouse} read-only ({error}); nothing was "
            "exported. If `rcm build` or another process that writes it is running, wait for "
            "it to end and run `rcm export` again"
        ) from error
    names = [
        str(row[0])
        for row in opened.execute(
            "select table_name from information_schema.tables where table_schema = ? "
            "order by table_name",
            [schema],
        ).fetchall()
    ]
    if not names:
        # before anything is written or removed: the last export stays whole
        opened.close()
        raise ExportError(
            f"{warehouse} has no schema {schema} (or nothing in it); nothing was "
            f"changed in {out}. Run `rcm build` first, then `rcm export` again"
        )
    out.mkdir(parents=True, exist_ok=True)
    # every file is written beside the folder's, and they replace the old ones only once all
    # are written: an export that fails half way (a view that no longer binds, a full disk)
    # leaves the last export whole, never a mix of two days' marts for Power BI to read
    # (beside the folder, not in it: Power BI's Folder source reads sub-folders too)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    try:
        with opened as con:
            for name in names:
                quoted = str(staging / f"{name}.parquet").replace("'", "''")
                try:
                    con.execute(f'copy "{schema}"."{name}" to \'{quoted}\' (format parquet)')
                except duckdb.Error as error:
                    raise ExportError(
                        f"cannot export {schema}.{name} of {warehouse} ({error}); nothing was "
                        f"changed in {out}. Run `rcm build` and fix what its summary names, "
                        "then `rcm export` again"
                    ) from error
        written = [out / f"{name}.parquet" for name in names]
        for target in written:
            (staging / target.name).replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _remove_dropped(out, {path.name for path in written})
    return written


def _listing(out: Path) -> Path:
    """The list of the files the last export wrote: beside the folder, as Power BI's Folder
    source reads every file in it."""
    return out.with_name(f".{out.name}.export.json")


def _remove_dropped(out: Path, names: set[str]) -> None:
    """Remove the files an earlier export wrote for marts that are gone from the warehouse (a
    model removed or renamed), which Power BI would go on reading; only files on the last
    export's list, never another file in the folder. Then list this export's files."""
    listing = _listing(out)
    try:
        before = json.loads(listing.read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        before = []
    dropped = sorted(
        str(name) for name in before if str(name) not in names and "/" not in str(name)
    )
    for name in dropped:
        (out / name).unlink(missing_ok=True)
    if dropped:
        console.info(
            f"rcm export: removed {len(dropped)} file(s) of marts no longer in the warehouse: "
            + ", ".join(dropped)
        )
    listing.write_text(json.dumps({"files": sorted(names)}, indent=2) + "\n", encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    warehouse: Path = args.warehouse or default_warehouse()
    if not warehouse.is_file():
        raise FileNotFoundError(
            f"no warehouse at {warehouse}: run `make demo` (or `rcm build`) first, or point "
            f"--warehouse (or {WAREHOUSE_ENV}) at it"
        )
    written = export_marts(warehouse, args.out)
    print(f"{len(written)} tables of schema {MARTS_SCHEMA} written to {args.out}/ as Parquet")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write the marts (no PHI) to Parquet files for Power BI",
        description=(
            f"Write each table and view of schema {MARTS_SCHEMA} of the DuckDB warehouse "
            "(opened read-only) to OUT/<name>.parquet. Only the marts: no PHI. "
            f"Env: {WAREHOUSE_ENV}."
        ),
    )
    add_warehouse_argument(parser)
    parser.add_argument(
        "--out", type=Path, default=Path("export"), help="folder to write (default: export)"
    )
    parser.set_defaults(func=run)
