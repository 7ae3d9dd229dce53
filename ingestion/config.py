"""The load config: one row per Bronze entity, validated on read.

The file (``ingestion/config/load_config.csv`` by default) keeps the columns of the familiar
Azure Data Factory load config - ``database, datasource, tablename, loadtype, watermark,
is_active, targetpath`` - and adds what a metadata-driven loader needs:

- ``source_kind``: ``sql`` (an EMR table), ``claims_csv`` / ``cpt_csv`` (landing CSV files),
  ``nppes`` (NPI extract file, or the NPPES API with ``--online``), ``icd10cm`` (the ICD-10-CM
  code list, offline or from the API with ``--online``);
- ``source_system``: the ``_source_system`` lineage value (empty: the reader decides);
- ``landing_dir`` and ``file_pattern``: where landing files are, relative to the sources
  folder, and the regular expression their *file name* must match in full (the pattern is
  what tells hospital 1's claims files from hospital 2's);
- ``primary_key``: the source key (documentation for staging's de-duplication);
- ``required_columns``: ``|``-separated header names a CSV file, or columns an EMR table,
  must have (a load without one of them fails, naming it).

``watermark`` names an incremental EMR load's cursor column; ``|`` adds fallbacks, read where
the columns before them are NULL (``ModifiedDate|InsertDate``: an EMR that leaves a row's
modified time NULL until its first update): the first non-NULL value is the row's watermark,
so the columns must share one type (and, compared as text, one form: sources/sql.py).

``watermark_lookback`` (an optional column: a file without it, an empty value or ``0``, no
lookback) makes an incremental EMR load select ``watermark >= mark - lookback`` instead of
``>= mark``, so that a row whose watermark was already below the mark when it became visible
(a transaction that commits late, its ``ModifiedDate`` set before the commit) is still read,
if it is late by less than the lookback.
It is a whole number and a unit: ``90s``, ``15m``, ``2h``, ``1d`` (seconds, minutes, hours,
days; at most ``7d``). The rows of the window that an earlier load read are skipped by their
hash (the load's boundary), except those the last load kept no hash of (the lookback is new
or longer than the last load's, or the last load's mark in a coarser form: the load says how
many); a date watermark goes back whole days (rounded up), and the watermark must be a date or
an ISO timestamp (not a number). Only a ``sql`` entity with a watermark may have one; a full
load of it (``loadtype`` ``full`` once, to load rows later than the lookback) selects the whole
table as ever and keeps the hashes of its mark's window, so the incremental loads after it
load none of those rows again.

Adding a table is one row. Where an EMR database is comes from the environment, never from
this file: ``RCM_EMR_<DATABASE>_URL`` (any SQLAlchemy URL), default
``sqlite:///<sources>/emr/<database>.db``.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent / "config" / "load_config.csv"

SourceKind = Literal["sql", "claims_csv", "cpt_csv", "nppes", "icd10cm"]
LoadType = Literal["full", "incremental"]

FILE_KINDS: frozenset[str] = frozenset({"claims_csv", "cpt_csv", "nppes"})
CSV_KINDS: frozenset[str] = frozenset({"claims_csv", "cpt_csv"})

CONFIG_COLUMNS: tuple[str, ...] = (
    "database",
    "datasource",
    "tablename",
    "loadtype",
    "watermark",
    "is_active",
    "targetpath",
    "source_kind",
    "source_system",
    "landing_dir",
    "file_pattern",
    "primary_key",
    "required_columns",
    "watermark_lookback",
)
REQUIRED_CONFIG_COLUMNS: tuple[str, ...] = (
    "datasource",
    "tablename",
    "loadtype",
    "is_active",
    "source_kind",
)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$")
_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n"}
_LOOKBACK = re.compile(r"(\d{1,7})([smhd])", re.ASCII)
_LOOKBACK_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# a longer window reads (and hashes) more than a week of rows again every run, and holds their
# hashes in memory (README: about 400 bytes a row): a full load is cheaper
MAX_LOOKBACK = timedelta(days=7)


class ConfigError(ValueError):
    """The load config cannot be used; the message names file, line and field."""


def _blank_to_none(value: object) -> object:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def audit_file_name(datasource: str, table: str) -> str:
    """The file of a run's audit rows of one entity (its Bronze table), under the run's folder."""
    return f"{datasource}__{table}.parquet"


class EntityConfig(BaseModel):
    """One row of the load config: one Bronze entity."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database: str | None = None
    datasource: str
    tablename: str
    loadtype: LoadType
    watermark: str | None = None
    is_active: bool
    targetpath: str | None = None
    source_kind: SourceKind
    source_system: str | None = None
    landing_dir: str | None = None
    file_pattern: str | None = None
    primary_key: str | None = None
    required_columns: tuple[str, ...] = ()
    # normalised ("2h"); None: no lookback (the column empty, absent or 0)
    watermark_lookback: str | None = None
    line: int = 0
    # the load config file this row was read from, as it was given (not a column of the file)
    config_file: str = ""

    @field_validator(
        "database",
        "watermark",
        "targetpath",
        "source_system",
        "landing_dir",
        "file_pattern",
        "primary_key",
        mode="before",
    )
    @classmethod
    def _optional_text(cls, value: object) -> object:
        return _blank_to_none(value)

    @field_validator("watermark")
    @classmethod
    def _watermark(cls, value: str | None) -> str | None:
        if value is None:
            return None
        columns = [c.strip() for c in value.split("|")]
        if not all(columns):
            raise ValueError(
                f"{value!r} has an empty column name: write the watermark column, and any "
                "fallbacks for when it is NULL after it, separated by | (e.g. "
                "ModifiedDate|InsertDate)"
            )
        twice = sorted({c for c in columns if [d.lower() for d in columns].count(c.lower()) > 1})
        if twice:
            raise ValueError(f"{value!r} names {', '.join(twice)} twice; name each column once")
        return "|".join(columns)

    @field_validator("loadtype", "source_kind", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("is_active", mode="before")
    @classmethod
    def _flag(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(f"{value!r} is not a flag: write 1 (load it) or 0 (skip it)")
        return value

    @field_validator("datasource")
    @classmethod
    def _datasource(cls, value: str) -> str:
        value = value.strip()
        if not _NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a valid name: use letters, digits and _ (e.g. hospital_a)"
            )
        return value

    @field_validator("tablename")
    @classmethod
    def _tablename(cls, value: str) -> str:
        value = value.strip()
        if not _TABLE.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a table name: use name or schema.name (letters, digits and _)"
            )
        return value

    @field_validator("database")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a logical database name: use letters, digits and _ "
                "(it becomes the environment variable RCM_EMR_<DATABASE>_URL)"
            )
        return value

    @field_validator("targetpath", "landing_dir")
    @classmethod
    def _relative_path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = value.strip("/").split("/")
        if value.startswith("/") or "\\" in value or any(p in ("", ".", "..") for p in parts):
            raise ValueError(
                f"{value!r} must be a relative path with / separators and no . or .. parts"
            )
        return "/".join(parts)

    @field_validator("file_pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from exc
        return value

    @field_validator("required_columns", mode="before")
    @classmethod
    def _columns(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(c.strip() for c in value.split("|") if c.strip())
        return value

    @field_validator("watermark_lookback", mode="before")
    @classmethod
    def _lookback(cls, value: object) -> object:
        value = _blank_to_none(value)
        if not isinstance(value, str):
            return value
        text = value.lower()
        if text.strip("0") == "":  # 0, 00: none, as a number and unit of 0 are
            return None
        found = _LOOKBACK.fullmatch(text)
        if found is None:
            raise ValueError(
                f"{value!r} is not a lookback: write a whole number and a unit, s, m, h or d "
                "(e.g. 90s, 15m, 2h, 1d), or leave it empty for none"
            )
        number, unit = int(found[1]), found[2]
        if timedelta(seconds=number * _LOOKBACK_UNITS[unit]) > MAX_LOOKBACK:
            raise ValueError(
                f"{value!r} is longer than {MAX_LOOKBACK.days}d: every run would read the "
                "window's rows again, and hold their hashes in memory; "
                "for rows that late, run the entity once with loadtype full"
            )
        return None if number == 0 else f"{number}{unit}"

    @model_validator(mode="after")
    def _consistent(self) -> EntityConfig:
        kind = self.source_kind
        if kind == "sql":
            if self.database is None:
                raise ValueError(
                    "field 'database': source_kind sql needs the logical database name "
                    "(e.g. hospital_a)"
                )
            if self.loadtype == "incremental" and self.watermark is None:
                raise ValueError(
                    "field 'watermark': an incremental load needs its watermark column "
                    "(e.g. ModifiedDate); set it, or set loadtype to full"
                )
        elif self.watermark is not None:
            raise ValueError(
                f"field 'watermark': only source_kind sql has a watermark column; "
                f"leave it empty for {kind}"
            )
        # a full load selects the whole table whatever the lookback, and keeps the hashes of
        # the window of its mark, so that the incremental loads after it skip those rows
        if self.watermark_lookback is not None and (kind != "sql" or self.watermark is None):
            what = f"source_kind {kind}" if kind != "sql" else "a load without a watermark"
            raise ValueError(
                f"field 'watermark_lookback': only a load of source_kind sql with a watermark "
                f"looks back; leave it empty for {what}"
            )
        if self.targetpath is not None and self.targetpath != self.default_target:
            # dbt's sources (read_parquet of bronze/<source>/<table>) and rcm build's check for
            # new loads never looked anywhere else: the loads were written and never built
            raise ValueError(
                f"field 'targetpath': {self.targetpath!r} is not read by dbt's sources nor by "
                f"rcm build, which read {self.default_target}; leave it empty or write that"
            )
        if kind in FILE_KINDS:
            if self.landing_dir is None:
                raise ValueError(
                    f"field 'landing_dir': source_kind {kind} reads landing files; "
                    "set the folder relative to the sources folder (e.g. landing/claims)"
                )
            if self.file_pattern is None:
                raise ValueError(
                    f"field 'file_pattern': source_kind {kind} needs the regular expression "
                    "the file names must match (e.g. hospital1_claim_data.*\\.csv)"
                )
        return self

    # derived names -------------------------------------------------------------------

    @property
    def watermark_columns(self) -> tuple[str, ...]:
        """The watermark column and its fallbacks, in order: a row's watermark is the first
        of them that is not NULL (empty: no watermark)."""
        return tuple(self.watermark.split("|")) if self.watermark else ()

    @property
    def watermark_label(self) -> str | None:
        """The watermark as messages name it: the column, or ``coalesce(...)`` of them."""
        columns = self.watermark_columns
        if len(columns) < 2:
            return self.watermark
        return f"coalesce({', '.join(columns)})"

    @property
    def lookback(self) -> timedelta | None:
        """How far below the mark an incremental load selects (None: from the mark)."""
        if self.watermark_lookback is None:
            return None
        number, unit = self.watermark_lookback[:-1], self.watermark_lookback[-1]
        return timedelta(seconds=int(number) * _LOOKBACK_UNITS[unit])

    @property
    def table(self) -> str:
        """The Bronze table name: the source table name without schema, lower case."""
        return self.tablename.rsplit(".", 1)[-1].lower()

    @property
    def name(self) -> str:
        """``datasource.table``: how ``--only`` and the summary name the entity."""
        return f"{self.datasource}.{self.table}"

    @property
    def target(self) -> str:
        return self.targetpath or self.default_target

    @property
    def default_target(self) -> str:
        """The folder dbt's sources and `rcm build` read the entity's loads from."""
        return f"bronze/{self.datasource}/{self.table}"

    @property
    def rejected_target(self) -> str:
        return f"rejected/{self.datasource}/{self.table}"

    @property
    def audit_file_name(self) -> str:
        return audit_file_name(self.datasource, self.table)

    def config_line(self, field: str) -> str:
        """Where to fix this entity's `field`, for a message: 'config line 7 of <file>, field'."""
        where = f" of {self.config_file}" if self.config_file else ""
        return f"config line {self.line}{where}, {field}"

    def matches(self, file_name: str) -> bool:
        return (
            self.file_pattern is not None and re.fullmatch(self.file_pattern, file_name) is not None
        )


@dataclass(frozen=True)
class LoadConfig:
    path: Path
    entities: tuple[EntityConfig, ...]

    def by_name(self) -> dict[str, EntityConfig]:
        return {e.name: e for e in self.entities}


def _describe(exc: ValidationError, path: Path, line: int, row: Mapping[str, str]) -> list[str]:
    messages = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if p != "__root__"]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if loc:
            field = loc[0]
            value = row.get(field, "")
            allowed = ""
            if err["type"] == "literal_error":
                allowed = f"; expected one of {err.get('ctx', {}).get('expected', '')}"
                msg = f"{value!r} is not allowed{allowed}"
            elif err["type"] == "missing":
                msg = "is required and is empty"
            messages.append(f"{path}: line {line}, field {field!r}: {msg}; fix the row")
        else:
            messages.append(f"{path}: line {line}: {msg}")
    return messages


def load_config(path: Path | None = None) -> LoadConfig:
    """Read and validate the load config; raise :class:`ConfigError` listing every problem."""
    path = path or DEFAULT_CONFIG_PATH
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read the load config {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        # Excel's "CSV" (ANSI) or "Unicode text" (UTF-16): a traceback and exit 1 before
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: line {line}: not UTF-8 (byte 0x{exc.object[exc.start]:02x}); save the "
            'load config as CSV UTF-8 (in Excel: "CSV UTF-8 (Comma delimited)")'
        ) from None
    text_lines = text.splitlines()
    reader = csv.reader(text_lines)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ConfigError(f"{path}: the load config is empty; it needs a header row") from None
    problems: list[str] = []
    header_line = text_lines[0]
    if "," not in header_line and (";" in header_line or "\t" in header_line):
        # Excel saves "CSV" with ';' where the decimal comma is the locale's, and a copy from
        # a spreadsheet pastes tabs: the header was then one unknown column, with no hint why
        named = "';'" if ";" in header_line else "tabs"
        problems.append(
            f"{path}: line 1: the header is delimited by {named}, not by commas: the load config "
            'must be comma-separated; save it as CSV UTF-8 (in Excel: "CSV UTF-8 (Comma '
            'delimited)")'
        )
    unknown = [h for h in header if h not in CONFIG_COLUMNS]
    if unknown:
        problems.append(
            f"{path}: line 1: unknown column(s) {', '.join(map(repr, unknown))}; "
            f"the known columns are {', '.join(CONFIG_COLUMNS)}"
        )
    missing = [c for c in REQUIRED_CONFIG_COLUMNS if c not in header]
    if missing:
        problems.append(f"{path}: line 1: missing column(s) {', '.join(missing)}; add them")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        problems.append(f"{path}: line 1: column(s) named twice: {', '.join(dupes)}")
    if problems:
        raise ConfigError("\n".join(problems))

    entities: list[EntityConfig] = []
    seen: dict[str, int] = {}
    previous = reader.line_num
    for record in reader:
        first, line, previous = previous + 1, reader.line_num, reader.line_num
        if line > first or text_lines[first - 1].count('"') % 2:
            # no value of the config spans lines: a stray quote took in the rows after it,
            # which were then silently not configured at all (on the last line, it took in
            # the rest of that line, which then had too few fields)
            swallowed = f", so lines {first}-{line} were read as one row" if line > first else ""
            problems.append(
                f'{path}: line {first}: a quote (") opened on this line is not closed on '
                f"it{swallowed}; remove the stray quote"
            )
            continue
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            problems.append(
                f"{path}: line {line}: {len(record)} fields, the header has {len(header)}; "
                "check for a missing or extra comma"
            )
            continue
        row = dict(zip(header, record, strict=True))
        try:
            entity = EntityConfig.model_validate({**row, "line": line, "config_file": str(path)})
        except ValidationError as exc:
            problems.extend(_describe(exc, path, line, row))
            continue
        if entity.name in seen:
            problems.append(
                f"{path}: line {line}, field 'tablename': entity {entity.name} is already "
                f"configured on line {seen[entity.name]}; remove one of the two rows"
            )
            continue
        seen[entity.name] = line
        entities.append(entity)
    if problems:
        raise ConfigError("\n".join(problems))
    return LoadConfig(path=path, entities=tuple(entities))


def emr_url(database: str, sources: Path, env: Mapping[str, str] | None = None) -> str:
    """The SQLAlchemy URL of a logical EMR database (environment first, SQLite by default)."""
    env = os.environ if env is None else env
    key = f"RCM_EMR_{database.upper()}_URL"
    url = env.get(key)
    if url:
        return url
    return f"sqlite:///{(sources / 'emr' / f'{database}.db').resolve()}"


def emr_url_variable(database: str) -> str:
    return f"RCM_EMR_{database.upper()}_URL"
