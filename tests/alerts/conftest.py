"""Fixtures of the `rcm alerts` tests: a real DuckDB warehouse with marts.alerts, and a real
local webhook (http.server on 127.0.0.1 in a thread) that records what it receives."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest

ALERT_ROWS: list[dict[str, Any]] = [
    {
        "alert_id": "claim_denied_recently:hospital_a:CLM000001",
        "alert_type": "claim_denied_recently",
        "severity": "medium",
        "source_system": "hospital_a",
        "subject": "Claim hospital_a:CLM000001 denied (Aetna)",
        "detail": "Denied on 2024-04-28, reason CO-16",
        "amount": "1250.50",
        "as_of_date": dt.date(2024, 4, 30),
    },
    {
        "alert_id": "claim_unpaid_over_90_days:hospital_b:CLM000777",
        "alert_type": "claim_unpaid_over_90_days",
        "severity": "high",
        "source_system": "hospital_b",
        "subject": "Claim hospital_b:CLM000777 unpaid for 121 days",
        "detail": "Medicare, submitted 2023-12-31",
        "amount": "9800.00",
        "as_of_date": dt.date(2024, 4, 30),
    },
    {
        "alert_id": "ar_over_90_above_threshold:hospital_a:2024-04",
        "alert_type": "ar_over_90_above_threshold",
        "severity": "high",
        "source_system": "hospital_a",
        "subject": "A/R over 90 days is 26.0 % (threshold 20 %)",
        "detail": "Open A/R 480,000.00, over 90 days 124,800.00",
        "amount": "124800.00",
        "as_of_date": dt.date(2024, 4, 30),
    },
    {
        "alert_id": "payer_denial_rate_jump:hospital_b:Medicare:2024-04",
        "alert_type": "payer_denial_rate_jump",
        "severity": "low",
        "source_system": "hospital_b",
        "subject": "Medicare initial denial rate 4.0 % -> 11.0 %",
        "detail": "Compared with the prior 3 months",
        "amount": None,
        "as_of_date": dt.date(2024, 4, 30),
    },
]


def write_alerts(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        con.execute(
            "create or replace table marts.alerts (alert_id varchar, alert_type varchar, "
            "severity varchar, source_system varchar, subject varchar, detail varchar, "
            "amount decimal(18,2), as_of_date date)"
        )
        con.executemany(
            "insert into marts.alerts values (?, ?, ?, ?, ?, ?, ?, ?)",
            [list(row.values()) for row in rows],
        )
        # the hospitals of the warehouse (`--hospital` is checked against them), with the
        # unknown member; hospital_c has no alert
        con.execute(
            "create or replace table marts.dim_department as select * from (values "
            "('hospital_a'), ('hospital_b'), ('hospital_c'), ('unknown')) as t(source_system)"
        )
    finally:
        con.close()
    return path


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return write_alerts(tmp_path / "warehouse" / "rcm.duckdb", ALERT_ROWS)


@dataclass
class Webhook:
    """A local webhook: what it received, and how it answers (status, delay)."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if hook.delay:
                time.sleep(hook.delay)
            hook.paths.append(self.path)
            if hook.status == 200:
                hook.received.append(json.loads(body))
            try:
                self.send_response(hook.status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if hook.status == 200 else b"server error")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (the timeout test)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/webhookb2/incoming"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
