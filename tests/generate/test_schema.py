"""The generated sources have exactly the shapes of the source contract (DESIGN.md)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from .conftest import claim_rows, read_csv

# The source contract, copied from shared/DESIGN.md and docs/contracts.md (not from the output).
CONTRACT = {
    "departments": ["DeptID", "Name"],
    "encounters": [
        "EncounterID", "PatientID", "EncounterDate", "EncounterType", "ProviderID",
        "DepartmentID", "ProcedureCode", "InsertedDate", "ModifiedDate",
    ],
    "providers": ["ProviderID", "FirstName", "LastName", "Specialization", "DeptID", "NPI"],
    "transactions": [
        "TransactionID", "EncounterID", "PatientID", "ProviderID", "DeptID", "VisitDate",
        "ServiceDate", "PaidDate", "VisitType", "Amount", "AmountType", "PaidAmount", "ClaimID",
        "PayorID", "ProcedureCode", "ICDCode", "LineOfBusiness", "MedicaidID", "MedicareID",
        "InsertDate", "ModifiedDate",
    ],
}  # fmt: skip
PATIENTS = {
    "hospital_a": [
        "PatientID", "FirstName", "LastName", "MiddleName", "SSN", "PhoneNumber", "Gender",
        "DOB", "Address", "ModifiedDate",
    ],
    "hospital_b": [
        "ID", "F_Name", "L_Name", "M_Name", "SSN", "PhoneNumber", "Gender", "DOB", "Address",
        "Updated_Date",
    ],
}  # fmt: skip
CLAIM_COLUMNS = [
    "ClaimID", "TransactionID", "PatientID", "EncounterID", "ProviderID", "DeptID",
    "ServiceDate", "ClaimDate", "PayorID", "ClaimAmount", "PaidAmount", "ClaimStatus",
    "PayorType", "Deductible", "Coinsurance", "Copay", "InsertDate", "ModifiedDate",
    "DenialReasonCode", "AllowedAmount",
]  # fmt: skip
DOMAINS = {
    ("encounters", "EncounterType"): {
        "Emergency", "Inpatient", "Outpatient", "Routine Checkup", "Telemedicine",
    },
    ("transactions", "VisitType"): {"Consultation", "Emergency", "Follow-up", "Routine"},
    ("transactions", "AmountType"): {"Co-pay", "Insurance", "Medicaid", "Medicare", "Self-pay"},
    ("transactions", "LineOfBusiness"): {"Commercial", "Medicaid", "Medicare", "Self-Pay"},
}  # fmt: skip


def _columns(db: Path, table: str) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return [r[1] for r in con.execute(f"pragma table_info({table})")]
    finally:
        con.close()


def test_emr_tables_and_columns_match_the_contract(sources: Path) -> None:
    for hospital in ("hospital_a", "hospital_b"):
        db = sources / "emr" / f"{hospital}.db"
        con = sqlite3.connect(db)
        tables = sorted(
            r[0] for r in con.execute("select name from sqlite_master where type='table'")
        )
        con.close()
        assert tables == ["departments", "encounters", "patients", "providers", "transactions"]
        for table, cols in CONTRACT.items():
            assert _columns(db, table) == cols, (hospital, table)
        assert _columns(db, "patients") == PATIENTS[hospital]


def test_emr_types_npi_integer_amounts_real(sources: Path) -> None:
    con = sqlite3.connect(sources / "emr" / "hospital_a.db")
    try:
        assert {r[0] for r in con.execute("select typeof(NPI) from providers")} == {"integer"}
        assert {r[0] for r in con.execute("select typeof(Amount) from transactions")} <= {
            "real",
            "null",
        }
        amounts = [r[0] for r in con.execute("select Amount from transactions") if r[0] is not None]
        noisy = [a for a in amounts if a != round(a, 2)]
        assert noisy, "some amounts carry float noise (123.45000000000002)"
        assert all(abs(a - round(a, 2)) < 1e-9 for a in noisy)
    finally:
        con.close()


def test_value_domains(sources: Path) -> None:
    for hospital in ("hospital_a", "hospital_b"):
        con = sqlite3.connect(sources / "emr" / f"{hospital}.db")
        try:
            for (table, col), domain in DOMAINS.items():
                seen = {r[0] for r in con.execute(f"select distinct {col} from {table}")}
                assert seen <= domain, (hospital, table, col, seen - domain)
                assert len(seen) >= 3
        finally:
            con.close()


def test_claim_files_header_names_and_domains(sources: Path) -> None:
    files = sorted((sources / "landing" / "claims").glob("*.csv"))
    names = {f.name for f in files}
    for month in range(1, 7):
        assert f"hospital1_claim_data_2024_{month:02d}.csv" in names
        assert f"hospital2_claim_data_2024_{month:02d}.csv" in names
    statuses: set[str] = set()
    payor_types: set[str] = set()
    for f in files:
        header = f.read_text(encoding="utf-8").splitlines()[0]
        assert header.split(",") == CLAIM_COLUMNS
        for row in claim_rows(f):
            statuses.add(row["ClaimStatus"])
            payor_types.add(row["PayorType"])
    assert statuses <= {"Approved", "Paid", "Pending", "Denied", "Rejected"}
    assert {"Paid", "Pending", "Denied"} <= statuses
    assert {"Government", "Private", "Self-pay"} <= payor_types


def test_code_set_files(sources: Path) -> None:
    cpt = read_csv(sources / "landing" / "cpt" / "cpt_codes.csv")
    assert list(cpt[0]) == [
        "Procedure Code Category",
        "CPT Codes",
        "Procedure Code Descriptions",
        "Code Status",
    ]
    assert len(cpt) >= 200
    assert any(not r["CPT Codes"].isdigit() for r in cpt), "some alphanumeric CPT codes"
    assert {"No Change", "No change"} <= {r["Code Status"] for r in cpt}
    npi = json.loads((sources / "landing" / "npi" / "nppes_npi_extract.json").read_text())
    assert npi["result_count"] == len(npi["results"]) > 0
    first = npi["results"][0]
    assert isinstance(first["number"], str) and len(first["number"]) == 10
    assert first["enumeration_type"] == "NPI-1"
    for key in ("first_name", "last_name", "credential", "status", "last_updated"):
        assert key in first["basic"]
    assert first["taxonomies"][0]["primary"] is True
    assert first["addresses"][0]["country_code"] == "US"
