"""`rcm ingest`: load every active entity of the load config into Bronze, with an audit row.

For each entity, in config order: an EMR table (full snapshot, or incremental from the last
high-water mark, less the entity's ``watermark_lookback``), the landing files of a CSV entity
(each new file is one load; a file whose content was loaded before is detected by its sha256
and skipped), or a code set (NPI extract or NPPES API, ICD-10-CM list or API). One failing
entity does not stop the others; the run ends with a summary table and a non-zero exit code
when any entity failed.

Python API: :func:`run_ingest` ``(IngestSettings) -> IngestResult``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import functools
import hashlib
import heapq
import io
import json
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ingestion import console
from ingestion.audit import AUDIT_ROOT, LOADED_STATUSES, AuditLog, AuditRecord
from ingestion.bronze import (
    LINEAGE_FIELDS,
    Hook,
    LoadManifest,
    LoadWriter,
    Progress,
    WriteSettings,
    new_load_id,
    read_boundary,
    read_manifest,
    recover,
    row_digest,
)
from ingestion.config import (
    CSV_KINDS,
    FILE_KINDS,
    ConfigError,
    EntityConfig,
    LoadConfig,
    emr_url,
    emr_url_variable,
    load_config,
)
from ingestion.lake import Lake, disk_full_hint, ingest_lock, open_lake
from ingestion.sources import SourceFormatError, SourceUnavailableError, codesets, values
from ingestion.sources.csvfile import CsvFile
from ingestion.sources.landing import PROCESSED, find_files, move_to_processed, sha256_file
from ingestion.sources.sql import TableReader, connect, safe_url

# columns staging reads from a file that the load config does not require, and what comes
# out wrong in the marts when a file lacks them (staging reads a missing column as null):
# matched whatever their case, as the required ones are, and warned about when missing
STAGED_OPTIONAL_COLUMNS: dict[str, dict[str, str]] = {
    "claims_csv": {
        "AllowedAmount": (
            "its claims get a contractual adjustment of 0 (claim amount - allowed amount), so "
            "open A/R and days in A/R come out overstated and the net collection rate "
            "understated"
        ),
        "DenialReasonCode": (
            "its denials count under the reason 'unknown' in kpi_denials_by_reason and the "
            "denial alerts"
        ),
    },
}

SUMMARY_HEADERS = ("entity", "mode", "rows", "rejected", "watermark", "seconds", "status")


@dataclass(frozen=True)
class IngestSettings:
    """What one ingest run reads and where it writes."""

    sources: Path = Path("sources")
    lake: str = "lake"
    config_path: Path | None = None
    only: tuple[str, ...] = ()
    online: bool = False
    nppes_url: str | None = None
    icd_url: str | None = None
    batch_rows: int = 50_000
    write: WriteSettings = field(default_factory=WriteSettings)
    env: Mapping[str, str] | None = None
    progress: Progress | None = None
    hook: Hook | None = None
    """Called at ``before_publish`` / ``before_audit`` with the load id (tests stop there)."""
    workers: int = 2
    """Entities loaded at once, each in its own process (1: all in this process)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> IngestSettings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "lake": env.get("RCM_LAKE_DIR") or "lake",
            "nppes_url": env.get("RCM_NPPES_URL") or None,
            "icd_url": env.get("RCM_ICD_URL") or None,
            "env": env,
        }
        if overrides.get("workers") is None:  # --workers wins over a bad RCM_INGEST_WORKERS
            values["workers"] = _workers_from_env(env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class EntityResult:
    entity: str
    mode: str
    status: str
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    watermark: str | None = None
    seconds: float = 0.0
    error: str | None = None
    records: list[AuditRecord] = field(default_factory=list)
    # what loaded but comes out wrong downstream (a claims file without AllowedAmount)
    warnings: list[str] = field(default_factory=list)

    @property
    def load_ids(self) -> list[str]:
        return [r.load_id for r in self.records if r.load_id and r.status == "success"]


def _workers_from_env(env: Mapping[str, str]) -> int:
    """RCM_INGEST_WORKERS, else 2 (or 1 on one core)."""
    default = min(2, os.cpu_count() or 1)
    text = (env.get("RCM_INGEST_WORKERS") or "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"RCM_INGEST_WORKERS={text!r} is not a whole number: set it to how many entities "
            f"to load at once (1 or more), or unset it for {default}; nothing was loaded"
        ) from None


@dataclass
class IngestResult:
    run_id: str
    lake_uri: str
    entities: list[EntityResult]
    # the audit rows recovery wrote: published loads without one (status recovered), loads an
    # earlier run stopped before publishing (status abandoned)
    recovered: list[AuditRecord]
    seconds: float
    # landing files that no entity of the config would load (landing_dir/name)
    unmatched_files: tuple[str, ...] = ()

    @property
    def failed(self) -> list[EntityResult]:
        return [e for e in self.entities if e.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def rows_read(self) -> int:
        return sum(e.rows_read for e in self.entities)

    @property
    def rows_written(self) -> int:
        return sum(e.rows_written for e in self.entities)

    @property
    def rows_rejected(self) -> int:
        return sum(e.rows_rejected for e in self.entities)


class EntityFailedError(RuntimeError):
    """A file of a file entity failed; its audit row is written, later files wait."""


def _size_and_time(path: Path) -> tuple[int, int]:
    """A landing file's size and modification time, to see it change while it is read."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _batch_row(batch: list[pa.Array], index: int) -> tuple[str | None, ...]:
    """Row ``index`` of a column-wise batch, as Python values."""
    return tuple(column[index].as_py() for column in batch)


# what a rejected row's reason and raw text are, from its line in the source file (None for
# a database row), its values (in header order) and its [(column, value), ...] staging refuses
Describe = Callable[[int | None, tuple[str | None, ...], list[values.Finding]], tuple[str, str]]


def _csv_line(row: Sequence[str | None]) -> str:
    """A parsed row as one CSV line, quoted where a value needs it (a PaidAmount of "306,32"
    stays one field), so a rejected line's raw text reads back as the row."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(["" if value is None else value for value in row])
    return out.getvalue()


def _reject_unreadable(
    writer: LoadWriter,
    header: Sequence[str],
    columns: list[pa.Array],
    lines: list[int] | None,
    kinds: Mapping[str, str],
    describe: Describe,
    rejected: set[int] | None = None,
) -> tuple[list[pa.Array], list[int] | None]:
    """Reject the rows of a batch with a value staging cannot type (values.py) or a timestamp
    later than the load (the writer's ingested_at); the batch's columns and source lines
    without them, with zoned timestamps written in UTC (a row whose zone cannot be read as an
    instant is rejected too; its raw text is the source's). ``rejected``, when given, gets the
    indexes of the rows rejected."""
    unreadable: dict[int, list[values.Finding]] = {}
    in_utc, timed = values.timestamps_in_utc(header, columns, kinds, writer.ingested_at)
    for found in (values.unreadable_values(header, columns, kinds), timed):
        for index, findings in found.items():
            named = unreadable.setdefault(index, [])
            seen = {finding[0] for finding in named}  # one finding per column: the first
            named.extend(finding for finding in findings if finding[0] not in seen)
    if not unreadable:
        return in_utc, lines
    if rejected is not None:
        rejected.update(unreadable)
    for index, findings in sorted(unreadable.items()):
        line = lines[index] if lines else None
        writer.reject(line, *describe(line, _batch_row(columns, index), findings))
    keep = pa.array([i not in unreadable for i in range(len(columns[0]))])
    kept_lines = [line for i, line in enumerate(lines) if i not in unreadable] if lines else lines
    return [column.filter(keep) for column in in_utc], kept_lines


def _between(marks: pa.Array, low: str, high: str) -> list[int]:
    """The indexes of the watermarks from ``low`` to ``high``, compared as text (as the tracker
    compares marks: the source's order for the ISO forms of one column)."""
    inside = pc.and_kleene(pc.greater_equal(marks, low), pc.less_equal(marks, high))
    return [int(i) for i in pc.indices_nonzero(pc.fill_null(inside, False)).to_pylist()]


def _lookback_start(entity: EntityConfig, mark: str) -> str:
    """The lowest watermark of the lookback window of ``mark``: the mark less the entity's
    ``watermark_lookback``, written in the mark's own form (values.mark_less)."""
    lookback = entity.lookback
    start = None if lookback is None else values.mark_less(mark, lookback)
    if start is None:
        raise SourceFormatError(
            f"the {entity.watermark_label} value {mark!r} of {entity.tablename} is not a date "
            "or a timestamp in ISO form (YYYY-MM-DD[ HH:MM:SS[.ffffff]][+HH:MM]), so the "
            f"lookback {entity.watermark_lookback} cannot be taken from it: a lookback needs a "
            "date or timestamp watermark. If the column holds timestamps and this one value is "
            "wrong, correct its row in the source; else leave "
            f"{entity.config_line('watermark_lookback')} empty; nothing was loaded"
        )
    return start


def _mark_rows_gone_warning(entity: EntityConfig, since: str) -> str:
    """What it means that an incremental load selected no row at all: not even the rows at
    the mark, which the last load read and every load selects again."""
    label = entity.watermark_label
    return (
        f"no row of {entity.tablename} has a {label} at or after the mark {since!r}, not even "
        "the rows the last load read there: they were deleted, or given an earlier "
        f"{label}, or the database was restored from a backup older than the last load. "
        "Nothing was loaded. After a restore, Bronze and the warehouse keep the versions the "
        f"backup lacks (staging takes each key's latest {label}), and a row loads again once "
        f"its {label} is at or after the mark: have the EMR team confirm what happened"
    )


def _covered_from(floor: str | None, select_from: str | None) -> str | None:
    """The lowest watermark whose rows a load's boundary holds: the start of its new mark's
    window (``floor``), but never below what the load selected (``select_from``; None: the
    whole table, a first or full load). A mark in a coarser form than the one it passed (a
    date alone after a timestamp, compared as text) has a window that starts below the
    select: the boundary holds no digest of the rows there, so the next load must not take
    their absence for a late commit. Compared as text, as the tracker compares marks."""
    if floor is None or select_from is None:
        return floor
    return max(floor, select_from)


@dataclass
class _Marks:
    """The watermark side of an incremental load of an EMR table, batch by batch: the new
    high-water mark and the rows of its window (the boundary), the rows whose watermark cannot
    be a mark (values.py: with ``check``), and which rows of a batch an earlier load already
    read (``known``: the digests of the boundary of the load that set ``since``).

    A mark's window runs from ``start(mark)`` (the mark less the entity's lookback:
    :func:`_lookback_start`; without ``start``, the mark itself) to the mark. The boundary
    holds the digest of every row read, skipped or not, whose watermark is in the window of the
    new mark: while streaming, only the rows in the window of the running high are kept. A row
    in the window of ``since`` whose digest is ``known`` is skipped; a row above ``since`` never
    is. ``known_from``: the lowest watermark whose rows ``known`` holds (the last load's window;
    None: ``since``, as a load without a lookback keeps). ``last_load``: the folder of the load
    whose boundary ``known`` is (None: none was found, so nothing is known)."""

    since: str | None
    known: set[bytes]
    check: bool
    loaded_at: datetime | None = None
    # the one form a watermark value must have to be a mark: fallback columns compared as text
    # (TableReader.mark_form), where a date alone or a 'T' time sorts apart from its time
    form: re.Pattern[str] | None = None
    start: Callable[[str], str] | None = None
    known_from: str | None = None
    last_load: str | None = None
    high: str | None = None
    floor: str | None = None  # the start of the running high's window
    # the digests of the rows read in the running high's window, packed, by watermark value
    # (16 bytes a row, and one entry a distinct value), and those values in a heap, so that the
    # rows the window leaves as the high rises go at once
    window: dict[str, bytearray] = field(default_factory=dict)
    window_values: list[str] = field(default_factory=list)
    # rows whose watermark cannot be a mark: the source's `>=` keeps selecting them, so their
    # digests go with the boundary and later loads skip them until they change
    unmarked: bytearray = field(default_factory=bytearray)
    since_floor: str | None = None  # the start of the window of since: the select's lower end
    covered_from: str | None = None  # from here to since, `known` tells what was read
    already_loaded: int = 0
    late: int = 0  # late rows read and kept, less those rejected (rejected())
    late_rejected: int = 0
    # the late rows of the last batch, by their place among the rows it keeps
    late_in_batch: set[int] = field(default_factory=set)
    read_again: int = 0
    already_read_unmarked: int = 0
    new_unmarked: int = 0
    # rows read whose watermark (every column of it) is NULL: a `>=` never selects such a row
    no_mark: int = 0

    def __post_init__(self) -> None:
        self.high = self.since
        if self.since is not None:
            self.floor = self.since_floor = self._start(self.since)
            known_from = self.since if self.known_from is None else self.known_from
            self.covered_from = max(self.since_floor, known_from)

    def _start(self, mark: str) -> str:
        return mark if self.start is None else self.start(mark)

    def read(self, batch: list[pa.Array], wm: Sequence[int]) -> set[int]:
        """Note a batch's watermarks (the first of columns ``wm`` that is not null: the value
        the source's select compared); the indexes of its rows to skip."""
        column = batch[wm[0]] if len(wm) == 1 else pc.coalesce(*(batch[i] for i in wm))
        marks = column.to_pylist()
        present = [w for w in marks if w is not None]
        self.no_mark += len(marks) - len(present)
        checked = self.check or self.form is not None
        bad_values = values.bad_marks(present, self.loaded_at, self.form) if checked else set()
        bad: set[int] = set()
        if bad_values:
            present = [w for w in present if w not in bad_values]
            bad = {i for i, w in enumerate(marks) if w in bad_values}
        if present:
            batch_high = max(present)
            if self.high is None or batch_high > self.high:
                self.high, self.floor = batch_high, self._start(batch_high)
                while self.window_values and self.window_values[0] < self.floor:
                    del self.window[heapq.heappop(self.window_values)]
        digests: dict[int, bytes] = {}

        def digest_of(i: int) -> bytes:
            if i not in digests:
                digests[i] = row_digest(_batch_row(batch, i))
            return digests[i]

        if self.high is not None and self.floor is not None:
            for i in _between(column, self.floor, self.high):
                if i not in bad:
                    packed = self.window.get(marks[i])
                    if packed is None:
                        packed = self.window[marks[i]] = bytearray()
                        heapq.heappush(self.window_values, marks[i])
                    packed += digest_of(i)
        for i in sorted(bad):
            self.unmarked += digest_of(i)
        drop: set[int] = set()
        late: set[int] = set()
        if (
            self.since is not None
            and self.since_floor is not None
            and self.covered_from is not None
            and (self.known or self.start is not None)
        ):
            for i in _between(column, self.since_floor, self.since):
                if i in bad:
                    continue
                if self.known and digest_of(i) in self.known:
                    drop.add(i)
                elif marks[i] < self.covered_from:
                    self.read_again += 1
                elif marks[i] < self.since:
                    late.add(i)
            self.already_loaded += len(drop)
            self.late += len(late)
        seen = {i for i in bad if digest_of(i) in self.known}
        self.already_read_unmarked += len(seen)
        self.new_unmarked += len(bad) - len(seen)
        skip = drop | seen
        kept = (i for i in range(len(marks)) if i not in skip) if late else ()
        self.late_in_batch = {place for place, i in enumerate(kept) if i in late}
        return skip

    def rejected(self, rows: set[int]) -> None:
        """The rows of the last batch (by their place among those it keeps) that were
        rejected: a late row among them is not loaded."""
        rejected = len(self.late_in_batch & rows)
        self.late -= rejected
        self.late_rejected += rejected

    def boundary(self) -> bytes:
        """The digests of the rows of the new mark's window (by watermark value, each value's
        in read order: without a lookback, the rows at the mark as before), and the unmarked,
        packed; the tracker lets go of its own."""
        parts = [self.window.pop(value) for value in sorted(self.window)]
        self.window_values.clear()
        parts.append(self.unmarked)
        self.unmarked = bytearray()
        return b"".join(parts)

    def no_mark_warning(self, entity: EntityConfig) -> str | None:
        """What the rows without a watermark mean for the loads after this one, or None."""
        if not self.no_mark:
            return None
        columns = entity.watermark_columns
        fix = (
            f"name a column of the table that holds each row's insert time as a fallback in "
            f"{entity.config_line('watermark')} (e.g. {columns[0]}|InsertDate)"
            if len(columns) == 1
            else f"add another fallback in {entity.config_line('watermark')}"
        )
        return (
            f"{self.no_mark:,} row(s) of {entity.tablename} have no {entity.watermark_label} "
            "(NULL). This load read them, but an incremental load selects the rows at or after "
            "its mark and never one whose watermark is NULL: a row inserted or changed later "
            f"without one will not load. To load such rows, {fix}"
        )

    def messages(self, entity: EntityConfig) -> list[str]:
        said = []
        label = entity.watermark_label
        lookback = f"the lookback {entity.watermark_lookback}"
        if self.already_loaded and self.start is None:
            said.append(
                f"  {entity.name}: {self.already_loaded:,} row(s) at the watermark "
                f"{self.since!r} were read by an earlier load and are skipped"
            )
        elif self.already_loaded:
            said.append(
                f"  {entity.name}: {self.already_loaded:,} row(s) with a {label} from "
                f"{self.since_floor!r} to the mark {self.since!r} ({lookback}) were read by an "
                "earlier load and are skipped"
            )
        if self.late or self.late_rejected:
            said.append(
                f"  {entity.name}: {self.late + self.late_rejected:,} row(s) with a {label} "
                f"below the mark {self.since!r}, from {self.covered_from!r} ({lookback}), were "
                "not read by the last load (committed after it, or changed keeping their "
                f"watermark): {self.late:,} loaded, {self.late_rejected:,} rejected"
            )
        if self.read_again:
            kept = (
                f"the last load ({self.last_load}) kept the hashes of its rows from "
                f"{self.covered_from!r} on only"
                if self.last_load is not None
                else f"no load folder of the mark {self.since!r} is left to take hashes from"
            )
            said.append(
                f"  {entity.name}: {self.read_again:,} row(s) with a {label} from "
                f"{self.since_floor!r} to before {self.covered_from!r} ({lookback}) are read "
                f"again: {kept}, so those an earlier load read are in Bronze twice (staging "
                "keeps one version per key)"
            )
        if self.new_unmarked or self.already_read_unmarked:
            form = ""
            if self.form is not None:
                written = (
                    values.CANONICAL_DATE_FORM
                    if self.form is values.CANONICAL_DATE
                    else values.CANONICAL_TIMESTAMP_FORM
                )
                form = (
                    f" written as {written} (compared as text, the columns of a fallback "
                    "sort as their times only in that one form)"
                )
            said.append(
                f"  {entity.name}: {self.new_unmarked + self.already_read_unmarked:,} row(s) "
                f"have a {label} that is not a timestamp{form} or is later "
                "than this load, so they do not move the watermark; "
                f"{self.already_read_unmarked:,} of them were read by an earlier load and are "
                "skipped until they change"
            )
        return said


def _no_index_message(entity: EntityConfig, unindexed: Sequence[str]) -> str:
    """What an incremental load reads for want of an index on watermark columns ``unindexed``
    (:meth:`TableReader.unindexed_watermark`), and the index that makes it read the new rows."""
    columns = entity.watermark_columns
    if columns[0] in unindexed:
        wanted = "it" if len(columns) == 1 else f"({', '.join(columns)})"
        return (
            f"  {entity.name}: {entity.tablename} has no index on {columns[0]}, so each "
            f"incremental load reads the whole table; an index on {wanted} in the source makes "
            "the load read only the new rows"
        )
    column = unindexed[0]
    before = columns[: columns.index(column)]
    return (
        f"  {entity.name}: {entity.tablename} has no index on "
        f"({', '.join((*before, column))}), so each incremental load reads every row whose "
        f"{' and '.join(before)} {'is' if len(before) == 1 else 'are'} NULL to find the new "
        "ones; that index in the source makes the load read only the new rows"
    )


def select_entities(config: LoadConfig, only: Sequence[str]) -> list[EntityConfig]:
    """Active entities, or those named by ``--only`` (which must exist and be active)."""
    if not only:
        return [e for e in config.entities if e.is_active]
    by_name = config.by_name()
    problems = []
    for name in only:
        entity = by_name.get(name)
        if entity is None:
            problems.append(
                f"--only {name}: no such entity in {config.path}; known: {', '.join(by_name)}"
            )
        elif not entity.is_active:
            problems.append(
                f"--only {name}: the entity is inactive (is_active=0 on line {entity.line} of "
                f"{config.path}); set is_active to 1 to load it"
            )
    if problems:
        raise ConfigError("\n".join(problems))
    wanted = set(only)
    return [e for e in config.entities if e.name in wanted]


def _status_of(records: Sequence[AuditRecord]) -> str:
    statuses = {r.status for r in records}
    for status in ("failed", "success", "recovered", "skipped_duplicate"):
        if status in statuses:
            return status
    return "no_change"


class _Run:
    def __init__(self, settings: IngestSettings, lake: Lake, audit: AuditLog, run_id: str) -> None:
        self.settings = settings
        self.lake = lake
        self.audit = audit
        self.run_id = run_id
        self.progress: Progress = settings.progress or console.info
        self.env: Mapping[str, str] = os.environ if settings.env is None else settings.env
        self._engines: dict[str, Engine] = {}
        self._down: dict[str, str] = {}
        self.config: LoadConfig | None = None
        self.warnings: list[str] = []  # of the entity being loaded

    def close(self) -> None:
        for engine in self._engines.values():
            engine.dispose()

    # audit rows ------------------------------------------------------------------------

    def _record(
        self,
        entity: EntityConfig,
        status: str,
        started: datetime,
        *,
        source_name: str | None = None,
        sha: str | None = None,
        error: str | None = None,
        watermark_before: str | None = None,
        watermark_after: str | None = None,
        write: bool = True,
    ) -> AuditRecord:
        record = AuditRecord(
            run_id=self.run_id,
            load_id=None,
            database=entity.database,
            datasource=entity.datasource,
            tablename=entity.table,
            loadtype=entity.loadtype,
            source_name=source_name,
            rows_read=0,
            rows_written=0,
            rows_rejected=0,
            watermark_column=entity.watermark,
            watermark_before=watermark_before,
            watermark_after=watermark_after,
            content_sha256=sha,
            started_at=started,
            finished_at=datetime.now(UTC),
            status=status,
            error=error,
        )
        if write:
            self.audit.append(record, entity.audit_file_name)
        return record

    def _manifest(
        self, entity: EntityConfig, source_system: str, source_name: str, columns: Sequence[str]
    ) -> LoadManifest:
        lineage = {field.name.casefold(): field.name for field in LINEAGE_FIELDS}
        taken = [name for name in columns if name.casefold() in lineage]
        if taken:
            # Bronze would hold the column twice and readers take the source's value for the
            # loader's: staging's load order and dedupe would run on what the file says
            raise SourceFormatError(
                f"{source_name}: column(s) {', '.join(map(repr, taken))} of {entity.tablename} "
                "have the name of a lineage column that the loader adds to every Bronze row "
                f"({', '.join(lineage.values())}); nothing was loaded. Rename the column in "
                "the source or its export"
            )
        now = datetime.now(UTC)
        return LoadManifest(
            load_id=new_load_id(now),
            run_id=self.run_id,
            database=entity.database,
            datasource=entity.datasource,
            tablename=entity.table,
            loadtype=entity.loadtype,
            source_kind=entity.source_kind,
            source_system=entity.source_system or source_system,
            source_name=source_name,
            columns=list(columns),
            watermark_column=entity.watermark,
            started_at=now.isoformat(),
        )

    def _writer(self, entity: EntityConfig, manifest: LoadManifest) -> LoadWriter:
        return LoadWriter(self.lake, entity, manifest, self.settings.write, self.progress)

    def _commit(
        self,
        entity: EntityConfig,
        writer: LoadWriter,
        from_file: bool = False,
        whole_list: bool = False,
    ) -> AuditRecord:
        """Finish, publish (the commit) and audit a load. A file of which every line was
        rejected fails instead (:meth:`_refuse`), and so does a code list (``whole_list``:
        staging reads it whole from its latest load) whose every record was rejected, from a
        file or an API: published, it would empty the list."""
        manifest = writer.finish(empty_part=True)
        if manifest.rows_read and not manifest.rows_written and (from_file or whole_list):
            return self._refuse(entity, writer, from_file)
        writer.publish(self.settings.hook)
        if self.settings.hook is not None:
            self.settings.hook("before_audit", manifest.load_id)
        record = manifest.audit_record(self.run_id, "success", None)
        self.audit.append(record, entity.audit_file_name)
        return record

    def _refuse(self, entity: EntityConfig, writer: LoadWriter, from_file: bool) -> AuditRecord:
        """Fail a load none of whose rows was kept (a file with a wrong delimiter inside the
        fields, a different layout, every amount in another format; a code list from an API
        whose every record was refused): its rejected rows are
        published and audited, as always, but no Bronze load, and the audit row is
        ``failed``, so the run exits 1 and a file stays in landing like any other failed file."""
        manifest = writer.manifest
        writer.publish_rejected(self.settings.hook)
        try:
            record = self._refused_record(entity, writer, from_file)
        except Exception:
            # the caller abandons the temporary folder, and with it the manifest that recovery
            # would find these rejects by: take them back now, as recovery would
            if manifest.rejected_path:
                writer.lake.delete(manifest.rejected_path)
            raise
        writer.abandon()  # the temporary folder kept the manifest until the audit row
        return record

    def _refused_record(
        self, entity: EntityConfig, writer: LoadWriter, from_file: bool
    ) -> AuditRecord:
        """Write the ``failed`` audit row of a refused load (:meth:`_refuse`)."""
        manifest = writer.manifest
        if self.settings.hook is not None:
            self.settings.hook("before_audit", manifest.load_id)
        noun = "lines" if entity.source_kind in CSV_KINDS else "records"
        what = "the file" if from_file else "the list"
        found = (
            f"all {manifest.rows_rejected:,} {noun} were rejected, so nothing of {what} is in "
            f"Bronze (the first: {writer.first_reject}); the rejected {noun}, each with its "
            f"reason, are in {manifest.rejected_path}/rejected.parquet in the lake"
        )
        then = (
            "Fix the export and land it again in its place, or move it out of the landing folder"
            if from_file
            else f"The code list keeps its last load; check the source and run `rcm ingest --only "
            f"{entity.name}` again"
        )
        error = f"{manifest.source_name}: {found}. {then}"
        record = manifest.audit_record(self.run_id, "failed", error)
        self.audit.append(record, entity.audit_file_name)
        return record

    # entities --------------------------------------------------------------------------

    def run_entity(self, entity: EntityConfig) -> EntityResult:
        started = datetime.now(UTC)
        mode: str = entity.loadtype
        records: list[AuditRecord] = []
        error: str | None = None
        self.warnings = []
        try:
            if entity.source_kind == "sql":
                records.append(self._load_sql(entity))
            elif entity.source_kind in CSV_KINDS or (
                entity.source_kind == "nppes" and not self.settings.online
            ):
                mode = f"{mode} (files)"
                for record in self._load_files(entity):
                    records.append(record)
            elif entity.source_kind == "nppes":
                mode = f"{mode} (api)"
                records.append(self._load_npi_api(entity))
            else:
                mode = f"{mode} ({'api' if self.settings.online else 'offline'})"
                records.append(self._load_icd(entity))
        except EntityFailedError as exc:
            error = str(exc)
        except Exception as exc:
            error = (str(exc) or type(exc).__name__) + disk_full_hint(exc, self.lake.uri)
            failed = self._record(entity, "failed", started, error=error, write=False)
            try:
                self.audit.append(failed, entity.audit_file_name)
            except OSError as audit_error:
                # the lake's disk is full or its audit folder unwritable: the run still ends
                # with its summary (this escaped, and a worker's took the whole run down)
                error += (
                    f"; its audit row could not be written either ({audit_error}): fix that, "
                    "and the next run audits what this one published (status recovered)"
                )
                failed = dataclasses.replace(failed, error=error)
            records.append(failed)
        seconds = (datetime.now(UTC) - started).total_seconds()
        # the loads that published rows: a failed file whose every line was rejected
        # published its rejected rows
        loaded = [
            r for r in records if r.status == "success" or (r.status == "failed" and r.load_id)
        ]
        result = EntityResult(
            entity=entity.name,
            mode=mode,
            status=_status_of(records),
            rows_read=sum(r.rows_read for r in loaded),
            rows_written=sum(r.rows_written for r in loaded),
            rows_rejected=sum(r.rows_rejected for r in loaded),
            watermark=next(
                (r.watermark_after for r in reversed(records) if r.watermark_after), None
            ),
            seconds=seconds,
            error=error,
            records=records,
            warnings=self.warnings,
        )
        line = (
            f"{entity.name}: {result.status}, {result.rows_written:,} rows written, "
            f"{result.rows_rejected:,} rejected ({seconds:,.1f}s)"
        )
        self.progress(line if error is None else f"{line}: {error}")
        return result

    def _engine(self, database: str) -> Engine:
        """One engine per database URL, probed once: a database that is down fails its
        entities at once instead of waiting for a connection timeout per table."""
        url = emr_url(database, self.settings.sources, self.env)
        if url in self._down:
            raise SourceUnavailableError(self._down[url])
        if url not in self._engines:
            try:
                from_env = bool(self.env.get(emr_url_variable(database)))
                engine = connect(url, database, from_env=from_env)
                with engine.connect():
                    pass
            except SourceUnavailableError as exc:
                self._down[url] = str(exc)
                raise
            except SQLAlchemyError as exc:
                orig = getattr(exc, "orig", None) or exc
                first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
                self._down[url] = (
                    f"EMR database {database} at {safe_url(url)} is not reachable: {first} "
                    f"(check the server, or {emr_url_variable(database)})"
                )
                raise SourceUnavailableError(self._down[url]) from exc
            self._engines[url] = engine
        return self._engines[url]

    def _high_water_mark(self, entity: EntityConfig, check_marks: bool) -> AuditRecord | None:
        """The audit row holding the next load's mark; with ``check_marks``, the latest that can
        be one (an older version of this loader took `yesterday`, or a mistyped year later
        than now, as a mark: the load goes on from the last good mark, and staging keeps each
        key's latest version of what it reads again)."""
        mark = self.audit.high_water_mark(entity.name)
        if not check_marks or mark is None or mark.watermark_after is None:
            return mark
        now = datetime.now(UTC)
        if values.is_mark(mark.watermark_after, now):
            return mark
        good = self.audit.high_water_mark(
            entity.name, usable=lambda text: values.is_mark(text, now)
        )
        last_good = repr(good.watermark_after) if good else "(none: the whole table)"
        self.progress(
            f"  {entity.name}: the audit log's mark {mark.watermark_after!r} is not a "
            "timestamp, or is later than now; "
            + (
                "passed over (a full load reads the whole table)"
                if entity.loadtype == "full"
                else f"loading from the last good mark {last_good}"
            )
        )
        return good

    def _load_sql(self, entity: EntityConfig) -> AuditRecord:
        assert entity.database is not None
        started = datetime.now(UTC)
        incremental = entity.loadtype == "incremental"
        kinds = values.column_kinds(entity.source_kind, entity.table)
        # a watermark in ISO form that staging reads as a timestamp sets the mark; any other
        # ('yesterday', the text 'NULL', '2024-1-5') would, compared as text, sort after the
        # dates that follow it and hide their rows (the typed watermarks of values.py only:
        # another may be a number)
        # (with fallbacks, when any of the columns is such a timestamp: a row's watermark is
        # compared with the others', so it is one too); a full load with a lookback takes its
        # window from its mark as well
        check_marks = (incremental or entity.lookback is not None) and any(
            values.kind_of(kinds, column) == values.TIMESTAMP for column in entity.watermark_columns
        )
        mark = self._high_water_mark(entity, check_marks) if entity.watermark else None
        before = mark.watermark_after if mark else None
        since = before if incremental else None
        # with a lookback, the rows from the mark less it: a row committed late, whose
        # watermark was below the mark when it became visible (the boundary skips the others)
        start = None if entity.lookback is None else functools.partial(_lookback_start, entity)
        select_from = since if since is None or start is None else start(since)
        where = ""
        if since:
            where = f" where {entity.watermark_label} >= {select_from!r}"
            if start is not None:
                where += f" (the mark {since!r} less the lookback {entity.watermark_lookback})"
        self.progress(
            f"{entity.name}: {entity.loadtype} load of {entity.tablename} from {entity.database}"
            + where
        )
        known: set[bytes] = set()
        known_from: str | None = None
        last = self.audit.latest_load_at(entity.name, since) if incremental else None
        last_load = None if last is None else f"{entity.target}/load_id={last}"
        if start is not None and last_load is not None:
            # with a lookback, the lowest watermark whose rows the boundary holds (its
            # manifest's boundary_from; None: the rows at the mark only). A load folder removed
            # by hand has no manifest: its hashes are gone with it. Without a lookback the
            # boundary alone is read, as it always was: no look-up more per load.
            last_manifest = read_manifest(self.lake, last_load)
            if last_manifest is None:
                last_load = None
            else:
                known_from = last_manifest.boundary_from
        if last_load is not None:
            known = read_boundary(self.lake, last_load)
        reader = TableReader(self._engine(entity.database), entity)
        unindexed = reader.unindexed_watermark() if since is not None else []
        if unindexed:
            self.progress(_no_index_message(entity, unindexed))
        manifest = self._manifest(entity, entity.datasource, entity.tablename, reader.columns)
        manifest.watermark_before = before
        writer = self._writer(entity, manifest)
        wm = [reader.columns.index(column) for column in entity.watermark_columns]
        # the key as the table spells it: a rejected row's reason names its value
        key = next(
            (c for c in reader.columns if c.casefold() == (entity.primary_key or "").casefold()),
            None,
        )
        source = f"{entity.database} table {entity.tablename}"

        def describe(
            _: int | None, values_: tuple[str | None, ...], found: list[values.Finding]
        ) -> tuple[str, str]:
            row = dict(zip(reader.columns, values_, strict=True))
            where = f"{source}, {key} {row[key]!r}" if key else f"{source}, a row"
            # the first column: a fallback is read only while the columns before it are NULL
            refresh = entity.watermark_columns[0] if incremental else None
            reason = values.unreadable_row_reason(where, found, kinds, refresh)
            return reason, json.dumps(row, ensure_ascii=False)

        tracker = _Marks(
            since,
            known,
            check_marks,
            writer.ingested_at,
            reader.mark_form,
            start,
            known_from,
            last_load,
        )
        content = hashlib.sha256()
        selected = 0
        try:
            for batch in reader.batches(select_from, self.settings.batch_rows):
                selected += len(batch[0])
                if wm:
                    drop = tracker.read(batch, wm)
                    if drop:
                        keep = pa.array([i not in drop for i in range(len(batch[0]))])
                        batch = [column.filter(keep) for column in batch]
                manifest.rows_read += len(batch[0])
                if not incremental:
                    content.update(json.dumps([column.to_pylist() for column in batch]).encode())
                rejected: set[int] = set()
                batch, _ = _reject_unreadable(
                    writer, reader.columns, batch, None, kinds, describe, rejected
                )
                tracker.rejected(rejected)
                writer.write(batch, None)
            manifest.watermark_after = tracker.high
            writer.boundary = tracker.boundary()
            if start is not None:
                manifest.boundary_from = _covered_from(tracker.floor, select_from)
            for message in tracker.messages(entity):
                self.progress(message)
            no_mark = tracker.no_mark_warning(entity)
            if no_mark is not None:
                self.warnings.append(no_mark)
                self.progress(f"warning: {entity.name}: {no_mark}")
            if since is not None and selected == 0:
                # `>= mark` selects the rows at the mark, which the last load read, every time
                gone = _mark_rows_gone_warning(entity, since)
                self.warnings.append(gone)
                self.progress(f"warning: {entity.name}: {gone}")
            if not incremental:
                manifest.content_sha256 = content.hexdigest()
                unchanged = self._unchanged(entity, manifest.content_sha256)
                if unchanged is not None:
                    writer.abandon()
                    return self._record(
                        entity,
                        "no_change",
                        started,
                        source_name=entity.tablename,
                        sha=manifest.content_sha256,
                    )
            if incremental and manifest.rows_read == 0:
                writer.abandon()
                return self._record(
                    entity,
                    "no_change",
                    started,
                    source_name=entity.tablename,
                    watermark_before=before,
                    watermark_after=before,
                )
            return self._commit(entity, writer)
        except Exception:
            writer.abandon()
            raise

    def _load_files(self, entity: EntityConfig) -> Iterator[AuditRecord]:
        started = datetime.now(UTC)
        files = find_files(self.settings.sources, entity)
        if not files:
            self.progress(f"{entity.name}: no new file in {entity.landing_dir}")
            yield self._record(entity, "no_change", started)
            return
        self.progress(f"{entity.name}: {len(files)} file(s) in {entity.landing_dir}")
        for path in files:
            file_started = datetime.now(UTC)
            landed = _size_and_time(path)
            sha = sha256_file(path)
            also = self._other_readers(entity, path.name)
            if also:
                # loaded by whichever entity came first (both, with workers): one hospital's
                # claims in the other's Bronze
                lines = ", ".join(str(e.line) for e in (entity, *also))
                of_file = f" of {entity.config_file}" if entity.config_file else ""
                message = (
                    f"{path.name} matches the file_pattern of {entity.name} and of "
                    f"{', '.join(e.name for e in also)} (config line(s) {lines}{of_file}): not "
                    "loaded by any of them; make the patterns in "
                    f"{self.config.path if self.config else 'the load config'} "
                    "match the file for one entity only"
                )
                yield self._record(
                    entity, "failed", file_started, source_name=path.name, sha=sha, error=message
                )
                raise EntityFailedError(f"{message} (later files of this entity wait in landing)")
            seen = self.audit.loaded_sha(entity.name, sha)
            if seen is not None:
                moved = move_to_processed(path, f"duplicate_{self.run_id}")
                self.progress(
                    f"  {entity.name}: {path.name} has the content of {seen.source_name} "
                    f"(load {seen.load_id}): not loaded again, moved to {moved.name}"
                )
                yield self._record(
                    entity,
                    "skipped_duplicate",
                    file_started,
                    source_name=path.name,
                    sha=sha,
                    error=(
                        f"same content (sha256) as {seen.source_name} loaded by "
                        f"{seen.load_id}; moved to processed/{moved.name}"
                    ),
                )
                continue
            try:
                if entity.source_kind == "nppes":
                    record = self._write_codeset(entity, codesets.npi_from_extract(path), sha)
                else:
                    record = self._load_csv(entity, path, sha, landed)
            except Exception as exc:
                message = f"{path.name}: {exc}" if path.name not in str(exc) else str(exc)
                message += disk_full_hint(exc, self.lake.uri)
                yield self._record(
                    entity,
                    "failed",
                    file_started,
                    source_name=path.name,
                    sha=sha,
                    error=message,
                )
                raise EntityFailedError(
                    f"{message} (later files of this entity wait in landing)"
                ) from exc
            if record.status == "failed":  # every line rejected: see _refuse
                yield record
                raise EntityFailedError(
                    f"{record.error} (later files of this entity wait in landing)"
                )
            moved = move_to_processed(path, record.load_id or self.run_id)
            self.progress(
                f"  {entity.name}: {path.name}: {record.rows_written:,} rows, "
                f"{record.rows_rejected:,} rejected; moved to processed/{moved.name}"
            )
            if entity.source_kind == "claims_csv":
                self._note_reloaded_name(entity, path, record)
            yield record

    def _other_readers(self, entity: EntityConfig, file_name: str) -> list[EntityConfig]:
        """The other active entities of the config that would load this landing file."""
        others = self.config.entities if self.config is not None else ()
        return [
            e
            for e in others
            if e.is_active
            and e.name != entity.name
            and e.landing_dir == entity.landing_dir
            and e.matches(file_name)
        ]

    def _note_reloaded_name(self, entity: EntityConfig, path: Path, record: AuditRecord) -> None:
        """Say so when a claims file lands under the name of a file loaded before: staging
        keeps every version of every load, so the earlier file's rows stay."""
        earlier = [
            r.load_id
            for r in self.audit.for_entity(entity.name)
            if r.source_name == path.name
            and r.status in LOADED_STATUSES
            and r.load_id
            and r.load_id != record.load_id
        ]
        if not earlier:
            return
        # the first file of a name keeps it in processed/; later ones get their load's id
        kept = path.parent / PROCESSED / path.name
        again = len(earlier) - 1
        self.progress(
            f"  notice: {entity.name}: a file named {path.name} was loaded before (first by "
            f"load {min(earlier)}"
            + (f", kept as {PROCESSED}/{kept.name}" if kept.exists() else "")
            + (f"; {again} more time(s) since" if again else "")
            + "): its rows stay in Bronze. A file sent again adds claim versions and replaces "
            "those with the same ClaimID and ModifiedDate; it cannot withdraw a line of the "
            "earlier file (a claim left out keeps its versions). To correct a claim, send a "
            "version with a later ModifiedDate"
        )

    def _load_csv(
        self, entity: EntityConfig, path: Path, sha: str, landed: tuple[int, int]
    ) -> AuditRecord:
        kinds = values.column_kinds(entity.source_kind, entity.table)
        known = (*kinds, *STAGED_OPTIONAL_COLUMNS.get(entity.source_kind, ()))
        with CsvFile(path, entity.required_columns, known=known) as csv_file:
            if csv_file.renamed:
                shown = ", ".join(f"{a} as {b}" for a, b in csv_file.renamed[:3])
                more = len(csv_file.renamed) - 3
                self.progress(
                    f"  {entity.name}: {path.name}: column names matched whatever their case, "
                    f"kept as the load config spells them: {shown}"
                    + (f" and {more} more" if more > 0 else "")
                )
            self._warn_missing_optional(entity, path, csv_file.header)
            manifest = self._manifest(entity, entity.datasource, path.name, csv_file.header)
            manifest.content_sha256 = sha
            writer = self._writer(entity, manifest)

            def describe(
                line: int | None, row: tuple[str | None, ...], found: list[values.Finding]
            ) -> tuple[str, str]:
                reason = values.unreadable_reason(line or 0, found, kinds)
                return reason, _csv_line(row)

            try:
                for chunk in csv_file.chunks(self.settings.batch_rows):
                    manifest.rows_read += chunk.rows_read
                    columns, lines = _reject_unreadable(
                        writer, csv_file.header, chunk.columns, chunk.lines, kinds, describe
                    )
                    writer.write(columns, lines)
                    for reject in chunk.rejects:
                        writer.reject(reject.line, reject.reason, reject.raw)
            except Exception:
                writer.abandon()
                raise
        if _size_and_time(path) != landed:
            # a file still being copied in: the load would hold the part copied so far, and the
            # file, moved to processed/, would go on growing there unread
            writer.abandon()
            raise SourceUnavailableError(
                f"{path.name} changed while it was read (still being copied into landing?); "
                "nothing of it was loaded and it stays in landing for the next run. Copy files "
                "in under another name and rename them when complete"
            )
        # A claims file of a header and blank lines (an empty export from a spreadsheet) loads
        # nothing, like a header alone: it is not refused and does not hold up the later files.
        # A code list's file is: published, it would empty the list.
        only_blank = (
            entity.loadtype == "incremental" and manifest.rows_rejected == csv_file.blank_lines
        )
        try:
            return self._commit(entity, writer, from_file=not only_blank)
        except Exception:
            writer.abandon()
            raise

    def _warn_missing_optional(
        self, entity: EntityConfig, path: Path, header: Sequence[str]
    ) -> None:
        optional = STAGED_OPTIONAL_COLUMNS.get(entity.source_kind, {})
        missing = [column for column in optional if column not in header]
        if not missing:
            return
        effects = "; ".join(f"without {column}, {optional[column]}" for column in missing)
        warning = (
            f"{path.name} has no {' and no '.join(missing)} column, which the marts use: "
            f"{effects}. Add the column(s) to the export if the source system has them"
        )
        self.warnings.append(warning)
        self.progress(f"warning: {entity.name}: {warning}")

    def _write_codeset(
        self,
        entity: EntityConfig,
        rows: codesets.CodesetRows,
        sha: str | None,
        fingerprint: str | None = None,
    ) -> AuditRecord:
        manifest = self._manifest(entity, rows.source_system, rows.source_name, rows.columns)
        if fingerprint is not None:  # a list whose content is known by where it comes from
            sha, from_file = fingerprint, False
        elif sha is None:  # a list from an API: hash its rows instead of a file
            sha = hashlib.sha256(json.dumps([rows.columns, rows.rows]).encode()).hexdigest()
            unchanged = self._unchanged(entity, sha)
            if unchanged is not None:
                return self._record(
                    entity,
                    "no_change",
                    datetime.now(UTC),
                    source_name=rows.source_name,
                    sha=sha,
                )
            from_file = False
        else:
            from_file = True
        manifest.content_sha256 = sha
        writer = self._writer(entity, manifest)
        try:
            manifest.rows_read = len(rows.rows) + len(rows.rejects)
            for number, reason, raw in rows.rejects:
                writer.reject(number, f"{rows.source_name}, {reason}", raw)
            batch = self.settings.batch_rows
            columns = rows.column_lists()
            kinds = values.column_kinds(entity.source_kind, entity.table)

            def describe(
                record: int | None, values_: tuple[str | None, ...], found: list[values.Finding]
            ) -> tuple[str, str]:
                row = dict(zip(rows.columns, values_, strict=True))
                where = f"{rows.source_name}" + (f", record {record}" if record else "")
                key = rows.columns[0]
                reason = (
                    f"{where}, {key} {row[key]!r}: {values.describe(found, kinds)}; the "
                    "record stays out of Bronze until the registry's data is fixed"
                )
                return reason, json.dumps(row, ensure_ascii=False)

            for start in range(0, len(rows.rows), batch):
                chunk, records = _reject_unreadable(
                    writer,
                    rows.columns,
                    [pa.array(c[start : start + batch], type=pa.string()) for c in columns],
                    list(range(start + 1, min(start + batch, len(rows.rows)) + 1))
                    if from_file
                    else None,
                    kinds,
                    describe,
                )
                writer.write(chunk, records)
            return self._commit(entity, writer, from_file=from_file, whole_list=True)
        except Exception:
            writer.abandon()
            raise

    def _unchanged(self, entity: EntityConfig, sha: str) -> str | None:
        """The load whose content a full extract repeats (then nothing is written), or None."""
        last = self.audit.latest_loaded(entity.name)
        if last is None or last.content_sha256 != sha:
            return None
        self.progress(f"  {entity.name}: same content as load {last.load_id}: nothing written")
        return last.load_id

    def _load_npi_api(self, entity: EntityConfig) -> AuditRecord:
        assert self.config is not None
        targets = [e.target for e in self.config.entities if e.table == "providers"]
        numbers = codesets.provider_npis(self.lake, targets)
        self.progress(f"{entity.name}: looking up {len(numbers):,} NPIs of Bronze providers")
        rows = codesets.npi_from_api(self.settings.nppes_url, numbers)
        for warning in rows.warnings:
            self.warnings.append(warning)
            self.progress(f"warning: {entity.name}: {warning}")
        return self._write_codeset(entity, rows, None)

    def _load_icd(self, entity: EntityConfig) -> AuditRecord:
        where = "the API" if self.settings.online else "the offline code files"
        self.progress(f"{entity.name}: full load of the ICD-10-CM code list from {where}")
        if self.settings.online:
            return self._write_codeset(entity, codesets.icd_from_api(self.settings.icd_url), None)
        # the offline list is known by the package version that ships it: skip reading it
        # (seconds of XML parsing) when the last load came from the same one
        fingerprint = codesets.icd_offline_fingerprint()
        if self._unchanged(entity, fingerprint) is not None:
            return self._record(
                entity,
                "no_change",
                datetime.now(UTC),
                source_name="simple_icd_10_cm",
                sha=fingerprint,
            )
        return self._write_codeset(entity, codesets.icd_offline(), None, fingerprint=fingerprint)


# What a forked worker needs: set in the parent right before the pool forks it. The audit
# rows are the parent's, read once (and added to by the recovery): each entity reads only
# its own rows, and the other workers add rows of other entities only. Reading the audit log
# again for each entity made a scale-10 daily ingest take 3.0-4.1 s instead of 1.6-1.7 s.
_WORKER_STATE: tuple[IngestSettings, LoadConfig, str, Any, tuple[AuditRecord, ...]] | None = None

# The heaviest kinds first, so two workers finish close together.
_KIND_ORDER = {"claims_csv": 0, "sql": 1, "cpt_csv": 2, "nppes": 2, "icd10cm": 2}


def _load_in_worker(name: str) -> EntityResult:
    """Load one entity in a forked worker, with its own lake handle, audit view and engines.

    Entities are independent: each writes its own Bronze folder and its own audit file of
    the run, and reads only its own high-water mark."""
    assert _WORKER_STATE is not None
    settings, config, run_id, messages, audit_rows = _WORKER_STATE
    # progress goes back to the parent, which hands it to the caller's callback
    settings = dataclasses.replace(settings, progress=messages.put)
    lake = open_lake(settings.lake)
    run = _Run(settings, lake, AuditLog(lake, list(audit_rows)), run_id)
    run.config = config
    try:
        return run.run_entity(config.by_name()[name])
    finally:
        run.close()


def _end_with_parent(parent: int) -> None:
    """A worker's initializer: end the worker as soon as the process that forked it is gone.

    A run killed by its pid alone (a scheduler's timeout, `kill PID`) left its workers waiting
    on the pool's queue for ever: they held the lake's lock, so every later run was refused,
    and they kept loading with nobody to report to. The table a worker was loading is then
    half written under ``_tmp/``, which the next run removes."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def _relay(messages: Any, progress: Progress) -> None:
    """Hand the workers' progress lines to this process's callback until ``None`` arrives."""
    while (message := messages.get()) is not None:
        progress(message)


def _worker_count(settings: IngestSettings, entities: Sequence[EntityConfig]) -> int:
    if settings.hook is not None or len(entities) < 2:
        return 1  # a test hook stops a load mid-way: keep it in this process
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(settings.workers, len(entities)))


def _check_sources_folder(settings: IngestSettings, entities: Sequence[EntityConfig]) -> None:
    """One clear error, before anything is loaded, when the sources folder is missing and a
    selected entity reads from it (a landing folder, or an EMR database whose URL is not set),
    rather than one failure per entity."""
    sources = settings.sources
    if sources.is_dir():
        return
    env = os.environ if settings.env is None else settings.env
    needing = [
        e.name
        for e in entities
        if (e.source_kind in FILE_KINDS and not (settings.online and e.source_kind == "nppes"))
        or (e.database is not None and not env.get(emr_url_variable(e.database)))
    ]
    if needing:
        state = "is not a folder" if sources.exists() else "does not exist"
        raise ConfigError(
            f"sources folder {sources} {state}, and {len(needing)} of the selected "
            f"entities read from it ({', '.join(needing[:3])}{', ...' if len(needing) > 3 else ''})"
            f": pass --sources the folder that holds emr/ and landing/, or run "
            f"`rcm generate --out {sources}` for the demo sources"
        )


# a copy on its way in (the README's advice: copy in under another name, rename when
# complete): not a file anyone meant to be loaded yet, so not one to rename to a pattern
IN_TRANSFER_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload", ".filepart")


def unmatched_landing_files(
    sources: Path, config: LoadConfig, entities: Sequence[EntityConfig]
) -> list[str]:
    """The files in the landing folders of ``entities`` whose name matches the file_pattern
    of no entity of ``config`` (active or not: each folder may be shared, as landing/claims
    is by both hospitals), as ``landing_dir/name``: such a file is never loaded."""
    unmatched: list[str] = []
    folders = sorted({e.landing_dir for e in entities if e.landing_dir is not None})
    for folder in folders:
        path = sources / folder
        readers = [e for e in config.entities if e.landing_dir == folder]
        try:
            files = sorted(f for f in path.iterdir() if f.is_file())
        except OSError:
            continue  # missing or unreadable: the entity's own load says so
        unmatched.extend(
            f"{folder}/{file.name}"
            for file in files
            if not file.name.startswith((".", "~$"))
            and not file.name.lower().endswith(IN_TRANSFER_SUFFIXES)
            and not any(e.matches(file.name) for e in readers)
        )
    return unmatched


def _unmatched_message(unmatched: Sequence[str], config: LoadConfig) -> str:
    folders = {name.rpartition("/")[0] for name in unmatched}
    patterns = "; ".join(
        f"{e.name}: {e.file_pattern}"
        for e in config.entities
        if e.file_pattern is not None and e.landing_dir in folders
    )
    shown = ", ".join(unmatched[:5]) + (
        f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else ""
    )
    packed = [name for name in unmatched if name.lower().endswith((".gz", ".zip"))]
    return (
        f"{len(unmatched)} landing file(s) match no entity's file_pattern and are not loaded: "
        f"{shown}. Rename them to match ({patterns}), or add an entity for them to "
        f"{config.path}"
        + (
            f". Compressed files ({', '.join(packed[:3])}) are not read: decompress them into "
            "the landing folder instead of renaming them"
            if packed
            else ""
        )
    )


def _check_online_urls(settings: IngestSettings, entities: list[EntityConfig]) -> None:
    """With --online, the API base URL of each code set to fetch, before anything loads (the
    entity alone failed, after every other one had loaded)."""
    if not settings.online:
        return
    from ingestion.codesets import icd10, nppes

    missing = []
    kinds = {entity.source_kind for entity in entities}
    if "nppes" in kinds and not settings.nppes_url:
        missing.append(f"RCM_NPPES_URL (the NPPES API, e.g. {nppes.DEFAULT_BASE_URL})")
    if "icd10cm" in kinds and not settings.icd_url:
        missing.append(f"RCM_ICD_URL (the ICD-10-CM API, e.g. {icd10.DEFAULT_BASE_URL})")
    if missing:
        raise ConfigError(
            f"--online needs {' and '.join(missing)}; set it, or drop --online to load the "
            "code sets from their offline files; nothing was loaded"
        )


def run_ingest(settings: IngestSettings) -> IngestResult:
    """Recover, then load every selected entity; never raises for a failing entity.

    With ``settings.workers`` > 1 the entities are loaded by that many forked processes
    (the API look-up of NPIs, which reads the providers just loaded, runs last, here).
    Raises :class:`ingestion.lake.LakeBusyError` when another run is loading into the lake."""
    config = load_config(settings.config_path)
    entities = select_entities(config, settings.only)
    _check_sources_folder(settings, entities)
    _check_online_urls(settings, entities)
    lake = open_lake(settings.lake)
    with ingest_lock(lake, settings.progress or console.info):
        return _run_ingest_locked(settings, config, entities, lake)


def _run_ingest_locked(
    settings: IngestSettings, config: LoadConfig, entities: list[EntityConfig], lake: Lake
) -> IngestResult:
    """:func:`run_ingest` once it holds the lake: no other run reads or writes it meanwhile."""
    global _WORKER_STATE
    started = datetime.now(UTC)
    run_id = new_load_id(started)
    audit = AuditLog.read(lake)
    run = _Run(settings, lake, audit, run_id)
    run.config = config
    workers = _worker_count(settings, entities)
    run.progress(
        f"ingest run {run_id}: {len(entities)} entities into {lake.uri}"
        + (f" ({workers} workers)" if workers > 1 else "")
    )
    recovered = recover(lake, config.entities, audit, run_id, run.progress)
    unmatched = unmatched_landing_files(settings.sources, config, entities)
    if unmatched:
        run.progress(f"warning: {_unmatched_message(unmatched, config)}")
    by_name: dict[str, EntityResult] = {}
    try:
        if workers == 1:
            for entity in entities:
                by_name[entity.name] = run.run_entity(entity)
        else:
            last = [e for e in entities if e.source_kind == "nppes" and settings.online]
            pooled = sorted(
                (e for e in entities if e not in last),
                key=lambda e: _KIND_ORDER.get(e.source_kind, 3),
            )
            context = multiprocessing.get_context("fork")
            messages = context.SimpleQueue()
            relay = threading.Thread(target=_relay, args=(messages, run.progress), daemon=True)
            relay.start()
            _WORKER_STATE = (settings, config, run_id, messages, tuple(audit.records))
            try:
                with ProcessPoolExecutor(
                    max_workers=workers,
                    mp_context=context,
                    initializer=_end_with_parent,
                    initargs=(os.getpid(),),
                ) as pool:
                    futures = {e.name: pool.submit(_load_in_worker, e.name) for e in pooled}
                    for name, future in futures.items():
                        by_name[name] = future.result()
            finally:
                _WORKER_STATE = None
                messages.put(None)
                relay.join()
            for entity in last:
                run.audit = AuditLog.read(lake)
                by_name[entity.name] = run.run_entity(entity)
    finally:
        run.close()
    results = [by_name[e.name] for e in entities]
    seconds = (datetime.now(UTC) - started).total_seconds()
    return IngestResult(run_id, lake.uri, results, recovered, seconds, tuple(unmatched))


def format_summary(result: IngestResult) -> str:
    rows = [
        (
            e.entity,
            e.mode,
            e.rows_written,
            e.rows_rejected,
            e.watermark,
            round(e.seconds, 2),
            e.status,
        )
        for e in result.entities
    ]
    lines = [console.format_table(SUMMARY_HEADERS, rows)]
    lines.append(
        f"\n{len(result.entities)} entities, {result.rows_written:,} rows written, "
        f"{result.rows_rejected:,} rejected, {len(result.failed)} failed "
        f"in {result.seconds:,.1f}s (run {result.run_id})"
    )
    published = sum(1 for record in result.recovered if record.status == "recovered")
    if published:
        lines.append(f"recovered {published} load(s) that had no audit row")
    abandoned = len(result.recovered) - published
    if abandoned:
        lines.append(
            f"removed {abandoned} load(s) an earlier run stopped before publishing (audited as "
            "abandoned; their rows are read again)"
        )
    for failed in result.failed:
        lines.append(f"FAILED {failed.entity}: {failed.error}")
    for entity in result.entities:
        lines.extend(f"WARNING {entity.entity}: {warning}" for warning in entity.warnings)
    if result.unmatched_files:
        lines.append(
            f"NOT LOADED: {len(result.unmatched_files)} landing file(s) match no entity's "
            f"file_pattern: {', '.join(result.unmatched_files[:5])}"
            + (" ..." if len(result.unmatched_files) > 5 else "")
            + " (see the warning above)"
        )
    lines.append(f"lake: {result.lake_uri}  audit: {AUDIT_ROOT}/run_id={result.run_id}/")
    if result.rows_rejected:
        lines.append(
            "rejected rows, each with its file, line, reason and raw text: "
            "rejected/<datasource>/<table>/load_id=<load>/rejected.parquet in the lake"
        )
    return "\n".join(lines)


def _command(args: argparse.Namespace) -> int:
    try:
        settings = IngestSettings.from_env(
            sources=args.sources,
            lake=args.lake,
            config_path=args.config,
            only=tuple(args.only),
            online=args.online,
            workers=args.workers,
        )
    except ConfigError as exc:  # RCM_INGEST_WORKERS
        console.error(str(exc))
        return 2
    if settings.workers < 1:
        given = "--workers" if args.workers is not None else "RCM_INGEST_WORKERS"
        console.error(f"{given} must be 1 or more, got {settings.workers}")
        return 2
    try:
        result = run_ingest(settings)
    except ConfigError as exc:
        console.error(str(exc))
        return 2
    console.info("")
    console.info(format_summary(result))
    if result.failed:
        names = ", ".join(f.entity for f in result.failed)
        console.error(f"{len(result.failed)} entity(ies) failed: {names}; see above")
        return 1
    if result.unmatched_files:
        # loaded nothing wrong, but a file the sender meant to be loaded was not: a scheduler
        # must see it, as it sees a failure
        console.error(
            f"{len(result.unmatched_files)} landing file(s) were not loaded (NOT LOADED above): "
            "rename them to their entity's file_pattern and run `rcm ingest` again"
        )
        return 1
    return 0


# what to run when, for the person paged at night (`rcm ingest --help`)
INGEST_EPILOG = """\
re-run (after a failure, or a run killed mid-way): run the same command again. It removes
  half-written loads, audits the published ones, and loads nothing twice: each entity goes
  on from its high-water mark in the audit log. One run at a time per lake: a second one
  stops, naming the run that holds the lake.
backfill or reload of an EMR table (rows the marks missed, a source fixed in the past): set
  its loadtype to full in the load config for one run, then back to incremental
  (README, "Ingestion"). Only that entity: add --only DATASOURCE.TABLE.
a claims or CPT file again: land the corrected file in its landing folder; a file whose
  content was loaded before is skipped."""


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="load the EMR tables, landing files and code sets into Bronze Parquet",
        description=(
            "Load every active entity of the load config into the Bronze lake "
            "(append-only Parquet, one audit row per load). Exit code 0 when all entities "
            "loaded, 1 when any failed or a landing file matches no entity's file_pattern, 2 "
            "for a bad config or arguments."
        ),
        epilog=INGEST_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sources", type=Path, default=Path("sources"), help="sources folder (default sources)"
    )
    parser.add_argument(
        "--lake",
        default=None,
        help="lake folder or abfss:// URI (default: $RCM_LAKE_DIR, else lake)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="load config CSV (default: ingestion/config/load_config.csv)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="DATASOURCE.TABLE",
        help="load only this entity (repeatable), e.g. hospital_a.patients",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="entities loaded at once, one process each (default: $RCM_INGEST_WORKERS, else "
        "up to 2 by the CPU count; 1 loads everything in this process)",
    )
    parser.add_argument(
        "--online",
        action="store_true",
        help="code sets from the NPPES / ICD APIs ($RCM_NPPES_URL, $RCM_ICD_URL)",
    )
    parser.set_defaults(func=_command)
