"""Fixtures for the Bronze ingestion tests: small real EMR SQLite files, landing CSV/JSON
files written here, a lake folder, and helpers that read what a load wrote."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingestion.bronze import WriteSettings
from ingestion.config import DEFAULT_CONFIG_PATH
from ingestion.ingest import IngestResult, IngestSettings, run_ingest

EMR_COLUMNS: dict[str, list[str]] = {
    "departments": ["DeptID", "Name"],
    "encounters": [
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
    "patients_a": [
        "PatientID",
        "FirstName",
        "LastName",
        "MiddleName",
        "SSN",
        "PhoneNumber",
        "Gender",
        "DOB",
        "Address",
        "ModifiedDate",
    ],
    "patients_b": [
        "ID",
        "F_Name",
        "L_Name",
        "M_Name",
        "SSN",
        "PhoneNumber",
        "Gender",
        "DOB",
        "Address",
        "Updated_Date",
    ],
    "providers": ["ProviderID", "FirstName", "LastName", "Specialization", "DeptID", "NPI"],
    "transactions": [
        "TransactionID",
        "EncounterID",
        "PatientID",
        "ProviderID",
        "DeptID",
        "VisitDate",
        "ServiceDate",
        "PaidDate",
        "VisitType",
        "Amount",
        "AmountType",
        "PaidAmount",
        "ClaimID",
        "PayorID",
        "ProcedureCode",
        "ICDCode",
        "LineOfBusiness",
        "MedicaidID",
        "MedicareID",
        "InsertDate",
        "ModifiedDate",
    ],
}
REAL_COLUMNS = {"Amount", "PaidAmount"}
INTEGER_COLUMNS = {"NPI"}

CLAIM_COLUMNS = [
    "ClaimID",
    "TransactionID",
    "PatientID",
    "EncounterID",
    "ProviderID",
    "DeptID",
    "ServiceDate",
    "ClaimDate",
    "PayorID",
    "ClaimAmount",
    "PaidAmount",
    "ClaimStatus",
    "PayorType",
    "Deductible",
    "Coinsurance",
    "Copay",
    "InsertDate",
    "ModifiedDate",
    "DenialReasonCode",
    "AllowedAmount",
]
CPT_COLUMNS = ["Procedure Code Category", "CPT Codes", "Procedure Code Descriptions", "Code Status"]

SQL_ENTITIES = [
    f"{h}.{t}"
    for h in ("hospital_a", "hospital_b")
    for t in ("departments", "encounters", "patients", "providers", "transactions")
]


def _table_columns(table: str, hospital: str) -> list[str]:
    if table == "patients":
        return EMR_COLUMNS[f"patients_{hospital[-1]}"]
    return EMR_COLUMNS[table]


def create_emr(path: Path, hospital: str) -> None:
    """An empty EMR database with the source contract's tables."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        for table in ("departments", "encounters", "patients", "providers", "transactions"):
            cols = []
            for c in _table_columns(table, hospital):
                kind = (
                    "REAL" if c in REAL_COLUMNS else "INTEGER" if c in INTEGER_COLUMNS else "TEXT"
                )
                cols.append(f'"{c}" {kind}')
            conn.execute(f"CREATE TABLE {table} ({', '.join(cols)})")


def insert(path: Path, table: str, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    if not rows:
        return
    cols = list(rows[0])
    with sqlite3.connect(path) as conn:
        conn.executemany(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [tuple(r[c] for c in cols) for r in rows],
        )


def execute(path: Path, sql: str, params: Sequence[Any] = ()) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(sql, params)


def npi_with_check_digit(base9: str) -> str:
    """A valid 10-digit NPI (Luhn over the 80840 prefix) from 9 digits."""
    digits = [int(d) for d in "80840" + base9]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return base9 + str((10 - total % 10) % 10)


def transaction_row(i: int, modified: str) -> dict[str, Any]:
    return {
        "TransactionID": f"TRANS{i:06d}",
        "EncounterID": f"ENC{i:06d}",
        "PatientID": f"PAT{i % 7:05d}",
        "ProviderID": f"PROV{i % 3:04d}",
        "DeptID": f"DEPT{i % 2:03d}",
        "VisitDate": "2024-01-05",
        "ServiceDate": "2024-01-05",
        "PaidDate": None if i % 4 == 0 else "2024-02-01",
        "VisitType": "Routine",
        "Amount": 100 + i * 0.1,
        "AmountType": "Insurance",
        "PaidAmount": 0.1 + 0.2 if i % 5 == 0 else 80.5,
        "ClaimID": f"CLAIM{i:06d}",
        "PayorID": "PAYER01",
        "ProcedureCode": "0051T" if i % 6 == 0 else "99213",
        "ICDCode": "E11.9",
        "LineOfBusiness": "Commercial",
        "MedicaidID": None,
        "MedicareID": None,
        "InsertDate": "2024-01-05 10:00:00",
        "ModifiedDate": modified,
    }


def fill_emr(path: Path, hospital: str, n: int = 12) -> None:
    create_emr(path, hospital)
    insert(path, "departments", [{"DeptID": f"DEPT{i:03d}", "Name": f"Dept {i}"} for i in range(3)])
    insert(
        path,
        "providers",
        [
            {
                "ProviderID": f"PROV{i:04d}",
                "FirstName": "Ann",
                "LastName": f"Smith{i}",
                "Specialization": "Cardiology",
                "DeptID": "DEPT001",
                "NPI": int(npi_with_check_digit(f"00{i:07d}")),
            }
            for i in range(1, 4)
        ],
    )
    id_col, first, last, middle, modified = (
        ("PatientID", "FirstName", "LastName", "MiddleName", "ModifiedDate")
        if hospital == "hospital_a"
        else ("ID", "F_Name", "L_Name", "M_Name", "Updated_Date")
    )
    insert(
        path,
        "patients",
        [
            {
                id_col: f"PAT{i:05d}",
                first: "Pat",
                last: f"Ient{i}",
                middle: None,
                "SSN": "123-45-6789",
                "PhoneNumber": "555-0100",
                "Gender": "F",
                "DOB": "1980-01-01",
                "Address": "1 Main St",
                modified: f"2024-01-0{1 + i % 3} 09:00:00",
            }
            for i in range(7)
        ],
    )
    insert(
        path,
        "encounters",
        [
            {
                "EncounterID": f"ENC{i:06d}",
                "PatientID": f"PAT{i % 7:05d}",
                "EncounterDate": "2024-01-05",
                "EncounterType": "Outpatient",
                "ProviderID": f"PROV{i % 3:04d}",
                "DepartmentID": "DEPT001",
                "ProcedureCode": "99213",
                "InsertedDate": "2024-01-05 10:00:00",
                "ModifiedDate": f"2024-01-05 10:00:{i % 4:02d}",
            }
            for i in range(n)
        ],
    )
    insert(
        path,
        "transactions",
        [transaction_row(i, f"2024-01-06 08:00:{i % 5:02d}") for i in range(n)],
    )


def claim_row(i: int, hospital_no: int, status: str = "Paid") -> dict[str, str]:
    return {
        "ClaimID": f"CLAIM{i:06d}",
        "TransactionID": f"TRANS{i:06d}",
        "PatientID": f"PAT{i % 7:05d}",
        "EncounterID": f"ENC{i:06d}",
        "ProviderID": f"PROV{i % 3:04d}",
        "DeptID": "DEPT001",
        "ServiceDate": "2024-01-05",
        "ClaimDate": "2024-01-10",
        "PayorID": "Aetna" if hospital_no == 1 else "Medicare",
        "ClaimAmount": f"{100 + i}.25",
        "PaidAmount": "" if status == "Pending" else f"{80 + i}.00",
        "ClaimStatus": status,
        "PayorType": "Private",
        "Deductible": "10.00",
        "Coinsurance": "5.00",
        "Copay": "20.00",
        "InsertDate": "2024-01-10 00:00:00",
        "ModifiedDate": "2024-01-10 00:00:00",
        "DenialReasonCode": "CO-50" if status == "Denied" else "",
        "AllowedAmount": f"{90 + i}.00",
    }


def write_csv(path: Path, header: Sequence[str], rows: Iterable[dict[str, str]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(header), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            n += 1
    return n


def write_claims(sources: Path, name: str, ids: Iterable[int], hospital_no: int) -> int:
    statuses = ["Paid", "Denied", "Pending", "Approved", "Rejected"]
    rows = [claim_row(i, hospital_no, statuses[i % len(statuses)]) for i in ids]
    return write_csv(sources / "landing" / "claims" / name, CLAIM_COLUMNS, rows)


def write_npi_extract(path: Path, count: int = 3) -> list[str]:
    npis = [npi_with_check_digit(f"00{i:07d}") for i in range(1, count + 1)]
    results = [
        {
            "number": npi,
            "enumeration_type": "NPI-1",
            "basic": {"first_name": "ANN", "last_name": f"SMITH{i}", "status": "A"},
            "taxonomies": [{"code": "207RC0000X", "desc": "Cardiovascular", "primary": True}],
            "addresses": [{"address_purpose": "LOCATION", "city": "Austin", "state": "TX"}],
        }
        for i, npi in enumerate(npis)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"result_count": len(results), "results": results}))
    return npis


def make_sources(root: Path, n: int = 12) -> Path:
    fill_emr(root / "emr" / "hospital_a.db", "hospital_a", n)
    fill_emr(root / "emr" / "hospital_b.db", "hospital_b", n)
    write_claims(root, "hospital1_claim_data_2024_01.csv", range(5), 1)
    write_claims(root, "hospital2_claim_data_2024_01.csv", range(4), 2)
    write_csv(
        root / "landing" / "cpt" / "cpt_codes.csv",
        CPT_COLUMNS,
        [
            {
                "Procedure Code Category": "Evaluation",
                "CPT Codes": code,
                "Procedure Code Descriptions": f"desc {code}",
                "Code Status": status,
            }
            for code, status in (("99213", "No Change"), ("0051T", "No change"), ("99214", "New"))
        ],
    )
    write_npi_extract(root / "landing" / "npi" / "nppes_npi_extract.json")
    return root


def write_config(
    path: Path, names: Iterable[str], edits: dict[str, dict[str, str]] | None = None
) -> Path:
    """A subset of the shipped load config (rows of ``names``), optionally edited."""
    wanted = set(names)
    edits = edits or {}
    with DEFAULT_CONFIG_PATH.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        rows = []
        for row in reader:
            name = f"{row['datasource']}.{row['tablename'].lower()}"
            if name in wanted:
                rows.append({**row, **edits.get(name, {})})
    assert {f"{r['datasource']}.{r['tablename'].lower()}" for r in rows} == wanted
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so no handler of ours catches it."""


def crash_at(stage: str):  # type: ignore[no-untyped-def]
    def hook(at: str, load_id: str) -> None:
        if at == stage:
            raise Crash(f"simulated crash {stage} of {load_id}")

    return hook


def ingest(
    sources: Path,
    lake: Path,
    config: Path | None = None,
    *,
    messages: list[str] | None = None,
    **overrides: Any,
) -> IngestResult:
    sink = messages if messages is not None else []
    settings = IngestSettings(
        sources=sources,
        lake=str(lake),
        config_path=config,
        batch_rows=overrides.pop("batch_rows", 4),
        write=overrides.pop("write", WriteSettings(row_group_rows=4, part_rows=8)),
        env=overrides.pop("env", {}),
        progress=sink.append,
        **overrides,
    )
    return run_ingest(settings)


def load_folders(lake: Path, datasource: str, table: str) -> list[Path]:
    base = lake / "bronze" / datasource / table
    return sorted(p for p in base.glob("load_id=*") if p.is_dir()) if base.is_dir() else []


def read_bronze(lake: Path, datasource: str, table: str) -> pa.Table:
    parts = sorted((lake / "bronze" / datasource / table).glob("load_id=*/*.parquet"))
    tables = [pq.read_table(p) for p in parts]
    return pa.concat_tables(tables, promote_options="default") if tables else pa.table({})


def read_audit(lake: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((lake / "audit" / "load_audit").glob("*/*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def data_files(lake: Path) -> list[str]:
    return sorted(str(p.relative_to(lake)) for p in (lake / "bronze").rglob("*") if p.is_file())


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    return make_sources(tmp_path / "sources")


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"
