"""The audit log's statuses are the ones dbt's staging of it accepts, and the ones documented:
a status the loader writes and the test does not know fails every build that reads the log."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import yaml

from ingestion.audit import (
    LOADED_STATUSES,
    STATUSES,
    WATERMARK_STATUSES,
    AuditLog,
    AuditRecord,
)
from ingestion.lake import LocalLake

ROOT = Path(__file__).resolve().parents[2]


def test_dbt_accepts_every_status_the_loader_writes() -> None:
    models = yaml.safe_load(
        (ROOT / "dbt_project/models/staging/lake_audit/_lake_audit__models.yml").read_text()
    )
    (model,) = models["models"]
    (accepted,) = [
        test["accepted_values_columns"]["arguments"]["columns"]["load_status"]
        for test in model["data_tests"]
        if "accepted_values_columns" in test
    ]
    assert sorted(accepted) == sorted(STATUSES)


def test_the_contract_lists_every_status() -> None:
    contract = (ROOT / "docs/contracts.md").read_text()
    listed = re.search(r"`status` is one of (.*?)\.", contract, re.DOTALL)
    assert listed is not None
    assert sorted(re.findall(r"`(\w+)`", listed.group(1))) == sorted(STATUSES)


def test_an_abandoned_load_neither_moves_a_mark_nor_counts_as_loaded() -> None:
    assert "abandoned" in STATUSES
    assert "abandoned" not in WATERMARK_STATUSES | LOADED_STATUSES


def test_an_abandoned_row_accounts_for_no_load_folder(tmp_path: Path) -> None:
    # recovery audits a published load folder that no row accounts for; an abandoned row of
    # the same id (its load was removed unpublished) must not hide such a folder
    def row(load_id: str, status: str) -> AuditRecord:
        now = datetime.now(UTC)
        return AuditRecord(
            "run", load_id, None, "hospital_a", "claims", "full", None, 0, 0, 0,
            None, None, None, None, now, now, status, None,
        )  # fmt: skip

    audit = AuditLog(LocalLake(tmp_path), [row("a", "abandoned"), row("b", "success")])
    assert audit.load_ids("hospital_a.claims") == {"b"}
