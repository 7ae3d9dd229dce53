"""Defect counts follow the configured rates."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

from ingestion.generate.generator import generate

from .conftest import claim_lines, read_csv, settings

RATE = 0.04


def test_defect_rates_within_tolerance(tmp_path: Path) -> None:
    rates = {
        "missing_required": RATE,
        "duplicate_row": RATE / 2,
        "unknown_icd": RATE,
        "unknown_cpt": RATE,
        "orphan_fk": RATE,
        "malformed_line": RATE,
        "duplicate_billing": RATE / 2,
        "upcoded": RATE,
        "outlier_amount": RATE,
        "invalid_npi": 0.1,
    }
    out = tmp_path / "s"
    summary = generate(settings(out, defect_rates=rates))
    labels = read_csv(out / "truth" / "defects.csv")
    counts = Counter((r["entity"], r["defect_type"]) for r in labels)
    assert sum(summary.defects.values()) == len(labels)

    def rows(entity: str) -> int:
        n = 0
        for h in ("hospital_a", "hospital_b"):
            con = sqlite3.connect(out / "emr" / f"{h}.db")
            n += con.execute(f"select count(*) from {entity}").fetchone()[0]
            con.close()
        return n

    n_claim_rows = sum(len(claim_lines(f)) - 1 for f in (out / "landing" / "claims").glob("*.csv"))
    denominators = {
        "transactions": rows("transactions"),
        "patients": rows("patients"),
        "providers": rows("providers"),
        "claims": n_claim_rows,
    }
    for (entity, dtype_), count in counts.items():
        if entity == "encounters":
            continue
        expected = rates[dtype_] * denominators[entity]
        assert abs(count - expected) <= max(4.0, 0.3 * expected), (entity, dtype_, count, expected)
    # every configured (entity, defect) pair was injected at least once
    assert counts["transactions", "upcoded"] > 0
    assert counts["claims", "malformed_line"] > 0


def test_zero_rates_inject_nothing(tmp_path: Path) -> None:
    out = tmp_path / "clean"
    summary = generate(settings(out, defect_rates=dict.fromkeys(settings(out).defect_rates, 0.0)))
    assert summary.defects == {}
    assert len(read_csv(out / "truth" / "defects.csv")) == 0
