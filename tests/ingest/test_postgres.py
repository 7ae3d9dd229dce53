"""PostgreSQL as an EMR source: a real throw-away server, ingested through psycopg."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow.parquet as pq
import pytest

from .conftest import ingest, load_folders, read_audit, read_bronze, transaction_row, write_config

pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip(
            "PostgreSQL SOURCE TEST SKIPPED: no /usr/lib/postgresql/*/bin/initdb on this machine "
            "(apt-get install postgresql to run it)"
        )
    bin_dir = Path(found[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="rcm-pg-"))
    data, sockets = root / "data", root / "sock"
    data.mkdir()
    sockets.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(data, "postgres", "postgres")
        shutil.chown(sockets, "postgres", "postgres")
        os.chmod(root, 0o755)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *prefix,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "-l",
            str(root / "log"),
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        with psycopg.connect(
            f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE emr")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/emr"
    finally:
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


COLUMNS = list(transaction_row(0, "2024-01-01 00:00:00"))


def _new_database(postgres_url: str, name: str, *settings: str) -> str:
    """A new, empty database ``name`` on the test server (dropped first if a run left it),
    with ``settings`` (``ALTER DATABASE`` clauses) applied; its SQLAlchemy URL."""
    base, _, _ = postgres_url.rpartition("/")
    admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
        for setting in settings:
            conn.execute(f"ALTER DATABASE {name} {setting}")
    return f"{base}/{name}"


def _insert(url: str, rows: list[dict[str, object]]) -> None:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        _insert_in(conn, rows)


def _insert_in(conn: psycopg.Connection[Any], rows: list[dict[str, object]]) -> None:
    """Insert ``rows`` in ``conn``'s transaction (committed with it)."""
    names = ", ".join(f'"{c}"' for c in COLUMNS)
    marks = ", ".join(["%s"] * len(COLUMNS))
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO transactions ({names}) VALUES ({marks})",
            [tuple(r[c] for c in COLUMNS) for r in rows],
        )


def _create_transactions(
    url: str, timestamps: str, *, indexed: bool = False, types: dict[str, str] | None = None
) -> str:
    """Create the source contract's ``transactions`` table in the database at ``url``: amounts
    as doubles, ``ModifiedDate`` and ``InsertDate`` of type ``timestamps``, other ``types``, the
    rest text (with ``indexed``, an index on ``ModifiedDate``); the database's psycopg
    connection string."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    types = {"Amount": "double precision", "PaidAmount": "double precision"} | (types or {})
    types |= {"ModifiedDate": timestamps, "InsertDate": timestamps}
    columns = ", ".join(f'"{c}" {types.get(c, "text")}' for c in COLUMNS)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE transactions ({columns})")
        if indexed:
            conn.execute('CREATE INDEX ix_modified ON transactions ("ModifiedDate")')
    return dsn


def test_incremental_load_from_postgresql(postgres_url: str, tmp_path: Path) -> None:
    dsn = _create_transactions(postgres_url, "timestamp")
    rows = [transaction_row(i, datetime(2024, 1, 6, 8, 0, i % 3)) for i in range(9)]
    for row in rows:
        row["InsertDate"] = datetime(2024, 1, 5, 10, 0, 0)
    _insert(postgres_url, rows)

    sources = tmp_path / "sources"  # no SQLite file: the URL comes from the environment
    lake = tmp_path / "lake"
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"])
    env = {"RCM_EMR_HOSPITAL_A_URL": postgres_url}
    first = ingest(sources, lake, config, env=env)
    assert first.ok, first.failed
    bronze = read_bronze(lake, "hospital_a", "transactions").to_pylist()
    assert len(bronze) == len(rows)
    by_id = {r["TransactionID"]: r for r in bronze}
    for row in rows:
        got = by_id[row["TransactionID"]]
        assert got["PaidAmount"] == repr(row["PaidAmount"])
        assert got["ModifiedDate"] == str(row["ModifiedDate"])
    high = max(str(r["ModifiedDate"]) for r in rows)
    assert first.entities[0].watermark == high

    # one row at the same timestamp as the mark, one later
    late = [
        transaction_row(100, datetime.fromisoformat(high)),
        transaction_row(101, datetime(2024, 2, 1, 0, 0, 0)),
    ]
    _insert(postgres_url, late)
    said: list[str] = []
    second = ingest(sources, lake, config, env=env, messages=said)
    assert second.entities[0].rows_written == len(late)
    # PostgreSQL's catalog says the table has no index on its watermark
    assert [line for line in said if "has no index on ModifiedDate" in line], said
    newest = pq.read_table(load_folders(lake, "hospital_a", "transactions")[-1]).to_pylist()
    assert sorted(r["TransactionID"] for r in newest) == sorted(r["TransactionID"] for r in late)

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute('CREATE INDEX ix_modified ON transactions ("ModifiedDate")')
    said.clear()
    third = ingest(sources, lake, config, env=env, messages=said)
    assert third.entities[0].status == "no_change"
    assert not [line for line in said if "no index" in line], said
    assert read_audit(lake)[-1]["watermark_after"] == "2024-02-01 00:00:00"


def test_a_row_inserted_with_a_null_watermark_loads_by_its_fallback_from_postgresql(
    postgres_url: str, tmp_path: Path
) -> None:
    """``ModifiedDate|InsertDate``: a row an EMR inserts with a NULL ModifiedDate after the
    first load is selected by its InsertDate (typed timestamps bound natively), loaded once,
    and read again when an update sets its ModifiedDate."""
    url = _new_database(postgres_url, "emr_fallback")
    dsn = _create_transactions(url, "timestamp", indexed=True)
    rows = [transaction_row(i, datetime(2024, 1, 6, 8, 0, i)) for i in range(4)]
    for row in rows:
        row["InsertDate"] = datetime(2024, 1, 5, 10, 0, 0)
    _insert(url, rows)

    def unmodified(i: int, inserted: datetime) -> dict[str, object]:
        return transaction_row(i, None) | {"InsertDate": inserted}  # type: ignore[arg-type]

    sources, lake = tmp_path / "sources", tmp_path / "lake"
    edits = {"hospital_a.transactions": {"watermark": "ModifiedDate|InsertDate"}}
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"], edits)
    env = {"RCM_EMR_HOSPITAL_A_URL": url}

    def load(said: list[str] | None = None) -> tuple[str, int, str | None]:
        entity = ingest(sources, lake, config, env=env, messages=said).entities[0]
        assert entity.error is None, entity.error
        return entity.status, entity.rows_written, entity.watermark

    def newest() -> list[tuple[str, str | None]]:
        folder = load_folders(lake, "hospital_a", "transactions")[-1]
        return sorted(
            (r["TransactionID"], r["ModifiedDate"]) for r in pq.read_table(folder).to_pylist()
        )

    assert load() == ("success", 4, "2024-01-06 08:00:03")
    _insert(url, [unmodified(100, datetime(2024, 2, 1))])
    said: list[str] = []
    assert load(said) == ("success", 1, "2024-02-01 00:00:00")
    assert newest() == [("TRANS000100", None)]
    # PostgreSQL's catalog: the NULL rows' part of the select has no index of its own
    hint = "has no index on (ModifiedDate, InsertDate)"
    assert [line for line in said if hint in line], said
    assert load() == ("no_change", 0, "2024-02-01 00:00:00")
    # a second row at the mark's time: the first is skipped by its hash
    _insert(url, [unmodified(101, datetime(2024, 2, 1))])
    assert load() == ("success", 1, "2024-02-01 00:00:00")
    assert newest() == [("TRANS000101", None)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            """UPDATE transactions SET "PaidAmount" = 2.5, "ModifiedDate" = '2024-02-03' """
            """WHERE "TransactionID" = 'TRANS000100'"""
        )
        conn.execute(
            'CREATE INDEX ix_modified_insert ON transactions ("ModifiedDate", "InsertDate")'
        )
    said.clear()
    assert load(said) == ("success", 1, "2024-02-03 00:00:00")
    assert newest() == [("TRANS000100", "2024-02-03 00:00:00")]
    assert not [line for line in said if "no index" in line], said
    assert load() == ("no_change", 0, "2024-02-03 00:00:00")


def test_fallback_watermark_columns_of_different_types_are_refused_on_postgresql(
    postgres_url: str, tmp_path: Path
) -> None:
    """A DATE InsertDate against a timestamp mark is compared as a date (the mark's day is read
    again every run), a naive mark against a timestamptz one in the session's zone: the load
    config's line and the columns' types are named, and nothing is read."""
    url = _new_database(postgres_url, "emr_mixed")
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    edits = {"hospital_a.transactions": {"watermark": "ModifiedDate|InsertDate"}}
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"], edits)
    env = {"RCM_EMR_HOSPITAL_A_URL": url}

    def load(modified: str, inserted: str) -> tuple[str, str]:
        types = {"ModifiedDate": modified, "InsertDate": inserted}
        columns = ", ".join(f'"{c}" {types.get(c, "text")}' for c in COLUMNS)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS transactions")
            conn.execute(f"CREATE TABLE transactions ({columns})")
        lake = tmp_path / f"lake-{modified}-{inserted}".replace(" ", "_")
        entity = ingest(tmp_path / "sources", lake, config, env=env).entities[0]
        return entity.status, entity.error or ""

    status, error = load("timestamp", "date")
    assert status == "failed"
    assert f"config line 2 of {config}, watermark" in error
    assert "ModifiedDate TIMESTAMP WITHOUT TIME ZONE (timestamp), InsertDate DATE (date)" in error
    status, error = load("timestamp", "timestamptz")
    assert status == "failed"
    assert "InsertDate TIMESTAMP WITH TIME ZONE (timestamp with time zone)" in error
    assert load("timestamptz", "timestamptz")[0] in ("success", "no_change")


def test_zoned_timestamps_land_in_utc_across_a_clock_change(
    postgres_url: str, tmp_path: Path
) -> None:
    """A timestamptz column read in a New York session comes with the offset of each row's
    local time. Across the autumn clock change that local time runs backwards, and staging's
    cast drops an offset: Bronze holds the instants in UTC, so versions keep their order and
    the watermark compares as an instant."""
    url = _new_database(postgres_url, "emr_zoned", "SET timezone TO 'America/New_York'")
    _create_transactions(url, "timestamptz")
    # 01:30 EDT (-04:00), then 01:10 EST (-05:00): 05:30 and 06:10 UTC
    instants = [datetime(2024, 11, 3, 5, 30, tzinfo=UTC), datetime(2024, 11, 3, 6, 10, tzinfo=UTC)]
    rows = [transaction_row(i, when) for i, when in enumerate(instants)]
    for row in rows:
        row["InsertDate"] = instants[0]
    _insert(url, rows)

    sources, lake = tmp_path / "sources", tmp_path / "lake"
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"])
    env = {"RCM_EMR_HOSPITAL_A_URL": url}
    first = ingest(sources, lake, config, env=env)
    assert first.ok, first.failed
    assert first.entities[0].rows_rejected == 0
    bronze = read_bronze(lake, "hospital_a", "transactions").to_pylist()
    texts = [r["ModifiedDate"] for r in sorted(bronze, key=lambda r: r["TransactionID"])]
    assert texts == ["2024-11-03 05:30:00+00:00", "2024-11-03 06:10:00+00:00"]
    assert first.entities[0].watermark == texts[1]
    with duckdb.connect() as con:  # staging's cast: the later instant stays the later time
        cast = [con.execute("select cast(? as timestamp)", [t]).fetchone() for t in texts]
    assert cast == [(when.replace(tzinfo=None),) for when in instants]

    # 01:20 EST comes after the mark as an instant (06:20 UTC), though not as local time
    _insert(url, [transaction_row(9, datetime(2024, 11, 3, 6, 20, tzinfo=UTC))])
    second = ingest(sources, lake, config, env=env)
    assert second.entities[0].rows_written == 1
    newest = pq.read_table(load_folders(lake, "hospital_a", "transactions")[-1]).to_pylist()
    assert [r["ModifiedDate"] for r in newest] == ["2024-11-03 06:20:00+00:00"]


def test_a_zoned_value_of_a_date_column_keeps_its_own_day(
    postgres_url: str, tmp_path: Path
) -> None:
    """A service at 20:30 in New York is 01:30 UTC the next day: written in UTC, as a zoned
    timestamp column is, staging's date cast took the next day for it. A column staging reads
    as a date is written in its clock time, without the offset (which DuckDB's cast would
    drop, and Spark's apply)."""
    url = _new_database(postgres_url, "emr_zoned_dates", "SET timezone TO 'America/New_York'")
    _create_transactions(url, "timestamptz", types={"ServiceDate": "timestamptz"})
    evening = datetime(2024, 1, 6, 1, 30, tzinfo=UTC)  # 2024-01-05 20:30 EST
    row = transaction_row(1, evening) | {"ServiceDate": evening, "InsertDate": evening}
    _insert(url, [row])
    sources, lake = tmp_path / "sources", tmp_path / "lake"
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"])
    loaded = ingest(sources, lake, config, env={"RCM_EMR_HOSPITAL_A_URL": url})
    assert loaded.ok, loaded.failed
    assert loaded.entities[0].rows_rejected == 0
    (landed,) = read_bronze(lake, "hospital_a", "transactions").to_pylist()
    assert landed["ServiceDate"] == "2024-01-05 20:30:00"
    assert landed["ModifiedDate"] == "2024-01-06 01:30:00+00:00"  # a timestamp: in UTC
    with duckdb.connect() as con:  # staging's to_date
        day = con.execute("select cast(try_cast(? as timestamp) as date)", [landed["ServiceDate"]])
        assert day.fetchone() == (date(2024, 1, 5),)


def test_an_infinite_or_bc_date_rejects_its_row_not_the_table_on_postgresql(
    postgres_url: str, tmp_path: Path
) -> None:
    """psycopg refuses `infinity`, a BC date or a year past 9999 while fetching: the whole
    table failed on every run. Such a value is read as PostgreSQL's text: its row is rejected,
    naming the column and value, and the others load."""
    url = _new_database(postgres_url, "emr_infinity")
    dsn = _create_transactions(url, "timestamp", types={"ServiceDate": "date"})
    _insert(url, [transaction_row(i, datetime(2024, 1, 6, 8, 0, i)) for i in range(3)])
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            """UPDATE transactions SET "ServiceDate" = 'infinity' """
            """WHERE "TransactionID" = 'TRANS000001'"""
        )
        conn.execute(
            """UPDATE transactions SET "ModifiedDate" = '0044-03-15 12:00:00 BC' """
            """WHERE "TransactionID" = 'TRANS000002'"""
        )
    sources, lake = tmp_path / "sources", tmp_path / "lake"
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"])
    loaded = ingest(sources, lake, config, env={"RCM_EMR_HOSPITAL_A_URL": url})
    assert loaded.ok, loaded.failed
    entity = loaded.entities[0]
    assert (entity.rows_read, entity.rows_written, entity.rows_rejected) == (3, 1, 2)
    assert [
        r["TransactionID"] for r in read_bronze(lake, "hospital_a", "transactions").to_pylist()
    ] == ["TRANS000000"]
    (folder,) = (lake / "rejected" / "hospital_a" / "transactions").glob("load_id=*")
    reasons = sorted(r["_reject_reason"] for r in pq.read_table(folder).to_pylist())
    assert "ServiceDate 'infinity'" in reasons[0] or "ServiceDate 'infinity'" in reasons[1]
    assert any("ModifiedDate '0044-03-15 12:00:00 BC'" in reason for reason in reasons), reasons


def test_json_arrays_and_intervals_land_as_text_a_reader_can_parse(
    postgres_url: str, tmp_path: Path
) -> None:
    """Bronze keeps each source value's text: a jsonb value landed as Python's repr
    ({'a': 1, 'b': True}), an array of dates as [datetime.date(2024, 1, 5)], and an interval
    as a timedelta of 30-day months ('30 days, 0:00:00' for '1 mon')."""
    url = _new_database(postgres_url, "emr_other_types")
    dsn = _create_transactions(url, "timestamp")
    _insert(url, [transaction_row(1, datetime(2024, 1, 6, 8, 0))])
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            'ALTER TABLE transactions ADD COLUMN "Extra" jsonb, ADD COLUMN "Days" date[], '
            'ADD COLUMN "Wait" interval'
        )
        conn.execute(
            """UPDATE transactions SET "Extra" = '{"a": 1, "b": true, "c": null}', """
            """"Days" = '{2024-01-05,2024-02-29}', "Wait" = '1 year 1 mon 2 days'"""
        )
    sources, lake = tmp_path / "sources", tmp_path / "lake"
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"])
    loaded = ingest(sources, lake, config, env={"RCM_EMR_HOSPITAL_A_URL": url})
    assert loaded.ok, loaded.failed
    (landed,) = read_bronze(lake, "hospital_a", "transactions").to_pylist()
    assert json.loads(landed["Extra"]) == {"a": 1, "b": True, "c": None}
    assert json.loads(landed["Days"]) == ["2024-01-05", "2024-02-29"]
    assert landed["Wait"] == "1 year 1 mon 2 days"


@pytest.mark.parametrize(("lookback", "loaded"), [("1h", True), ("", False)])
def test_a_transaction_that_commits_after_a_load_loads_within_the_lookback_from_postgresql(
    postgres_url: str, tmp_path: Path, lookback: str, loaded: bool
) -> None:
    """An EMR transaction stamps its row's ModifiedDate (timestamptz, read in a New York
    session), and commits after a load has read a later row: the mark has passed it. With a
    lookback the next load selects from the mark less it (the same instant, bound natively)
    and loads it once; without one it is lost."""
    url = _new_database(
        postgres_url, f"emr_late_{lookback or 'none'}", "SET timezone TO 'America/New_York'"
    )
    dsn = _create_transactions(url, "timestamptz", indexed=True)
    start = datetime(2024, 11, 3, 5, 30, tzinfo=UTC)  # 01:30 EDT

    def row(i: int, minutes: int) -> dict[str, object]:
        moment = start + timedelta(minutes=minutes)
        return transaction_row(i, moment) | {"InsertDate": start}  # type: ignore[arg-type]

    _insert(url, [row(i, i) for i in range(3)])
    sources, lake = tmp_path / "sources", tmp_path / "lake"
    edits = {"hospital_a.transactions": {"watermark_lookback": lookback}}
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"], edits)
    env = {"RCM_EMR_HOSPITAL_A_URL": url}

    def load() -> tuple[str, int, str | None]:
        entity = ingest(sources, lake, config, env=env).entities[0]
        assert entity.error is None, entity.error
        return entity.status, entity.rows_written, entity.watermark

    assert load()[:2] == ("success", 3)
    with psycopg.connect(dsn) as slow:
        _insert_in(slow, [row(10, 20)])  # 05:50 UTC (01:50 EDT), not committed yet
        _insert(url, [row(11, 40)])  # 06:10 UTC (01:10 EST): committed
        mark = "2024-11-03 06:10:00+00:00"
        assert load() == ("success", 1, mark)
        slow.commit()
    assert load() == (("success", 1, mark) if loaded else ("no_change", 0, mark))
    ids = read_bronze(lake, "hospital_a", "transactions").column("TransactionID").to_pylist()
    assert ids.count("TRANS000010") == int(loaded)
    assert load() == ("no_change", 0, mark)
    assert len(ids) == len(set(ids))


def test_end_to_end_with_postgresql_emr_databases(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generator writes both EMR databases into PostgreSQL, ingest reads them over the
    network, and dbt builds on that lake; Bronze equals the SQLite run of the same seed."""
    from ingestion.build import run_build
    from ingestion.generate.generator import generate
    from ingestion.generate.settings import GeneratorSettings

    urls = {
        "hospital_a": _new_database(postgres_url, "emr_a"),
        "hospital_b": _new_database(postgres_url, "emr_b"),
    }

    runs = {}
    for kind in ("sqlite", "postgres"):
        sources, lake = tmp_path / kind / "sources", tmp_path / kind / "lake"
        extra = (
            {"emr_url_a": urls["hospital_a"], "emr_url_b": urls["hospital_b"]}
            if kind == "postgres"
            else {}
        )
        generate(GeneratorSettings(out_dir=sources, scale=0.002, seed=21, **extra))
        env = (
            {
                "RCM_EMR_HOSPITAL_A_URL": urls["hospital_a"],
                "RCM_EMR_HOSPITAL_B_URL": urls["hospital_b"],
            }
            if kind == "postgres"
            else {}
        )
        if kind == "postgres":
            assert not (sources / "emr" / "hospital_a.db").exists()
        result = ingest(sources, lake, env=env, batch_rows=10_000)
        assert result.ok, result.failed
        runs[kind] = lake

    for hospital in ("hospital_a", "hospital_b"):
        for table in ("departments", "encounters", "patients", "providers", "transactions"):
            tables = [read_bronze(runs[k], hospital, table) for k in ("sqlite", "postgres")]
            keep = [c for c in tables[0].column_names if not c.startswith("_")]
            rows = [sorted(map(str, t.select(keep).to_pylist())) for t in tables]
            assert rows[0] == rows[1], (hospital, table)
            assert rows[0], (hospital, table)
            systems = set(tables[1].column("_source_system").to_pylist())
            assert systems == {hospital}

    monkeypatch.setenv("RCM_LAKE_DIR", str(runs["postgres"]))
    warehouse = tmp_path / "postgres" / "rcm.duckdb"
    monkeypatch.setenv("RCM_WAREHOUSE_PATH", str(warehouse))
    build = run_build(target_path=tmp_path / "postgres" / "target")
    assert build.exit_code == 0, [f.message for f in build.failures]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute("select count(*) from marts.fct_transactions").fetchone()
    ids = {
        (hospital, tid)
        for hospital in ("hospital_a", "hospital_b")
        for tid in read_bronze(runs["postgres"], hospital, "transactions")
        .column("TransactionID")
        .to_pylist()
        if tid
    }
    assert row is not None and 0 < row[0] <= len(ids)
