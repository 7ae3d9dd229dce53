"""EMR tables through SQLAlchemy (SQLite by default, PostgreSQL / Azure SQL by URL).

Rows are streamed in batches (server-side cursor where the driver has one) and turned into
column-wise lossless text; a full load selects the table, an incremental one the rows whose
watermark is at or after the last high-water mark (``>=``: rows that share the mark's
timestamp and arrived after the previous extraction are kept; the orchestrator drops the ones
already loaded by their row hash), or at or after the mark less the entity's
``watermark_lookback``, which the orchestrator passes in the mark's own form
(values.mark_less). A watermark with
fallbacks (``ModifiedDate|InsertDate``) is the first of its columns that is not NULL, selected
as ``ModifiedDate >= :mark OR (ModifiedDate IS NULL AND InsertDate >= :mark)``, both parts of
which an index on ``(ModifiedDate, InsertDate)`` serves.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError
from sqlalchemy.types import NullType

from ingestion.bronze import text_array
from ingestion.config import EntityConfig, emr_url_variable
from ingestion.sources import SourceFormatError, SourceUnavailableError, values


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        parsed = make_url(url)
    except (SQLAlchemyError, ValueError):
        return "<unparseable URL>"
    if "@" in (parsed.host or ""):  # a password's unescaped '@': its end would be the host
        parsed = parsed.set(host="***")
    return parsed.render_as_string(hide_password=True)


def describe(engine: Engine) -> str:
    """Where an engine reads, for messages: a SQLite file by its path, else the URL without
    its password."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and (url.database or "").startswith("file:"):
        return f"SQLite file {(url.database or '').removeprefix('file:')}"
    return safe_url(str(url))


def connect(url: str, database: str, *, from_env: bool = False) -> Engine:
    """An engine for ``url``; a SQLite file must exist and is opened read-only. ``from_env``:
    the URL is the one the environment variable of ``database`` set."""
    try:
        parsed = make_url(url)
    except (SQLAlchemyError, ValueError) as exc:
        raise SourceUnavailableError(
            f"{emr_url_variable(database)} is not a valid SQLAlchemy URL: {exc}"
        ) from exc
    if "@" in (parsed.host or ""):
        # the URL has an '@' after the one that ends the password: the password (or user)
        # holds one, and what follows the first '@' of it is taken for the host, which every
        # message would print
        raise SourceUnavailableError(
            f"{emr_url_variable(database)}: the host part of the URL holds an '@', so the user "
            "name or password has one that is not escaped (what follows it would be taken for "
            "the host and shown in messages): percent-encode the user name and password in "
            "the URL (@ as %40, : as %3A, / as %2F, % as %25; Python's "
            "urllib.parse.quote_plus does it)"
        )
    if parsed.get_backend_name() == "sqlite":
        name = parsed.database
        if not name or name == ":memory:" or name.startswith("file:"):
            return sa.create_engine(url)
        path = Path(name)
        if not path.is_file():
            variable = emr_url_variable(database)
            advice = (
                f"fix the path in {variable}, or unset it to read <sources>/emr/{database}.db"
                if from_env
                else f"run `rcm generate --out <sources>` or set {variable}"
            )
            origin = f" (from {variable})" if from_env else ""
            raise SourceUnavailableError(
                f"EMR database {database}: SQLite file {path}{origin} does not exist; {advice}"
            )
        return sa.create_engine(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true")
    connect_args: dict[str, object] = {}
    postgresql = parsed.get_backend_name() == "postgresql"
    if postgresql:
        connect_args["connect_timeout"] = 10
    try:
        engine = sa.create_engine(url, connect_args=connect_args)
    except (SQLAlchemyError, ImportError) as exc:
        raise SourceUnavailableError(
            f"EMR database {database}: cannot use {safe_url(url)}: {exc}"
        ) from exc
    if postgresql and parsed.get_driver_name() == "psycopg":
        sa.event.listen(engine, "connect", _postgresql_text_loaders)
    return engine


def _postgresql_text_loaders(dbapi_connection: Any, _record: Any) -> None:
    """Values psycopg cannot give losslessly, read as PostgreSQL's text. A date or timestamp
    Python has no value for (`infinity`, a BC date, a year past 9999) failed the whole table,
    while fetching, on every run: its row is then rejected like any value staging cannot type
    (or kept as text in a column staging does not type). An interval, which psycopg turns
    into a timedelta of 30-day months, always."""
    from psycopg import DataError, postgres, pq
    from psycopg.adapt import Loader

    adapters = dbapi_connection.adapters

    def tolerant(name: str) -> type[Any]:
        # psycopg's own loader (its C one, which cannot be subclassed) does the work; only a
        # value it refuses is read as text
        oid = postgres.types[name].oid
        base = adapters.get_loader(oid, pq.Format.TEXT)

        class Tolerant(Loader):
            def __init__(self, oid: int, context: Any = None) -> None:
                super().__init__(oid, context)
                self._load = base(oid, context).load

            def load(self, data: Any) -> Any:
                try:
                    return self._load(data)
                except DataError:
                    return bytes(data).decode("utf-8", "replace")

        return Tolerant

    class IntervalText(Loader):
        # as PostgreSQL writes it ('1 mon 2 days'): psycopg's timedelta counts a month as 30
        # days and a year as 365
        def load(self, data: Any) -> str:
            return bytes(data).decode("utf-8", "replace")

    for name in ("date", "timestamp", "timestamptz"):
        adapters.register_loader(name, tolerant(name))
    adapters.register_loader("interval", IntervalText)


def _type_family(column_type: sa.types.TypeEngine[Any]) -> str:
    """A column type's family, as a watermark compares it: timestamp (with or without a time
    zone), date, text, number, or the type's own name."""
    try:
        python_type = column_type.python_type
    except NotImplementedError:
        return str(column_type).lower()
    if python_type is datetime:
        # SQL Server's datetimeoffset says timezone=False in SQLAlchemy, yet holds an offset
        zoned = getattr(column_type, "timezone", False) or (
            type(column_type).__name__.upper() == "DATETIMEOFFSET"
        )
        return "timestamp with time zone" if zoned else "timestamp"
    if python_type is date:
        return "date"
    if python_type is str:
        return "text"
    if python_type in (int, float, Decimal):
        return "number"
    return str(column_type).lower()


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


class TableReader:
    """One EMR table: its columns, and its rows in text batches."""

    def __init__(self, engine: Engine, entity: EntityConfig) -> None:
        self.engine = engine
        self.entity = entity
        schema, _, name = entity.tablename.rpartition(".")
        try:
            with engine.connect() as conn:
                self.table = sa.Table(
                    name, sa.MetaData(), schema=schema or None, autoload_with=conn
                )
        except NoSuchTableError as exc:
            raise SourceFormatError(
                f"table {entity.tablename} not found in {describe(engine)} "
                f"({entity.config_line('tablename')})"
            ) from exc
        except SQLAlchemyError as exc:
            raise SourceUnavailableError(
                f"cannot read {entity.tablename} from {describe(engine)}: {_first_line(exc)}"
            ) from exc
        self.raw = engine.dialect.name == "sqlite"
        declared = {c.name: c.type for c in self.table.columns}
        if self.raw:
            # SQLite stores what it was given: read and compare the stored values as they
            # are (a declared DATETIME would otherwise be re-formatted on the way in and out)
            for column in self.table.columns:
                column.type = NullType()
        self.columns = [c.name for c in self.table.columns]
        # in any case, as for a CSV header: an engine that folds unquoted names (PostgreSQL's
        # firstname) holds the same column, and DuckDB's staging binds names in any case
        present = {c.lower() for c in self.columns}
        missing = [c for c in entity.required_columns if c.lower() not in present]
        if missing:
            # a column renamed or dropped in the source loaded as a new column (or none), and
            # staging, which reads the loads by column name, read the old one as empty
            raise SourceFormatError(
                f"{entity.tablename} in {describe(engine)} has no column(s) "
                f"{', '.join(missing)}, which the load config requires (columns: "
                f"{', '.join(self.columns)}); nothing was loaded. A column renamed or dropped "
                "in the source: restore it there, or, if the change is meant, change "
                f"{entity.config_line('required_columns')}, and the staging model that reads it"
            )
        absent = [c for c in entity.watermark_columns if c not in self.columns]
        if absent:
            raise SourceFormatError(
                f"{', '.join(map(repr, absent))} "
                f"{'is not a column' if len(absent) == 1 else 'are not columns'} of "
                f"{entity.tablename} in {describe(engine)} (columns: {', '.join(self.columns)}); "
                "write the watermark column, and any fallback for when it is NULL, as the table "
                f"names them in {entity.config_line('watermark')}; nothing was loaded"
            )
        self.mark_form = self._fallback_form(engine, declared)

    def _fallback_form(
        self, engine: Engine, declared: dict[str, sa.types.TypeEngine[Any]]
    ) -> re.Pattern[str] | None:
        """Refuse watermark fallbacks whose declared types differ; for fallbacks compared as
        text (SQLite's stored values, text columns), the one form their values must have to be
        a mark (values.CANONICAL_*); None: one column, numbers, or typed columns the engine
        compares as times."""
        entity = self.entity
        if len(entity.watermark_columns) < 2:
            return None
        names = entity.watermark_columns
        families = [_type_family(declared[name]) for name in names]
        if len(set(families)) > 1:
            # a row's watermark is compared with the mark another column set: a date against
            # a timestamp is cast to a date (the day's rows selected every run), a naive time
            # against a zoned one is read in the session's zone, and text of two forms sorts
            # apart from the times
            shown = ", ".join(
                f"{name} {declared[name].compile(dialect=engine.dialect)} ({family})"
                for name, family in zip(names, families, strict=True)
            )
            raise SourceFormatError(
                f"the watermark columns of {entity.tablename} in {describe(engine)} have "
                f"different types ({shown}): a fallback is compared with the mark the column "
                "before it set, so the columns must share one type (all timestamps, all dates "
                f"or all text); name columns of one type in {entity.config_line('watermark')}, "
                "or drop the fallback; nothing was loaded"
            )
        if families[0] == "number" or (not self.raw and families[0] != "text"):
            return None
        if families[0] == "date":
            return values.CANONICAL_DATE
        return values.CANONICAL_TIMESTAMP

    def unindexed_watermark(self) -> list[str]:
        """The watermark columns whose part of the incremental select no index serves, so that
        the load reads the whole table (or every row with a NULL watermark) rather than the new
        rows; from the indexes and primary key reflected with the table. ``ModifiedDate`` is
        served by an index that starts with it; its fallback ``InsertDate`` (``ModifiedDate IS
        NULL AND InsertDate >= :mark``) by one that starts with ``(ModifiedDate, InsertDate)``.
        With one index on each, SQLite (no statistics) takes the equality ``ModifiedDate IS
        NULL`` on the first and reads every never-updated row: not counted."""
        indexes = [[c.name.lower() for c in index.columns] for index in self.table.indexes]
        indexes.append([c.name.lower() for c in self.table.primary_key.columns])
        columns = [c.lower() for c in self.entity.watermark_columns]
        return [
            name
            for k, name in enumerate(self.entity.watermark_columns)
            if not any(index[: k + 1] == columns[: k + 1] for index in indexes)
        ]

    def watermark_indexed(self) -> bool | None:
        """Whether indexes of the table, or its primary key, serve the incremental select of
        every watermark column (see :meth:`unindexed_watermark`), so that an incremental load
        reads the new rows rather than the whole table; None when there is no watermark."""
        if self.entity.watermark is None:
            return None
        return not self.unindexed_watermark()

    def _typed(self, column: sa.Column[Any], text: str) -> object:
        """The watermark text as the column's Python type, so the driver binds it natively."""
        if self.raw:
            return text
        try:
            python_type = column.type.python_type
        except NotImplementedError:
            return text
        try:
            if python_type is datetime:
                return datetime.fromisoformat(text)
            if python_type is date:
                return date.fromisoformat(text)
            if python_type in (int, float, Decimal):
                return python_type(text)
        except (ValueError, ArithmeticError):
            return text
        return text

    def _since(self, since: str) -> sa.ColumnElement[bool]:
        """The rows whose watermark (the first of its columns that is not NULL) is ``>=
        since``: ``a >= :m OR (a IS NULL AND b >= :m) OR ...``, each part one an index on
        ``(a, b, ...)`` can serve (``coalesce(a, b) >= :m`` would read the whole table)."""
        columns = [self.table.c[name] for name in self.entity.watermark_columns]
        parts = [
            sa.and_(*(c.is_(None) for c in columns[:k]), column >= self._typed(column, since))
            for k, column in enumerate(columns)
        ]
        return parts[0] if len(parts) == 1 else sa.or_(*parts)

    def batches(self, since: str | None, batch_rows: int) -> Iterator[list[pa.Array]]:
        """Column-wise batches of Arrow string arrays (the values' lossless text); with
        ``since``, the rows whose watermark is ``>= since``."""
        stmt = sa.select(self.table)
        key = self.entity.primary_key
        if self.entity.loadtype == "full" and key and key in self.table.c:
            # a stable order makes an unchanged full extract hash the same as last time
            stmt = stmt.order_by(self.table.c[key])
        if since is not None and self.entity.watermark is not None:
            stmt = stmt.where(self._since(since))
        # a zoned value (timestamptz, datetimeoffset) of a column staging reads as a date is
        # written in its clock time: in UTC, an evening service in New York fell on the next day
        kinds = values.column_kinds(self.entity.source_kind, self.entity.table)
        dated = [values.kind_of(kinds, column) == values.DATE for column in self.columns]
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(yield_per=batch_rows).execute(stmt)
                for rows in result.partitions(batch_rows):
                    yield [
                        text_array(col, local)
                        for col, local in zip(zip(*rows, strict=True), dated, strict=True)
                    ]
        except SQLAlchemyError as exc:
            raise SourceUnavailableError(
                f"reading {self.entity.tablename} from {describe(self.engine)} "
                f"failed: {_first_line(exc)}"
            ) from exc
