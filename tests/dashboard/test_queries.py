"""The dashboard's queries and KPI formulas on a real DuckDB file made from hand-made rows.

Expected values are computed here from the rows, with each KPI's definition written out
again, so a wrong formula, a wrong aggregation (a balance summed over months, a calendar
count summed over slices) or a filter that is ignored makes a test fail.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from dashboard import kpis, queries
from dashboard.queries import Filters, State
from tests.dashboard.expected import expected_kpis, selected
from tests.dashboard.warehouse_fixture import (
    MONTHS,
    FixtureData,
    days_in_prior_3_months,
    month_end,
    write_warehouse,
)

FILTER_CASES = [
    pytest.param(Filters(), id="all"),
    pytest.param(Filters(hospitals=("hospital_a",)), id="hospital_a"),
    pytest.param(Filters(payers=("Medicare",)), id="medicare"),
    pytest.param(Filters(departments=("Cardiology",)), id="cardiology_both_hospitals"),
    pytest.param(
        Filters(hospitals=("hospital_b",), payers=("Aetna",), departments=("Cardiology",)),
        id="one_slice",
    ),
    pytest.param(Filters(start_month=MONTHS[1], end_month=MONTHS[2]), id="feb_to_mar"),
    pytest.param(
        Filters(hospitals=("hospital_a",), start_month=MONTHS[3], end_month=MONTHS[3]),
        id="april_hospital_a",
    ),
]


def dashboard_kpis(warehouse: Path, f: Filters) -> dict[str, float | None]:
    monthly = queries.monthly_components(warehouse, f)
    return kpis.compute_all(kpis.period_components(queries.records(monthly), f.end_month))


# --- warehouse status ----------------------------------------------------------------------


def test_ready_warehouse_lists_every_table(warehouse: Path) -> None:
    status = queries.check_warehouse(warehouse)
    assert status.state is State.READY
    assert status.tables == frozenset(queries.TABLES)


def test_missing_warehouse_says_what_to_run(missing_warehouse: Path) -> None:
    status = queries.check_warehouse(missing_warehouse)
    assert status.state is State.MISSING
    assert "make demo" in status.message
    assert str(missing_warehouse) in status.message
    assert not missing_warehouse.exists()  # looking did not create it


def test_empty_marts_say_what_to_run(empty_warehouse: Path) -> None:
    status = queries.check_warehouse(empty_warehouse)
    assert status.state is State.EMPTY
    assert "make demo" in status.message


def test_warehouse_without_marts_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "bare.duckdb"
    duckdb.connect(str(path)).close()
    status = queries.check_warehouse(path)
    assert status.state is State.EMPTY
    assert "kpi_monthly" in status.message


def test_a_file_that_is_not_a_warehouse_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "rcm.duckdb"
    path.write_text("not a database")
    assert queries.check_warehouse(path).state is State.UNREADABLE


def test_a_folder_is_not_the_warehouse(tmp_path: Path, warehouse: Path) -> None:
    # RCM_WAREHOUSE_PATH=warehouse: DuckDB's "Is a directory" came with "wait for the build
    # to finish and reload", which no wait fixes
    folder = tmp_path / "warehouse"
    folder.mkdir()
    (folder / "rcm.duckdb").write_bytes(warehouse.read_bytes())
    status = queries.check_warehouse(folder)
    assert status.state is State.UNREADABLE
    assert "is a folder" in status.message and str(folder / "rcm.duckdb") in status.message
    assert "wait" not in status.message


def test_queries_leave_the_file_untouched(warehouse: Path, fixture_data: FixtureData) -> None:
    before = warehouse.stat().st_mtime_ns, warehouse.stat().st_size
    queries.check_warehouse(warehouse)
    dashboard_kpis(warehouse, Filters())
    queries.alerts(warehouse, Filters())
    assert (warehouse.stat().st_mtime_ns, warehouse.stat().st_size) == before


def test_warehouse_path_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(queries.WAREHOUSE_ENV, str(tmp_path / "x.duckdb"))
    assert queries.warehouse_path() == tmp_path / "x.duckdb"
    monkeypatch.delenv(queries.WAREHOUSE_ENV)
    assert queries.warehouse_path() == queries.REPO_ROOT / "warehouse" / "rcm.duckdb"


# --- filters and KPI tiles -----------------------------------------------------------------


def test_filter_options_come_from_the_rows(warehouse: Path, fixture_data: FixtureData) -> None:
    rows = fixture_data.rows("kpi_monthly")
    options = queries.filter_options(warehouse)
    assert options.hospitals == tuple(sorted({r["source_system"] for r in rows}))
    assert options.payers == tuple(sorted({r["payer_name"] for r in rows}))
    assert options.departments == tuple(sorted({r["department_name"] for r in rows}))
    assert options.months == tuple(sorted({r["month_start_date"] for r in rows}))


@pytest.mark.parametrize("filters", FILTER_CASES)
def test_kpis_re_aggregate_components_under_filters(
    warehouse: Path, fixture_data: FixtureData, filters: Filters
) -> None:
    got = dashboard_kpis(warehouse, filters)
    want = expected_kpis(fixture_data, filters)
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-9), key


def test_monthly_components_sum_slices_but_not_the_calendar(
    warehouse: Path, fixture_data: FixtureData
) -> None:
    monthly = queries.monthly_components(warehouse, Filters())
    by_month: dict[dt.date, float] = defaultdict(float)
    for row in fixture_data.rows("kpi_monthly"):
        by_month[row["month_start_date"]] += row["ar_open_balance_amount"]
    assert [ts.date() for ts in monthly["month_start_date"]] == MONTHS
    for row in queries.records(monthly):
        month = row["month_start_date"].date()  # type: ignore[attr-defined]
        assert row["ar_open_balance_amount"] == pytest.approx(by_month[month])
        assert row["days_prior_3m"] == days_in_prior_3_months(month)


def test_balances_come_from_the_last_month_only(warehouse: Path, fixture_data: FixtureData) -> None:
    # Summing open A/R over the months would count the same dollar four times.
    got = dashboard_kpis(warehouse, Filters())
    last = [r for r in fixture_data.rows("kpi_monthly") if r["month_start_date"] == MONTHS[-1]]
    every = fixture_data.rows("kpi_monthly")
    assert got["ar_open"] == pytest.approx(sum(r["ar_open_balance_amount"] for r in last))
    assert got["ar_open"] != pytest.approx(sum(r["ar_open_balance_amount"] for r in every))


def test_a_slice_without_rows_has_no_rates(warehouse: Path) -> None:
    got = dashboard_kpis(warehouse, Filters(payers=("Nobody",)))
    assert got["gross_charges"] == 0
    assert got["clean_claim_rate"] is None
    assert got["days_in_ar"] is None


# --- formulas and targets ------------------------------------------------------------------


def test_formulas_on_round_numbers() -> None:
    c = dict.fromkeys(kpis.COMPONENTS, 0.0)
    c.update(
        gross_charges_amount=1000.0,
        contractual_adjustments_amount=200.0,
        payments_amount=760.0,
        visits=10,
        claims_submitted=100,
        clean_claims=92,
        claims_rejected=3,
        claims_adjudicated=80,
        claims_initially_denied=8,
        claims_finally_denied=2,
        paid_claims=50,
        days_to_payment_sum=1500,
        ar_open_balance_amount=3000.0,
        ar_over_90_amount=600.0,
        charges_prior_3m_amount=9000.0,
        days_prior_3m=90,
    )
    got = kpis.compute_all(c)
    assert got["days_in_ar"] == pytest.approx(30.0)  # 3000 / (9000 / 90)
    assert got["ar_over_90_pct"] == pytest.approx(0.20)
    assert got["net_collection_rate"] == pytest.approx(0.95)  # 760 / 800
    assert got["gross_collection_rate"] == pytest.approx(0.76)
    assert got["clean_claim_rate"] == pytest.approx(0.92)
    assert got["rejection_rate"] == pytest.approx(0.03)
    assert got["initial_denial_rate"] == pytest.approx(0.10)
    assert got["final_denial_rate"] == pytest.approx(0.025)
    assert got["avg_days_to_payment"] == pytest.approx(30.0)
    assert got["charges_per_visit"] == pytest.approx(100.0)
    assert got["payments_per_visit"] == pytest.approx(76.0)


def test_zero_denominators_give_no_value() -> None:
    got = kpis.compute_all(dict.fromkeys(kpis.COMPONENTS, 0.0))
    rates = [k.key for k in kpis.KPIS if k.unit in ("percent", "days")]
    assert rates and all(got[key] is None for key in rates)


@pytest.mark.parametrize(
    ("key", "value", "status"),
    [
        ("days_in_ar", 39.9, "good"),
        ("days_in_ar", 40.1, "bad"),
        ("ar_over_90_pct", 0.25, "bad"),
        ("clean_claim_rate", 0.91, "good"),
        ("clean_claim_rate", 0.89, "bad"),
        ("initial_denial_rate", 0.04, "good"),
        ("initial_denial_rate", 0.07, "watch"),
        ("initial_denial_rate", 0.12, "bad"),
        ("net_collection_rate", 0.96, "good"),
        ("net_collection_rate", 0.90, "bad"),
        ("gross_collection_rate", 0.50, "none"),
        ("days_in_ar", None, "none"),
    ],
)
def test_target_status(key: str, value: float | None, status: str) -> None:
    assert kpis.KPI_BY_KEY[key].status(value) == status


def test_every_kpi_states_its_formula() -> None:
    assert len({k.key for k in kpis.KPIS}) == len(kpis.KPIS)
    for kpi in kpis.KPIS:
        assert kpi.formula and kpi.label
        if kpi.good is not None:
            assert kpi.target, kpi.key


def test_payments_are_said_to_follow_the_service_month() -> None:
    # kpi_monthly.payments_amount: payments known at the as-of date on the claims for services
    # of the month, not the cash received in it (on the demo, $48k for Hospital A's December
    # services, while its transaction lines record $0.77M paid in December)
    formula = kpis.KPI_BY_KEY["payments"].formula
    assert "received in the period" not in formula
    assert "services in the period" in formula


def test_formatting() -> None:
    assert kpis.format_value(0.1234, "percent") == "12.3 %"
    assert kpis.format_value(1234567.4, "money") == "$1,234,567.40"
    assert kpis.format_value(38.25, "days") == "38.2 days"
    assert kpis.format_value(None, "days") == "n/a"


# --- the other panels ----------------------------------------------------------------------


# the department filter of the tiles applies to the other tabs too (their marts have one row
# per department): all departments, one in two hospitals, one in one hospital
OTHER_TAB_CASES = [
    Filters(),
    Filters(payers=("Aetna",), end_month=MONTHS[1]),
    Filters(hospitals=("hospital_b",)),
    Filters(departments=("Cardiology",)),
    Filters(departments=("Oncology",), start_month=MONTHS[1], end_month=MONTHS[2]),
    Filters(hospitals=("hospital_a",), payers=("Medicare",), departments=("Cardiology",)),
]


@pytest.mark.parametrize("filters", OTHER_TAB_CASES)
def test_ar_aging_at_the_latest_month_end(
    warehouse: Path, fixture_data: FixtureData, filters: Filters
) -> None:
    as_of = month_end(filters.end_month or MONTHS[-1])
    want: dict[tuple[str, str], float] = defaultdict(float)
    for r in fixture_data.rows("kpi_ar_aging"):
        if r["month_end_date"] == as_of and selected(r, filters):
            want[(r["aging_bucket"], r["payer_name"])] += r["open_balance_amount"]
    frame = queries.ar_aging(warehouse, filters)
    assert {d.date() if hasattr(d, "date") else d for d in frame["month_end_date"]} == {as_of}
    got = {
        (str(r["aging_bucket"]), str(r["payer_name"])): r["open_balance_amount"]
        for r in queries.records(frame)
    }
    assert got == pytest.approx(dict(want))
    assert list(dict.fromkeys(frame["aging_bucket"].astype(str))) == list(queries.AGING_BUCKETS)


def without_aging_at(data: FixtureData, department: str, month_end_date: dt.date) -> FixtureData:
    """The fixture rows with no open A/R for ``department`` at ``month_end_date``."""
    changed = copy.deepcopy(data)
    changed.tables["kpi_ar_aging"] = [
        r
        for r in data.rows("kpi_ar_aging")
        if not (r["department_name"] == department and r["month_end_date"] == month_end_date)
    ]
    return changed


def test_a_selection_without_open_ar_at_the_range_end_shows_none_not_an_earlier_month(
    tmp_path: Path, fixture_data: FixtureData
) -> None:
    # Oncology has no open A/R at the last month end: its aging is empty at that month end,
    # not the month before's shown as if current; the other departments still have theirs
    last = month_end(MONTHS[-1])
    data = without_aging_at(fixture_data, "Oncology", last)
    path = write_warehouse(tmp_path / "rcm.duckdb", data)
    oncology = Filters(departments=("Oncology",))
    assert queries.ar_aging_month_end(path, oncology) == last
    assert queries.ar_aging(path, oncology).empty
    cardiology = Filters(departments=("Cardiology",))
    assert queries.ar_aging_month_end(path, cardiology) == last
    frame = queries.ar_aging(path, cardiology)
    assert {pd.Timestamp(d).date() for d in frame["month_end_date"]} == {last}
    want = sum(
        r["open_balance_amount"]
        for r in data.rows("kpi_ar_aging")
        if r["department_name"] == "Cardiology" and r["month_end_date"] == last
    )
    assert frame["open_balance_amount"].sum() == pytest.approx(want)
    # a range ending a month earlier: Oncology's A/R at that month end
    earlier = Filters(departments=("Oncology",), end_month=MONTHS[-2])
    assert queries.ar_aging_month_end(path, earlier) == month_end(MONTHS[-2])
    want_earlier = sum(
        r["open_balance_amount"]
        for r in data.rows("kpi_ar_aging")
        if r["department_name"] == "Oncology" and r["month_end_date"] == month_end(MONTHS[-2])
    )
    assert queries.ar_aging(path, earlier)["open_balance_amount"].sum() == pytest.approx(
        want_earlier
    )


def test_the_aging_month_end_is_the_latest_up_to_the_range_end(
    warehouse: Path, fixture_data: FixtureData
) -> None:
    ends = sorted({r["month_end_date"] for r in fixture_data.rows("kpi_ar_aging")})
    assert queries.ar_aging_month_end(warehouse, Filters()) == ends[-1]
    for month in MONTHS:
        want = max(e for e in ends if e <= month_end(month))
        assert queries.ar_aging_month_end(warehouse, Filters(end_month=month)) == want
    # before the first month end: nothing
    before = Filters(end_month=dt.date(2023, 12, 1))
    assert queries.ar_aging_month_end(warehouse, before) is None
    assert queries.ar_aging(warehouse, before).empty


def _in_range(month: dt.date, f: Filters) -> bool:
    return (f.start_month is None or month >= f.start_month) and (
        f.end_month is None or month <= f.end_month
    )


@pytest.mark.parametrize(
    "filters", [Filters(hospitals=("hospital_a",), start_month=MONTHS[2]), *OTHER_TAB_CASES]
)
def test_denials_by_reason_and_payer(
    warehouse: Path, fixture_data: FixtureData, filters: Filters
) -> None:
    want: dict[tuple[str, str], int] = defaultdict(int)
    at_risk: dict[tuple[str, str], float] = defaultdict(float)
    for r in fixture_data.rows("kpi_denials_by_reason"):
        if selected(r, filters) and _in_range(r["month_start_date"], filters):
            want[(r["denial_reason_code"], r["payer_name"])] += r["denied_claims"]
            at_risk[(r["denial_reason_code"], r["payer_name"])] += r["dollars_at_risk_amount"]
    frame = queries.denials_by_reason(warehouse, filters)
    got = {
        (r["denial_reason_code"], r["payer_name"]): r["denied_claims"]
        for r in frame.to_dict("records")
    }
    assert got == want
    got_at_risk = {
        (r["denial_reason_code"], r["payer_name"]): r["dollars_at_risk_amount"]
        for r in frame.to_dict("records")
    }
    assert got_at_risk == pytest.approx(dict(at_risk))
    assert list(frame["denied_claims"]) == sorted(frame["denied_claims"], reverse=True)


def test_days_to_payment_is_summed_days_over_paid_claims(
    warehouse: Path, fixture_data: FixtureData
) -> None:
    # exactly sum(days) / sum(paid claims): re-weighting the mart's 2-decimal averages by
    # their paid claims carried each month's rounding into the figure
    frame = queries.days_to_payment_by_payer(warehouse, Filters(payers=("Medicare",)))
    rows = [
        r
        for r in fixture_data.rows("kpi_days_to_payment_by_payer")
        if r["payer_name"] == "Medicare"
    ]
    paid = sum(r["paid_claims"] for r in rows)
    exact = Fraction(sum(r["days_to_payment_sum"] for r in rows), paid)
    assert list(frame["payer_name"]) == ["Medicare"]
    assert frame["paid_claims"].iloc[0] == paid
    assert frame["avg_days_to_payment"].iloc[0] == pytest.approx(float(exact), rel=1e-12)


@pytest.mark.parametrize("filters", OTHER_TAB_CASES)
def test_days_to_payment_by_payer_over_the_selected_departments(
    warehouse: Path, fixture_data: FixtureData, filters: Filters
) -> None:
    # over several departments (and months, hospitals), the summed days over the summed paid
    # claims: an average of the departments' averages would weigh a small department as a big one
    paid: dict[str, int] = defaultdict(int)
    days: dict[str, int] = defaultdict(int)
    for r in fixture_data.rows("kpi_days_to_payment_by_payer"):
        if selected(r, filters) and _in_range(r["month_start_date"], filters):
            paid[r["payer_name"]] += r["paid_claims"]
            days[r["payer_name"]] += r["days_to_payment_sum"]
    frame = queries.days_to_payment_by_payer(warehouse, filters)
    got = {
        r["payer_name"]: (r["paid_claims"], r["avg_days_to_payment"])
        for r in queries.records(frame)
    }
    assert set(got) == set(paid)
    for payer, (paid_claims, average) in got.items():
        assert paid_claims == paid[payer]
        assert average == pytest.approx(float(Fraction(days[payer], paid[payer])), rel=1e-12)


def test_the_department_filter_changes_the_other_tabs(
    warehouse: Path, fixture_data: FixtureData
) -> None:
    # Oncology is one of hospital_a's two departments: its aging, denials and days to payment
    # are its own rows, a part of all departments' figures, never the whole
    oncology = Filters(departments=("Oncology",))
    for query, value in (
        (queries.ar_aging, "open_balance_amount"),
        (queries.denials_by_reason, "denied_claims"),
        (queries.days_to_payment_by_payer, "paid_claims"),
    ):
        everything = float(query(warehouse, Filters())[value].sum())
        hospital_a = float(query(warehouse, Filters(hospitals=("hospital_a",)))[value].sum())
        one = float(query(warehouse, oncology)[value].sum())
        assert 0 < one < hospital_a < everything, query.__name__


@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters(hospitals=("hospital_a",)),
        Filters(departments=("Cardiology",), start_month=MONTHS[1], end_month=MONTHS[2]),
    ],
)
def test_top_providers_and_departments(
    warehouse: Path, fixture_data: FixtureData, filters: Filters
) -> None:
    hospital_of = {p["provider_key"]: p["source_system"] for p in fixture_data.rows("dim_provider")}
    providers: dict[str, float] = defaultdict(float)
    departments: dict[tuple[str, str], float] = defaultdict(float)
    for r in fixture_data.rows("rpt_charges_by_provider_department_month"):
        hospital = hospital_of[r["provider_key"]]
        if filters.hospitals and hospital not in filters.hospitals:
            continue
        if filters.departments and r["department_name"] not in filters.departments:
            continue
        if (
            not (filters.start_month or MONTHS[0])
            <= r["service_month"]
            <= (filters.end_month or MONTHS[-1])
        ):
            continue
        providers[r["provider_name"]] += r["total_charge_amount"]
        departments[(r["department_name"], hospital)] += r["total_charge_amount"]
    top_p = queries.top_providers(warehouse, filters, limit=2)
    want_p = sorted(providers.items(), key=lambda kv: -kv[1])[:2]
    assert list(top_p["provider_name"]) == [name for name, _ in want_p]
    assert list(top_p["charges_amount"]) == pytest.approx([v for _, v in want_p])
    top_d = queries.top_departments(warehouse, filters)
    got_d = {
        (r["department_name"], r["source_system"]): r["charges_amount"]
        for r in top_d.to_dict("records")
    }
    assert got_d == pytest.approx(dict(departments))


def test_charges_of_an_unknown_provider_go_to_their_department_s_hospital_and_names_stay_apart(
    tmp_path: Path, fixture_data: FixtureData
) -> None:
    # the unknown provider's source_system is 'unknown': its charges fell out of a hospital's
    # filter into an '(Unknown)' bar; and two providers of one name were summed as one bar
    data = copy.deepcopy(fixture_data)
    charges = data.rows("rpt_charges_by_provider_department_month")
    first = charges[0]
    provider = next(
        p for p in data.rows("dim_provider") if p["provider_key"] == first["provider_key"]
    )
    department = next(
        d for d in data.rows("dim_department") if d["department_key"] == first["department_key"]
    )
    data.tables["dim_provider"] += [
        {"provider_key": -1, "provider_id": "unknown", "department_key": -1,
         "provider_first_name": None, "provider_last_name": None, "source_system": "unknown"},
        {**provider, "provider_key": 999_001, "provider_id": f"{provider['source_system']}:TWIN"},
    ]  # fmt: skip
    huge = 10_000_000.0
    charges += [
        {**first, "provider_key": -1, "provider_id": "unknown", "provider_name": " ",
         "total_charge_amount": huge},
        {**first, "provider_key": 999_001, "provider_id": f"{provider['source_system']}:TWIN",
         "total_charge_amount": huge / 2},
    ]  # fmt: skip
    path = write_warehouse(tmp_path / "rcm.duckdb", data)
    hospital = Filters(hospitals=(department["source_system"],))

    top = queries.top_providers(path, hospital, limit=50)
    unknown = top[top["provider_key"] == -1]
    assert list(unknown["provider_name"]) == ["Unknown provider"]
    assert list(unknown["source_system"]) == [department["source_system"]]
    twins = top[top["provider_name"] == first["provider_name"]]
    assert len(twins) == 2 and set(twins["provider_key"]) == {first["provider_key"], 999_001}
    departments = queries.top_departments(path, hospital, limit=50)
    row = departments[departments["department_name"] == department["department_name"]]
    want = sum(
        float(r["total_charge_amount"])
        for r in charges
        if r["department_key"] == department["department_key"]
    )
    assert list(row["source_system"]) == [department["source_system"]]
    assert float(row["charges_amount"].sum()) == pytest.approx(want)


def test_alerts_panel_filters_by_hospital(warehouse: Path, fixture_data: FixtureData) -> None:
    frame = queries.alerts(warehouse, Filters(hospitals=("hospital_a",)))
    want = [a for a in fixture_data.rows("alerts") if a["source_system"] == "hospital_a"]
    assert sorted(frame["subject"]) == sorted(a["subject"] for a in want)
    assert list(frame["severity"]) == sorted(frame["severity"], key=["high", "medium", "low"].index)


def test_missing_optional_mart_is_reported(tmp_path: Path, fixture_data: FixtureData) -> None:
    path = write_warehouse(tmp_path / "partial.duckdb", fixture_data, tables=("kpi_monthly",))
    status = queries.check_warehouse(path)
    assert status.state is State.READY
    assert status.has("kpi_monthly") and not status.has("kpi_ar_aging")


DEPARTMENT_MARTS = ("kpi_ar_aging", "kpi_denials_by_reason", "kpi_days_to_payment_by_payer")


def warehouse_before_departments(path: Path, data: FixtureData) -> Path:
    """A warehouse built before the aging, denials and days-to-payment marts had a department."""
    write_warehouse(path, data)
    with duckdb.connect(str(path)) as con:
        for table in DEPARTMENT_MARTS:
            for column in ("department_name", "department_key"):
                con.execute(f"alter table marts.{table} drop column {column}")
    return path


def test_marts_built_before_they_had_a_department_say_to_rebuild(
    tmp_path: Path, fixture_data: FixtureData
) -> None:
    path = warehouse_before_departments(tmp_path / "old.duckdb", fixture_data)
    status = queries.check_warehouse(path)
    assert status.state is State.READY  # the tiles still work
    assert status.outdated == frozenset(DEPARTMENT_MARTS)
    for table in DEPARTMENT_MARTS:
        assert not status.has(table)
        assert "rcm build" in status.unavailable(table)
        assert f"marts.{table}" in status.unavailable(table)
    assert status.has("kpi_monthly") and status.has("alerts")
    # a current warehouse has none outdated
    current = queries.check_warehouse(write_warehouse(tmp_path / "new.duckdb", fixture_data))
    assert current.outdated == frozenset()
    assert all(current.has(table) for table in DEPARTMENT_MARTS)


@pytest.mark.parametrize(
    ("start", "end", "first", "want"),
    [
        # two months: the two calendar months before, whatever months the data holds
        ((2024, 3), (2024, 4), (2024, 1), ((2024, 1), (2024, 2))),
        # across a year end
        ((2024, 1), (2024, 3), (2023, 10), ((2023, 10), (2023, 12))),
        ((2024, 2), (2024, 2), (2023, 1), ((2024, 1), (2024, 1))),
        # the preceding months would start before the data: nothing to compare with
        ((2024, 1), (2024, 3), (2023, 11), None),
        ((2024, 1), (2024, 4), (2024, 1), None),
    ],
)
def test_the_prior_period_is_counted_in_calendar_months(
    start: tuple[int, int],
    end: tuple[int, int],
    first: tuple[int, int],
    want: tuple[tuple[int, int], tuple[int, int]] | None,
) -> None:
    def month(ym: tuple[int, int]) -> dt.date:
        return dt.date(ym[0], ym[1], 1)

    current = Filters(("hospital_a",), ("Aetna",), ("Cardiology",), month(start), month(end))
    got = queries.prior_period(current, month(first))
    if want is None:
        assert got is None
        return
    assert got == Filters(
        current.hospitals, current.payers, current.departments, month(want[0]), month(want[1])
    )


def test_the_cache_version_changes_with_the_warehouse_file_and_with_the_query_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse, code = tmp_path / "rcm.duckdb", tmp_path / "kpis.py"
    warehouse.write_bytes(b"a warehouse")
    code.write_text("# version 1\n")
    monkeypatch.setattr(queries, "CODE_FILES", (code,))
    first = queries.cache_version(warehouse)
    assert queries.cache_version(warehouse) == first  # stable while nothing changes
    code.write_text("# version 2\n")
    upgraded = queries.cache_version(warehouse)
    assert upgraded != first
    os.utime(warehouse, ns=(0, queries.cache_key(warehouse) + 1_000_000_000))
    assert queries.cache_version(warehouse) not in (first, upgraded)


def test_the_code_version_covers_the_dashboard_s_query_and_kpi_modules() -> None:
    covered = {path.resolve() for path in queries.CODE_FILES}
    assert {Path(queries.__file__).resolve(), Path(kpis.__file__).resolve()} <= covered
    assert all(path.is_file() for path in covered)
