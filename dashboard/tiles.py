"""The KPI tiles, drawn as one block of HTML.

Fifteen ``st.metric`` tiles, each with a caption and a help tooltip, are about 60 Streamlit
elements: the browser renders each as its own React component and parses each label, caption
and tooltip as Markdown. On the build machine that cost a first visit about 0.8 s of script
time in the browser. One ``st.html`` block of plain HTML shows the same: label, value, change
against the prior period, formula, target and status below the value, and the full
definition when the pointer rests on a tile. Everything shown is escaped here.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from dashboard import kpis

STYLE = """<style>
.rcm-tiles h3 { font-size: 1.25rem; font-weight: 600; margin: 1rem 0 0.75rem;
  padding-bottom: 0.4rem; border-bottom: 2px solid rgba(49, 51, 63, 0.2); }
.rcm-row { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 1rem; }
.rcm-tile { border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem; padding: 0.75rem 1rem; }
.rcm-label { font-size: 0.875rem; }
.rcm-value { font-size: 2.25rem; line-height: 1.25; }
.rcm-delta { font-size: 0.875rem; display: inline-block; border-radius: 1rem; padding: 0 0.5rem; }
.rcm-delta.good { color: #177233; background: rgba(33, 195, 84, 0.1); }
.rcm-delta.bad { color: #bd4043; background: rgba(255, 43, 43, 0.09); }
.rcm-delta.neutral { color: rgba(49, 51, 63, 0.7); background: rgba(49, 51, 63, 0.06); }
.rcm-note { font-size: 0.8rem; color: rgba(49, 51, 63, 0.65); margin-top: 0.35rem; }
.rcm-status.good { color: #177233; } .rcm-status.watch { color: #b35c00; }
.rcm-status.bad { color: #bd4043; }
@media (max-width: 900px) { .rcm-row { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
</style>"""
STATUS_TEXT: dict[kpis.Status, str] = {
    "good": "on target",
    "watch": "watch",
    "bad": "off target",
    "none": "",
}


def _change(kpi: kpis.Kpi, value: float | None, previous: float | None) -> float | None:
    """The change from ``previous`` to ``value`` in the unit shown, rounded as shown (one
    decimal): points for rates, days for days, per cent for amounts and counts."""
    if value is None or previous is None:
        return None
    if kpi.unit == "percent":
        change = (value - previous) * 100
    elif kpi.unit == "days":
        change = value - previous
    elif previous == 0:
        return None
    else:
        change = (value - previous) / abs(previous) * 100
    # 0.0 rather than -0.0: a change too small to show has no direction
    return round(change, 1) + 0.0


def delta_text(kpi: kpis.Kpi, value: float | None, previous: float | None) -> str | None:
    """The change from ``previous`` to ``value`` in the KPI's unit: points for rates, days
    for days, per cent for amounts and counts; None when there is nothing to compare. A change
    that rounds to zero has no sign."""
    change = _change(kpi, value, previous)
    if change is None:
        return None
    number = f"{change:.1f}" if change == 0 else f"{change:+.1f}"
    unit = {"percent": "pts", "days": "days"}.get(kpi.unit, "%")
    return f"{number} {unit}"


def delta_tone(kpi: kpis.Kpi, value: float | None, previous: float | None) -> str:
    """good, bad or neutral: whether the change moved the KPI towards its target (neutral when
    the change rounds to zero at the precision shown)."""
    if value is None or previous is None or kpi.higher_is_better is None or value == previous:
        return "neutral"
    if _change(kpi, value, previous) == 0:
        return "neutral"
    return "good" if (value > previous) == kpi.higher_is_better else "bad"


def tile(kpi: kpis.Kpi, value: float | None, previous: float | None, period: str) -> str:
    """One tile. ``period`` says what the value covers, for the hover text."""
    when = "at the end of" if kpi.is_balance else "over"
    target = f"Target {kpi.target}" if kpi.target else "No fixed target"
    hover = (
        f"{kpi.label} = {kpi.formula}.\nTarget: {kpi.target or 'none set'}. "
        f"Value {when} {period}; the change is against the preceding period of the same length."
    )
    if kpi.scope:
        hover += f"\n{kpi.scope}."
    parts = [
        f'<div class="rcm-tile" data-kpi="{html.escape(kpi.key)}" title="{html.escape(hover)}">',
        f'<div class="rcm-label">{html.escape(kpi.label)}</div>',
        f'<div class="rcm-value">{html.escape(kpi.format(value))}</div>',
    ]
    delta = delta_text(kpi, value, previous)
    if delta is not None:
        tone = delta_tone(kpi, value, previous)
        arrow = {"+": "↑ ", "-": "↓ "}.get(delta[0], "")  # no arrow for a change of 0.0
        parts.append(
            f'<span class="rcm-delta {tone}" title="vs prior period">'
            f"{arrow}{html.escape(delta)}</span>"
        )
    status = kpi.status(value)
    badge = (
        f' · <span class="rcm-status {status}">{STATUS_TEXT[status]}</span>'
        if status != "none"
        else ""
    )
    parts.append(
        f'<div class="rcm-note">{html.escape(kpi.formula)}<br>{html.escape(target)}{badge}</div>'
    )
    if kpi.scope:  # what the value counts, right under the target it is compared with
        parts.append(f'<div class="rcm-note rcm-scope">{html.escape(kpi.scope)}.</div>')
    parts.append("</div>")
    return "".join(parts)


def tiles_html(
    rows: Sequence[tuple[str, Sequence[str]]],
    values: Mapping[str, float | None],
    previous: Mapping[str, float | None],
    period: str,
) -> str:
    """Every row of tiles under its heading: ``rows`` is (heading, KPI keys) in order."""
    parts = [STYLE, '<div class="rcm-tiles">']
    for heading, keys in rows:
        parts.append(f'<h3>{html.escape(heading)}</h3><div class="rcm-row">')
        for key in keys:
            parts.append(tile(kpis.KPI_BY_KEY[key], values[key], previous.get(key), period))
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)
