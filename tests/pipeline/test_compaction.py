"""Compaction of the local warehouse (ingestion/compaction.py), on real DuckDB files.

Deleted rows are made as the daily builds make them: DuckDB's vacuum off
(``max_vacuum_tasks = 0``, as in the local profile), rows deleted all over a table, then a
checkpoint. That `rcm build` calls the compaction and records the warehouse after it is tested
end to end in tests/pipeline/test_run.py.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ingestion import compaction
from ingestion.build import BuildResult, format_summary

ROWS = 300_000


def stored_and_live(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, int]:
    schema, name = table.split(".")
    stored = con.execute(
        "select estimated_size from duckdb_tables() where schema_name = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    live = con.execute(f"select count(*) from {table}").fetchone()
    assert stored is not None and live is not None
    return int(stored[0]), int(live[0])


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """Three tables of 300,000 rows: 60 % of `marts.fragmented` deleted, 60 % of
    `marts.constrained` (which has a NOT NULL constraint) deleted and 5 % of `marts.settled`."""
    path = tmp_path / "rcm.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("set max_vacuum_tasks = 0")
        con.execute("create schema marts")
        for table in ("fragmented", "settled"):
            con.execute(
                f"create table marts.{table} as select range as id, 'claim-' || range as claim_id,"
                f" cast(range / 100 as decimal(18, 2)) as amount from range({ROWS})"
            )
        con.execute("create table marts.constrained (id bigint not null)")
        con.execute(f"insert into marts.constrained select range from range({ROWS})")
        con.execute("comment on table marts.fragmented is 'one row per claim'")
        con.execute("comment on column marts.fragmented.amount is 'paid, in dollars'")
        con.execute("create view marts.first_claims as from marts.fragmented where id < 10")
        con.execute("checkpoint")
        con.execute("delete from marts.fragmented where id % 5 < 3")
        con.execute("delete from marts.constrained where id % 5 < 3")
        con.execute("delete from marts.settled where id % 20 = 0")
        con.execute("checkpoint")
        # what the rows look like before: kept to compare after the rewrite
        con.execute("create table main.fragmented_before as select * from marts.fragmented")
        con.execute("checkpoint")
    return path


def test_rows_counts_the_deleted_rows_each_table_still_stores(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        found = {rows.name: rows for rows in compaction.table_rows(con)}
    assert found["marts.fragmented"].stored_rows == ROWS
    assert found["marts.fragmented"].deleted_rows == ROWS * 3 // 5
    assert found["marts.settled"].deleted_rows == ROWS // 20
    assert found["marts.fragmented"].needs_compaction()
    # 5 % deleted: under the threshold, and fewer than one row group
    assert not found["marts.settled"].needs_compaction()
    assert "main.fragmented_before" in found and "marts.first_claims" not in found


def test_a_table_mostly_deleted_is_rewritten_with_its_rows_and_comments(warehouse: Path) -> None:
    said: list[str] = []
    done = compaction.compact_warehouse(warehouse, progress=said.append)

    assert [table.before.name for table in done] == ["marts.fragmented"]
    assert done[0].before.deleted_rows == ROWS * 3 // 5
    assert any("compacting marts.fragmented" in line for line in said)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert stored_and_live(con, "marts.fragmented") == (ROWS * 2 // 5, ROWS * 2 // 5)
        differing = con.execute(
            "select count(*) from ((from marts.fragmented except all from main.fragmented_before)"
            " union all (from main.fragmented_before except all from marts.fragmented))"
        ).fetchone()
        assert differing == (0,)
        assert con.execute(
            "select comment from duckdb_tables() where table_name = 'fragmented'"
        ).fetchone() == ("one row per claim",)
        assert con.execute(
            "select comment from duckdb_columns() where table_name = 'fragmented'"
            " and column_name = 'amount'"
        ).fetchone() == ("paid, in dollars",)
        # a view over the table still reads it
        assert con.execute("select count(*) from marts.first_claims").fetchone() == (4,)
        # under the threshold: as it was; with a constraint: left alone, constraint kept
        assert stored_and_live(con, "marts.settled") == (ROWS, ROWS * 19 // 20)
        assert stored_and_live(con, "marts.constrained") == (ROWS, ROWS * 2 // 5)
    assert not warehouse.with_name(warehouse.name + ".wal").exists()


def test_a_lower_threshold_rewrites_more_and_nothing_is_left_to_do_after(warehouse: Path) -> None:
    first = compaction.compact_warehouse(warehouse, threshold=0.0, progress=lambda _: None)
    # every table with a row group's worth of deleted rows, except the constrained one
    assert [table.before.name for table in first] == ["marts.fragmented"]
    with duckdb.connect(str(warehouse)) as con:
        con.execute("set max_vacuum_tasks = 0")
        con.execute("delete from marts.settled where id % 20 < 10")
        con.execute("checkpoint")
    second = compaction.compact_warehouse(warehouse, threshold=0.0, progress=lambda _: None)
    assert [table.before.name for table in second] == ["marts.settled"]
    assert compaction.compact_warehouse(warehouse, threshold=0.0, progress=lambda _: None) == []


def test_a_missing_warehouse_is_nothing_to_compact(tmp_path: Path) -> None:
    assert compaction.compact_warehouse(tmp_path / "absent.duckdb") == []
    assert not (tmp_path / "absent.duckdb").exists()


def test_the_build_summary_names_what_was_compacted(tmp_path: Path) -> None:
    rows = compaction.TableRows("marts", "fct_ar_snapshots", 5_200_000, 3_380_000)
    result = BuildResult(
        success=True,
        nodes=(),
        elapsed_seconds=12.0,
        target_path=tmp_path,
        compacted=(compaction.Compacted(rows, 4.31),),
    )
    assert (
        "  compacted  marts.fct_ar_snapshots (1,820,000 deleted of 5,200,000 stored rows, 35%; "
        "4.3s)"
    ) in format_summary(result)


def test_columns_stored_uncompressed_stay_so_after_the_rewrite(tmp_path: Path) -> None:
    # as dbt_project/macros/engines/uncompressed_columns.sql creates a model's table
    path = tmp_path / "rcm.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("set max_vacuum_tasks = 0")
        con.execute("create schema cdm")
        con.execute(
            "create table cdm.claims (id bigint, claim_id varchar using compression uncompressed,"
            " status varchar)"
        )
        con.execute(
            "insert into cdm.claims select range, 'hospital_a:C' || range,"
            f" ['Paid', 'Denied'][range % 2 + 1] from range({ROWS})"
        )
        con.execute("comment on column cdm.claims.status is 'the latest status'")
        # a view over the table, as int_transactions_conformed is over int_transactions_unioned
        con.execute("create view cdm.paid_claims as from cdm.claims where status = 'Paid'")
        con.execute("checkpoint")
        con.execute("delete from cdm.claims where id % 5 < 3")
        con.execute("checkpoint")
        before = con.execute("select * from cdm.claims order by id").fetchall()
        paid = con.execute("select count(*) from cdm.paid_claims").fetchone()

    done = compaction.compact_warehouse(path, progress=lambda line: None)

    assert [table.before.name for table in done] == ["cdm.claims"]
    with duckdb.connect(str(path), read_only=True) as con:
        assert stored_and_live(con, "cdm.claims") == (len(before), len(before))
        assert con.execute("select * from cdm.claims order by id").fetchall() == before
        stored = dict(
            con.execute(
                "select column_name, string_agg(distinct compression) from "
                "pragma_storage_info('cdm.claims') where segment_type = 'VARCHAR' group by all"
            ).fetchall()
        )
        assert stored["claim_id"] == "Uncompressed"
        assert stored["status"] != "Uncompressed"
        assert con.execute(
            "select comment from duckdb_columns() where table_name = 'claims' "
            "and column_name = 'status'"
        ).fetchone() == ("the latest status",)
        assert con.execute("select count(*) from cdm.paid_claims").fetchone() == paid
        # no holding table is left behind
        assert con.execute(
            "select table_name from duckdb_tables() where schema_name = 'cdm'"
        ).fetchall() == [("claims",)]
