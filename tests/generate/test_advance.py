"""--advance-to: new rows, or changed rows with later modified dates, as the changes file says."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from ingestion.generate.generator import GenerateError, advance
from ingestion.generate.settings import SettingsError

from .conftest import ADVANCE_TO, END, claim_lines, read_csv, table_rows

MODIFIED = {"patients", "encounters", "transactions"}  # tables whose last column is a timestamp


def test_changes_file_matches_before_after_diff(advanced: tuple[Path, Path]) -> None:
    before, after = advanced
    changes = read_csv(after / "truth" / f"changes_{ADVANCE_TO.isoformat()}.csv")
    end_text = f"{END.isoformat()} 23:59:59"
    missing_ids = {
        (r["hospital"], r["entity"], r["key"])
        for r in read_csv(after / "truth" / "defects.csv")
        if r["defect_type"] == "missing_required"
        and (r["entity"], r["field"])
        in {("patients", "PatientID"), ("patients", "ID"), ("transactions", "TransactionID")}
    }
    for h in ("hospital_a", "hospital_b"):
        for table in ("patients", "encounters", "providers", "transactions", "departments"):
            cols, old = table_rows(before / "emr" / f"{h}.db", table)
            _, new = table_rows(after / "emr" / f"{h}.db", table)
            old_c, new_c = Counter(old), Counter(new)
            removed = old_c - new_c
            added = new_c - old_c
            mine = [r for r in changes if r["hospital"] == h and r["entity"] == table]
            updates = {r["key"] for r in mine if r["change_type"] == "update"}
            inserts = Counter(r["key"] for r in mine if r["change_type"] == "insert")
            # an updated key lost its old rows and gained new ones; nothing else disappeared
            assert {r[0] for r in removed.elements()} == updates, (h, table)
            added_keys = Counter(r[0] for r in added.elements())
            expected = inserts + Counter(
                {k: old_c_keys for k, old_c_keys in _counts(old, updates).items()}
            )
            # rows whose id is missing carry no key in the data
            null_keys = added_keys.pop(None, 0) + added_keys.pop("null", 0)
            n_null_labelled = sum(c for k, c in inserts.items() if (h, table, k) in missing_ids)
            for k in list(expected):
                if (h, table, k) in missing_ids and k in inserts:
                    expected[k] -= inserts[k]
            assert +expected == added_keys, (h, table)
            assert null_keys == n_null_labelled
            if table in MODIFIED and added:
                mod_col = len(cols) - 1
                for row in added.elements():
                    assert str(row[mod_col]) > end_text, (h, table, row)
            if table == "departments":
                assert not mine and not added and not removed


def _counts(rows: list[tuple[object, ...]], keys: set[str]) -> Counter[object]:
    return Counter(r[0] for r in rows if r[0] in keys)


def test_claim_files_only_added_never_rewritten(advanced: tuple[Path, Path]) -> None:
    before, after = advanced
    old = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (before / "landing" / "claims").glob("*.csv")
    }
    new = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (after / "landing" / "claims").glob("*.csv")
    }
    for name, digest in old.items():
        assert new[name] == digest
    added = sorted(set(new) - set(old))
    assert added == sorted(
        f"hospital{n}_claim_data_{suffix}.csv"
        for n in (1, 2)
        for suffix in ("2024_07", "2024_08_20")
    )
    changes = read_csv(after / "truth" / f"changes_{ADVANCE_TO.isoformat()}.csv")
    claim_changes = Counter(
        (r["hospital"], r["key"], r["modified_at"]) for r in changes if r["entity"] == "claims"
    )
    in_files: Counter[tuple[str, str, str]] = Counter()
    for name in added:
        h = "hospital_a" if name.startswith("hospital1") else "hospital_b"
        lines = claim_lines(after / "landing" / "claims" / name)
        for line in lines[1:]:
            fields = line.split(",")
            if len(fields) == 20 and '"' not in line and fields[0]:
                in_files[(h, fields[0], fields[17])] += 1
    assert in_files
    assert in_files <= claim_changes
    last_before = max(
        line.split(",")[17]
        for p in (before / "landing" / "claims").glob("*.csv")
        for line in claim_lines(p)[1:]
        if len(line.split(",")) == 20
    )
    assert all(k[2] > last_before for k in claim_changes)
    state = json.loads((after / "generator_state.json").read_text())
    assert state["end"] == ADVANCE_TO.isoformat()
    assert set(added) <= set(state["claim_files"])


def test_status_changes_of_open_claims_reappear(advanced: tuple[Path, Path]) -> None:
    before, after = advanced
    old_ids = set()
    for p in (before / "landing" / "claims").glob("*.csv"):
        old_ids |= {line.split(",")[0] for line in claim_lines(p)[1:]}
    changes = read_csv(after / "truth" / f"changes_{ADVANCE_TO.isoformat()}.csv")
    updated = {
        r["key"] for r in changes if r["entity"] == "claims" and r["change_type"] == "update"
    }
    assert updated & old_ids, "claims written before change status in the new window"
    kinds = {(r["entity"], r["change_type"]) for r in changes}
    assert ("transactions", "update") in kinds and ("patients", "update") in kinds


def test_advance_refuses_a_date_not_after_the_end(advanced: tuple[Path, Path]) -> None:
    _, after = advanced
    with pytest.raises(SettingsError):
        advance(after, ADVANCE_TO)
    with pytest.raises(GenerateError):
        advance(after.parent / "nothing-here", ADVANCE_TO)


def test_advanced_sources_index_the_columns_incremental_loads_filter_on(
    advanced: tuple[Path, Path],
) -> None:
    """A daily load selects `ModifiedDate >= mark`: the advanced EMR indexes that column (and
    the ids its updates look up), so the load reads the day's rows, not the table."""
    _, after = advanced
    for hospital, modified_patients in (
        ("hospital_a", "ModifiedDate"),
        ("hospital_b", "Updated_Date"),
    ):
        with sqlite3.connect(after / "emr" / f"{hospital}.db") as conn:
            leading = {
                (table, conn.execute(f"PRAGMA index_info('{index}')").fetchone()[2])
                for index, table in conn.execute(
                    "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'"
                )
            }
            plan = " ".join(
                str(row[-1])
                for row in conn.execute(
                    "EXPLAIN QUERY PLAN SELECT * FROM transactions WHERE ModifiedDate >= ?",
                    ("2024-01-10 00:00:00",),
                )
            )
        for table, column in (
            ("patients", modified_patients),
            ("encounters", "ModifiedDate"),
            ("transactions", "ModifiedDate"),
        ):
            assert (table, column) in leading, (hospital, table)
        assert "USING INDEX ix_transactions_modifieddate" in plan, plan
