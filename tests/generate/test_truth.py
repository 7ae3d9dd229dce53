"""Every labelled defect is really in the data, and the data holds no unlabelled ones."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

import simple_icd_10_cm as icd

from ingestion.generate.reference import npi_is_valid

from .conftest import claim_lines, read_csv, table_rows

HOSPITALS = ("hospital_a", "hospital_b")
KEY = {"patients": {"hospital_a": "PatientID", "hospital_b": "ID"}}


def _defects(sources: Path, **match: str) -> list[dict[str, str]]:
    rows = read_csv(sources / "truth" / "defects.csv")
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def _db(sources: Path, hospital: str) -> Path:
    return sources / "emr" / f"{hospital}.db"


def _dicts(db: Path, table: str) -> list[dict[str, object]]:
    cols, rows = table_rows(db, table)
    return [dict(zip(cols, r, strict=True)) for r in rows]


def test_npis_valid_except_exactly_the_labelled_ones(sources: Path) -> None:
    extract = json.loads((sources / "landing" / "npi" / "nppes_npi_extract.json").read_text())
    registry = {r["number"] for r in extract["results"]}
    assert all(npi_is_valid(n) for n in registry)
    for h in HOSPITALS:
        labelled = {r["key"] for r in _defects(sources, hospital=h, defect_type="invalid_npi")}
        assert labelled, "at least one invalid NPI per hospital at the default rate"
        for p in _dicts(_db(sources, h), "providers"):
            npi = str(p["NPI"])
            assert npi_is_valid(npi) == (p["ProviderID"] not in labelled), p
            assert (npi in registry) == (p["ProviderID"] not in labelled)


def test_npi_check_digit_known_example() -> None:
    # The CMS example NPI 1234567893; a wrong last digit fails.
    assert npi_is_valid("1234567893")
    assert not npi_is_valid("1234567894")


def test_missing_required_fields_are_there(sources: Path) -> None:
    for h in HOSPITALS:
        for entity in ("patients", "transactions"):
            rows = _dicts(_db(sources, h), entity)
            key = KEY.get(entity, {}).get(h, "TransactionID")
            by_key = {r[key]: r for r in rows if r[key] not in (None, "null")}
            labels = _defects(sources, hospital=h, entity=entity, defect_type="missing_required")
            assert labels
            id_missing = 0
            for lab in labels:
                if lab["field"] == key:
                    id_missing += 1
                    assert lab["key"] not in by_key
                else:
                    assert by_key[lab["key"]][lab["field"]] in (None, "null"), lab
            assert sum(1 for r in rows if r[key] in (None, "null")) == id_missing


def test_unknown_codes_labelled_and_only_those(sources: Path) -> None:
    cpt = {r["CPT Codes"] for r in read_csv(sources / "landing" / "cpt" / "cpt_codes.csv")}
    for h in HOSPITALS:
        unknown_icd = {r["key"] for r in _defects(sources, hospital=h, defect_type="unknown_icd")}
        unknown_cpt = {r["key"] for r in _defects(sources, hospital=h, defect_type="unknown_cpt")}
        assert unknown_icd and unknown_cpt
        dotless = 0
        for t in _dicts(_db(sources, h), "transactions"):
            tid, code, proc = t["TransactionID"], str(t["ICDCode"]), t["ProcedureCode"]
            if tid is None:
                continue
            assert icd.is_valid_item(code) != (tid in unknown_icd), (tid, code)
            assert (proc in cpt) != (tid in unknown_cpt), (tid, proc)
            dotless += "." not in code
        if h == "hospital_a":
            assert dotless == 0 or dotless <= len(unknown_icd)
        else:
            assert dotless > 0, "hospital B mixes codes without the dot"


def test_orphan_foreign_keys(sources: Path) -> None:
    for h in HOSPITALS:
        db = _db(sources, h)
        providers = {r["ProviderID"] for r in _dicts(db, "providers")}
        encounters = {r["EncounterID"] for r in _dicts(db, "encounters")}
        pkey = KEY["patients"][h]
        patients = {r[pkey] for r in _dicts(db, "patients")}
        no_id = {r["key"] for r in _defects(sources, hospital=h, entity="patients", field=pkey)}
        labels = {
            (r["key"], r["field"]) for r in _defects(sources, hospital=h, defect_type="orphan_fk")
        }
        assert labels
        found = set()
        for t in _dicts(db, "transactions"):
            if t["TransactionID"] is None:
                continue
            tid = str(t["TransactionID"])
            if t["ProviderID"] is not None and t["ProviderID"] not in providers:
                found.add((tid, "ProviderID"))
            if t["EncounterID"] is not None and t["EncounterID"] not in encounters:
                found.add((tid, "EncounterID"))
            pat = t["PatientID"]
            if pat is not None and pat not in patients and pat not in no_id:
                found.add((tid, "PatientID"))
        labelled_visible = {lab for lab in labels if lab[0] not in _missing_tx_ids(sources, h)}
        assert found == labelled_visible


def _missing_tx_ids(sources: Path, h: str) -> set[str]:
    return {
        r["key"]
        for r in _defects(sources, hospital=h, entity="transactions", field="TransactionID")
        if r["defect_type"] == "missing_required"
    }


def test_emr_duplicates_are_exact_and_labelled(sources: Path) -> None:
    for h in HOSPITALS:
        for entity in ("patients", "encounters", "transactions"):
            _, rows = table_rows(_db(sources, h), entity)
            counts = Counter(rows)
            dup_keys = {r[0] for r, c in counts.items() if c > 1}
            labels = {
                r["key"]
                for r in _defects(sources, hospital=h, entity=entity, defect_type="duplicate_row")
            }
            assert dup_keys == labels, (h, entity)


def test_claim_file_defects_at_their_lines(sources: Path) -> None:
    labels = [r for r in read_csv(sources / "truth" / "defects.csv") if r["entity"] == "claims"]
    kinds = Counter(r["defect_type"] for r in labels)
    assert kinds["malformed_line"] > 0 and kinds["duplicate_row"] > 0
    assert kinds["missing_required"] > 0
    malformed = {r["key"] for r in labels if r["defect_type"] == "malformed_line"}
    seen_bad = set()
    for f in sorted((sources / "landing" / "claims").glob("*.csv")):
        lines = claim_lines(f)
        for n, line in enumerate(lines, start=1):
            if len(line.split(",")) != 20 or '"' in line:
                seen_bad.add(f"{f.name}:{n}")
    assert seen_bad == malformed
    for lab in labels:
        if lab["defect_type"] == "malformed_line":
            continue
        name, line_no = lab["detail"].split(" ")[0].split(":")
        lines = claim_lines(sources / "landing" / "claims" / name)
        fields = lines[int(line_no) - 1].split(",")
        if lab["defect_type"] == "missing_required":
            header = lines[0].split(",")
            assert fields[header.index(lab["field"])] == ""
            assert lab["key"] in lines[int(line_no) - 1] or lab["field"] == "ClaimID"
        else:
            assert lines[int(line_no) - 1] == lines[int(line_no) - 2]
            assert fields[0] == lab["key"]


def _cents(amount: object) -> int | None:
    return None if amount is None else round(float(amount) * 100)  # type: ignore[arg-type]


def test_billing_anomalies(sources: Path) -> None:
    for h in HOSPITALS:
        db = _db(sources, h)
        tx = {r["TransactionID"]: r for r in _dicts(db, "transactions") if r["TransactionID"]}
        for lab in _defects(sources, hospital=h, defect_type="duplicate_billing"):
            t = tx[lab["key"]]
            twins = [
                o
                for o in tx.values()
                if o["TransactionID"] != t["TransactionID"]
                and (o["EncounterID"], o["ProcedureCode"], o["ServiceDate"], _cents(o["Amount"]))
                == (t["EncounterID"], t["ProcedureCode"], t["ServiceDate"], _cents(t["Amount"]))
            ]
            assert twins, lab
        for lab in _defects(sources, hospital=h, defect_type="upcoded"):
            assert tx[lab["key"]]["ProcedureCode"] == lab["detail"].split()[-1]
        amounts: dict[object, list[float]] = {}
        for t in tx.values():
            if t["Amount"] is not None:
                amounts.setdefault(t["ProcedureCode"], []).append(float(t["Amount"]))  # type: ignore[arg-type]
        for lab in _defects(sources, hospital=h, defect_type="outlier_amount"):
            t = tx[lab["key"]]
            peers = sorted(amounts[t["ProcedureCode"]])
            assert float(t["Amount"]) >= 5 * peers[len(peers) // 2] or len(peers) < 3  # type: ignore[arg-type]


def test_claims_truth_covers_every_claim(sources: Path) -> None:
    truth = read_csv(sources / "truth" / "claims.csv")
    for h in HOSPITALS:
        con = sqlite3.connect(_db(sources, h))
        claim_ids = {r[0] for r in con.execute("select ClaimID from transactions")}
        con.close()
        assert claim_ids == {r["ClaimID"] for r in truth if r["hospital"] == h}
    denied = [float(r["p_denial"]) for r in truth if r["first_outcome"] == "denied"]
    other = [float(r["p_denial"]) for r in truth if r["first_outcome"] == "paid"]
    assert denied and other
    assert sum(denied) / len(denied) > sum(other) / len(other)
    assert all(r["denial_reason_code"] for r in truth if r["first_outcome"] == "denied")


def test_reference_unknown_codes_are_really_unknown() -> None:
    from ingestion.generate import simulate
    from ingestion.generate.reference import cpt_catalogue

    for code in simulate.UNKNOWN_ICD:
        assert not icd.is_valid_item(code) and not icd.is_valid_item(code.replace(".", ""))
    assert not set(simulate.UNKNOWN_CPT) & set(cpt_catalogue().codes)


def test_dates_cover_the_range_and_payments_are_reflected(sources: Path) -> None:
    from .conftest import END, START

    for h in HOSPITALS:
        con = sqlite3.connect(_db(sources, h))
        lo, hi = con.execute("select min(VisitDate), max(VisitDate) from transactions").fetchone()
        assert lo <= (START.replace(day=7)).isoformat() and hi >= END.replace(day=23).isoformat()
        rows = con.execute(
            "select PaidAmount, PaidDate, ServiceDate, ModifiedDate, InsertDate from transactions"
        ).fetchall()
        con.close()
        paid = [r for r in rows if r[1] is not None]
        assert paid and len(paid) < len(rows)
        for _amount, paid_date, service, modified, inserted in paid:
            if service is None:  # a labelled missing ServiceDate
                continue
            assert paid_date >= service and modified[:10] >= paid_date and modified >= inserted
        assert all(r[0] == 0 for r in rows if r[1] is None)
