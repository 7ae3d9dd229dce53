"""EMR tables to Bronze: full snapshots, incremental loads and the watermark boundary."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingestion.config import EntityConfig
from ingestion.ingest import format_summary
from ingestion.sources.sql import TableReader, connect
from ingestion.sources.values import mark_less

from .conftest import (
    SQL_ENTITIES,
    data_files,
    execute,
    ingest,
    insert,
    load_folders,
    read_audit,
    read_bronze,
    transaction_row,
    write_config,
)


def source_rows(db: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT * FROM {table}").fetchall()


def test_first_run_loads_every_table_as_strings_with_lineage(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.csv", SQL_ENTITIES)
    result = ingest(sources, lake, config)
    assert result.ok, [e.error for e in result.failed]
    for name in SQL_ENTITIES:
        datasource, table = name.split(".")
        expected = source_rows(sources / "emr" / f"{datasource}.db", table)
        bronze = read_bronze(lake, datasource, table)
        assert bronze.num_rows == len(expected), name
        entity = next(e for e in result.entities if e.entity == name)
        assert entity.rows_written == len(expected)
        for field in bronze.schema:
            if not field.name.startswith("_"):
                assert field.type == pa.string(), (name, field)
        assert set(bronze.column("_source_system").to_pylist()) == {datasource}
        assert set(bronze.column("_source_name").to_pylist()) == {table}
        assert bronze.column("_source_row").null_count == bronze.num_rows
        assert bronze.schema.field("_ingested_at").type == pa.timestamp("us", tz="UTC")
        assert len(set(bronze.column("_load_id").to_pylist())) == 1

    # lossless text: float noise kept, NULL stays null, integers as digits
    db = sources / "emr" / "hospital_a.db"
    tx = read_bronze(lake, "hospital_a", "transactions").to_pylist()
    with sqlite3.connect(db) as conn:
        amounts = dict(conn.execute("SELECT TransactionID, PaidAmount FROM transactions"))
        paid = dict(conn.execute("SELECT TransactionID, PaidDate FROM transactions"))
        npis = dict(conn.execute("SELECT ProviderID, NPI FROM providers"))
    for row in tx:
        assert float(row["PaidAmount"]) == amounts[row["TransactionID"]]
        assert row["PaidAmount"] == repr(amounts[row["TransactionID"]])
        assert row["PaidDate"] == paid[row["TransactionID"]]
    assert any(r["PaidDate"] is None for r in tx)
    for row in read_bronze(lake, "hospital_a", "providers").to_pylist():
        assert row["NPI"] == str(npis[row["ProviderID"]])
    # hospital B keeps its own column names
    assert "Updated_Date" in read_bronze(lake, "hospital_b", "patients").column_names


def test_big_table_is_written_in_several_parts_with_manifest(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    db = sources / "emr" / "hospital_a.db"
    insert(db, "transactions", [transaction_row(i, "2024-01-07 00:00:00") for i in range(100, 150)])
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"])
    ingest(sources, lake, config)
    (folder,) = load_folders(lake, "hospital_a", "transactions")
    parts = sorted(folder.glob("part-*.parquet"))
    total = len(source_rows(db, "transactions"))
    assert len(parts) > 1
    assert sum(pq.read_metadata(p).num_rows for p in parts) == total
    for part in parts:
        assert pq.read_metadata(part).row_group(0).column(0).compression == "ZSTD"
    assert (folder / "_load.json").is_file()


def test_full_load_writes_a_snapshot_every_run(sources: Path, lake: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.csv", ["hospital_a.departments"])
    db = sources / "emr" / "hospital_a.db"
    ingest(sources, lake, config)
    insert(db, "departments", [{"DeptID": "DEPT999", "Name": "New"}])
    second = ingest(sources, lake, config)
    folders = load_folders(lake, "hospital_a", "departments")
    assert len(folders) == 2
    first_rows = pq.read_table(folders[0]).num_rows
    second_rows = pq.read_table(folders[1]).num_rows
    assert second_rows == first_rows + 1 == len(source_rows(db, "departments"))
    assert second.entities[0].status == "success"
    assert {r["loadtype"] for r in read_audit(lake)} == {"full"}


def test_unchanged_full_extract_writes_nothing(sources: Path, lake: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.csv", ["hospital_a.departments"])
    ingest(sources, lake, config)
    again = ingest(sources, lake, config)
    assert again.entities[0].status == "no_change"
    assert again.rows_written == 0
    assert len(load_folders(lake, "hospital_a", "departments")) == 1
    statuses = [r["status"] for r in read_audit(lake)]
    assert statuses == ["success", "no_change"]


def test_incremental_loads_only_new_and_changed_rows(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"])
    db = sources / "emr" / "hospital_a.db"
    first = ingest(sources, lake, config)
    with sqlite3.connect(db) as conn:
        (high,) = conn.execute("SELECT max(ModifiedDate) FROM transactions").fetchone()
    assert first.entities[0].watermark == high

    insert(db, "transactions", [transaction_row(500, "2024-02-01 00:00:00")])
    execute(
        db,
        "UPDATE transactions SET PaidAmount = 1.5, ModifiedDate = '2024-02-02 00:00:00' "
        "WHERE TransactionID = 'TRANS000003'",
    )
    second = ingest(sources, lake, config)
    entity = second.entities[0]
    assert entity.status == "success"
    assert entity.rows_written == 2
    assert entity.watermark == "2024-02-02 00:00:00"
    newest = pq.read_table(load_folders(lake, "hospital_a", "transactions")[-1]).to_pylist()
    assert sorted(r["TransactionID"] for r in newest) == ["TRANS000003", "TRANS000500"]
    audit = [r for r in read_audit(lake) if r["status"] == "success"]
    assert audit[-1]["watermark_before"] == high
    assert audit[-1]["watermark_after"] == "2024-02-02 00:00:00"


def test_a_column_renamed_in_the_source_fails_the_load_naming_it(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # FirstName renamed GivenName: the load went on with a new column, and staging, reading
    # the loads by column name, read the patients' first names as empty
    config = write_config(tmp_path / "c.csv", ["hospital_a.patients"])
    db = sources / "emr" / "hospital_a.db"
    first = ingest(sources, lake, config)
    assert first.ok
    execute(db, 'ALTER TABLE patients RENAME COLUMN "FirstName" TO "GivenName"')
    execute(db, "UPDATE patients SET ModifiedDate = '2024-03-01 00:00:00'")
    second = ingest(sources, lake, config)
    entity = second.entities[0]
    assert entity.status == "failed"
    assert "patients in SQLite file" in (entity.error or "")
    assert "has no column(s) FirstName, which the load config requires" in (entity.error or "")
    assert "GivenName" in (entity.error or "")
    assert f"change config line 2 of {config}, required_columns" in (entity.error or "")
    assert len(load_folders(lake, "hospital_a", "patients")) == 1
    audit = read_audit(lake)
    assert audit[-1]["status"] == "failed"
    assert second.entities[0].watermark is None
    # restored in another case (an engine that folds names), the rows load from the mark the
    # first load set
    execute(db, 'ALTER TABLE patients RENAME COLUMN "GivenName" TO "firstname"')
    third = ingest(sources, lake, config)
    assert third.entities[0].status == "success", third.entities[0].error
    assert third.entities[0].watermark == "2024-03-01 00:00:00"


def test_a_table_column_named_like_a_lineage_column_fails_the_load(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    db = sources / "emr" / "hospital_a.db"
    execute(db, "ALTER TABLE departments ADD COLUMN _source_row INTEGER")
    config = write_config(tmp_path / "c.csv", ["hospital_a.departments"])
    entity = ingest(sources, lake, config).entities[0]
    assert entity.status == "failed"
    assert "column(s) '_source_row' of departments have the name of a lineage" in (
        entity.error or ""
    )
    assert load_folders(lake, "hospital_a", "departments") == []
    assert read_audit(lake)[-1]["status"] == "failed"


def test_an_incremental_load_says_when_the_source_has_no_index_on_its_watermark(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"])
    db = sources / "emr" / "hospital_a.db"
    first: list[str] = []
    ingest(sources, lake, config, messages=first)
    hint = "hospital_a.transactions: transactions has no index on ModifiedDate"
    # a full read (the first load) scans the table anyway: no hint
    assert not [line for line in first if "no index" in line], first

    insert(db, "transactions", [transaction_row(600, "2024-02-01 00:00:00")])
    unindexed: list[str] = []
    ingest(sources, lake, config, messages=unindexed)
    assert [line for line in unindexed if hint in line], unindexed

    execute(db, "CREATE INDEX ix_modified ON transactions (ModifiedDate)")
    insert(db, "transactions", [transaction_row(601, "2024-02-02 00:00:00")])
    indexed: list[str] = []
    result = ingest(sources, lake, config, messages=indexed)
    assert not [line for line in indexed if "no index" in line], indexed
    assert result.entities[0].rows_written == 1


def test_a_watermark_that_leads_an_index_or_the_primary_key_counts_as_indexed(
    tmp_path: Path,
) -> None:
    db = tmp_path / "events.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE by_pk (ModifiedDate TEXT PRIMARY KEY, Payload TEXT)")
        conn.execute("CREATE TABLE second (Id TEXT, ModifiedDate TEXT)")
        conn.execute("CREATE INDEX ix_second ON second (Id, ModifiedDate)")
    engine = connect(f"sqlite:///{db}", "events")

    def indexed(table: str) -> bool | None:
        entity = EntityConfig(
            database="events",
            datasource="events",
            tablename=table,
            loadtype="incremental",
            watermark="ModifiedDate",
            is_active=True,
            source_kind="sql",
        )
        return TableReader(engine, entity).watermark_indexed()

    assert indexed("by_pk") is True
    # an index whose second column is the watermark does not serve `ModifiedDate >= mark`
    assert indexed("second") is False


def test_rows_sharing_the_high_water_mark_are_not_lost_nor_duplicated(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.csv", ["hospital_a.encounters"])
    db = sources / "emr" / "hospital_a.db"
    execute(db, "UPDATE encounters SET ModifiedDate = '2024-03-01 12:00:00' WHERE rowid % 3 = 0")
    ingest(sources, lake, config)
    with sqlite3.connect(db) as conn:
        at_mark = conn.execute(
            "SELECT count(*) FROM encounters WHERE ModifiedDate = '2024-03-01 12:00:00'"
        ).fetchone()[0]
    assert at_mark > 1
    # a row with the same timestamp as the high-water mark commits after the extraction
    late = dict(
        zip(
            [
                "EncounterID",
                "PatientID",
                "EncounterDate",
                "EncounterType",
                "ProviderID",
                "DepartmentID",
                "ProcedureCode",
                "InsertedDate",
                "ModifiedDate",
            ],
            [
                "ENC900000",
                "PAT00001",
                "2024-03-01",
                "Emergency",
                "PROV0001",
                "DEPT001",
                "99213",
                "2024-03-01 12:00:00",
                "2024-03-01 12:00:00",
            ],
            strict=True,
        )
    )
    insert(db, "encounters", [late])
    second = ingest(sources, lake, config)
    assert second.entities[0].rows_written == 1
    newest = pq.read_table(load_folders(lake, "hospital_a", "encounters")[-1]).to_pylist()
    assert [r["EncounterID"] for r in newest] == ["ENC900000"]

    # nothing changed: 0 rows, no new data file, status no_change, watermark kept
    before = data_files(lake)
    third = ingest(sources, lake, config)
    assert third.entities[0].status == "no_change"
    assert third.entities[0].rows_written == 0
    assert data_files(lake) == before
    audit = read_audit(lake)
    assert audit[-1]["status"] == "no_change"
    assert audit[-1]["watermark_after"] == "2024-03-01 12:00:00"

    # a row at the mark that changes without moving its timestamp is a new version
    execute(db, "UPDATE encounters SET EncounterType = 'Inpatient' WHERE EncounterID = 'ENC900000'")
    fourth = ingest(sources, lake, config)
    assert fourth.entities[0].rows_written == 1
    bronze = read_bronze(lake, "hospital_a", "encounters")
    distinct_sources = len(source_rows(db, "encounters"))
    # every source row is in Bronze; the only extra row is the earlier version of ENC900000
    assert bronze.num_rows == distinct_sources + 1


def test_watermark_comes_from_the_audit_log_only(sources: Path, lake: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.csv", ["hospital_b.patients"])
    ingest(sources, lake, config)
    # without the audit log the next run starts over (a full extraction)
    import shutil

    shutil.rmtree(lake / "audit")
    again = ingest(sources, lake, config)
    # the published load is found and recovered first, so nothing is extracted twice
    assert again.entities[0].status == "no_change"
    assert len(again.recovered) == 1
    assert again.recovered[0].watermark_column == "Updated_Date"


def test_sqlite_datetime_column_keeps_its_stored_text_and_boundary(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    db = sources / "emr" / "hospital_a.db"
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE departments")
        conn.execute(
            'CREATE TABLE departments ("DeptID" TEXT, "Name" TEXT, "ModifiedDate" DATETIME)'
        )
        conn.executemany(
            "INSERT INTO departments VALUES (?, ?, ?)",
            [("D1", "One", "2024-01-01 10:00:00"), ("D2", "Two", "2024-01-01 10:00:00")],
        )
    config = write_config(
        tmp_path / "c.csv",
        ["hospital_a.departments"],
        {"hospital_a.departments": {"loadtype": "incremental", "watermark": "ModifiedDate"}},
    )
    ingest(sources, lake, config)
    stored = {r["ModifiedDate"] for r in read_bronze(lake, "hospital_a", "departments").to_pylist()}
    assert stored == {"2024-01-01 10:00:00"}
    insert(
        db,
        "departments",
        [{"DeptID": "D3", "Name": "Three", "ModifiedDate": "2024-01-01 10:00:00"}],
    )
    second = ingest(sources, lake, config)
    assert second.entities[0].rows_written == 1
    assert ingest(sources, lake, config).entities[0].status == "no_change"


def test_text_array_gives_the_lossless_text_of_any_column() -> None:
    """A text column goes to Arrow as it is, integers and floats through their fast paths; any
    other (SQLite lets one column mix types) through to_text value by value: all give the
    strings that to_text gives each value."""
    from datetime import date, datetime
    from decimal import Decimal

    from ingestion.bronze import text_array, text_column

    columns: list[list[object]] = [
        ["a", "b", None],
        [None, None],
        [1, 2, None],
        [-(2**63), 2**63 - 1, 0],  # the ends of int64
        [2**63, 1],  # beyond int64
        [280.0, 526.3800000000001, 1e16, None],
        [3, 2.5, None, -0.0, 1e-07],  # ints among floats keep their own text
        [float("nan"), float("inf"), -float("inf")],
        [True, 1.5],
        [2**70, 1.0],
        [True, False],
        [b"\x00\xff", None],  # bytes: hex, not decoded as text
        ["12", 7, None, 1.5],  # mixed, as SQLite allows
        [date(2024, 1, 2), datetime(2024, 1, 2, 3, 4, 5)],
        [Decimal("10.50"), None],
        ["x", b"y"],
    ]
    for values in columns:
        array = text_array(values)
        assert array.type == pa.string(), values
        assert array.to_pylist() == text_column(values), values
    assert text_array([b"\x00\xff"]).to_pylist() == ["00ff"]


def test_a_rejected_row_is_named_by_its_key_whatever_the_key_column_s_case(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # an engine that folds names (PostgreSQL) gives transactionid: the reason said "a row"
    db = sources / "emr" / "hospital_a.db"
    execute(db, 'ALTER TABLE transactions RENAME COLUMN "TransactionID" TO "transactionid"')
    execute(db, "UPDATE transactions SET Amount = 'abc' WHERE transactionid = 'TRANS000002'")
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"])
    entity = ingest(sources, lake, config).entities[0]
    assert entity.status == "success" and entity.rows_rejected == 1, entity.error
    (folder,) = (lake / "rejected" / "hospital_a" / "transactions").glob("load_id=*")
    (rejected,) = pq.read_table(folder / "rejected.parquet").to_pylist()
    assert rejected["_reject_reason"].startswith(
        "hospital_a table transactions, transactionid 'TRANS000002': Amount 'abc'"
    )


def test_values_staging_cannot_type_reject_their_row_named_by_table_key_and_column(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # one such value would stop the whole dbt build in staging; at ingest it rejects its row
    a, b = sources / "emr" / "hospital_a.db", sources / "emr" / "hospital_b.db"
    execute(a, "UPDATE transactions SET Amount = 'abc' WHERE TransactionID = 'TRANS000002'")
    execute(
        a, "UPDATE transactions SET ServiceDate = '2024-99-01' WHERE TransactionID = 'TRANS000004'"
    )
    execute(b, "UPDATE patients SET DOB = '1980-02-30' WHERE ID = 'PAT00003'")
    execute(a, "UPDATE encounters SET InsertedDate = 'yesterday' WHERE EncounterID = 'ENC000005'")
    # what staging does read: padded, blank, the text 'null'
    execute(
        a, "UPDATE transactions SET PaidDate = ' 2024-02-01 ' WHERE TransactionID = 'TRANS000006'"
    )
    execute(a, "UPDATE transactions SET PaidAmount = 'NULL' WHERE TransactionID = 'TRANS000007'")
    execute(a, "UPDATE encounters SET EncounterDate = '' WHERE EncounterID = 'ENC000001'")
    names = ["hospital_a.transactions", "hospital_a.encounters", "hospital_b.patients"]
    config = write_config(tmp_path / "c.csv", names)
    result = ingest(sources, lake, config)
    assert result.ok, [e.error for e in result.failed]

    expected_rejects = {
        "hospital_a.transactions": 2,
        "hospital_a.encounters": 1,
        "hospital_b.patients": 1,
    }
    reasons: dict[str, list[str]] = {}
    for name in names:
        datasource, table = name.split(".")
        entity = next(e for e in result.entities if e.entity == name)
        total = len(source_rows(sources / "emr" / f"{datasource}.db", table))
        assert (entity.rows_written, entity.rows_rejected) == (
            total - expected_rejects[name],
            expected_rejects[name],
        )
        (folder,) = (lake / "rejected" / datasource / table).glob("load_id=*")
        rejected = pq.read_table(folder / "rejected.parquet").to_pylist()
        reasons[name] = sorted(r["_reject_reason"] for r in rejected)
        assert {r["_source_name"] for r in rejected} == {table}
        for row in rejected:  # the whole row, as the source holds it
            assert json.loads(row["_raw"])[table_key(table, datasource)] in row["_reject_reason"]
    assert reasons["hospital_a.transactions"][0].startswith(
        "hospital_a table transactions, TransactionID 'TRANS000002': Amount 'abc' is not an amount"
    )
    assert (
        "TransactionID 'TRANS000004': ServiceDate '2024-99-01' is not a date"
        in (reasons["hospital_a.transactions"][1])
    )
    assert (
        "set its ModifiedDate to the time of the fix: the next load reads it again"
        in reasons["hospital_a.transactions"][1]
    )
    assert (
        "EncounterID 'ENC000005': InsertedDate 'yesterday' is not a timestamp"
        in (reasons["hospital_a.encounters"][0])
    )
    assert "ID 'PAT00003': DOB '1980-02-30' is not a date" in reasons["hospital_b.patients"][0]
    assert "set its Updated_Date to the time of the fix" in reasons["hospital_b.patients"][0]
    landed = {
        r["TransactionID"] for r in read_bronze(lake, "hospital_a", "transactions").to_pylist()
    }
    assert "TRANS000002" not in landed and {"TRANS000006", "TRANS000007"} <= landed

    # fixed and touched at the source, the row loads with the next incremental load
    execute(
        a,
        "UPDATE transactions SET Amount = 12.5, ModifiedDate = '2024-03-01 00:00:00' "
        "WHERE TransactionID = 'TRANS000002'",
    )
    again = ingest(sources, lake, write_config(tmp_path / "c2.csv", ["hospital_a.transactions"]))
    assert (again.entities[0].rows_written, again.entities[0].rows_rejected) == (1, 0)
    newest = pq.read_table(load_folders(lake, "hospital_a", "transactions")[-1]).to_pylist()
    assert [(r["TransactionID"], r["Amount"]) for r in newest] == [("TRANS000002", "12.5")]


def _load(sources: Path, lake: Path, config: Path) -> tuple[str, int, int, str | None]:
    """Ingest the config's one entity: its status, rows written and rejected, and watermark."""
    entity = ingest(sources, lake, config).entities[0]
    return entity.status, entity.rows_written, entity.rows_rejected, entity.watermark


def test_a_watermark_that_is_not_a_timestamp_never_becomes_the_mark(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # compared as text, 'yesterday' and 'NULL' sort after every date: as the high-water mark
    # they would hide every later row from every later load
    db = sources / "emr" / "hospital_a.db"
    with sqlite3.connect(db) as conn:
        (high,) = conn.execute("SELECT max(ModifiedDate) FROM transactions").fetchone()
        (at_high,) = conn.execute(
            "SELECT min(TransactionID) FROM transactions WHERE ModifiedDate = ?", (high,)
        ).fetchone()
    execute(
        db, "UPDATE transactions SET ModifiedDate = 'yesterday' WHERE TransactionID = 'TRANS000003'"
    )
    execute(db, "UPDATE transactions SET ModifiedDate = 'NULL' WHERE TransactionID = 'TRANS000008'")
    # a row rejected for another value, at the mark: read again by `>=`, it is not rejected again
    execute(db, "UPDATE transactions SET Amount = 'abc' WHERE TransactionID = ?", (at_high,))
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"])

    total = len(source_rows(db, "transactions"))
    # 'yesterday' and the Amount are rejected; 'NULL' is a null modified time to staging: kept
    assert _load(sources, lake, config) == ("success", total - 2, 2, high)
    reasons = [
        r["_reject_reason"]
        for folder in (lake / "rejected" / "hospital_a" / "transactions").glob("load_id=*")
        for r in pq.read_table(folder / "rejected.parquet").to_pylist()
    ]
    assert any("ModifiedDate 'yesterday' is not a timestamp" in r for r in reasons)
    assert _load(sources, lake, config) == ("no_change", 0, 0, high)

    insert(db, "transactions", [transaction_row(500, "2024-02-01 00:00:00")])
    assert _load(sources, lake, config) == ("success", 1, 0, "2024-02-01 00:00:00")
    assert _load(sources, lake, config) == ("no_change", 0, 0, "2024-02-01 00:00:00")

    execute(
        db,
        "UPDATE transactions SET ModifiedDate = '2024-03-01 00:00:00' "
        "WHERE TransactionID = 'TRANS000003'",
    )
    assert _load(sources, lake, config) == ("success", 1, 0, "2024-03-01 00:00:00")
    newest = pq.read_table(load_folders(lake, "hospital_a", "transactions")[-1]).to_pylist()
    assert [r["TransactionID"] for r in newest] == ["TRANS000003"]


def spoil_transactions_marks(lake: Path) -> None:
    """Write the mark of every audit row of the transactions loads as 'yesterday', as an
    older version of the loader could."""
    (path,) = [
        p
        for p in (lake / "audit" / "load_audit").glob("*/*.parquet")
        if "transactions" in pq.read_table(p).column("tablename").to_pylist()
    ]
    audit = pq.read_table(path)
    bad = pa.array(["yesterday"] * audit.num_rows, type=audit.schema.field("watermark_after").type)
    index = audit.schema.get_field_index("watermark_after")
    pq.write_table(audit.set_column(index, audit.schema.field(index), bad), path)


def test_a_bad_mark_an_older_loader_left_in_the_audit_log_is_passed_over(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # before the check, 'yesterday' could become the mark, and `>= 'yesterday'` finds nothing
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"])
    first = ingest(sources, lake, config).entities[0]
    spoil_transactions_marks(lake)

    insert(
        sources / "emr" / "hospital_a.db",
        "transactions",
        [transaction_row(600, "2024-05-01 00:00:00")],
    )
    messages: list[str] = []
    entity = ingest(sources, lake, config, messages=messages).entities[0]
    assert (entity.status, entity.watermark) == ("success", "2024-05-01 00:00:00")
    assert any(
        "mark 'yesterday' is not a timestamp" in m and "(none: the whole table)" in m
        for m in messages
    )
    newest = pq.read_table(load_folders(lake, "hospital_a", "transactions")[-1]).to_pylist()
    assert "TRANS000600" in {r["TransactionID"] for r in newest}
    assert first.watermark is not None and entity.rows_written == first.rows_written + 1


def test_a_full_load_with_a_lookback_passes_over_a_bad_mark_and_says_it_reads_everything(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # a full load with a lookback checks the audit's mark too (it fills watermark_before);
    # it must not say it loads "from the last good mark": it reads the whole table
    ingest(sources, lake, write_config(tmp_path / "c.csv", ["hospital_a.transactions"]))
    spoil_transactions_marks(lake)
    edits = {"hospital_a.transactions": {"loadtype": "full", "watermark_lookback": "1h"}}
    full = write_config(tmp_path / "full.csv", ["hospital_a.transactions"], edits)
    messages: list[str] = []
    entity = ingest(sources, lake, full, messages=messages).entities[0]
    assert entity.status == "success"
    said = [m for m in messages if "mark 'yesterday' is not a timestamp" in m]
    assert said, messages
    assert all("a full load reads the whole table" in m for m in said), said
    assert not any("loading from the last good mark" in m for m in said), said
    rows = {
        r["TransactionID"]
        for r in pq.read_table(load_folders(lake, "hospital_a", "transactions")[-1]).to_pylist()
    }
    assert len(rows) == len(source_rows(sources / "emr" / "hospital_a.db", "transactions"))


def table_key(table: str, datasource: str) -> str:
    return {"transactions": "TransactionID", "encounters": "EncounterID"}.get(
        table, "PatientID" if datasource == "hospital_a" else "ID"
    )


def test_a_timestamp_stored_as_text_with_a_zone_lands_in_utc(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # an EMR that keeps timestamps as text with their offset: staging's cast would drop it
    a = sources / "emr" / "hospital_a.db"
    execute(
        a,
        "UPDATE encounters SET InsertedDate = '2024-11-03 01:10:00-05:00' "
        "WHERE EncounterID = 'ENC000003'",
    )
    execute(
        a,
        "UPDATE encounters SET InsertedDate = '2024-11-03 01:10:00 Mars/Base' "
        "WHERE EncounterID = 'ENC000004'",
    )
    result = ingest(sources, lake, write_config(tmp_path / "c.csv", ["hospital_a.encounters"]))
    assert result.ok, [e.error for e in result.failed]
    rows = {r["EncounterID"]: r for r in read_bronze(lake, "hospital_a", "encounters").to_pylist()}
    assert rows["ENC000003"]["InsertedDate"] == "2024-11-03 06:10:00+00:00"
    assert "ENC000004" not in rows  # a zone that is no instant: rejected, named
    (folder,) = (lake / "rejected" / "hospital_a" / "encounters").glob("load_id=*")
    (rejected,) = pq.read_table(folder / "rejected.parquet").to_pylist()
    assert "EncounterID 'ENC000004'" in rejected["_reject_reason"]
    assert (
        "InsertedDate '2024-11-03 01:10:00 Mars/Base' is not a timestamp"
        in rejected["_reject_reason"]
    )
    entity = result.entities[0]
    assert entity.rows_written + entity.rows_rejected == len(source_rows(a, "encounters"))


def test_a_watermark_later_than_the_load_is_rejected_and_never_becomes_the_mark(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # a mistyped year: as the mark it would hide every later row from every later load, and
    # in staging its version would stay the latest for good
    db = sources / "emr" / "hospital_a.db"
    with sqlite3.connect(db) as conn:
        (high,) = conn.execute("SELECT max(ModifiedDate) FROM transactions").fetchone()
    execute(
        db,
        "UPDATE transactions SET ModifiedDate = '2205-01-09 09:00:00' "
        "WHERE TransactionID = 'TRANS000003'",
    )
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"])

    total = len(source_rows(db, "transactions"))
    assert _load(sources, lake, config) == ("success", total - 1, 1, high)
    (folder,) = (lake / "rejected" / "hospital_a" / "transactions").glob("load_id=*")
    (rejected,) = pq.read_table(folder / "rejected.parquet").to_pylist()
    assert "TransactionID 'TRANS000003'" in rejected["_reject_reason"]
    assert (
        "ModifiedDate '2205-01-09 09:00:00' is later than this load" in rejected["_reject_reason"]
    )
    # read again by `>=` (it sorts after the mark), it is skipped until it changes
    assert _load(sources, lake, config) == ("no_change", 0, 0, high)
    insert(db, "transactions", [transaction_row(500, "2024-02-01 00:00:00")])
    assert _load(sources, lake, config) == ("success", 1, 0, "2024-02-01 00:00:00")
    # the fix: the row loads with its corrected time
    execute(
        db,
        "UPDATE transactions SET ModifiedDate = '2025-01-09 09:00:00' "
        "WHERE TransactionID = 'TRANS000003'",
    )
    assert _load(sources, lake, config) == ("success", 1, 0, "2025-01-09 09:00:00")


# many EMRs insert a row with a NULL modified time and set it on the row's first update:
# `ModifiedDate >= mark` never selects such a row, so one inserted after the first load was lost
FALLBACK = {"hospital_a.transactions": {"watermark": "ModifiedDate|InsertDate"}}


def unmodified_row(i: int, inserted: str) -> dict[str, object]:
    """A transaction as inserted by an EMR that leaves ModifiedDate NULL until an update."""
    return transaction_row(i, None) | {"InsertDate": inserted}  # type: ignore[arg-type]


def newest_rows(lake: Path) -> list[tuple[str, str | None]]:
    newest = pq.read_table(load_folders(lake, "hospital_a", "transactions")[-1]).to_pylist()
    return sorted((r["TransactionID"], r["ModifiedDate"]) for r in newest)


def test_a_row_inserted_with_a_null_watermark_loads_once_by_its_fallback_and_again_when_updated(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"], FALLBACK)
    db = sources / "emr" / "hospital_a.db"
    with sqlite3.connect(db) as conn:
        (high,) = conn.execute("SELECT max(ModifiedDate) FROM transactions").fetchone()
    total = len(source_rows(db, "transactions"))
    assert _load(sources, lake, config) == ("success", total, 0, high)

    insert(db, "transactions", [unmodified_row(700, "2024-02-01 00:00:00")])
    said: list[str] = []
    second = ingest(sources, lake, config, messages=said).entities[0]
    assert (second.status, second.rows_written, second.watermark) == (
        "success",
        1,
        "2024-02-01 00:00:00",
    )
    assert newest_rows(lake) == [("TRANS000700", None)]
    where = f"where coalesce(ModifiedDate, InsertDate) >= {high!r}"
    assert [line for line in said if where in line], said
    # a row that is never updated is not read again
    assert _load(sources, lake, config) == ("no_change", 0, 0, "2024-02-01 00:00:00")
    # one inserted at the mark's time: the row already loaded at the mark is skipped by hash
    insert(db, "transactions", [unmodified_row(701, "2024-02-01 00:00:00")])
    assert _load(sources, lake, config) == ("success", 1, 0, "2024-02-01 00:00:00")
    assert newest_rows(lake) == [("TRANS000701", None)]
    # the first update sets ModifiedDate: the next load reads the change
    execute(
        db,
        "UPDATE transactions SET PaidAmount = 2.5, ModifiedDate = '2024-02-03 00:00:00' "
        "WHERE TransactionID = 'TRANS000700'",
    )
    assert _load(sources, lake, config) == ("success", 1, 0, "2024-02-03 00:00:00")
    assert newest_rows(lake) == [("TRANS000700", "2024-02-03 00:00:00")]
    assert _load(sources, lake, config) == ("no_change", 0, 0, "2024-02-03 00:00:00")
    assert {r["watermark_column"] for r in read_audit(lake)} == {"ModifiedDate|InsertDate"}


def test_a_fallback_value_that_is_not_a_timestamp_or_is_later_than_the_load_is_never_the_mark(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"], FALLBACK)
    db = sources / "emr" / "hospital_a.db"
    status, _, _, high = _load(sources, lake, config)
    assert status == "success"
    # both sort after the mark as text, and either as the mark would hide every later row
    insert(
        db,
        "transactions",
        [unmodified_row(800, "2205-01-09 09:00:00"), unmodified_row(801, "yesterday")],
    )
    said: list[str] = []
    second = ingest(sources, lake, config, messages=said).entities[0]
    assert (second.status, second.rows_written, second.rows_rejected, second.watermark) == (
        "success",
        0,
        2,
        high,
    )
    unmarked = "2 row(s) have a coalesce(ModifiedDate, InsertDate) that is not a timestamp"
    assert [line for line in said if unmarked in line], said
    reasons = sorted(
        r["_reject_reason"]
        for folder in (lake / "rejected" / "hospital_a" / "transactions").glob("load_id=*")
        for r in pq.read_table(folder / "rejected.parquet").to_pylist()
    )
    assert "InsertDate '2205-01-09 09:00:00' is later than this load" in reasons[0]
    assert "InsertDate 'yesterday' is not a timestamp" in reasons[1]
    # the fix is the row's first update: ModifiedDate is the column that brings it back
    assert all("set its ModifiedDate to the time of the fix" in r for r in reasons)
    # read again by `>=`, they are skipped until they change
    assert _load(sources, lake, config) == ("no_change", 0, 0, high)
    insert(db, "transactions", [unmodified_row(802, "2024-02-01 00:00:00")])
    assert _load(sources, lake, config) == ("success", 1, 0, "2024-02-01 00:00:00")


def test_a_watermark_fallback_the_table_lacks_fails_naming_the_config_line_and_field(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    edits = {"hospital_a.transactions": {"watermark": "ModifiedDate|InsertedOn"}}
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"], edits)
    entity = ingest(sources, lake, config).entities[0]
    assert entity.status == "failed"
    assert f"config line 2 of {config}, watermark" in (entity.error or "")
    assert "'InsertedOn' is not a column of transactions" in (entity.error or "")
    assert "InsertDate" in (entity.error or "")  # the table's columns are listed
    assert load_folders(lake, "hospital_a", "transactions") == []


def _retype(db: Path, table: str, types: dict[str, str]) -> None:
    """Declare ``table``'s columns in ``types`` with those types, keeping its rows (SQLite's
    ALTER TABLE cannot change a column's type)."""
    with sqlite3.connect(db) as conn:
        info = conn.execute(f"PRAGMA table_info({table})").fetchall()
        columns = ", ".join(f'"{c[1]}" {types.get(c[1], c[2])}' for c in info)
        conn.execute(f"CREATE TABLE retyped ({columns})")
        conn.execute(f"INSERT INTO retyped SELECT * FROM {table}")
        conn.execute(f"DROP TABLE {table}")
        conn.execute(f"ALTER TABLE retyped RENAME TO {table}")


def test_fallback_watermark_columns_of_different_types_are_refused_naming_the_line_and_types(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # a date-only InsertDate sorts (SQLite) or is cast (PostgreSQL) apart from a timestamp
    # mark: rows are lost or read again every run
    db = sources / "emr" / "hospital_a.db"
    _retype(db, "transactions", {"ModifiedDate": "DATETIME", "InsertDate": "DATE"})
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"], FALLBACK)
    entity = ingest(sources, lake, config).entities[0]
    assert entity.status == "failed"
    error = entity.error or ""
    assert f"config line 2 of {config}, watermark" in error
    assert "ModifiedDate DATETIME (timestamp), InsertDate DATE (date)" in error
    assert "must share one type" in error
    assert load_folders(lake, "hospital_a", "transactions") == []
    # one column alone is not compared with another: its type is its own
    plain = write_config(tmp_path / "plain.csv", ["hospital_a.transactions"])
    assert _load(sources, lake, plain)[0] == "success"
    # columns of one family under two names (DATETIME, TIMESTAMP) are accepted
    _retype(db, "transactions", {"InsertDate": "TIMESTAMP"})
    assert ingest(sources, lake, config).entities[0].status in ("success", "no_change")


def test_a_fallback_value_in_another_text_form_never_becomes_the_mark(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # compared as text, '2024-02-01T11:00:00' sorts after '2024-02-01 12:00:00': as the mark
    # it hid the update at 12:00 from every later load
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"], FALLBACK)
    db = sources / "emr" / "hospital_a.db"
    assert _load(sources, lake, config)[0] == "success"
    insert(db, "transactions", [transaction_row(810, "2024-02-01 10:00:00")])
    assert _load(sources, lake, config) == ("success", 1, 0, "2024-02-01 10:00:00")
    insert(db, "transactions", [unmodified_row(811, "2024-02-01T11:00:00")])
    said: list[str] = []
    second = ingest(sources, lake, config, messages=said).entities[0]
    # loaded (staging reads it), but the mark stays
    assert (second.status, second.rows_written, second.watermark) == (
        "success",
        1,
        "2024-02-01 10:00:00",
    )
    form = "is not a timestamp written as YYYY-MM-DD HH:MM:SS[.ffffff]"
    assert [line for line in said if form in line], said
    execute(
        db,
        "UPDATE transactions SET PaidAmount = 3.5, ModifiedDate = '2024-02-01 12:00:00' "
        "WHERE TransactionID = 'TRANS000810'",
    )
    assert _load(sources, lake, config) == ("success", 1, 0, "2024-02-01 12:00:00")
    assert newest_rows(lake) == [("TRANS000810", "2024-02-01 12:00:00")]
    # read again by `>=` (it sorts after the mark), the 'T' row is skipped until it changes
    assert _load(sources, lake, config) == ("no_change", 0, 0, "2024-02-01 12:00:00")


def test_a_single_watermark_column_in_another_text_form_still_sets_the_mark(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # one column is compared only with its own values: its form is its own, as before
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"])
    db = sources / "emr" / "hospital_a.db"
    assert _load(sources, lake, config)[0] == "success"
    insert(db, "transactions", [transaction_row(820, "2024-02-01T11:00:00")])
    assert _load(sources, lake, config) == ("success", 1, 0, "2024-02-01T11:00:00")


def test_a_fallback_watermark_is_indexed_when_an_index_serves_its_null_rows(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    db = tmp_path / "events.db"
    with sqlite3.connect(db) as conn:
        for table in ("none", "first", "pair", "each", "second_only"):
            conn.execute(f"CREATE TABLE {table} (Id TEXT, ModifiedDate TEXT, InsertDate TEXT)")
        conn.execute("CREATE INDEX ix_first ON first (ModifiedDate)")
        conn.execute("CREATE INDEX ix_pair ON pair (ModifiedDate, InsertDate)")
        conn.execute("CREATE INDEX ix_each_m ON each (ModifiedDate)")
        conn.execute("CREATE INDEX ix_each_i ON each (InsertDate)")
        conn.execute("CREATE INDEX ix_second ON second_only (InsertDate)")
    engine = connect(f"sqlite:///{db}", "events")

    def unindexed(table: str) -> tuple[list[str], bool | None]:
        entity = EntityConfig(
            database="events",
            datasource="events",
            tablename=table,
            loadtype="incremental",
            watermark="ModifiedDate|InsertDate",
            is_active=True,
            source_kind="sql",
        )
        reader = TableReader(engine, entity)
        return reader.unindexed_watermark(), reader.watermark_indexed()

    assert unindexed("none") == (["ModifiedDate", "InsertDate"], False)
    # `ModifiedDate IS NULL AND InsertDate >= :m` on an index of ModifiedDate alone reads
    # every row that was never updated
    assert unindexed("first") == (["InsertDate"], False)
    assert unindexed("pair") == ([], True)
    # SQLite (no statistics) serves `ModifiedDate IS NULL` from ix_each_m, not InsertDate's
    assert unindexed("each") == (["InsertDate"], False)
    assert unindexed("second_only") == (["ModifiedDate", "InsertDate"], False)

    # and a load says which index is missing
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"], FALLBACK)
    emr = sources / "emr" / "hospital_a.db"
    ingest(sources, lake, config)
    insert(emr, "transactions", [unmodified_row(899, "2024-01-31 00:00:00")])
    said: list[str] = []
    ingest(sources, lake, config, messages=said)
    whole = (
        "transactions has no index on ModifiedDate, so each incremental load reads the whole "
        "table; an index on (ModifiedDate, InsertDate) in the source"
    )
    assert [line for line in said if whole in line], said
    execute(emr, "CREATE INDEX ix_modified ON transactions (ModifiedDate)")
    insert(emr, "transactions", [unmodified_row(900, "2024-02-01 00:00:00")])
    said.clear()
    ingest(sources, lake, config, messages=said)
    hint = (
        "hospital_a.transactions: transactions has no index on (ModifiedDate, InsertDate), so "
        "each incremental load reads every row whose ModifiedDate is NULL to find the new ones"
    )
    assert [line for line in said if hint in line], said
    execute(emr, "CREATE INDEX ix_modified_insert ON transactions (ModifiedDate, InsertDate)")
    insert(emr, "transactions", [unmodified_row(901, "2024-02-02 00:00:00")])
    said.clear()
    result = ingest(sources, lake, config, messages=said)
    assert not [line for line in said if "no index" in line], said
    assert result.entities[0].rows_written == 1


def test_rows_passed_over_before_a_fallback_was_named_load_with_one_full_load(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # the README's advice for an entity that ran without the fallback: a row inserted with a
    # NULL ModifiedDate before the mark moved past its InsertDate is behind the mark for good
    db = sources / "emr" / "hospital_a.db"
    plain = write_config(tmp_path / "plain.csv", ["hospital_a.transactions"])
    assert _load(sources, lake, plain)[0] == "success"
    insert(db, "transactions", [unmodified_row(950, "2024-02-01 00:00:00")])
    insert(db, "transactions", [transaction_row(951, "2024-02-02 00:00:00")])
    assert _load(sources, lake, plain) == ("success", 1, 0, "2024-02-02 00:00:00")
    fallback = write_config(tmp_path / "fallback.csv", ["hospital_a.transactions"], FALLBACK)
    assert _load(sources, lake, fallback) == ("no_change", 0, 0, "2024-02-02 00:00:00")

    edits = {
        "hospital_a.transactions": {"watermark": "ModifiedDate|InsertDate", "loadtype": "full"}
    }
    once = write_config(tmp_path / "once.csv", ["hospital_a.transactions"], edits)
    total = len(source_rows(db, "transactions"))
    assert _load(sources, lake, once) == ("success", total, 0, "2024-02-02 00:00:00")
    assert ("TRANS000950", None) in newest_rows(lake)
    # back to incremental: from the full load's mark, nothing is read twice
    assert _load(sources, lake, fallback) == ("no_change", 0, 0, "2024-02-02 00:00:00")
    insert(db, "transactions", [unmodified_row(952, "2024-02-03 00:00:00")])
    assert _load(sources, lake, fallback) == ("success", 1, 0, "2024-02-03 00:00:00")


def test_a_load_that_reads_rows_without_a_watermark_warns_that_later_ones_will_not_load(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # the first load reads a row whose ModifiedDate is NULL: the loader has the evidence that
    # the table holds such rows, which no later incremental load selects
    db = sources / "emr" / "hospital_a.db"
    insert(db, "transactions", [unmodified_row(960, "2024-02-01 00:00:00")])
    plain = write_config(tmp_path / "plain.csv", ["hospital_a.transactions"])
    result = ingest(sources, lake, plain)
    entity = result.entities[0]
    assert entity.status == "success"
    (warning,) = [w for w in entity.warnings if "(NULL)" in w]
    assert warning.startswith("1 row(s) of transactions have no ModifiedDate (NULL).")
    assert f"fallback in config line 2 of {plain}, watermark (e.g. ModifiedDate|InsertDate)" in (
        warning
    )
    assert f"WARNING hospital_a.transactions: {warning}" in format_summary(result)
    # with the fallback, the row has a watermark (its InsertDate): nothing to warn of
    edits = {
        "hospital_a.transactions": {"watermark": "ModifiedDate|InsertDate", "loadtype": "full"}
    }
    full = write_config(tmp_path / "full.csv", ["hospital_a.transactions"], edits)
    again = ingest(sources, lake, full).entities[0]
    assert again.status == "success"
    assert not [w for w in again.warnings if "(NULL)" in w]


def test_a_load_that_finds_not_even_the_rows_at_its_mark_warns_of_a_restore(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # an incremental load selects `>= mark`: the rows the last load read at the mark come back
    # every time (and are skipped). When not even they do, the table went back in time: the
    # EMR was restored from a backup older than the last load (or the rows were deleted)
    db = sources / "emr" / "hospital_a.db"
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"])
    assert ingest(sources, lake, config).ok
    backup = tmp_path / "backup.db"
    shutil.copyfile(db, backup)
    insert(db, "transactions", [transaction_row(971, "2024-03-01 00:00:00")])
    loaded = ingest(sources, lake, config).entities[0]
    assert (loaded.status, loaded.rows_read) == ("success", 1)
    assert loaded.watermark == "2024-03-01 00:00:00"
    unchanged = ingest(sources, lake, config).entities[0]
    assert unchanged.status == "no_change" and unchanged.warnings == []

    shutil.copyfile(backup, db)
    result = ingest(sources, lake, config)
    restored = result.entities[0]
    assert restored.status == "no_change"
    (warning,) = restored.warnings
    assert warning.startswith(
        "no row of transactions has a ModifiedDate at or after the mark '2024-03-01 00:00:00', "
        "not even the rows the last load read there"
    )
    assert "restored from a backup older than the last load" in warning
    assert f"WARNING hospital_a.transactions: {warning}" in format_summary(result)


# A row whose watermark is below the mark when it becomes visible (an EMR transaction that set
# ModifiedDate, then committed after a load read past it) is never selected by `>= mark`;
# `watermark_lookback` selects from the mark less it, and the boundary skips what was read.
def lookback_config(tmp_path: Path, lookback: str) -> Path:
    edits = {"hospital_a.transactions": {"watermark_lookback": lookback}}
    return write_config(tmp_path / "c.csv", ["hospital_a.transactions"], edits)


def first_lookback_load(
    sources: Path, lake: Path, tmp_path: Path, lookback: str
) -> tuple[Path, Path, str]:
    """The config of hospital_a.transactions with ``lookback``, its EMR database, and the mark
    of a first load with it."""
    config = lookback_config(tmp_path, lookback)
    mark = _load(sources, lake, config)[3]
    assert mark is not None
    return config, sources / "emr" / "hospital_a.db", mark


def shifted(mark: str | None, **delta: float) -> str:
    """``mark`` (a ``YYYY-MM-DD HH:MM:SS`` watermark) moved by ``delta`` (timedelta's keywords)."""
    assert mark is not None
    return (datetime.fromisoformat(mark) + timedelta(**delta)).isoformat(sep=" ")


def source_ids(db: Path) -> list[str]:
    return sorted(str(row[0]) for row in source_rows(db, "transactions"))


def bronze_ids(lake: Path) -> list[str]:
    bronze = read_bronze(lake, "hospital_a", "transactions")
    return sorted(bronze.column("TransactionID").to_pylist())


def newest_ids(lake: Path) -> list[str]:
    return [tid for tid, _ in newest_rows(lake)]


def highest_watermark(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        (high,) = conn.execute("SELECT max(ModifiedDate) FROM transactions").fetchone()
    return str(high)


def rows_between(db: Path, low: str, high: str) -> int:
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM transactions WHERE ModifiedDate BETWEEN ? AND ?", (low, high)
        ).fetchone()
    return int(count)


@pytest.mark.parametrize(("lookback", "loaded"), [("2h", True), ("", False)])
def test_a_row_committed_late_below_the_mark_loads_once_within_the_lookback(
    sources: Path, lake: Path, tmp_path: Path, lookback: str, loaded: bool
) -> None:
    config = lookback_config(tmp_path, lookback)
    db = sources / "emr" / "hospital_a.db"
    status, written, _, mark = _load(sources, lake, config)
    assert (status, written) == ("success", len(source_rows(db, "transactions")))
    # stamped an hour before the mark, committed after the load
    insert(db, "transactions", [transaction_row(900, shifted(mark, hours=-1))])
    said: list[str] = []
    second = ingest(sources, lake, config, messages=said).entities[0]
    if not loaded:
        # without a lookback (the column empty) it is lost: the gap the lookback closes
        assert (second.status, second.rows_written, second.watermark) == ("no_change", 0, mark)
        assert "TRANS000900" not in bronze_ids(lake)
        assert not [line for line in said if "lookback" in line], said
        return
    assert (second.status, second.rows_written, second.rows_rejected) == ("success", 1, 0)
    assert second.watermark == mark  # a late row never moves the mark, back or forth
    assert newest_ids(lake) == ["TRANS000900"]
    start = shifted(mark, hours=-2)
    reread = rows_between(db, start, mark) - 1  # all but the late row were read by the first load
    where = f"where ModifiedDate >= {start!r} (the mark {mark!r} less the lookback 2h)"
    assert [line for line in said if where in line], said
    skipped = (
        f"{reread} row(s) with a ModifiedDate from {start!r} to the mark {mark!r} (the lookback "
        "2h) were read by an earlier load and are skipped"
    )
    assert [line for line in said if skipped in line], said
    late = f"1 row(s) with a ModifiedDate below the mark {mark!r}, from {start!r} (the lookback 2h)"
    assert [line for line in said if late in line], said
    audit = read_audit(lake)[-1]
    assert audit["rows_read"] == audit["rows_written"] + audit["rows_rejected"] == 1
    assert (audit["watermark_before"], audit["watermark_after"]) == (mark, mark)

    assert _load(sources, lake, config) == ("no_change", 0, 0, mark)
    assert bronze_ids(lake) == source_ids(db)  # each row once


def test_a_row_later_than_the_lookback_is_still_missed(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    config, db, mark = first_lookback_load(sources, lake, tmp_path, "2h")
    insert(
        db,
        "transactions",
        [
            transaction_row(900, shifted(mark, hours=-2, seconds=-1)),  # a second too late
            transaction_row(901, shifted(mark, hours=-2)),  # the window's first watermark
        ],
    )
    assert _load(sources, lake, config) == ("success", 1, 0, mark)
    assert newest_ids(lake) == ["TRANS000901"]
    assert "TRANS000900" not in bronze_ids(lake)
    assert _load(sources, lake, config) == ("no_change", 0, 0, mark)


def test_rows_in_the_lookback_window_are_not_loaded_twice_over_several_runs(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    config = lookback_config(tmp_path, "1h")
    db = sources / "emr" / "hospital_a.db"
    first = _load(sources, lake, config)
    assert first[0] == "success"
    mark = first[3]
    for run in range(3):
        # a new row moves the mark by 30 minutes: the window leaves the older rows behind
        mark = shifted(mark, minutes=30)
        insert(db, "transactions", [transaction_row(910 + run, mark)])
        assert _load(sources, lake, config) == ("success", 1, 0, mark)
        # then one stamped 40 minutes before that mark commits
        insert(db, "transactions", [transaction_row(920 + run, shifted(mark, minutes=-40))])
        assert _load(sources, lake, config) == ("success", 1, 0, mark)
        assert newest_ids(lake) == [f"TRANS{920 + run:06d}"]
        assert _load(sources, lake, config) == ("no_change", 0, 0, mark)
    assert bronze_ids(lake) == source_ids(db)

    # the last load's boundary holds the rows of its window only
    folder = load_folders(lake, "hospital_a", "transactions")[-1]
    manifest = json.loads((folder / "_load.json").read_text())
    start = shifted(mark, hours=-1)
    assert manifest["boundary_from"] == start
    assert manifest["boundary_rows"] == rows_between(db, start, mark)
    assert (folder / "_boundary.bin").stat().st_size == 16 * manifest["boundary_rows"]

    # a row in the window that changes without moving its watermark is a new version
    execute(db, "UPDATE transactions SET PaidAmount = 7.5 WHERE TransactionID = 'TRANS000922'")
    assert _load(sources, lake, config) == ("success", 1, 0, mark)
    assert _load(sources, lake, config) == ("no_change", 0, 0, mark)

    # a mark 3 hours on: the rows read before it in the load fall out of its window
    mark = shifted(mark, hours=3)
    insert(db, "transactions", [transaction_row(930, mark)])
    assert _load(sources, lake, config) == ("success", 1, 0, mark)
    manifest = json.loads(
        (load_folders(lake, "hospital_a", "transactions")[-1] / "_load.json").read_text()
    )
    assert manifest["boundary_rows"] == rows_between(db, shifted(mark, hours=-1), mark) == 1
    assert _load(sources, lake, config) == ("no_change", 0, 0, mark)
    bronze = read_bronze(lake, "hospital_a", "transactions")
    data = [c for c in bronze.column_names if not c.startswith("_")]
    versions = [tuple(row.values()) for row in bronze.select(data).to_pylist()]
    assert len(versions) == len(set(versions)) == len(source_ids(db)) + 1
    marks = [r["watermark_after"] for r in read_audit(lake)]
    assert marks == sorted(marks)  # never backwards


def test_a_lookback_added_to_an_entity_that_ran_says_which_rows_it_reads_again(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # the last load without a lookback kept the hashes of the rows at its mark only
    db = sources / "emr" / "hospital_a.db"
    mark = _load(sources, lake, lookback_config(tmp_path, ""))[3]
    below = rows_between(db, shifted(mark, hours=-1), mark) - rows_between(db, mark, mark)
    assert below > 0
    said: list[str] = []
    entity = ingest(sources, lake, lookback_config(tmp_path, "1h"), messages=said).entities[0]
    assert (entity.status, entity.rows_written, entity.watermark) == ("success", below, mark)
    again = (
        f"{below} row(s) with a ModifiedDate from {shifted(mark, hours=-1)!r} to before {mark!r} "
        "(the lookback 1h) are read again: the last load"
    )
    kept = f"kept the hashes of its rows from {mark!r} on only, so those an earlier load read"
    assert [line for line in said if again in line and kept in line], said
    assert not [line for line in said if "were not read by the last load" in line], said
    # from then on the boundary covers the window
    assert _load(sources, lake, lookback_config(tmp_path, "1h")) == ("no_change", 0, 0, mark)


def test_a_lookback_on_a_watermark_that_is_not_a_time_fails_naming_the_config_line(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    db = sources / "emr" / "hospital_a.db"
    execute(db, "ALTER TABLE departments ADD COLUMN Version INTEGER")
    execute(db, "UPDATE departments SET Version = rowid")
    edits = {
        "hospital_a.departments": {
            "loadtype": "incremental",
            "watermark": "Version",
            "watermark_lookback": "1h",
        }
    }
    config = write_config(tmp_path / "c.csv", ["hospital_a.departments"], edits)
    entity = ingest(sources, lake, config).entities[0]
    assert entity.status == "failed"
    error = entity.error or ""
    assert "of departments is not a date or a timestamp in ISO form" in error
    assert f"leave config line 2 of {config}, watermark_lookback empty" in error
    assert load_folders(lake, "hospital_a", "departments") == []


def test_the_start_of_a_lookback_window_keeps_the_marks_form() -> None:
    # the source compares it as it compares the mark: as text for SQLite, natively when typed
    hour = timedelta(hours=1)
    assert mark_less("2024-03-01 00:30:00", hour) == "2024-02-29 23:30:00"
    assert mark_less("2024-01-06T08:00:04.250Z", hour) == "2024-01-06T07:00:04.250Z"
    assert mark_less("2024-01-06 08:00:04.123456+00:00", hour) == "2024-01-06 07:00:04.123456+00:00"
    assert mark_less("2024-11-03 01:30:00-04:00", 2 * hour) == "2024-11-02 23:30:00-04:00"
    # a time without seconds goes back whole minutes, a date whole days: never a shorter window
    assert mark_less("2024-01-06 10:00", timedelta(seconds=90)) == "2024-01-06 09:58"
    assert mark_less("2024-01-06", hour) == "2024-01-05"
    assert mark_less("2024-01-06", timedelta(days=2)) == "2024-01-04"
    assert mark_less("0001-01-01 00:10:00", hour) == "0001-01-01 00:00:00"
    for not_a_time in ("3", "yesterday", "2024-02-30", "2024-01-06 24:00:00"):
        assert mark_less(not_a_time, hour) is None, not_a_time


def test_a_mark_in_a_coarser_form_keeps_no_claim_on_rows_its_load_did_not_select(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # a date alone, compared as text with the timestamps of the column, has a window that
    # starts at midnight: below what the load that reached it selected (the mark less 1h)
    config = lookback_config(tmp_path, "1h")
    db = sources / "emr" / "hospital_a.db"
    high = highest_watermark(db)
    day = datetime.fromisoformat(high).date()
    early = f"{day.isoformat()} 00:00:01"
    assert early < shifted(high, hours=-1)
    insert(db, "transactions", [transaction_row(500, early)])
    mark = _load(sources, lake, config)[3]
    select_from = shifted(mark, hours=-1)
    next_day = (day + timedelta(days=1)).isoformat()
    insert(db, "transactions", [transaction_row(501, next_day)])
    assert _load(sources, lake, config) == ("success", 1, 0, next_day)
    folder = load_folders(lake, "hospital_a", "transactions")[-1]
    manifest = json.loads((folder / "_load.json").read_text())
    # its boundary holds the rows it read, from its own select on, not TRANS000500's
    assert manifest["boundary_from"] == select_from

    said: list[str] = []
    third = ingest(sources, lake, config, messages=said).entities[0]
    assert third.watermark == next_day
    # the next load cannot tell whether an earlier load read TRANS000500: it says so, and
    # does not report it as a late commit
    assert newest_ids(lake) == ["TRANS000500"]
    again = f"1 row(s) with a ModifiedDate from {day.isoformat()!r} to before {select_from!r}"
    assert [line for line in said if again in line], said
    assert not [line for line in said if "were not read by the last load" in line], said


def test_a_late_row_that_is_rejected_is_not_said_to_be_loaded(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    config, db, mark = first_lookback_load(sources, lake, tmp_path, "2h")
    # two rows committed late, one with an Amount staging cannot read
    unreadable = transaction_row(900, shifted(mark, hours=-1)) | {"Amount": "abc"}
    insert(db, "transactions", [unreadable, transaction_row(901, shifted(mark, hours=-1))])
    said: list[str] = []
    second = ingest(sources, lake, config, messages=said).entities[0]
    assert (second.status, second.rows_written, second.rows_rejected) == ("success", 1, 1)
    assert newest_ids(lake) == ["TRANS000901"]
    late = f"2 row(s) with a ModifiedDate below the mark {mark!r}"
    lines = [line for line in said if late in line]
    assert lines and lines[0].endswith(": 1 loaded, 1 rejected"), said
    audit = read_audit(lake)[-1]
    assert audit["rows_read"] == audit["rows_written"] + audit["rows_rejected"]


def test_a_full_load_with_the_lookback_lets_the_incremental_loads_after_it_load_nothing_twice(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    config, db, mark = first_lookback_load(sources, lake, tmp_path, "1h")
    # later than the lookback: missed, until one full load of the entity
    insert(db, "transactions", [transaction_row(900, shifted(mark, hours=-3))])
    assert _load(sources, lake, config) == ("no_change", 0, 0, mark)
    edits = {"hospital_a.transactions": {"loadtype": "full", "watermark_lookback": "1h"}}
    full = write_config(tmp_path / "full.csv", ["hospital_a.transactions"], edits)
    assert _load(sources, lake, full) == ("success", len(source_ids(db)), 0, mark)
    folder = load_folders(lake, "hospital_a", "transactions")[-1]
    manifest = json.loads((folder / "_load.json").read_text())
    start = shifted(mark, hours=-1)
    assert manifest["boundary_from"] == start
    assert manifest["boundary_rows"] == rows_between(db, start, mark)

    # back to incremental: the window's rows are skipped by their hashes, none read again
    said: list[str] = []
    after = ingest(sources, lake, config, messages=said).entities[0]
    assert (after.status, after.rows_written, after.watermark) == ("no_change", 0, mark)
    assert not [line for line in said if "read again" in line], said
    insert(db, "transactions", [transaction_row(901, shifted(mark, minutes=-30))])
    assert _load(sources, lake, config) == ("success", 1, 0, mark)
    assert newest_ids(lake) == ["TRANS000901"]


def test_a_load_whose_last_load_folder_is_gone_says_so_when_it_reads_the_window_again(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    config, db, mark = first_lookback_load(sources, lake, tmp_path, "1h")
    start = shifted(mark, hours=-1)
    below = rows_between(db, start, mark) - rows_between(db, mark, mark)
    assert below > 0
    (folder,) = load_folders(lake, "hospital_a", "transactions")
    shutil.rmtree(folder)  # removed by hand
    said: list[str] = []
    entity = ingest(sources, lake, config, messages=said).entities[0]
    assert entity.status == "success"
    again = (
        f"{below} row(s) with a ModifiedDate from {start!r} to before {mark!r} (the lookback 1h) "
        f"are read again: no load folder of the mark {mark!r} is left to take hashes from"
    )
    assert [line for line in said if again in line], said


def test_after_a_load_with_no_change_a_late_row_is_loaded_once_by_the_marks_boundary(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # a load that finds nothing writes no folder: the next one skips by the boundary of the
    # load that set the mark
    config, db, mark = first_lookback_load(sources, lake, tmp_path, "2h")
    assert _load(sources, lake, config) == ("no_change", 0, 0, mark)
    insert(
        db,
        "transactions",
        [transaction_row(900, shifted(mark, minutes=-30)), transaction_row(901, mark)],
    )
    assert _load(sources, lake, config) == ("success", 2, 0, mark)
    assert newest_ids(lake) == ["TRANS000900", "TRANS000901"]
    assert _load(sources, lake, config) == ("no_change", 0, 0, mark)
    assert bronze_ids(lake) == source_ids(db)


def test_a_lookback_on_a_watermark_with_a_fallback_reads_late_rows_of_either_column(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    edits = {"hospital_a.transactions": {**FALLBACK["hospital_a.transactions"]}}
    edits["hospital_a.transactions"]["watermark_lookback"] = "1h"
    config = write_config(tmp_path / "c.csv", ["hospital_a.transactions"], edits)
    db = sources / "emr" / "hospital_a.db"
    mark = _load(sources, lake, config)[3]
    insert(
        db,
        "transactions",
        [
            unmodified_row(900, shifted(mark, minutes=-30)),  # late, by its InsertDate
            transaction_row(901, shifted(mark, minutes=-20)),  # late, by its ModifiedDate
            unmodified_row(902, shifted(mark, hours=-2)),  # later than the lookback
        ],
    )
    assert _load(sources, lake, config) == ("success", 2, 0, mark)
    assert [tid for tid, _ in newest_rows(lake)] == ["TRANS000900", "TRANS000901"]
    assert _load(sources, lake, config) == ("no_change", 0, 0, mark)
    assert "TRANS000902" not in bronze_ids(lake)
    assert sorted([*bronze_ids(lake), "TRANS000902"]) == source_ids(db)


def test_a_full_load_with_a_lookback_takes_its_window_from_a_mark_that_is_a_timestamp(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # 'yesterday' sorts after every date: as the full load's mark, its window could not be
    # taken, and the full load meant to recover missed rows would fail
    db = sources / "emr" / "hospital_a.db"
    high = highest_watermark(db)
    execute(
        db, "UPDATE transactions SET ModifiedDate = 'yesterday' WHERE TransactionID = 'TRANS000003'"
    )
    edits = {"hospital_a.transactions": {"loadtype": "full", "watermark_lookback": "1h"}}
    full = write_config(tmp_path / "full.csv", ["hospital_a.transactions"], edits)
    status, written, rejected, mark = _load(sources, lake, full)
    assert (status, written + rejected, mark) == ("success", len(source_ids(db)), high)
    folder = load_folders(lake, "hospital_a", "transactions")[-1]
    assert json.loads((folder / "_load.json").read_text())["boundary_from"] == shifted(
        high, hours=-1
    )


def test_sql_server_datetimeoffset_is_a_zoned_timestamp_for_the_fallback_check() -> None:
    # SQLAlchemy's DATETIMEOFFSET says timezone=False: `ModifiedDate datetimeoffset |
    # InsertDate datetime2` passed the check that refuses a zoned and a naive watermark column
    # (the UTC mark is compared with local InsertDate clock times). No SQL Server here: the
    # type objects are the dialect's own.
    from sqlalchemy.dialects import mssql

    from ingestion.sources.sql import _type_family

    assert _type_family(mssql.DATETIMEOFFSET()) == "timestamp with time zone"
    assert _type_family(mssql.DATETIME2()) == "timestamp"
