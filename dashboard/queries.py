"""Read-only queries of the DuckDB warehouse for the dashboard (no Streamlit here).

Every function opens the warehouse file read-only, runs one parameterised query on the
``marts`` schema and returns a small pandas frame; the app caches them. ``Filters`` holds the
sidebar's choices (an empty tuple means "all").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

import duckdb
import pandas as pd

from dashboard import kpis
from ingestion.alerts import read_alerts
from ingestion.build_state import not_a_warehouse

WAREHOUSE_ENV = "RCM_WAREHOUSE_PATH"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WAREHOUSE = REPO_ROOT / "warehouse" / "rcm.duckdb"
SCHEMA = "marts"
AGING_BUCKETS: tuple[str, ...] = ("0-30", "31-60", "61-90", "91-120", "120+")
# The tables the dashboard reads; kpi_monthly is the one it cannot do without.
TABLES: tuple[str, ...] = (
    "kpi_monthly",
    "kpi_ar_aging",
    "kpi_denials_by_reason",
    "kpi_days_to_payment_by_payer",
    "rpt_charges_by_provider_department_month",
    "dim_provider",
    "dim_department",
    "alerts",
    "int_reporting_as_of",
)
# Columns the dashboard reads that a mart gained after it first shipped: a warehouse built
# before then has the table without them (and a query filtering on them fails) until the
# marts are rebuilt.
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    table: ("department_name",)
    for table in ("kpi_ar_aging", "kpi_denials_by_reason", "kpi_days_to_payment_by_payer")
}


def warehouse_path() -> Path:
    """The warehouse file: ``$RCM_WAREHOUSE_PATH`` or the repository's warehouse/rcm.duckdb."""
    value = os.environ.get(WAREHOUSE_ENV)
    return Path(value).expanduser().resolve() if value else DEFAULT_WAREHOUSE


def cache_key(path: Path) -> int:
    """Changes whenever the warehouse file is rewritten (a new build): the cache's key."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


# The code whose results the dashboard caches: the queries, the KPI components they sum and
# the alerts reader.
CODE_FILES: tuple[Path, ...] = (
    Path(__file__).resolve(),
    Path(kpis.__file__).resolve(),
    Path(inspect.getfile(read_alerts)).resolve(),
)


def code_version() -> str:
    """A digest of ``CODE_FILES``' contents: changes when an upgrade changes the query code."""
    digest = hashlib.sha256()
    for path in CODE_FILES:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_version(path: Path) -> int:
    """The caches' key: the warehouse file's version and the query code's.

    Streamlit keys a cached function on its own source and arguments only. Where a file
    watcher reloads changed modules (``server.fileWatcherType`` other than ``none``), an
    upgraded query module would otherwise be served the old code's cached results until a
    restart. Read on every page run (three small files, well under a millisecond), so a
    reloaded ``kpis`` counts even when ``queries`` itself was not reloaded."""
    key = f"{cache_key(path)}:{code_version()}".encode()
    return int(hashlib.sha256(key).hexdigest()[:15], 16)


@contextmanager
def connect(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        yield con
    finally:
        con.close()


class State(Enum):
    READY = "ready"
    MISSING = "missing"
    EMPTY = "empty"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class WarehouseStatus:
    state: State
    path: Path
    message: str
    tables: frozenset[str] = frozenset()
    # tables present but built by an older version: they lack columns the dashboard reads
    outdated: frozenset[str] = frozenset()

    def has(self, table: str) -> bool:
        """Is ``table`` there with every column the dashboard reads?"""
        return table in self.tables and table not in self.outdated

    def unavailable(self, table: str) -> str:
        """What to run to get ``table`` (when ``has(table)`` is False)."""
        if table in self.outdated:
            missing = ", ".join(f"`{column}`" for column in ADDED_COLUMNS[table])
            return (
                f"`{SCHEMA}.{table}` was built by an older version of the project (it has no "
                f"{missing}): run `rcm build` (or `make demo`) to rebuild the marts."
            )
        return f"`{SCHEMA}.{table}` is not built yet: run `make demo`."


def unreadable(path: Path, error: Exception) -> WarehouseStatus:
    """The warehouse could not be read: most often a build holds DuckDB's write lock."""
    return WarehouseStatus(
        State.UNREADABLE,
        path,
        f"Cannot read `{path}` ({error}). If `make demo` or `rcm build` is writing it right "
        "now, wait for it to finish and reload.",
    )


def check_warehouse(path: Path) -> WarehouseStatus:
    """Is there a warehouse with KPI rows to show? Says what to run when there is not."""
    if not path.exists():
        return WarehouseStatus(
            State.MISSING,
            path,
            f"No warehouse at `{path}`. Run `make demo` to generate the sources and build it "
            f"(or set {WAREHOUSE_ENV} to an existing warehouse file).",
        )
    if path.is_dir():  # e.g. RCM_WAREHOUSE_PATH=warehouse: DuckDB's error read like a lock
        inside = path / DEFAULT_WAREHOUSE.name
        hint = f" (the warehouse in it is `{inside}`)" if inside.is_file() else ""
        return WarehouseStatus(
            State.UNREADABLE,
            path,
            f"`{path}` is a folder, not the warehouse file{hint}. Set {WAREHOUSE_ENV} to the "
            "warehouse file, e.g. `warehouse/rcm.duckdb`.",
        )
    wrong = not_a_warehouse(path)
    if wrong is not None:
        return WarehouseStatus(
            State.UNREADABLE, path, f"{wrong}. Set {WAREHOUSE_ENV} to the warehouse file."
        )
    try:
        with connect(path) as con:
            found = {
                str(row[0])
                for row in con.execute(
                    "select table_name from information_schema.tables where table_schema = ?",
                    [SCHEMA],
                ).fetchall()
            }
            count = (
                con.execute(f"select count(*) from {SCHEMA}.kpi_monthly").fetchone()
                if "kpi_monthly" in found
                else None
            )
            rows = int(count[0]) if count else 0
            columns = {
                (str(table), str(column))
                for table, column in con.execute(
                    "select table_name, column_name from information_schema.columns "
                    "where table_schema = ?",
                    [SCHEMA],
                ).fetchall()
            }
    except duckdb.Error as exc:
        return unreadable(path, exc)
    tables = frozenset(found & set(TABLES))
    outdated = frozenset(
        table
        for table, added in ADDED_COLUMNS.items()
        if table in tables and any((table, column) not in columns for column in added)
    )
    if "kpi_monthly" not in tables or rows == 0:
        what = "has no `marts.kpi_monthly` table" if "kpi_monthly" not in tables else "is empty"
        return WarehouseStatus(
            State.EMPTY,
            path,
            f"The warehouse `{path}` {what}: the marts have not been built. "
            "Run `make demo` (or `rcm build` on existing sources).",
            tables,
        )
    return WarehouseStatus(State.READY, path, "", tables, outdated)


@dataclass(frozen=True)
class Filters:
    hospitals: tuple[str, ...] = ()
    payers: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    start_month: dt.date | None = None
    end_month: dt.date | None = None


def add_months(month: dt.date, count: int) -> dt.date:
    """The first day of the month ``count`` calendar months after ``month``'s (before, if < 0)."""
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def prior_period(filters: Filters, first_month: dt.date) -> Filters | None:
    """The same filters over the calendar months just before the range, as many as it spans;
    None when those months start before ``first_month`` (the first month of data).

    Counted on the calendar, not on the months present in the data: with a month missing,
    counting those would reach back past it and compare with the wrong months."""
    if filters.start_month is None or filters.end_month is None:
        return None
    start, end = filters.start_month.replace(day=1), filters.end_month.replace(day=1)
    length = (end.year - start.year) * 12 + end.month - start.month + 1
    prior_start = add_months(start, -length)
    if prior_start < first_month.replace(day=1):
        return None
    return replace(filters, start_month=prior_start, end_month=add_months(start, -1))


@dataclass(frozen=True)
class FilterOptions:
    hospitals: tuple[str, ...] = ()
    payers: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    months: tuple[dt.date, ...] = field(default_factory=tuple)


def filter_options(path: Path) -> FilterOptions:
    with connect(path) as con:

        def distinct(column: str) -> tuple[str, ...]:
            sql = (
                f"select distinct {column} from {SCHEMA}.kpi_monthly "
                f"where {column} is not null order by 1"
            )
            return tuple(str(row[0]) for row in con.execute(sql).fetchall())

        months = tuple(
            row[0]
            for row in con.execute(
                f"select distinct month_start_date from {SCHEMA}.kpi_monthly order by 1"
            ).fetchall()
        )
        return FilterOptions(
            hospitals=distinct("source_system"),
            payers=distinct("payer_name"),
            departments=distinct("department_name"),
            months=months,
        )


def as_of_date(path: Path) -> dt.date | None:
    """The date the finance marts are as of (the latest claim status in the data), or None."""
    with connect(path) as con:
        row = con.execute(f"select max(as_of_date) from {SCHEMA}.int_reporting_as_of").fetchone()
    return None if row is None or row[0] is None else row[0]


@dataclass
class _Where:
    """A where clause built from the filters that apply to one table."""

    clauses: list[str] = field(default_factory=list)
    params: list[object] = field(default_factory=list)

    def among(self, column: str, values: Sequence[str]) -> _Where:
        if values:
            self.clauses.append(f"{column} in (select unnest(?))")
            self.params.append(list(values))
        return self

    def between(self, column: str, start: dt.date | None, end: dt.date | None) -> _Where:
        if start is not None:
            self.clauses.append(f"{column} >= ?")
            self.params.append(start)
        if end is not None:
            self.clauses.append(f"{column} <= ?")
            self.params.append(end)
        return self

    @property
    def sql(self) -> str:
        return f"where {' and '.join(self.clauses)}" if self.clauses else ""


def records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """A frame's rows as plain dicts (what the KPI formulas take)."""
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _frame(path: Path, sql: str, params: Sequence[object]) -> pd.DataFrame:
    with connect(path) as con:
        return con.execute(sql, list(params)).df()


def _month_end(month: dt.date | None) -> dt.date | None:
    if month is None:
        return None
    following = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return following - dt.timedelta(days=1)


def monthly_components(path: Path, filters: Filters) -> pd.DataFrame:
    """One row per month: the KPI components summed over the selected slices.

    ``days_prior_3m`` is a calendar count, the same on every slice of a month: its maximum.
    """
    where = (
        _Where()
        .among("source_system", filters.hospitals)
        .among("payer_name", filters.payers)
        .among("department_name", filters.departments)
        .between("month_start_date", filters.start_month, filters.end_month)
    )
    sums = ",\n    ".join(
        f"cast(sum({name}) as double) as {name}"
        for name in kpis.FLOW_COMPONENTS + kpis.BALANCE_COMPONENTS
    )
    calendar = ",\n    ".join(
        f"cast(max({name}) as double) as {name}" for name in kpis.CALENDAR_COMPONENTS
    )
    sql = f"""
select
    month_start_date,
    {sums},
    {calendar}
from {SCHEMA}.kpi_monthly
{where.sql}
group by month_start_date
order by month_start_date
"""
    frame = _frame(path, sql, where.params)
    frame["month_start_date"] = pd.to_datetime(frame["month_start_date"])
    return frame


# the latest month end up to the range's end (a null parameter: no range end), unfiltered
_AGING_MONTH_END = f"""
select max(month_end_date) from {SCHEMA}.kpi_ar_aging
where ?::date is null or month_end_date <= ?::date
"""


def ar_aging_month_end(path: Path, filters: Filters) -> dt.date | None:
    """The month end the A/R aging shows: the latest in ``kpi_ar_aging`` up to the range's end,
    whatever the hospitals, payers and departments chosen (a selection with no open A/R then
    has none at that month end, never an earlier month's shown as current); None without rows.
    """
    with connect(path) as con:
        end = _month_end(filters.end_month)
        row = con.execute(_AGING_MONTH_END, [end, end]).fetchone()
    return None if row is None or row[0] is None else row[0]


def ar_aging(path: Path, filters: Filters) -> pd.DataFrame:
    """Open A/R by aging bucket and payer at the month end ``ar_aging_month_end`` gives, summed
    over the selected hospitals, payers and departments (the mart has one row per department);
    no rows when the selection has no open A/R then."""
    end = _month_end(filters.end_month)
    where = (
        _Where()
        .among("source_system", filters.hospitals)
        .among("payer_name", filters.payers)
        .among("department_name", filters.departments)
    )
    where.clauses.append(f"month_end_date = ({_AGING_MONTH_END})")
    where.params += [end, end]
    sql = f"""
select
    month_end_date,
    aging_bucket,
    payer_name,
    cast(sum(claims) as bigint) as claims,
    cast(sum(open_balance_amount) as double) as open_balance_amount
from {SCHEMA}.kpi_ar_aging
{where.sql}
group by 1, 2, 3
order by 2, 3
"""
    frame = _frame(path, sql, where.params)
    frame["aging_bucket"] = pd.Categorical(
        frame["aging_bucket"], categories=list(AGING_BUCKETS), ordered=True
    )
    return frame.sort_values(["aging_bucket", "payer_name"]).reset_index(drop=True)


def denials_by_reason(path: Path, filters: Filters) -> pd.DataFrame:
    """Denied claims and dollars at risk by denial reason and payer within the range, summed
    over the selected hospitals and departments."""
    where = (
        _Where()
        .among("source_system", filters.hospitals)
        .among("payer_name", filters.payers)
        .among("department_name", filters.departments)
        .between("month_start_date", filters.start_month, filters.end_month)
    )
    sql = f"""
select
    coalesce(denial_reason_code, 'unknown') as denial_reason_code,
    payer_name,
    cast(sum(denied_claims) as bigint) as denied_claims,
    cast(sum(dollars_at_risk_amount) as double) as dollars_at_risk_amount
from {SCHEMA}.kpi_denials_by_reason
{where.sql}
group by 1, 2
order by 3 desc, 1, 2
"""
    return _frame(path, sql, where.params)


def days_to_payment_by_payer(path: Path, filters: Filters) -> pd.DataFrame:
    """Average days to payment by payer over the range and the selected hospitals and
    departments: the mart's summed days over its paid claims, exact (re-weighting its 2-decimal
    ``avg_days_to_payment`` would carry its rounding into the result)."""
    where = (
        _Where()
        .among("source_system", filters.hospitals)
        .among("payer_name", filters.payers)
        .among("department_name", filters.departments)
        .between("month_start_date", filters.start_month, filters.end_month)
    )
    sql = f"""
select
    payer_name,
    cast(sum(paid_claims) as bigint) as paid_claims,
    cast(
        1.0 * sum(days_to_payment_sum) / nullif(sum(paid_claims), 0) as double
    ) as avg_days_to_payment
from {SCHEMA}.kpi_days_to_payment_by_payer
{where.sql}
group by 1
having sum(paid_claims) > 0
order by 3 desc
"""
    return _frame(path, sql, where.params)


# the hospital of a charge: its provider's, else (a line whose provider is unknown: the unknown
# member's source_system is 'unknown') its department's
_CHARGES_HOSPITAL = (
    "coalesce(nullif(providers.source_system, 'unknown'), departments.source_system, 'unknown')"
)


def _charges_sql(group: str, where: _Where, limit: int) -> str:
    return f"""
with
charges as (
    select
        charges.provider_key,
        charges.provider_id,
        charges.provider_name,
        charges.department_name,
        {_CHARGES_HOSPITAL} as source_system,
        charges.transaction_count,
        charges.total_charge_amount,
        charges.total_paid_amount
    from {SCHEMA}.rpt_charges_by_provider_department_month as charges
    left join {SCHEMA}.dim_provider as providers
        on charges.provider_key = providers.provider_key
    left join {SCHEMA}.dim_department as departments
        on charges.department_key = departments.department_key
    {where.sql}
)
select
    {group},
    source_system,
    cast(sum(transaction_count) as bigint) as transactions,
    cast(sum(total_charge_amount) as double) as charges_amount,
    cast(sum(total_paid_amount) as double) as paid_amount
from charges
group by all
order by charges_amount desc, 1
limit {int(limit)}
"""


def _charges_where(filters: Filters) -> _Where:
    return (
        _Where()
        .among(_CHARGES_HOSPITAL, filters.hospitals)
        .among("charges.department_name", filters.departments)
        .between("charges.service_month", filters.start_month, filters.end_month)
    )


def top_providers(path: Path, filters: Filters, limit: int = 10) -> pd.DataFrame:
    """Providers with the highest charges in the range (the payer filter does not apply): one
    row per provider, not per name (two providers may share one)."""
    where = _charges_where(filters)
    sql = _charges_sql(
        "provider_key, provider_id, coalesce(nullif(trim(provider_name), ''), 'Unknown provider') "
        "as provider_name",
        where,
        limit,
    )
    return _frame(path, sql, where.params)


def top_departments(path: Path, filters: Filters, limit: int = 10) -> pd.DataFrame:
    """Departments with the highest charges in the range (the payer filter does not apply)."""
    where = _charges_where(filters)
    return _frame(path, _charges_sql("department_name", where, limit), where.params)


ALERTS_SHOWN = 200


def alert_counts(path: Path, filters: Filters) -> pd.DataFrame:
    """How many alerts the selected hospitals have, by type and severity: all of them, not
    only the ``ALERTS_SHOWN`` most severe that the table lists."""
    where = _Where().among("source_system", filters.hospitals)
    sql = f"""
select alert_type, severity, count(*) as alerts
from {SCHEMA}.alerts
{where.sql}
group by alert_type, severity
order by alert_type, severity
"""
    return _frame(path, sql, where.params)


def alerts(
    path: Path, filters: Filters, limit: int = ALERTS_SHOWN, alert_types: Sequence[str] = ()
) -> pd.DataFrame:
    """The warehouse's alerts for the selected hospitals, most severe first (at most
    ``limit`` of them: ``alert_counts`` counts them all)."""
    rows = read_alerts(path, alert_types=alert_types, hospitals=filters.hospitals, limit=limit)
    columns = [
        "severity",
        "alert_type",
        "source_system",
        "subject",
        "detail",
        "amount",
        "as_of_date",
    ]
    return pd.DataFrame(
        [
            {
                "severity": a.severity,
                "alert_type": a.alert_type,
                "source_system": a.source_system,
                "subject": a.subject,
                "detail": a.detail,
                "amount": None if a.amount is None else float(a.amount),
                "as_of_date": a.as_of_date,
            }
            for a in rows
        ],
        columns=columns,
    )
