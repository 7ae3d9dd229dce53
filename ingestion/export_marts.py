"""Export the gold tables (schema ``marts``) of a DuckDB warehouse to Parquet, one file per table,
for Power BI's *Get data > Parquet*.

Only ``marts``: DuckDB's ``EXPORT DATABASE`` copies every schema, and with them the PHI that
the warehouse keeps out of ``marts`` (``restricted.dim_patient_phi``, the patient snapshots,
staging and CDM tables: names, SSN, birth dates, addresses).

    .venv/bin/python -m ingestion.export_marts [--warehouse FILE] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

MARTS_SCHEMA = "marts"


def export_marts(warehouse: Path, out: Path, schema: str = MARTS_SCHEMA) -> list[Path]:
    """Write each table and view of `schema` in `warehouse` to `out/<name>.parquet`; return
    the files written. The warehouse is opened read-only."""
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = [
            str(row[0])
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = ? "
                "order by table_name",
                [schema],
            ).fetchall()
        ]
        for name in names:
            target = out / f"{name}.parquet"
            quoted = str(target).replace("'", "''")
            con.execute(f'copy "{schema}"."{name}" to \'{quoted}\' (format parquet)')
            written.append(target)
    finally:
        con.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ingestion.export_marts",
        description="Export the marts schema (no PHI) of the DuckDB warehouse to Parquet files.",
    )
    parser.add_argument(
        "--warehouse",
        type=Path,
        default=Path(os.environ.get("RCM_WAREHOUSE_PATH", "warehouse/rcm.duckdb")),
        help="the DuckDB file (default: $RCM_WAREHOUSE_PATH, else warehouse/rcm.duckdb)",
    )
    parser.add_argument("--out", type=Path, default=Path("export"), help="folder (default: export)")
    args = parser.parse_args(argv)
    if not args.warehouse.exists():
        parser.error(f"no warehouse at {args.warehouse}: run make demo (or rcm build) first")
    written = export_marts(args.warehouse, args.out)
    print(f"{len(written)} tables of schema {MARTS_SCHEMA} written to {args.out}/ as Parquet")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
