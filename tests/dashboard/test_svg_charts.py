"""The server-drawn trend charts (dashboard/svg_charts.py): tick choice, where lines and points
land, gaps for months without a value, tooltips and escaping. The SVG is parsed as XML and the
HTML around it with the standard library's parser, as a browser would see them."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from dashboard import svg_charts
from dashboard.svg_charts import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH

NS = "{http://www.w3.org/2000/svg}"
MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04"]
SERIES: dict[str, list[float | None]] = {"Gross": [100.0, None, 50.0, 0.0], "Paid": [10.0] * 4}


class _Chart(HTMLParser):
    """The image's source and each point's style and tooltip."""

    def __init__(self) -> None:
        super().__init__()
        self.image = ""
        self.points: list[dict[str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attributes = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.image = attributes["src"]
        if attributes.get("class") == "rcm-point":
            self.points.append(attributes)


def _chart(markup: str) -> _Chart:
    parser = _Chart()
    parser.feed(markup)
    return parser


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (0, 3_743_983, [0, 1e6, 2e6, 3e6, 4e6]),
        (0, 82.2, [0, 25, 50, 75, 100]),
        (0, 9.5, [0, 2.5, 5, 7.5, 10]),
        (-5, 12, [-5, 0, 5, 10, 15]),
        (0, 0, [0, 0.25, 0.5, 0.75, 1]),  # nothing to show: a unit axis, not a crash
    ],
)
def test_ticks_are_round_and_cover_the_values(low: float, high: float, ticks: list[float]) -> None:
    assert svg_charts.nice_ticks(low, high) == pytest.approx(ticks)


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [(2_500_000, "$", "$2.5M"), (250_000, "$", "$250k"), (0, "$", "$0"), (7.5, "%", "7.5")],
)
def test_axis_labels(value: float, unit: svg_charts.Unit, text: str) -> None:
    assert svg_charts.axis_label(value, unit) == text


def test_lines_sit_on_the_scale_and_gaps_lift_the_pen() -> None:
    chart = ET.fromstring(svg_charts.svg("Charges", MONTHS, SERIES, "$"))
    gross, paid = chart.findall(f"{NS}path")
    # The axis runs 0..100 (ticks 0, 25, ..., 100): 100 is the top of the plot, 0 its bottom.
    plot_h = HEIGHT - TOP - BOTTOM
    step = (WIDTH - LEFT - RIGHT) / 4
    first_x = LEFT + step / 2
    # Month 2 has no value: the line stops after month 1 and starts again at month 3.
    assert gross.get("d") == (
        f"M{first_x:.1f} {TOP:.1f} M{first_x + 2 * step:.1f} {TOP + plot_h / 2:.1f} "
        f"L{first_x + 3 * step:.1f} {TOP + plot_h:.1f}"
    )
    assert paid.get("d", "").count("L") == 3
    labels = [t.text for t in chart.iter(f"{NS}text")]
    assert labels[:5] == ["$0", "$25", "$50", "$75", "$100"]
    assert labels[5:9] == MONTHS and labels[-2:] == ["Gross", "Paid"]


def test_each_point_is_a_dot_with_its_value_over_the_image() -> None:
    markup = svg_charts.line_chart("Charges", MONTHS, SERIES, "$")
    chart = _chart(markup)
    assert chart.image.startswith("data:image/svg+xml;base64,")
    drawn = base64.b64decode(chart.image.split(",", 1)[1]).decode()
    assert drawn == svg_charts.svg("Charges", MONTHS, SERIES, "$")
    tips = [p["title"] for p in chart.points]
    assert len(tips) == 7  # 3 of Gross (one month has no value) and 4 of Paid
    assert tips[:3] == [
        "Gross, 2024-01: $100.00",
        "Gross, 2024-03: $50.00",
        "Gross, 2024-04: $0.00",
    ]
    # The first point (100 in January) sits at the top of the plot, half a step in.
    step = (WIDTH - LEFT - RIGHT) / 4
    left = (LEFT + step / 2) / WIDTH * 100
    assert f"left:{left:.2f}%;top:{TOP / HEIGHT * 100:.2f}%;" in chart.points[0]["style"]


def test_many_months_thin_their_labels_and_names_are_escaped() -> None:
    months = [f"{2020 + m // 12}-{m % 12 + 1:02d}" for m in range(36)]
    drawn = ET.fromstring(svg_charts.svg("A & <B>", months, {"<x>": [1.0] * 36}, "%"))
    month_labels = [t.text for t in drawn.iter(f"{NS}text") if t.text in months]
    assert month_labels == months[::6]  # at most 7 labels
    assert drawn.find(f"{NS}title").text == "A & <B>"  # type: ignore[union-attr]
    chart = _chart(svg_charts.line_chart("A & <B>", months, {"<x>": [1.0] * 36}, "%"))
    assert chart.tags.count("b") == 0 and chart.tags.count("x") == 0
    assert chart.points[0]["title"] == "<x>, 2020-01: 1.0 %"


def test_money_tooltips_show_cents_to_reconcile_with_the_warehouse() -> None:
    # a point's tooltip is compared with the warehouse: $26.88 per visit was shown as $27
    amounts = [26.88, 44_718_495.52]
    markup = svg_charts.line_chart("Per visit", MONTHS[:2], {"Paid": amounts}, "$")
    tips = [p["title"] for p in _chart(markup).points]
    shown = [float(tip.split(": $", 1)[1].replace(",", "")) for tip in tips]
    assert all(tip.rsplit(".", 1)[1].isdigit() and len(tip.rsplit(".", 1)[1]) == 2 for tip in tips)
    assert shown == pytest.approx(amounts, abs=0.001)
