"""The RCM finance dashboard (Streamlit): `make dashboard`, or
``streamlit run dashboard/app.py`` from the repository root.

Reads the DuckDB warehouse (``$RCM_WAREHOUSE_PATH``, default warehouse/rcm.duckdb) read-only.
Queries are cached per warehouse file version (its modification time) and query code version
(``queries.cache_version``), so a rebuild shows at the next page load, and so does an upgrade
where a file watcher reloads the code (the shipped config has none: restart after an upgrade).
KPI formulas live in ``dashboard/kpis.py``, queries in ``dashboard/queries.py``; this file
only lays the page out.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):  # `streamlit run dashboard/app.py` runs this file as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb
import pandas as pd
import streamlit as st

from dashboard import kpis, queries, svg_charts
from dashboard.queries import FilterOptions, Filters, State, WarehouseStatus
from dashboard.tiles import tiles_html
from ingestion import build_state
from ingestion.alerts import AlertsError

TILE_ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Volume", ("gross_charges", "payments", "ar_open", "visits")),
    (
        "Receivables and collections",
        ("days_in_ar", "ar_over_90_pct", "net_collection_rate", "gross_collection_rate"),
    ),
    (
        "Claims",
        ("clean_claim_rate", "initial_denial_rate", "final_denial_rate", "rejection_rate"),
    ),
    ("Speed and yield", ("avg_days_to_payment", "charges_per_visit", "payments_per_visit")),
)


# --- cached data access (keyed on the warehouse file's path, its and the code's version) ---


@st.cache_data(show_spinner=False, max_entries=16)
def _status(path: str, version: int) -> WarehouseStatus:
    return queries.check_warehouse(Path(path))


@st.cache_data(show_spinner=False, max_entries=16)
def _options(path: str, version: int) -> FilterOptions:
    return queries.filter_options(Path(path))


@st.cache_data(show_spinner=False, max_entries=16)
def _as_of(path: str, version: int) -> dt.date | None:
    return queries.as_of_date(Path(path))


@st.cache_data(show_spinner=False, max_entries=64)
def _aging_month_end(path: str, version: int, filters: Filters) -> dt.date | None:
    return queries.ar_aging_month_end(Path(path), filters)


@st.cache_data(show_spinner=False, max_entries=64)
def _alerts(path: str, version: int, filters: Filters, types: tuple[str, ...]) -> pd.DataFrame:
    return queries.alerts(Path(path), filters, alert_types=types)


@st.cache_data(show_spinner=False, max_entries=256)
def _query(name: str, path: str, version: int, filters: Filters) -> pd.DataFrame:
    functions: dict[str, Callable[[Path, Filters], pd.DataFrame]] = {
        "monthly": queries.monthly_components,
        "aging": queries.ar_aging,
        "denials": queries.denials_by_reason,
        "days_to_payment": queries.days_to_payment_by_payer,
        "providers": queries.top_providers,
        "departments": queries.top_departments,
        "alert_counts": queries.alert_counts,
    }
    return functions[name](Path(path), filters)


# --- page -----------------------------------------------------------------------------------


def hospital_label(source_system: str) -> str:
    return source_system.replace("_", " ").title()


def month_label(month: dt.date) -> str:
    return month.strftime("%b %Y")


def show_build_in_progress(status: WarehouseStatus) -> bool:
    """When the warehouse cannot be read because a build is running (it holds the write
    lock): say so and to wait, and return True."""
    outcome = build_state.last_outcome(status.path)
    if status.state is not State.UNREADABLE or outcome is None or outcome.state != "running":
        return False
    # nothing to run, only to wait for
    st.info(
        f"**A warehouse build is in progress** (started at {outcome.local_time()}). The "
        "dashboard can read the warehouse again when it ends: reload the page in a few "
        "minutes. If it does not end, ask the data team: it may have been stopped.",
        icon=":material/hourglass_top:",
    )
    with st.expander("Details"):
        st.write(status.message)
    return True


def show_unavailable(status: WarehouseStatus) -> None:
    st.title("Revenue cycle dashboard")
    if show_build_in_progress(status):
        return
    # a failed build may be why the marts are missing: say so before "run make demo"
    notice = build_state.reader_notice(status.path)
    if notice is not None:
        headline, text = notice
        st.warning(f"**{headline}** {text}", icon=":material/warning:")
    if status.state is State.MISSING:
        st.error("**Warehouse not found.** " + status.message, icon=":material/database_off:")
    elif status.state is State.EMPTY:
        st.warning("**Warehouse marts are empty.** " + status.message, icon=":material/info:")
    else:
        st.error("**Warehouse unreadable.** " + status.message, icon=":material/error:")
    st.markdown("From the repository root:")
    st.code("make demo        # generate sources, ingest, build the warehouse\nmake dashboard")


def sidebar(options: FilterOptions, status: WarehouseStatus) -> tuple[Filters, Filters | None]:
    """The filters, and the same filters over the preceding period of equal length."""
    with st.sidebar:
        st.header("Filters")
        hospitals = st.multiselect(
            "Hospital", options.hospitals, format_func=hospital_label, placeholder="All hospitals"
        )
        payers = st.multiselect("Payer", options.payers, placeholder="All payers")
        departments = st.multiselect(
            "Department", options.departments, placeholder="All departments"
        )
        months = list(options.months)
        if len(months) > 1:
            default_start = months[max(0, len(months) - 12)]
            start, end = st.select_slider(
                "Months",
                options=months,
                value=(default_start, months[-1]),
                format_func=month_label,
            )
        else:
            start = end = months[0]
        st.caption("An empty filter means all. Default range: the latest 12 months.")
        st.divider()
        # in UTC, said so: the server's local zone is not the reader's, and a naive time
        # could be read as either
        built = dt.datetime.fromtimestamp(queries.cache_key(status.path) / 1e9, tz=dt.UTC)
        st.caption(f"Warehouse `{status.path.name}`, built {built:%Y-%m-%d %H:%M} UTC")
    current = Filters(tuple(hospitals), tuple(payers), tuple(departments), start, end)
    # calendar months: the months in the data would skip a month that has no row
    return current, queries.prior_period(current, months[0])


def tiles(
    monthly: pd.DataFrame,
    prior_monthly: pd.DataFrame | None,
    filters: Filters,
    prior: Filters | None,
) -> None:
    if monthly.empty:
        # tiles of $0.00 and 0 visits would read as a quiet month, not as no data
        st.info(
            "No figures for this selection in these months: no hospital, payer and department "
            "of it has charges, claims or A/R here. Widen the filters or the month range."
        )
        return
    rows = queries.records(monthly)
    values = kpis.compute_all(kpis.period_components(rows, filters.end_month))
    previous: dict[str, float | None] = {}
    if prior is not None and prior_monthly is not None and not prior_monthly.empty:
        prior_end = prior.end_month
        previous = kpis.compute_all(
            kpis.period_components(queries.records(prior_monthly), prior_end)
        )
    period = f"{month_label(filters.start_month or dt.date.min)} - " + month_label(
        filters.end_month or dt.date.max
    )
    st.html(tiles_html(TILE_ROWS, values, previous, period))
    if prior is None:
        # the tiles' hover text promises a change against the preceding period: say why none
        st.caption(
            "No change is shown: the warehouse has no months of the same length before "
            f"{month_label(filters.start_month or dt.date.min)} to compare with. Narrow the "
            "month range to see changes."
        )
    elif not previous:  # the preceding months are in the data's range but have no rows
        months = f"{month_label(prior.start_month or dt.date.min)} - " + month_label(
            prior.end_month or dt.date.max
        )
        st.caption(f"No change is shown: the preceding period, {months}, has no data.")


LEGEND_COLUMNS = 4


def bars(
    frame: pd.DataFrame,
    *,
    category: str,
    value: str,
    category_title: str,
    value_title: str,
    value_format: str,
    tooltip_format: str | None = None,
    color: str | None = None,
    horizontal: bool = True,
    order: Sequence[str] | None = None,
    height: int = 300,
) -> None:
    """A bar chart with readable labels and formats, as a plain Vega-Lite spec (Streamlit ships
    Vega-Lite; a dict spec skips Altair's schema validation, which cost ~0.1 s a chart)."""
    category_axis, value_axis = ("y", "x") if horizontal else ("x", "y")
    sort: list[str] | str = list(order) if order is not None else f"-{value_axis}"
    tooltip: list[dict[str, str]] = [
        {"field": category, "type": "nominal", "title": category_title or "Name"}
    ]
    encoding: dict[str, object] = {
        category_axis: {
            "field": category,
            "type": "nominal",
            "sort": sort,
            # every category named: Vega drops every other label when they come close
            "axis": {
                "labelLimit": 260,
                "labelAngle": 0,
                "labelOverlap": False,
                "title": category_title or None,
            },
        },
        value_axis: {
            "field": value,
            "aggregate": "sum",
            "type": "quantitative",
            "axis": {"format": value_format, "title": value_title},
        },
    }
    if color is not None:
        title = color.replace("_", " ").capitalize()
        tooltip.append({"field": color, "type": "nominal", "title": title})
        encoding["color"] = {
            "field": color,
            "type": "nominal",
            "title": title,
            # one row of eight payers is wider than the chart, which cut the last ones off
            "legend": {"orient": "bottom", "columns": LEGEND_COLUMNS, "labelLimit": 160},
        }
    tooltip.append(
        {
            "field": value,
            "aggregate": "sum",
            "type": "quantitative",
            "title": value_title,
            "format": tooltip_format or value_format,
        }
    )
    encoding["tooltip"] = tooltip
    spec = {"mark": {"type": "bar"}, "encoding": encoding, "height": height}
    st.vega_lite_chart(frame, spec, width="stretch")


TREND_CHARTS: tuple[tuple[str, tuple[str, ...], svg_charts.Unit], ...] = (
    ("Charges and payments ($)", ("Gross charges", "Payments"), "$"),
    ("Days in A/R and days to payment", ("Days in A/R", "Avg days to payment"), "days"),
    ("Clean claims and collections (%)", ("Clean claim rate", "Net collection rate"), "%"),
    (
        "Denials and rejections (%)",
        ("Initial denial rate", "Final denial rate", "Rejection rate"),
        "%",
    ),
)


def trends(monthly: pd.DataFrame) -> None:
    """The KPIs month by month, as SVG drawn here (the tab open on arrival: no Vega to load)."""
    st.subheader("Trends by month", divider="gray")
    if monthly.empty:
        st.info("No months in the selected range.")
        return
    rows = queries.records(monthly)
    months = [m.strftime("%Y-%m") for m in monthly["month_start_date"]]
    by_label: dict[str, list[float | None]] = {}
    for kpi in kpis.KPIS:
        scale = 100.0 if kpi.unit == "percent" else 1.0
        by_label[kpi.label] = [None if (v := kpi.compute(r)) is None else v * scale for r in rows]
    charts = [
        svg_charts.line_chart(title, months, {name: by_label[name] for name in series}, unit)
        for title, series, unit in TREND_CHARTS
    ]
    st.html(svg_charts.chart_grid(charts, [title for title, *_ in TREND_CHARTS]))


def aging_and_payment(path: str, version: int, filters: Filters, status: WarehouseStatus) -> None:
    left, right = st.columns(2)
    with left:
        st.subheader("A/R aging", divider="gray")
        if not status.has("kpi_ar_aging"):
            st.info(status.unavailable("kpi_ar_aging"))
        else:
            aging = _query("aging", path, version, filters)
            month_end = _aging_month_end(path, version, filters)
            if month_end is None:
                st.info("No open A/R up to the end of the range.")
            elif aging.empty:
                # the month end is the range's, whatever the selection: never an earlier one's
                st.info(f"No open A/R at {month_end:%d %b %Y} for this selection.")
            else:
                # the latest month is taken at the as-of date, not at its end (fct_ar_snapshots)
                as_of = _as_of(path, version) if status.has("int_reporting_as_of") else None
                taken = month_end if as_of is None or as_of >= month_end else as_of
                st.caption(
                    f"Open balance by days outstanding, at {taken:%d %b %Y}"
                    + (" (the as-of date: the month has not ended)." if taken < month_end else ".")
                )
                bars(
                    aging.assign(aging_bucket=aging["aging_bucket"].astype(str)),
                    category="aging_bucket",
                    value="open_balance_amount",
                    category_title="Days outstanding",
                    value_title="Open balance ($)",
                    value_format="$,.0f",
                    tooltip_format="$,.2f",  # the axis is rounded, the tooltip to the cent
                    color="payer_name",
                    horizontal=False,
                    order=queries.AGING_BUCKETS,
                )
    with right:
        st.subheader("Days to payment by payer", divider="gray")
        if not status.has("kpi_days_to_payment_by_payer"):
            st.info(status.unavailable("kpi_days_to_payment_by_payer"))
        else:
            days = _query("days_to_payment", path, version, filters)
            if days.empty:
                st.info("No paid claims for the selection.")
            else:
                st.caption(
                    "Average days from submission to first payment, weighted by paid claims."
                )
                bars(
                    days,
                    category="payer_name",
                    value="avg_days_to_payment",
                    category_title="",
                    value_title="Average days to payment",
                    value_format=",.1f",
                )


def denials(path: str, version: int, filters: Filters, status: WarehouseStatus) -> None:
    st.subheader("Denials by reason and payer", divider="gray")
    if not status.has("kpi_denials_by_reason"):
        st.info(status.unavailable("kpi_denials_by_reason"))
        return
    frame = _query("denials", path, version, filters)
    if frame.empty:
        st.info("No denied claims for the selection.")
        return
    st.caption("Claims denied at their first adjudication, by the month they were submitted.")
    left, right = st.columns([3, 2])
    with left:
        bars(
            frame,
            category="denial_reason_code",
            value="denied_claims",
            category_title="Denial reason",
            value_title="Denied claims",
            value_format=",.0f",
            color="payer_name",
            height=360,  # the plot keeps its room under a legend of two rows
        )
    with right:
        by_reason = (
            frame.groupby("denial_reason_code", as_index=False)[
                ["denied_claims", "dollars_at_risk_amount"]
            ]
            .sum()
            .sort_values("dollars_at_risk_amount", ascending=False)
        )
        st.caption("Dollars at risk: the billed amount of the denied claims.")
        st.dataframe(
            by_reason,
            hide_index=True,
            column_config={
                "denial_reason_code": st.column_config.TextColumn("Reason"),
                "denied_claims": st.column_config.NumberColumn("Denied claims", format="%d"),
                "dollars_at_risk_amount": st.column_config.NumberColumn(
                    "Dollars at risk", format="dollar"
                ),
            },
        )


def charges(path: str, version: int, filters: Filters, status: WarehouseStatus) -> None:
    if not status.has("rpt_charges_by_provider_department_month"):
        st.info("`marts.rpt_charges_by_provider_department_month` is not built: run `make demo`.")
        return
    left, right = st.columns(2)
    for column, name, label, title in (
        (left, "providers", "provider_name", "Top providers by charges"),
        (right, "departments", "department_name", "Top departments by charges"),
    ):
        with column:
            st.subheader(title, divider="gray")
            frame = _query(name, path, version, filters)
            if frame.empty:
                st.info("No charges for the selection.")
                continue
            short = frame["source_system"].map(lambda s: hospital_label(s).split()[-1])
            names = frame[label] + " (" + short + ")"
            if "provider_id" in frame:
                # two providers of one name would be one bar: the id tells them apart
                shared = names.duplicated(keep=False) & frame["provider_id"].notna()
                ids = frame["provider_id"].fillna("").str.split(":").str[-1]
                names = names.where(~shared, names + " " + ids)
            bars(
                frame.assign(label=names),
                category="label",
                value="charges_amount",
                category_title="",
                value_title="Charges ($)",
                value_format="$,.0f",
                tooltip_format="$,.2f",
            )
    st.caption(
        "Top 10 in the selected months; (A) / (B) is the hospital. Charges are recorded before "
        "a claim goes to a payer: the payer filter does not apply."
    )


def alerts(path: str, version: int, filters: Filters, status: WarehouseStatus) -> None:
    st.subheader("Alerts", divider="gray")
    if not status.has("alerts"):
        st.info("`marts.alerts` is not built yet: run `make demo`.")
        return
    # counted in the warehouse: the table lists only the most severe ALERTS_SHOWN
    by_type = _query("alert_counts", path, version, filters)
    if by_type.empty:
        st.success("No open alerts for the selection.")
        return
    per_type = by_type.groupby("alert_type")["alerts"].sum()
    # the claim-level alerts outnumber the table: a type filter reaches the others (the A/R
    # over 90 and payer denial jump alerts are medium, listed after hundreds of high ones)
    types = st.multiselect(
        "Alert type",
        list(per_type.index),
        format_func=lambda t: f"{t} ({int(per_type[t]):,})",
        placeholder="All types",
        key="alert_types",
    )
    if types:
        by_type = by_type[by_type["alert_type"].isin(types)]
    frame = _alerts(path, version, filters, tuple(types))
    counts = by_type.groupby("severity")["alerts"].sum()
    total = int(counts.sum())
    shown = "" if total <= len(frame) else f"; the {len(frame):,} most severe are listed below"
    st.caption(
        " · ".join(f"{int(counts.get(s, 0)):,} {s}" for s in ("high", "medium", "low"))
        + f" ({total:,} open{shown}) — post new ones to the team channel with "
        "`rcm alerts --post`. The payer, department and month filters do not apply to alerts."
    )
    st.dataframe(
        frame.assign(source_system=frame["source_system"].map(hospital_label)),
        hide_index=True,
        height=min(420, 38 + 35 * len(frame)),
        column_config={
            "severity": st.column_config.TextColumn("Severity"),
            "alert_type": st.column_config.TextColumn("Type"),
            "source_system": st.column_config.TextColumn("Hospital"),
            "subject": st.column_config.TextColumn("Subject"),
            "detail": st.column_config.TextColumn("Detail", width="large"),
            "amount": st.column_config.NumberColumn("Amount", format="dollar"),
            "as_of_date": st.column_config.DateColumn("As of"),
        },
    )


def main() -> None:
    st.set_page_config(
        page_title="RCM finance dashboard",
        layout="wide",
        initial_sidebar_state="expanded",
    )
    warehouse = queries.warehouse_path()
    path, version = str(warehouse), queries.cache_version(warehouse)
    status = _status(path, version)
    if status.state is State.UNREADABLE:
        # most often a writer's lock: read again at the next load, even if the writer left the
        # file's modification time (the cache key) as it was
        _status.clear(path, version)
    if status.state is not State.READY:
        show_unavailable(status)
        return
    try:
        page(warehouse, path, version, status)
    except (duckdb.Error, AlertsError) as exc:
        # A build took DuckDB's write lock after the status was read (and cached: the file's
        # modification time changes later in the build); say so instead of a traceback.
        unreadable = queries.unreadable(warehouse, exc)
        if not show_build_in_progress(unreadable):
            st.error("**Warehouse unreadable.** " + unreadable.message, icon=":material/error:")


def page(warehouse: Path, path: str, version: int, status: WarehouseStatus) -> None:
    options = _options(path, version)
    filters, prior = sidebar(options, status)
    st.title("Revenue cycle dashboard")
    # read on every page load, outside the caches keyed by the warehouse file: a build writes
    # its record before it writes the warehouse, and one may fail without writing it at all
    notice = build_state.reader_notice(warehouse)
    if notice is not None:
        headline, text = notice
        st.warning(f"**{headline}** {text}", icon=":material/warning:")
    scope = ", ".join(map(hospital_label, filters.hospitals)) or "All hospitals"
    st.caption(
        f"{scope} · {', '.join(filters.payers) or 'all payers'} · "
        f"{', '.join(filters.departments) or 'all departments'} · "
        f"{month_label(filters.start_month or dt.date.min)} to "
        f"{month_label(filters.end_month or dt.date.max)}. "
        "Rest the pointer on a tile for its definition."
    )
    as_of = _as_of(path, version) if status.has("int_reporting_as_of") else None
    if as_of is not None:
        # the warehouse's build time (sidebar) is not the date of the data
        st.caption(
            f"Figures as of **{as_of:%d %b %Y}**, the latest claim status in the data. "
            "The latest months are still maturing: their claims are not all adjudicated and "
            "paid yet, which lowers their payments, clean claim and collection rates."
        )
    monthly = _query("monthly", path, version, filters)
    prior_monthly = None if prior is None else _query("monthly", path, version, prior)
    tiles(monthly, prior_monthly, filters, prior)
    sections: tuple[tuple[str, Callable[[], None]], ...] = (
        ("Trends", lambda: trends(monthly)),
        ("A/R aging and payment", lambda: aging_and_payment(path, version, filters, status)),
        ("Denials", lambda: denials(path, version, filters, status)),
        ("Top providers and departments", lambda: charges(path, version, filters, status)),
        ("Alerts", lambda: alerts(path, version, filters, status)),
    )
    # Only the open tab runs and reaches the browser (a tab switch reruns the script): the
    # first page load then draws four charts instead of nine and no data grid.
    tabs = st.tabs([title for title, _ in sections], key="section", on_change="rerun")
    for tab, (_, draw) in zip(tabs, sections, strict=True):
        if tab.open:
            with tab:
                draw()


main()
