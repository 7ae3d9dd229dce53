"""Keep the local DuckDB warehouse compact while its builds run without DuckDB's vacuum.

The local profile turns the vacuum off (``max_vacuum_tasks: 0`` in profiles/profiles.yml). An
incremental run deletes and re-inserts rows spread over large tables (the claims a day touched,
the latest month of A/R), and a checkpoint that vacuums rewrites every row group that lost rows:
nearly the whole table, at every checkpoint of every daily build. Without the vacuum a deleted
row stays in the file until its whole row group is deleted, so the file and the scans of such a
table grow a little with each run.

``compact_warehouse`` bounds that: it rewrites a table whose deleted rows reach
``DEFAULT_THRESHOLD`` of the rows it stores (and at least one row group). `rcm build` calls it
after every successful build on the local target and names what it rewrote.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ingestion import console

# DuckDB stores a table in row groups of this many rows; fewer deleted rows free no space.
ROW_GROUP_ROWS = 122_880
# A table is rewritten once this share of the rows it stores is deleted.
DEFAULT_THRESHOLD = 0.3
# The local profile's DuckDB defaults (profiles/profiles.yml), read from the same variables.
_MEMORY_LIMIT = ("RCM_DUCKDB_MEMORY_LIMIT", "4GB")
_THREADS = ("RCM_DUCKDB_THREADS", "2")
_VACUUM_TASKS = ("RCM_DUCKDB_MAX_VACUUM_TASKS", "0")
_BLOCK_ALLOCATOR_MEMORY = ("RCM_DUCKDB_BLOCK_ALLOCATOR_MEMORY", "3GB")
# dbt's threads on the local target (profiles/profiles.yml), checked with DuckDB's settings
_DBT_THREADS = ("RCM_DBT_THREADS", "2")
# a size as DuckDB reads one (4GB, 512 MB, 1.5GiB, 8G, 2 gigabytes), and the bytes of its unit
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([a-z]+)\s*", re.IGNORECASE)
_UNITS = {
    **dict.fromkeys(("b", "byte", "bytes"), 1),
    **{
        name: 1000**power
        for power, names in (
            (1, ("k", "kb", "kilobyte", "kilobytes")),
            (2, ("m", "mb", "megabyte", "megabytes")),
            (3, ("g", "gb", "gigabyte", "gigabytes")),
            (4, ("t", "tb", "terabyte", "terabytes")),
        )
        for name in names
    },
    **{name: 1024**power for power, name in ((1, "kib"), (2, "mib"), (3, "gib"), (4, "tib"))},
}
_WHOLE_NUMBER = re.compile(r"\s*[0-9]+\s*")


def _size_bytes(value: str) -> float | None:
    """``value`` in bytes when it is a size as DuckDB writes one, else None."""
    found = _SIZE.fullmatch(value)
    unit = None if found is None else _UNITS.get(found.group(2).lower())
    return None if found is None or unit is None else float(found.group(1)) * unit


def _memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def local_settings_problem(env: Mapping[str, str] | None = None) -> str | None:
    """What is wrong with the local profile's variables, naming the variable and what it takes,
    or None. Checked before dbt runs: a value dbt or DuckDB cannot use stopped a build with a
    traceback and DuckDB's own words ("Must have at least 1 thread!"), and some values of the
    block allocator's size (a percentage, none, more than DuckDB's default memory limit of 80 %
    of the machine's memory) abort DuckDB 2.0's process outright, with no error to catch."""
    env = os.environ if env is None else env
    for (name, default), least in ((_DBT_THREADS, 1), (_THREADS, 1), (_VACUUM_TASKS, 0)):
        value = env.get(name, default)
        if not _WHOLE_NUMBER.fullmatch(value) or int(value) < least:
            return (
                f"{name}={value!r} is not a whole number of {least} or more; set it like "
                f"{name}={default}, or unset it for the default ({default})"
            )
    name, default = _MEMORY_LIMIT
    value = env.get(name, default)
    try:
        # DuckDB reads it as it will in the build (sizes, a share such as 50%, none or -1)
        duckdb.connect(":memory:", config={"memory_limit": value}).close()
    except duckdb.Error as error:
        return (
            f"{name}={value!r} is not a memory limit DuckDB takes ({error}); set it like "
            f"{name}={default} or 50%, or unset it for the default ({default})"
        )
    name, default = _BLOCK_ALLOCATOR_MEMORY
    value = env.get(name, default)
    size = _size_bytes(value)
    most = 0.8 * _memory_bytes()
    if size is None or size > most:
        why = (
            "is not a size (4GB, 512MB, 8GiB; a share such as 50%, none or a negative size "
            "aborts DuckDB 2.0)"
            if size is None
            else f"is more than 80 % of this machine's memory ({most / 1e9:.1f} GB), which "
            "aborts DuckDB 2.0"
        )
        return (
            f"{name}={value!r} {why}; set it like {name}={default} (0B turns it off), or "
            f"unset it for the default ({default})"
        )
    return None


def local_duckdb_settings(
    env: Mapping[str, str] | None = None,
) -> dict[str, str | bool | int | float | list[str]]:
    """The local profile's DuckDB settings that shape a query's plan and memory, from the same
    variables and defaults as profiles/profiles.yml."""
    env = os.environ if env is None else env
    return {
        "memory_limit": env.get(*_MEMORY_LIMIT),
        "threads": int(env.get(*_THREADS)),
        # rows may come out in another order, as in the builds
        "preserve_insertion_order": False,
        "block_allocator_memory": env.get(*_BLOCK_ALLOCATOR_MEMORY),
        "allocator_background_threads": True,
    }


@dataclass(frozen=True)
class TableRows:
    """A table's stored rows (deleted ones included) and live rows."""

    schema: str
    table: str
    stored_rows: int
    live_rows: int

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def deleted_rows(self) -> int:
        return max(self.stored_rows - self.live_rows, 0)

    @property
    def deleted_share(self) -> float:
        return self.deleted_rows / self.stored_rows if self.stored_rows else 0.0

    def needs_compaction(self, threshold: float = DEFAULT_THRESHOLD) -> bool:
        return self.deleted_rows >= ROW_GROUP_ROWS and self.deleted_share >= threshold


@dataclass(frozen=True)
class Compacted:
    """A table that was rewritten, as it was before, and how long the rewrite took."""

    before: TableRows
    seconds: float

    def describe(self) -> str:
        return (
            f"{self.before.name} ({self.before.deleted_rows:,} deleted of "
            f"{self.before.stored_rows:,} stored rows, {self.before.deleted_share:.0%}; "
            f"{self.seconds:.1f}s)"
        )


def _quoted(*parts: str) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


def table_rows(connection: duckdb.DuckDBPyConnection) -> list[TableRows]:
    """Stored and live rows of every table of the connection's database."""
    tables = connection.execute(
        "select schema_name, table_name, estimated_size from duckdb_tables() "
        "where database_name = current_database() and not temporary and not internal "
        "order by schema_name, table_name"
    ).fetchall()
    found = []
    for schema, table, stored in tables:
        counted = connection.execute(f"select count(*) from {_quoted(schema, table)}").fetchone()
        live = int(counted[0]) if counted else 0
        found.append(TableRows(str(schema), str(table), int(stored or 0), live))
    return found


def _comments(connection: duckdb.DuckDBPyConnection, rows: TableRows) -> list[str]:
    """The statements that put back a table's comment and its columns' comments."""
    statements = []
    table_comment = connection.execute(
        "select comment from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and table_name = ?",
        [rows.schema, rows.table],
    ).fetchone()
    relation = _quoted(rows.schema, rows.table)
    if table_comment and table_comment[0]:
        statements.append(f"comment on table {relation} is {_literal(str(table_comment[0]))}")
    for column, comment in connection.execute(
        "select column_name, comment from duckdb_columns() where database_name = "
        "current_database() and schema_name = ? and table_name = ? and comment is not null",
        [rows.schema, rows.table],
    ).fetchall():
        statements.append(
            f"comment on column {relation}.{_quoted(column)} is {_literal(str(comment))}"
        )
    return statements


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _has_constraints(connection: duckdb.DuckDBPyConnection, rows: TableRows) -> bool:
    found = connection.execute(
        "select count(*) from duckdb_constraints() where database_name = current_database() "
        "and schema_name = ? and table_name = ?",
        [rows.schema, rows.table],
    ).fetchone()
    return bool(found and found[0])


def _rewrite(connection: duckdb.DuckDBPyConnection, rows: TableRows) -> list[str]:
    """The statements that rewrite a table with only its live rows. A table whose columns
    declare their compression (`uncompressed_columns`, dbt_project/macros/engines/
    uncompressed_columns.sql) is made again from its own CREATE statement, which `create table
    as` would not keep; any other table is copied by `create or replace table as`."""
    relation = _quoted(rows.schema, rows.table)
    found = connection.execute(
        "select sql from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and table_name = ?",
        [rows.schema, rows.table],
    ).fetchone()
    created = str(found[0]) if found and found[0] else ""
    if "using compression" not in created.lower():
        return [f"create or replace table {relation} as from {relation}"]
    holding = _quoted(rows.schema, rows.table + "__rcm_compacting")
    return [
        f"alter table {relation} rename to {_quoted(rows.table + '__rcm_compacting')}",
        created,
        f"insert into {relation} from {holding}",
        f"drop table {holding}",
    ]


def compact_warehouse(
    warehouse: Path,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    env: Mapping[str, str] | None = None,
    progress: Callable[[str], None] = console.info,
) -> list[Compacted]:
    """Rewrite each table of ``warehouse`` whose deleted rows reach ``threshold`` of its
    stored rows (and one row group). A table with constraints (a dbt contract) is left as it
    is: a rewrite would drop them. A rewrite that fails is rolled back and reported through
    ``progress``. Returns what was rewritten."""
    if not warehouse.is_file():
        return []
    env = os.environ if env is None else env
    done: list[Compacted] = []
    with duckdb.connect(str(warehouse)) as connection:
        settings = local_duckdb_settings(env)
        connection.execute(f"set memory_limit = {_literal(str(settings['memory_limit']))}")
        connection.execute(f"set threads = {settings['threads']}")
        connection.execute("set preserve_insertion_order = false")
        # as in the builds: this connection's checkpoint rewrites only what it compacts
        connection.execute(f"set max_vacuum_tasks = {int(env.get(*_VACUUM_TASKS))}")
        for rows in table_rows(connection):
            if not rows.needs_compaction(threshold) or _has_constraints(connection, rows):
                continue
            progress(
                f"rcm build: compacting {rows.name}: {rows.deleted_rows:,} of its "
                f"{rows.stored_rows:,} stored rows are deleted ({rows.deleted_share:.0%})"
            )
            started = time.perf_counter()
            statements = _rewrite(connection, rows) + _comments(connection, rows)
            connection.execute("begin transaction")
            try:
                for statement in statements:
                    connection.execute(statement)
                connection.execute("commit")
            except duckdb.Error as error:
                # the table keeps its rows (and its deleted ones): a failed rewrite loses nothing
                connection.execute("rollback")
                progress(f"rcm build: could not compact {rows.name}, left as it was: {error}")
                continue
            done.append(Compacted(rows, time.perf_counter() - started))
        if done:
            connection.execute("checkpoint")
    return done
