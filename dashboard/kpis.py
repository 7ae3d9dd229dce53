"""The RCM KPIs, each written once: formula, target and how to compute it from components.

``marts.kpi_monthly`` holds additive components per month x hospital x payer x department;
the dashboard sums them under the chosen filters and applies the formulas here, so a tile,
its trend line and its tooltip can never disagree. Components come in three kinds:

* flows (charges, payments, claims, visits...): summed over the slices and over the months
  of the period;
* balances (open A/R, A/R over 90 days, charges of the prior three months): summed over the
  slices at the period's last month (a balance is a point in time; summing months would
  count the same dollar several times);
* calendar (days in the prior three months): the same for every slice of a month, so the
  slices' maximum, again at the period's last month.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Components = Mapping[str, object]
Unit = Literal["money", "count", "days", "percent"]
Status = Literal["good", "watch", "bad", "none"]

FLOW_COMPONENTS: tuple[str, ...] = (
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
)
BALANCE_COMPONENTS: tuple[str, ...] = (
    "ar_open_balance_amount",
    "ar_over_90_amount",
    "charges_prior_3m_amount",
)
CALENDAR_COMPONENTS: tuple[str, ...] = ("days_prior_3m",)
COMPONENTS: tuple[str, ...] = FLOW_COMPONENTS + BALANCE_COMPONENTS + CALENDAR_COMPONENTS


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is not > 0."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def _get(c: Components, name: str) -> float | None:
    value = c.get(name)
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if number != number else number  # NaN: a missing value from pandas


def _days_in_ar(c: Components) -> float | None:
    daily_charges = ratio(_get(c, "charges_prior_3m_amount"), _get(c, "days_prior_3m"))
    return ratio(_get(c, "ar_open_balance_amount"), daily_charges)


def _net_collection_rate(c: Components) -> float | None:
    charges = _get(c, "gross_charges_amount")
    adjustments = _get(c, "contractual_adjustments_amount") or 0.0
    return ratio(_get(c, "payments_amount"), None if charges is None else charges - adjustments)


def _share(numerator: str, denominator: str) -> Callable[[Components], float | None]:
    def compute(c: Components) -> float | None:
        return ratio(_get(c, numerator), _get(c, denominator))

    return compute


def _total(name: str) -> Callable[[Components], float | None]:
    def compute(c: Components) -> float | None:
        return _get(c, name)

    return compute


@dataclass(frozen=True)
class Kpi:
    """One KPI: what it is, how it is computed, what good looks like."""

    key: str
    label: str
    formula: str
    unit: Unit
    compute: Callable[[Components], float | None]
    target: str = ""
    # Thresholds in the KPI's own unit (a rate as 0..1): within `good` is on target, within
    # `watch` is worth a look, beyond it is off target.
    good: float | None = None
    watch: float | None = None
    higher_is_better: bool | None = None
    is_balance: bool = False
    # What the value counts, where that differs from what its target assumes: shown with
    # the target, so a reader does not take a gap in the sources for a problem of the office.
    scope: str = ""

    def status(self, value: float | None) -> Status:
        if value is None or self.good is None or self.higher_is_better is None:
            return "none"
        watch = self.good if self.watch is None else self.watch
        if self.higher_is_better:
            return "good" if value >= self.good else "watch" if value >= watch else "bad"
        return "good" if value <= self.good else "watch" if value <= watch else "bad"

    def format(self, value: float | None) -> str:
        return format_value(value, self.unit)


def format_value(value: float | None, unit: Unit) -> str:
    if value is None:
        return "n/a"
    if unit == "percent":
        return f"{value * 100:.1f} %"
    if unit == "days":
        return f"{value:.1f} days"
    if unit == "money":
        # to the cent: finance reconciles every amount with the warehouse
        return f"${value:,.2f}"
    return f"{value:,.0f}"


# The claims files carry payer payments (and Self-pay claims' statement payments); no source
# carries what patients pay of their deductible, coinsurance and copay (the generator's
# PaidAmount is the payer's share), so the net collection rate reads low against the 95 % of a
# real office, which counts them.
PAYER_PAYMENTS_ONLY = (
    "Payer payments only (and Self-pay claims' payments): patient payments of deductible, "
    "coinsurance and copay are not in the sources, while the 95 % target counts them"
)

KPIS: tuple[Kpi, ...] = (
    Kpi(
        "gross_charges",
        "Gross charges",
        "Sum of charges billed for services in the period",
        "money",
        _total("gross_charges_amount"),
        higher_is_better=True,
    ),
    Kpi(
        "payments",
        "Payments",
        "Payments to date on the claims for services in the period (not cash received in it)",
        "money",
        _total("payments_amount"),
        higher_is_better=True,
    ),
    Kpi(
        "ar_open",
        "Open A/R",
        "Open accounts receivable at the end of the period's last month (at the as-of date "
        "when that month is the latest)",
        "money",
        _total("ar_open_balance_amount"),
        higher_is_better=False,
        is_balance=True,
    ),
    Kpi(
        "visits",
        "Visits",
        "Number of patient visits in the period",
        "count",
        _total("visits"),
        higher_is_better=True,
    ),
    Kpi(
        "days_in_ar",
        "Days in A/R",
        "A/R at period end / (charges of the 3 months ending with the period / days in those "
        "months; in the latest month both end at the as-of date)",
        "days",
        _days_in_ar,
        target="< 40 days",
        good=40.0,
        higher_is_better=False,
        is_balance=True,
    ),
    Kpi(
        "ar_over_90_pct",
        "A/R > 90 days",
        "A/R older than 90 days / total A/R, at period end",
        "percent",
        _share("ar_over_90_amount", "ar_open_balance_amount"),
        target="< 20 %",
        good=0.20,
        higher_is_better=False,
        is_balance=True,
    ),
    Kpi(
        "net_collection_rate",
        "Net collection rate",
        "Payments / (charges - contractual adjustments)",
        "percent",
        _net_collection_rate,
        target="> 95 %",
        good=0.95,
        higher_is_better=True,
        scope=PAYER_PAYMENTS_ONLY,
    ),
    Kpi(
        "gross_collection_rate",
        "Gross collection rate",
        "Payments / gross charges",
        "percent",
        _share("payments_amount", "gross_charges_amount"),
        higher_is_better=True,
    ),
    Kpi(
        "clean_claim_rate",
        "Clean claim rate",
        "Claims accepted on first submission, never rejected or denied / claims submitted",
        "percent",
        _share("clean_claims", "claims_submitted"),
        target="> 90 %",
        good=0.90,
        higher_is_better=True,
    ),
    Kpi(
        "initial_denial_rate",
        "Initial denial rate",
        "Claims denied at first adjudication / claims adjudicated",
        "percent",
        _share("claims_initially_denied", "claims_adjudicated"),
        target="< 5-10 %",
        good=0.05,
        watch=0.10,
        higher_is_better=False,
    ),
    Kpi(
        "final_denial_rate",
        "Final denial rate",
        "Claims still denied after appeals and resubmission / claims adjudicated",
        "percent",
        _share("claims_finally_denied", "claims_adjudicated"),
        higher_is_better=False,
    ),
    Kpi(
        "rejection_rate",
        "Rejection rate",
        "Claims rejected before adjudication (front-end edits) / claims submitted",
        "percent",
        _share("claims_rejected", "claims_submitted"),
        higher_is_better=False,
    ),
    Kpi(
        "avg_days_to_payment",
        "Avg days to payment",
        "Sum of days from submission to first payment / paid claims",
        "days",
        _share("days_to_payment_sum", "paid_claims"),
        higher_is_better=False,
    ),
    Kpi(
        "charges_per_visit",
        "Charges per visit",
        "Gross charges / visits",
        "money",
        _share("gross_charges_amount", "visits"),
    ),
    Kpi(
        "payments_per_visit",
        "Payments per visit",
        "Payments / visits",
        "money",
        _share("payments_amount", "visits"),
        higher_is_better=True,
    ),
)
KPI_BY_KEY: dict[str, Kpi] = {kpi.key: kpi for kpi in KPIS}


def period_components(
    monthly: Sequence[Mapping[str, object]], end_month: dt.date | None = None
) -> dict[str, float]:
    """Components of a period from its rows (per month, or per month and slice).

    Flows are summed over all rows; balances are summed over the rows of ``end_month``
    (default: the latest month present) and calendar components are their maximum there;
    all zero when that month has no row.
    """
    result = dict.fromkeys(COMPONENTS, 0.0)
    if not monthly:
        return result
    months = [_as_date(row["month_start_date"]) for row in monthly]
    last = end_month or max(months)
    for month, row in zip(months, monthly, strict=True):
        for name in FLOW_COMPONENTS:
            result[name] += _number(row.get(name))
        if month == last:
            for name in BALANCE_COMPONENTS:
                result[name] += _number(row.get(name))
            for name in CALENDAR_COMPONENTS:
                result[name] = max(result[name], _number(row.get(name)))
    return result


def compute_all(components: Components) -> dict[str, float | None]:
    """Every KPI's value for one set of components."""
    return {kpi.key: kpi.compute(components) for kpi in KPIS}


def _number(value: object) -> float:
    number = _get({"value": value}, "value")
    return 0.0 if number is None else number


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise TypeError(f"not a date: {value!r}")
