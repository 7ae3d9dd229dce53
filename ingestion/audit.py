"""The load audit log (docs/contracts.md section 3).

One Parquet file per entity per run, ``audit/load_audit/run_id=<run_id>/<ds>__<table>.parquet``,
one row per load (per landing file for file sources). Each write replaces that run's file for
the entity atomically through the lake, so a reader sees the rows of the loads committed so
far. The log is the single source of the next incremental watermark and of the content hashes
that detect a re-landed file. dbt reads it with
``read_parquet('lake/audit/load_audit/*/*.parquet')``.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.lake import Lake

AUDIT_ROOT = "audit/load_audit"

Status = Literal["success", "no_change", "skipped_duplicate", "failed", "recovered", "abandoned"]
STATUSES: tuple[str, ...] = (
    "success",
    "no_change",
    "skipped_duplicate",
    "failed",
    "recovered",
    "abandoned",
)
# statuses whose watermark_after counts for the next incremental load
WATERMARK_STATUSES: frozenset[str] = frozenset({"success", "no_change", "recovered"})
# statuses of loads whose content is in Bronze (a landing file with this hash is a duplicate)
LOADED_STATUSES: frozenset[str] = frozenset({"success", "recovered"})

AUDIT_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("load_id", pa.string()),
        ("database", pa.string()),
        ("datasource", pa.string()),
        ("tablename", pa.string()),
        ("loadtype", pa.string()),
        ("source_name", pa.string()),
        ("rows_read", pa.int64()),
        ("rows_written", pa.int64()),
        ("rows_rejected", pa.int64()),
        ("watermark_column", pa.string()),
        ("watermark_before", pa.string()),
        ("watermark_after", pa.string()),
        ("content_sha256", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("finished_at", pa.timestamp("us", tz="UTC")),
        ("status", pa.string()),
        ("error", pa.string()),
    ]
)
AUDIT_COLUMNS: tuple[str, ...] = tuple(AUDIT_SCHEMA.names)


@dataclass(frozen=True)
class AuditRecord:
    """One audit row. ``tablename`` is the Bronze table name (lower case, no schema)."""

    run_id: str
    load_id: str | None
    database: str | None
    datasource: str
    tablename: str
    loadtype: str
    source_name: str | None
    rows_read: int
    rows_written: int
    rows_rejected: int
    watermark_column: str | None
    watermark_before: str | None
    watermark_after: str | None
    content_sha256: str | None
    started_at: datetime
    finished_at: datetime
    status: str
    error: str | None

    @property
    def entity(self) -> str:
        return f"{self.datasource}.{self.tablename}"


assert tuple(f.name for f in fields(AuditRecord)) == AUDIT_COLUMNS


def audit_path(run_id: str, file_name: str) -> str:
    return f"{AUDIT_ROOT}/run_id={run_id}/{file_name}"


def records_to_parquet(records: Iterable[AuditRecord]) -> bytes:
    rows = [asdict(r) for r in records]
    table = pa.Table.from_pylist(rows, schema=AUDIT_SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _from_row(row: dict[str, object]) -> AuditRecord:
    return AuditRecord(**row)  # type: ignore[arg-type]


class AuditLog:
    """Every audit row of the lake, read once per run, plus the rows this run adds."""

    def __init__(self, lake: Lake, records: list[AuditRecord]) -> None:
        self.lake = lake
        self.records = records
        self._by_entity: dict[str, list[AuditRecord]] = defaultdict(list)
        for record in records:
            self._by_entity[record.entity].append(record)
        self._run_rows: dict[tuple[str, str], list[AuditRecord]] = defaultdict(list)

    @classmethod
    def read(cls, lake: Lake) -> AuditLog:
        records: list[AuditRecord] = []
        for path in lake.list_files(AUDIT_ROOT):
            if not path.endswith(".parquet") or "/." in path:
                continue
            # one file, not a dataset: read_table's dataset set-up cost more than the read
            table = pq.ParquetFile(pa.BufferReader(lake.read_bytes(path))).read()
            for column in AUDIT_COLUMNS:
                if column not in table.column_names:
                    raise ValueError(
                        f"audit file {path} has no column {column!r}: it was not written by "
                        "this loader; move it out of the audit folder"
                    )
            table = table.select(list(AUDIT_COLUMNS)).cast(AUDIT_SCHEMA)
            records.extend(_from_row(row) for row in table.to_pylist())
        records.sort(key=lambda r: (r.load_id or "", r.started_at))
        return cls(lake, records)

    def for_entity(self, entity: str) -> list[AuditRecord]:
        return list(self._by_entity.get(entity, ()))

    def high_water_mark(
        self, entity: str, usable: Callable[[str], bool] | None = None
    ) -> AuditRecord | None:
        """The row holding the next watermark: largest ``watermark_after`` of a good load (of
        those for which ``usable`` holds, when given)."""
        best: AuditRecord | None = None
        for record in self._by_entity.get(entity, ()):
            if record.status not in WATERMARK_STATUSES or record.watermark_after is None:
                continue
            if usable is not None and not usable(record.watermark_after):
                continue
            if best is None or (record.watermark_after, record.load_id or "") > (
                best.watermark_after or "",
                best.load_id or "",
            ):
                best = record
        return best

    def latest_load_at(self, entity: str, watermark: str | None) -> str | None:
        """The newest published load of ``entity`` whose ``watermark_after`` is ``watermark``."""
        load_ids = [
            r.load_id
            for r in self._by_entity.get(entity, ())
            if r.status in LOADED_STATUSES and r.watermark_after == watermark and r.load_id
        ]
        return max(load_ids) if load_ids else None

    def loaded_sha(self, entity: str, sha256: str) -> AuditRecord | None:
        for record in self._by_entity.get(entity, ()):
            if record.content_sha256 == sha256 and record.status in LOADED_STATUSES:
                return record
        return None

    def latest_loaded(self, entity: str) -> AuditRecord | None:
        """The newest load of ``entity`` that published data (``success`` or ``recovered``)."""
        loaded = [
            r for r in self._by_entity.get(entity, ()) if r.status in LOADED_STATUSES and r.load_id
        ]
        return max(loaded, key=lambda r: r.load_id or "") if loaded else None

    def load_ids(self, entity: str) -> set[str]:
        """The load ids the entity's audit rows account for; an ``abandoned`` row accounts for
        none: its load was removed unpublished, and a folder of that id is not its load."""
        return {
            r.load_id
            for r in self._by_entity.get(entity, ())
            if r.load_id and r.status != "abandoned"
        }

    def append(self, record: AuditRecord, file_name: str) -> None:
        """Add a row of this run and rewrite this run's audit file of the entity (atomic).

        The file keeps the rows it already had (e.g. a ``recovered`` row written by the run's
        first process before a worker process loaded the entity)."""
        key = (record.run_id, file_name)
        if key not in self._run_rows:
            self._run_rows[key] = [
                r for r in self.records if r.run_id == record.run_id and r.entity == record.entity
            ]
        self.records.append(record)
        self._by_entity[record.entity].append(record)
        self._run_rows[key].append(record)
        self.lake.write_bytes(audit_path(*key), records_to_parquet(self._run_rows[key]))
