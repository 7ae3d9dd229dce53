"""Writing Bronze loads: Parquet parts, rejected rows, the manifest, atomic publication, recovery.

A load is written under ``_tmp/<load_id>/`` (``bronze/`` parts and manifest, ``rejected/``)
and published by renaming ``rejected/`` into place first and the ``bronze/`` folder last:
that rename is the commit. The audit row follows. :func:`recover` runs at the start of every
ingest: it removes abandoned temporary loads (and a rejected folder whose load never
committed) and writes the missing audit row, status ``recovered``, of a load that was
published but not audited.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingestion.audit import AuditLog, AuditRecord
from ingestion.config import EntityConfig, audit_file_name
from ingestion.lake import Lake

TMP_ROOT = "_tmp"
MANIFEST = "_load.json"
BOUNDARY_FILE = "_boundary.bin"
BOUNDARY_DIGEST = 16  # bytes of blake2b per boundary row hash

LINEAGE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("_source_system", pa.string()),
    pa.field("_source_name", pa.string()),
    pa.field("_source_row", pa.int64()),
    pa.field("_load_id", pa.string()),
    pa.field("_ingested_at", pa.timestamp("us", tz="UTC")),
)
REJECTED_SCHEMA = pa.schema(
    [
        ("_source_name", pa.string()),
        ("_source_row", pa.int64()),
        ("_reject_reason", pa.string()),
        ("_raw", pa.string()),
        ("_load_id", pa.string()),
        ("_ingested_at", pa.timestamp("us", tz="UTC")),
    ]
)

Progress = Callable[[str], None]
# called with (stage, load_id) at "before_publish" and "before_audit": a test can stop there
Hook = Callable[[str, str], None]


def new_load_id(now: datetime | None = None) -> str:
    """``<UTC yyyymmddTHHMMSSffffffZ>-<8 hex>``: sorts in load order."""
    now = now or datetime.now(UTC)
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}"


def to_text(value: object, local: bool = False) -> str | None:
    """The lossless text of a source value (``None`` stays ``None``; a timestamp with a zone
    gives the same instant in UTC, ``+00:00``, or with ``local`` its clock time without the
    offset: for a column staging reads as a date, whose day is the one on the source's clock,
    on every engine: DuckDB's cast drops an offset, Spark's applies it)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.utcoffset() is not None and local:
            return value.replace(tzinfo=None).isoformat(sep=" ")
        if value.utcoffset() is not None:
            # a zoned timestamp (timestamptz, datetimeoffset) comes in the session's or the
            # row's own offset; staging's cast drops an offset, so it is written in UTC (a
            # value whose instant is past year 9999 keeps its own offset)
            with contextlib.suppress(OverflowError):
                value = value.astimezone(UTC)
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict | list | tuple):
        # json / jsonb, arrays: JSON text (Python's repr, {'a': True}, is not JSON)
        return json.dumps(value, ensure_ascii=False, default=lambda item: to_text(item))
    return str(value)


def text_column(values: Sequence[object], local: bool = False) -> list[str | None]:
    return [
        v if v is None or v.__class__ is str else to_text(v, local)  # type: ignore[misc]
        for v in values
    ]


def text_array(values: Sequence[object], local: bool = False) -> pa.Array:
    """The values as an Arrow string array of their lossless text (see ``to_text``). A column
    of text (and nulls) goes to Arrow as it is, one of integers through Arrow's cast (the same
    digits), one of numbers through ``str`` (what ``to_text`` gives a number, 4-5 times faster
    than its type checks: amounts are most of an EMR table's non-text values); only others are
    converted value by value (``local``: see ``to_text``)."""
    try:
        inferred = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        inferred = None
    if inferred is not None:
        kind = inferred.type
        if pa.types.is_string(kind):
            return inferred
        if pa.types.is_null(kind):
            return pa.nulls(len(values), pa.string())
        if pa.types.is_int64(kind):
            return inferred.cast(pa.string())
        if pa.types.is_float64(kind):
            # Arrow infers float64 only from Python ints and floats: str() of each is its text
            # (Arrow's own cast would print 280.0 as "280")
            return pa.array([v if v is None else str(v) for v in values], type=pa.string())
    return pa.array(text_column(values, local), type=pa.string())


def row_digest(values: Sequence[str | None]) -> bytes:
    """Hash of a full row (column order of the load): tells re-read boundary rows apart."""
    payload = json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))
    return hashlib.blake2b(payload.encode("utf-8"), digest_size=BOUNDARY_DIGEST).digest()


@dataclass(frozen=True)
class WriteSettings:
    row_group_rows: int = 131_072
    part_rows: int = 1_048_576


@dataclass
class LoadManifest:
    """``_load.json``: what a published load holds; enough to rebuild its audit row."""

    load_id: str
    run_id: str
    database: str | None
    datasource: str
    tablename: str
    loadtype: str
    source_kind: str
    source_system: str
    source_name: str
    columns: list[str]
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    watermark_column: str | None = None
    watermark_before: str | None = None
    watermark_after: str | None = None
    boundary_rows: int = 0
    # the lowest watermark whose rows' hashes the boundary holds: the mark less the entity's
    # watermark_lookback; None: the rows at the mark only (no lookback; then not written, so
    # the manifest is the one a version without lookbacks wrote)
    boundary_from: str | None = None
    content_sha256: str | None = None
    parts: list[dict[str, Any]] = field(default_factory=list)
    rejected_path: str | None = None
    target_path: str = ""
    started_at: str = ""
    finished_at: str = ""

    def to_json(self) -> bytes:
        data = asdict(self)
        # only when set: a load without a lookback writes the manifest an older version wrote,
        # byte for byte, and a rollback to that version (whose from_json takes only its own
        # keys) reads it
        if data["boundary_from"] is None:
            del data["boundary_from"]
        return json.dumps(data, indent=2).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> LoadManifest:
        """The manifest; keys this version does not know (written by a later one) are left
        out, so recovery still reads the folder after a rollback."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in json.loads(data).items() if key in known})

    def audit_record(self, run_id: str, status: str, error: str | None) -> AuditRecord:
        return AuditRecord(
            run_id=run_id,
            load_id=self.load_id,
            database=self.database,
            datasource=self.datasource,
            tablename=self.tablename,
            loadtype=self.loadtype,
            source_name=self.source_name,
            rows_read=self.rows_read,
            rows_written=self.rows_written,
            rows_rejected=self.rows_rejected,
            watermark_column=self.watermark_column,
            watermark_before=self.watermark_before,
            watermark_after=self.watermark_after,
            content_sha256=self.content_sha256,
            started_at=datetime.fromisoformat(self.started_at),
            finished_at=datetime.fromisoformat(self.finished_at),
            status=status,
            error=error,
        )


class CountMismatchError(RuntimeError):
    """Rows read did not reconcile with rows written + rejected: a loader bug, never published."""


def _dictionary_columns(table: pa.Table, sample_rows: int = 4096) -> list[str]:
    """The columns worth dictionary encoding in a part: those that repeat their values (at
    most one distinct value in four rows of a sample from the start). Ids and timestamps do
    not: a dictionary for them costs time to build, and Parquet drops it once it grows."""
    sample = table.slice(0, sample_rows)
    return [
        name
        for name, column in zip(sample.column_names, sample.columns, strict=True)
        if pc.count_distinct(column, mode="all").as_py() * 4 <= sample.num_rows
    ]


class LoadWriter:
    """Streams one load: string columns + lineage into Parquet parts under ``_tmp/``."""

    def __init__(
        self,
        lake: Lake,
        entity: EntityConfig,
        manifest: LoadManifest,
        settings: WriteSettings,
        progress: Progress,
    ) -> None:
        self.lake = lake
        self.entity = entity
        self.manifest = manifest
        self.settings = settings
        self.progress = progress
        self.ingested_at = datetime.fromisoformat(manifest.started_at)
        self.tmp = f"{TMP_ROOT}/{manifest.load_id}"
        self.schema = pa.schema(
            [pa.field(c, pa.string()) for c in manifest.columns] + list(LINEAGE_FIELDS)
        )
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._sink: pa.BufferOutputStream | None = None
        self._writer: pq.ParquetWriter | None = None
        self._part_rows = 0
        self._rejects: list[dict[str, object]] = []
        # the 16-byte digests of the rows the next load skips, packed
        self.boundary = b""

    # rows ------------------------------------------------------------------------------

    def write(
        self, columns: Sequence[Sequence[str | None] | pa.Array], source_rows: list[int] | None
    ) -> None:
        """Add rows given column-wise, in the order of ``manifest.columns``."""
        n = len(columns[0]) if columns else 0
        if n == 0:
            return
        m = self.manifest
        arrays: list[pa.Array] = [
            c if isinstance(c, pa.Array) else pa.array(c, type=pa.string()) for c in columns
        ]
        arrays += [
            pa.repeat(pa.scalar(m.source_system, type=pa.string()), n),
            pa.repeat(pa.scalar(m.source_name, type=pa.string()), n),
            pa.array(source_rows, type=pa.int64()) if source_rows else pa.nulls(n, pa.int64()),
            pa.repeat(pa.scalar(m.load_id, type=pa.string()), n),
            pa.repeat(pa.scalar(self.ingested_at, type=pa.timestamp("us", tz="UTC")), n),
        ]
        self._pending.append(pa.Table.from_arrays(arrays, schema=self.schema))
        self._pending_rows += n
        m.rows_written += n
        if self._pending_rows >= self.settings.row_group_rows:
            self._flush_row_group()

    def reject(self, source_row: int | None, reason: str, raw: str) -> None:
        self._rejects.append(
            {
                "_source_name": self.manifest.source_name,
                "_source_row": source_row,
                "_reject_reason": reason,
                "_raw": raw,
                "_load_id": self.manifest.load_id,
                "_ingested_at": self.ingested_at,
            }
        )
        self.manifest.rows_rejected += 1

    def _flush_row_group(self) -> None:
        if not self._pending_rows:
            return
        table = pa.concat_tables(self._pending)
        self._pending, self._pending_rows = [], 0
        if self._writer is None:
            self._sink = pa.BufferOutputStream()
            self._writer = pq.ParquetWriter(
                self._sink,
                self.schema,
                compression="zstd",
                use_dictionary=_dictionary_columns(table),
            )
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self._part_rows += table.num_rows
        if self._part_rows >= self.settings.part_rows:
            self._close_part()

    def _close_part(self) -> None:
        if self._writer is None or self._sink is None:
            return
        self._writer.close()
        data = self._sink.getvalue().to_pybytes()
        name = f"part-{len(self.manifest.parts):05d}.parquet"
        self.lake.write_bytes(f"{self.tmp}/bronze/{name}", data)
        self.manifest.parts.append({"file": name, "rows": self._part_rows, "bytes": len(data)})
        self.progress(
            f"  {self.entity.name}: wrote {name} ({self._part_rows:,} rows, "
            f"{len(data) / 1e6:,.1f} MB; {self.manifest.rows_written:,} rows so far)"
        )
        self._writer, self._sink, self._part_rows = None, None, 0

    # finishing -------------------------------------------------------------------------

    def finish(self, empty_part: bool = False) -> LoadManifest:
        """Write the last part, the rejected rows and the manifest under ``_tmp/``."""
        self._flush_row_group()
        self._close_part()
        m = self.manifest
        if empty_part and not m.parts:
            sink = io.BytesIO()
            pq.write_table(self.schema.empty_table(), sink, compression="zstd")
            self.lake.write_bytes(f"{self.tmp}/bronze/part-00000.parquet", sink.getvalue())
            m.parts.append({"file": "part-00000.parquet", "rows": 0, "bytes": sink.tell()})
        if m.rows_read != m.rows_written + m.rows_rejected:
            raise CountMismatchError(
                f"{self.entity.name} {m.source_name}: read {m.rows_read} rows but wrote "
                f"{m.rows_written} and rejected {m.rows_rejected}; nothing was published"
            )
        if self._rejects:
            table = pa.Table.from_pylist(self._rejects, schema=REJECTED_SCHEMA)
            sink = io.BytesIO()
            pq.write_table(table, sink, compression="zstd")
            self.lake.write_bytes(f"{self.tmp}/rejected/rejected.parquet", sink.getvalue())
            m.rejected_path = f"{self.entity.rejected_target}/load_id={m.load_id}"
        if self.boundary:
            self.lake.write_bytes(f"{self.tmp}/bronze/{BOUNDARY_FILE}", self.boundary)
        m.boundary_rows = len(self.boundary) // BOUNDARY_DIGEST
        m.target_path = f"{self.entity.target}/load_id={m.load_id}"
        m.finished_at = datetime.now(UTC).isoformat()
        self.lake.write_bytes(f"{self.tmp}/bronze/{MANIFEST}", m.to_json())
        return m

    def publish(self, hook: Hook | None) -> None:
        """Rename the load into place: rejected rows first, Bronze last (the commit)."""
        m = self.manifest
        if hook is not None:
            hook("before_publish", m.load_id)
        if m.rejected_path:
            self.lake.rename(f"{self.tmp}/rejected", m.rejected_path)
        try:
            self.lake.rename(f"{self.tmp}/bronze", m.target_path)
        except Exception:
            # not committed: take the rejected rows back, as recovery would (the caller removes
            # the temporary folder, and with it the manifest recovery would find them by). A
            # rename whose reply was lost may have committed all the same: then they stay.
            if m.rejected_path:
                with contextlib.suppress(Exception):  # never hide the first error
                    if not self.lake.exists(m.target_path):
                        self.lake.delete(m.rejected_path)
            raise
        self.lake.delete(self.tmp)

    def publish_rejected(self, hook: Hook | None) -> None:
        """Publish the rejected rows only, for a load none of whose rows was kept: no Bronze
        folder, since an empty load would be the latest of a table that staging reads whole
        from its latest load (a code list). The temporary folder, with the manifest, stays
        until the caller has audited the load and calls :meth:`abandon`: a crash before the
        audit row leaves it, and :func:`recover` then takes the rejected rows back."""
        m = self.manifest
        if hook is not None:
            hook("before_publish", m.load_id)
        if m.rejected_path:
            self.lake.rename(f"{self.tmp}/rejected", m.rejected_path)

    @property
    def first_reject(self) -> str | None:
        """The reason of the rejected row that comes first in the source."""
        if not self._rejects:
            return None
        first = min(self._rejects, key=lambda r: (r["_source_row"] is None, r["_source_row"] or 0))
        return str(first["_reject_reason"])

    def abandon(self) -> None:
        self.lake.delete(self.tmp)


def read_boundary(lake: Lake, load_folder: str) -> set[bytes]:
    """The row digests a load's boundary holds; none when it has no boundary file (one lake
    request either way)."""
    try:
        data = lake.read_bytes(f"{load_folder}/{BOUNDARY_FILE}")
    except FileNotFoundError:
        return set()
    return {data[i : i + BOUNDARY_DIGEST] for i in range(0, len(data), BOUNDARY_DIGEST)}


def read_manifest(lake: Lake, load_folder: str) -> LoadManifest | None:
    """A published load's manifest; None when the folder has none (removed by hand)."""
    try:
        return LoadManifest.from_json(lake.read_bytes(f"{load_folder}/{MANIFEST}"))
    except FileNotFoundError:
        return None


def _abandoned_record(manifest: LoadManifest, run_id: str) -> AuditRecord:
    """The audit row of a load removed before it was published: it wrote nothing to Bronze, so
    its counts are 0 (they still add up) and it moves no watermark; the message keeps what the
    stopped run had written."""
    record = manifest.audit_record(
        run_id,
        "abandoned",
        f"abandoned: run {manifest.run_id} stopped before it published this load "
        f"({manifest.rows_read:,} rows read, {manifest.rows_written:,} written and "
        f"{manifest.rows_rejected:,} rejected to its temporary folder); recovery in run "
        f"{run_id} removed it. Nothing of it reached Bronze; the next load reads those rows again",
    )
    return dataclasses.replace(
        record,
        rows_read=0,
        rows_written=0,
        rows_rejected=0,
        watermark_after=None,
        content_sha256=None,
    )


def recover(
    lake: Lake,
    entities: Iterable[EntityConfig],
    audit: AuditLog,
    run_id: str,
    progress: Progress,
) -> list[AuditRecord]:
    """Clean abandoned temporary loads and audit published loads that have no audit row.

    Returns the audit rows written: ``recovered`` for a published load, ``abandoned`` for a
    load that a run stopped before publishing (its temporary folder, removed here, held its
    manifest; a folder removed before its manifest was written names no entity and gets none).
    """
    recovered: list[AuditRecord] = []
    for tmp in lake.list_dirs(TMP_ROOT):
        load_id = tmp.rsplit("/", 1)[-1]
        manifest_path = f"{tmp}/bronze/{MANIFEST}"
        abandoned: LoadManifest | None = None
        if lake.exists(manifest_path):
            manifest = LoadManifest.from_json(lake.read_bytes(manifest_path))
            committed = manifest.target_path and lake.exists(manifest.target_path)
            # a refused load (no Bronze) is committed by its audit row
            entity_name = f"{manifest.datasource}.{manifest.tablename}"
            refused = load_id in audit.load_ids(entity_name)
            if not committed and not refused:
                abandoned = manifest
                if manifest.rejected_path and lake.exists(manifest.rejected_path):
                    lake.delete(manifest.rejected_path)
        lake.delete(tmp)
        if abandoned is None:
            progress(f"recovery: removed the abandoned temporary load {load_id}")
            continue
        record = _abandoned_record(abandoned, run_id)
        audit.append(record, audit_file_name(record.datasource, record.tablename))
        recovered.append(record)
        progress(
            f"recovery: removed the abandoned temporary load {load_id} of {record.entity} "
            f"(run {abandoned.run_id} stopped before publishing it); audit row written (status "
            "abandoned); the next load of the entity reads its rows again"
        )

    for entity in entities:
        audited = audit.load_ids(entity.name)
        for folder in lake.list_dirs(entity.target):
            name = folder.rsplit("/", 1)[-1]
            if not name.startswith("load_id="):
                continue
            load_id = name.removeprefix("load_id=")
            if load_id in audited:
                continue
            manifest_path = f"{folder}/{MANIFEST}"
            if not lake.exists(manifest_path):
                progress(f"recovery: {folder} has no {MANIFEST}; left as it is, not audited")
                continue
            manifest = LoadManifest.from_json(lake.read_bytes(manifest_path))
            record = manifest.audit_record(
                run_id,
                "recovered",
                f"audit row written by recovery in run {run_id}: load published by run "
                f"{manifest.run_id} had no audit row",
            )
            audit.append(record, entity.audit_file_name)
            recovered.append(record)
            progress(
                f"recovery: {entity.name} load {load_id} was published but not audited; "
                f"audit row written (status recovered, {manifest.rows_written:,} rows)"
            )
    return recovered
