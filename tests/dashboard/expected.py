"""What the dashboard should show, computed from the fixture rows with each KPI's definition
written out again (independently of dashboard/kpis.py)."""

from __future__ import annotations

from typing import Any

from dashboard.queries import Filters
from tests.dashboard.warehouse_fixture import MONTHS, FixtureData, days_in_prior_3_months

FLOWS = [
    "gross_charges_amount",
    "payments_amount",
    "contractual_adjustments_amount",
    "visits",
    "claims_submitted",
    "claims_adjudicated",
    "claims_initially_denied",
    "claims_finally_denied",
    "claims_rejected",
    "clean_claims",
    "paid_claims",
    "days_to_payment_sum",
]


def selected(row: dict[str, Any], f: Filters) -> bool:
    return (
        (not f.hospitals or row["source_system"] in f.hospitals)
        and (not f.payers or row["payer_name"] in f.payers)
        and (not f.departments or row["department_name"] in f.departments)
    )


def expected_kpis(data: FixtureData, f: Filters) -> dict[str, float | None]:
    """Each KPI from its definition, straight from the fixture rows."""
    start, end = f.start_month or MONTHS[0], f.end_month or MONTHS[-1]
    rows = [r for r in data.rows("kpi_monthly") if selected(r, f)]
    period = [r for r in rows if start <= r["month_start_date"] <= end]
    at_end = [r for r in rows if r["month_start_date"] == end]
    s = {name: sum(float(r[name]) for r in period) for name in FLOWS}
    ar = sum(r["ar_open_balance_amount"] for r in at_end)
    ar_90 = sum(r["ar_over_90_amount"] for r in at_end)
    charges_3m = sum(r["charges_prior_3m_amount"] for r in at_end)
    days_3m = days_in_prior_3_months(end)  # from the calendar, not from the rows
    return {
        "gross_charges": s["gross_charges_amount"],
        "payments": s["payments_amount"],
        "ar_open": ar,
        "visits": s["visits"],
        "days_in_ar": ar / (charges_3m / days_3m),
        "ar_over_90_pct": ar_90 / ar,
        "net_collection_rate": s["payments_amount"]
        / (s["gross_charges_amount"] - s["contractual_adjustments_amount"]),
        "gross_collection_rate": s["payments_amount"] / s["gross_charges_amount"],
        "clean_claim_rate": s["clean_claims"] / s["claims_submitted"],
        "initial_denial_rate": s["claims_initially_denied"] / s["claims_adjudicated"],
        "final_denial_rate": s["claims_finally_denied"] / s["claims_adjudicated"],
        "rejection_rate": s["claims_rejected"] / s["claims_submitted"],
        "avg_days_to_payment": s["days_to_payment_sum"] / s["paid_claims"],
        "charges_per_visit": s["gross_charges_amount"] / s["visits"],
        "payments_per_visit": s["payments_amount"] / s["visits"],
    }
