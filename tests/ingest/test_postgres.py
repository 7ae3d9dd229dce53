"""PostgreSQL as an EMR source: a real throw-away server, ingested through psycopg."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

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


def _insert(url: str, rows: list[dict[str, object]]) -> None:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    names = ", ".join(f'"{c}"' for c in COLUMNS)
    marks = ", ".join(["%s"] * len(COLUMNS))
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO transactions ({names}) VALUES ({marks})",
            [tuple(r[c] for c in COLUMNS) for r in rows],
        )


def test_incremental_load_from_postgresql(postgres_url: str, tmp_path: Path) -> None:
    dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    types = {
        "Amount": "double precision",
        "PaidAmount": "double precision",
        "ModifiedDate": "timestamp",
        "InsertDate": "timestamp",
    }
    columns = ", ".join(f'"{c}" {types.get(c, "text")}' for c in COLUMNS)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE transactions ({columns})")
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
    second = ingest(sources, lake, config, env=env)
    assert second.entities[0].rows_written == len(late)
    newest = pq.read_table(load_folders(lake, "hospital_a", "transactions")[-1]).to_pylist()
    assert sorted(r["TransactionID"] for r in newest) == sorted(r["TransactionID"] for r in late)

    third = ingest(sources, lake, config, env=env)
    assert third.entities[0].status == "no_change"
    assert read_audit(lake)[-1]["watermark_after"] == "2024-02-01 00:00:00"
