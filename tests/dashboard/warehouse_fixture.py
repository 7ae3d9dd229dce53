"""A small, real DuckDB warehouse with the marts the dashboard reads, and its rows.

The rows are made here (seeded, so every run sees the same file) and returned as plain
dicts, so that the tests compute what the dashboard should show from the rows themselves.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

MONTHS = [dt.date(2024, m, 1) for m in (1, 2, 3, 4)]
PAYERS = {"Aetna": "Private", "Medicare": "Government"}
# (hospital, department key, department name)
DEPARTMENTS = [
    ("hospital_a", "dep_a1", "Cardiology"),
    ("hospital_a", "dep_a2", "Oncology"),
    ("hospital_b", "dep_b1", "Cardiology"),
]
PROVIDERS = [
    # key, id, first, last, department key, hospital
    ("prov_a1", "hospital_a:PROV001", "Ada", "Lovelace", "dep_a1", "hospital_a"),
    ("prov_a2", "hospital_a:PROV002", "Alan", "Turing", "dep_a2", "hospital_a"),
    ("prov_b1", "hospital_b:PROV001", "Grace", "Hopper", "dep_b1", "hospital_b"),
]
# the marts' keys are 64-bit integers (md5-based); the fixture numbers its rows by handle
KEYS = {
    handle: number
    for number, handle in enumerate(
        [d[1] for d in DEPARTMENTS] + [p[0] for p in PROVIDERS], start=101
    )
}
BUCKETS = ["0-30", "31-60", "61-90", "91-120", "120+"]
REASONS = ["CO-16", "CO-197", "CO-50"]

KPI_MONTHLY_COLUMNS = {
    "month_start_date": "date",
    "source_system": "varchar",
    "payer_name": "varchar",
    "payer_type": "varchar",
    "department_key": "bigint",
    "department_name": "varchar",
    "gross_charges_amount": "decimal(18,2)",
    "payments_amount": "decimal(18,2)",
    "contractual_adjustments_amount": "decimal(18,2)",
    "visits": "bigint",
    "claims_submitted": "bigint",
    "claims_adjudicated": "bigint",
    "claims_initially_denied": "bigint",
    "claims_finally_denied": "bigint",
    "claims_rejected": "bigint",
    "clean_claims": "bigint",
    "paid_claims": "bigint",
    "days_to_payment_sum": "bigint",
    "ar_open_balance_amount": "decimal(18,2)",
    "ar_over_90_amount": "decimal(18,2)",
    "charges_prior_3m_amount": "decimal(18,2)",
    "days_prior_3m": "integer",
}
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "kpi_monthly": KPI_MONTHLY_COLUMNS,
    "kpi_ar_aging": {
        "month_end_date": "date",
        "source_system": "varchar",
        "payer_name": "varchar",
        "department_key": "bigint",
        "department_name": "varchar",
        "aging_bucket": "varchar",
        "claims": "bigint",
        "open_balance_amount": "decimal(18,2)",
    },
    "kpi_denials_by_reason": {
        "month_start_date": "date",
        "source_system": "varchar",
        "payer_name": "varchar",
        "department_key": "bigint",
        "department_name": "varchar",
        "denial_reason_code": "varchar",
        "denied_claims": "bigint",
        "dollars_at_risk_amount": "decimal(18,2)",
    },
    "kpi_days_to_payment_by_payer": {
        "month_start_date": "date",
        "source_system": "varchar",
        "payer_name": "varchar",
        "department_key": "bigint",
        "department_name": "varchar",
        "paid_claims": "bigint",
        "days_to_payment_sum": "bigint",
        "avg_days_to_payment": "decimal(18,2)",
    },
    "dim_department": {
        "department_key": "bigint",
        "department_id": "varchar",
        "source_department_id": "varchar",
        "department_name": "varchar",
        "source_system": "varchar",
    },
    "dim_provider": {
        "provider_key": "bigint",
        "provider_id": "varchar",
        "department_key": "bigint",
        "provider_first_name": "varchar",
        "provider_last_name": "varchar",
        "source_system": "varchar",
    },
    "rpt_charges_by_provider_department_month": {
        "provider_key": "bigint",
        "department_key": "bigint",
        "service_month": "date",
        "service_year": "integer",
        "service_month_number": "integer",
        "provider_id": "varchar",
        "provider_name": "varchar",
        "department_id": "varchar",
        "department_name": "varchar",
        "transaction_count": "bigint",
        "total_charge_amount": "decimal(18,2)",
        "total_paid_amount": "decimal(18,2)",
    },
    "alerts": {
        "alert_id": "varchar",
        "alert_type": "varchar",
        "severity": "varchar",
        "source_system": "varchar",
        "subject": "varchar",
        "detail": "varchar",
        "amount": "decimal(18,2)",
        "as_of_date": "date",
    },
    "int_reporting_as_of": {"as_of_date": "date", "first_month_start_date": "date"},
}


def month_end(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def days_in_prior_3_months(month: dt.date) -> int:
    """Days of the three months ending with ``month`` (the window of charges_prior_3m)."""
    days = 0
    year, number = month.year, month.month
    for _ in range(3):
        days += calendar.monthrange(year, number)[1]
        number -= 1
        if number == 0:
            year, number = year - 1, 12
    return days


def _money(rng: random.Random, low: int, high: int) -> float:
    return round(rng.uniform(low, high), 2)


@dataclass
class FixtureData:
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def rows(self, table: str) -> list[dict[str, Any]]:
        return self.tables[table]


def make_rows(seed: int = 20240401) -> FixtureData:
    rng = random.Random(seed)
    data = FixtureData({name: [] for name in TABLE_COLUMNS})
    for month in MONTHS:
        for hospital, dep_key, dep_name in DEPARTMENTS:
            for payer, payer_type in PAYERS.items():
                submitted = rng.randint(40, 120)
                rejected = rng.randint(0, submitted // 10)
                adjudicated = submitted - rejected - rng.randint(0, 5)
                initially_denied = rng.randint(0, adjudicated // 6)
                finally_denied = rng.randint(0, initially_denied)
                clean = rng.randint(submitted // 2, submitted - rejected - initially_denied)
                paid = rng.randint(adjudicated // 2, adjudicated - finally_denied)
                gross = _money(rng, 20_000, 90_000)
                ar_open = _money(rng, 15_000, 60_000)
                data.tables["kpi_monthly"].append(
                    {
                        "month_start_date": month,
                        "source_system": hospital,
                        "payer_name": payer,
                        "payer_type": payer_type,
                        "department_key": KEYS[dep_key],
                        "department_name": dep_name,
                        "gross_charges_amount": gross,
                        "payments_amount": round(gross * rng.uniform(0.3, 0.6), 2),
                        "contractual_adjustments_amount": round(gross * rng.uniform(0.2, 0.4), 2),
                        "visits": rng.randint(20, 90),
                        "claims_submitted": submitted,
                        "claims_adjudicated": adjudicated,
                        "claims_initially_denied": initially_denied,
                        "claims_finally_denied": finally_denied,
                        "claims_rejected": rejected,
                        "clean_claims": clean,
                        "paid_claims": paid,
                        "days_to_payment_sum": paid * rng.randint(12, 60),
                        "ar_open_balance_amount": ar_open,
                        "ar_over_90_amount": round(ar_open * rng.uniform(0.05, 0.35), 2),
                        "charges_prior_3m_amount": _money(rng, 60_000, 250_000),
                        "days_prior_3m": days_in_prior_3_months(month),
                    }
                )
        # the marts of the other tabs: one row per department too (the department's own figures)
        for hospital, dep_key, dep_name in DEPARTMENTS:
            department = {"department_key": KEYS[dep_key], "department_name": dep_name}
            for payer in PAYERS:
                for bucket in BUCKETS:
                    data.tables["kpi_ar_aging"].append(
                        {
                            "month_end_date": month_end(month),
                            "source_system": hospital,
                            "payer_name": payer,
                            **department,
                            "aging_bucket": bucket,
                            "claims": rng.randint(1, 40),
                            "open_balance_amount": _money(rng, 1_000, 30_000),
                        }
                    )
                for reason in REASONS:
                    data.tables["kpi_denials_by_reason"].append(
                        {
                            "month_start_date": month,
                            "source_system": hospital,
                            "payer_name": payer,
                            **department,
                            "denial_reason_code": reason,
                            "denied_claims": rng.randint(1, 12),
                            "dollars_at_risk_amount": _money(rng, 500, 9_000),
                        }
                    )
                paid_by_payer = rng.randint(10, 80)
                days_sum = round(rng.uniform(10, 70) * paid_by_payer)
                data.tables["kpi_days_to_payment_by_payer"].append(
                    {
                        "month_start_date": month,
                        "source_system": hospital,
                        "payer_name": payer,
                        **department,
                        "paid_claims": paid_by_payer,
                        "days_to_payment_sum": days_sum,
                        # as the mart: the average rounded to 2 decimals
                        "avg_days_to_payment": round(days_sum / paid_by_payer, 2),
                    }
                )
        for prov_key, prov_id, first, last, dep_key, _hospital in PROVIDERS:
            dep = next(d for d in DEPARTMENTS if d[1] == dep_key)
            data.tables["rpt_charges_by_provider_department_month"].append(
                {
                    "provider_key": KEYS[prov_key],
                    "department_key": KEYS[dep_key],
                    "service_month": month,
                    "service_year": month.year,
                    "service_month_number": month.month,
                    "provider_id": prov_id,
                    "provider_name": f"{first} {last}",
                    "department_id": f"{dep[0]}:{dep_key.upper()}",
                    "department_name": dep[2],
                    "transaction_count": rng.randint(10, 200),
                    "total_charge_amount": _money(rng, 10_000, 150_000),
                    "total_paid_amount": _money(rng, 5_000, 60_000),
                }
            )
    for hospital, dep_key, dep_name in DEPARTMENTS:
        data.tables["dim_department"].append(
            {
                "department_key": KEYS[dep_key],
                "department_id": f"{hospital}:{dep_key.upper()}",
                "source_department_id": dep_key.upper(),
                "department_name": dep_name,
                "source_system": hospital,
            }
        )
    for prov_key, prov_id, first, last, dep_key, hospital in PROVIDERS:
        data.tables["dim_provider"].append(
            {
                "provider_key": KEYS[prov_key],
                "provider_id": prov_id,
                "department_key": KEYS[dep_key],
                "provider_first_name": first,
                "provider_last_name": last,
                "source_system": hospital,
            }
        )
    data.tables["alerts"] = [
        {
            "alert_id": "a-001",
            "alert_type": "claim_unpaid_over_90_days",
            "severity": "high",
            "source_system": "hospital_a",
            "subject": "Claim hospital_a:CLM000123 (Aetna)",
            "detail": "Unpaid for 104 days",
            "amount": 12_345.67,
            "as_of_date": dt.date(2024, 4, 30),
        },
        {
            "alert_id": "a-002",
            "alert_type": "ar_over_90_above_threshold",
            "severity": "medium",
            "source_system": "hospital_b",
            "subject": "A/R over 90 days at 27 %",
            "detail": "Above the 20 % threshold",
            "amount": 45_000.00,
            "as_of_date": dt.date(2024, 4, 30),
        },
        {
            "alert_id": "a-003",
            "alert_type": "payer_denial_rate_jump",
            "severity": "low",
            "source_system": "hospital_a",
            "subject": "Medicare denial rate up 6 pts",
            "detail": "From 4 % to 10 %",
            "amount": None,
            "as_of_date": dt.date(2024, 4, 30),
        },
    ]
    data.tables["int_reporting_as_of"] = [
        {"as_of_date": dt.date(2024, 4, 27), "first_month_start_date": MONTHS[0]}
    ]
    return data


def write_warehouse(
    path: Path, data: FixtureData, *, tables: tuple[str, ...] | None = None, empty: bool = False
) -> Path:
    """Create ``path`` with schema marts and the given tables (all by default)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        for name in tables or tuple(TABLE_COLUMNS):
            columns = TABLE_COLUMNS[name]
            ddl = ", ".join(f"{col} {kind}" for col, kind in columns.items())
            con.execute(f"create table marts.{name} ({ddl})")
            if empty:
                continue
            placeholders = ", ".join("?" for _ in columns)
            con.executemany(
                f"insert into marts.{name} values ({placeholders})",
                [[row[col] for col in columns] for row in data.rows(name)],
            )
    finally:
        con.close()
    return path
