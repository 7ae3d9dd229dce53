"""The KPI tiles' HTML (dashboard/tiles.py): what each tile says, the direction and colour of
its change, and that nothing from a label or formula can inject markup. Parsed with the
standard library's HTML parser, the way a browser would see the structure."""

from __future__ import annotations

import dataclasses
from decimal import ROUND_HALF_EVEN, Decimal
from html.parser import HTMLParser

import pytest

from dashboard import kpis, tiles


class _Tiles(HTMLParser):
    """Collects each tile's data-kpi, title and the text of its parts by class name."""

    def __init__(self) -> None:
        super().__init__()
        self.tiles: dict[str, dict[str, str]] = {}
        self.headings: list[str] = []
        self._tile: dict[str, str] | None = None
        self._part: str | None = None
        self._in_heading = False
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if "rcm-tile" in classes:
            self._tile = {"title": attributes.get("title") or ""}
            self.tiles[attributes.get("data-kpi") or ""] = self._tile
        for part in ("rcm-label", "rcm-value", "rcm-delta", "rcm-note", "rcm-status", "rcm-scope"):
            if part in classes and self._tile is not None:
                self._part = part
                self._tile[f"{part}-class"] = " ".join(classes)
        self._in_heading = tag == "h3"

    def handle_endtag(self, tag: str) -> None:
        self._in_heading = False
        if tag in ("div", "span"):
            self._part = None

    def handle_data(self, data: str) -> None:
        if self._in_heading:
            self.headings.append(data)
        if self._tile is not None and self._part is not None:
            self._tile[self._part] = self._tile.get(self._part, "") + data


def _parse(markup: str) -> _Tiles:
    parser = _Tiles()
    parser.feed(markup)
    return parser


ROWS = (("Receivables", ("days_in_ar", "net_collection_rate")), ("Volume", ("visits",)))


def test_every_tile_shows_label_value_formula_and_target() -> None:
    values = {"days_in_ar": 52.25, "net_collection_rate": 0.9612, "visits": 1234.0}
    parsed = _parse(tiles.tiles_html(ROWS, values, {}, "Jan 2024 - Mar 2024"))
    assert parsed.headings == ["Receivables", "Volume"]
    assert list(parsed.tiles) == ["days_in_ar", "net_collection_rate", "visits"]
    days = parsed.tiles["days_in_ar"]
    assert days["rcm-label"] == "Days in A/R"
    assert days["rcm-value"] == "52.2 days"
    assert (
        "A/R at period end / (charges of the 3 months ending with the period" in (days["rcm-note"])
    )
    assert "Target < 40 days" in days["rcm-note"]
    assert days["rcm-status"] == "off target"  # 52.2 days against a target of 40
    assert "at the end of Jan 2024 - Mar 2024" in days["title"]  # a balance
    assert "rcm-delta" not in days  # no prior period: no change shown
    collection = parsed.tiles["net_collection_rate"]
    assert collection["rcm-value"] == "96.1 %"
    assert collection["rcm-status"] == "on target"
    assert "over Jan 2024 - Mar 2024" in collection["title"]  # a flow
    visits = parsed.tiles["visits"]
    assert visits["rcm-value"] == "1,234"
    assert "No fixed target" in visits["rcm-note"]
    assert "rcm-status" not in visits


def test_net_collection_rate_says_it_counts_no_patient_payments_next_to_its_target() -> None:
    # the sources carry no patient payments (deductible, coinsurance, copay): against the 95 %
    # target the tile read "off target" every month, which a finance reader took for a
    # collections problem
    parsed = _parse(
        tiles.tiles_html(
            ROWS, {"days_in_ar": 30.0, "net_collection_rate": 0.62, "visits": 10.0}, {}, "Q1"
        )
    )
    collection = parsed.tiles["net_collection_rate"]
    note = collection["rcm-note"]
    assert "Target > 95 %" in note and collection["rcm-status"] == "off target"
    for said in (collection["rcm-scope"], collection["title"]):
        assert "Payer payments only" in said, said
        assert "patient payments" in said and "not in the sources" in said, said
    # a KPI whose sources are complete says nothing of the kind
    assert "rcm-scope" not in parsed.tiles["days_in_ar"]


@pytest.mark.parametrize(
    ("key", "numerator", "denominator"),
    [
        # the review's figures: $26.88 per visit was shown as $27, $44,718,495.52 as $44,718,496
        ("payments_per_visit", 2_688.0, 100.0),
        ("charges_per_visit", 1_234_567.0, 1_000.0),
        ("payments", 44_718_495.52, 1.0),
    ],
)
def test_money_tiles_show_cents_to_reconcile_with_the_warehouse(
    key: str, numerator: float, denominator: float
) -> None:
    value = numerator / denominator
    shown = _parse(tiles.tile(kpis.KPI_BY_KEY[key], value, None, "Q1")).tiles[key]["rcm-value"]
    assert shown.startswith("$"), shown
    cents = Decimal(str(numerator)) / Decimal(str(denominator))
    want = cents.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    assert Decimal(shown[1:].replace(",", "")) == want, shown


@pytest.mark.parametrize(
    ("key", "value", "previous", "text", "tone"),
    [
        # Days in A/R: lower is better, so a rise is bad.
        ("days_in_ar", 45.0, 40.0, "↑ +5.0 days", "bad"),
        ("days_in_ar", 38.5, 40.0, "↓ -1.5 days", "good"),
        # A rate moves in points, not per cent.
        ("net_collection_rate", 0.90, 0.95, "↓ -5.0 pts", "bad"),
        ("initial_denial_rate", 0.08, 0.10, "↓ -2.0 pts", "good"),
        # An amount moves in per cent of the prior value.
        ("gross_charges", 1500.0, 1200.0, "↑ +25.0 %", "good"),
        ("ar_open", 1500.0, 1200.0, "↑ +25.0 %", "bad"),
    ],
)
def test_change_against_the_prior_period_has_direction_and_tone(
    key: str, value: float, previous: float, text: str, tone: str
) -> None:
    markup = tiles.tile(kpis.KPI_BY_KEY[key], value, previous, "Q1")
    shown = _parse(markup).tiles[key]
    assert shown["rcm-delta"] == text
    assert shown["rcm-delta-class"] == f"rcm-delta {tone}"


@pytest.mark.parametrize(
    ("key", "value", "previous", "text"),
    [
        # the review: Self-pay's denial rate moved by less than 0.05 pts and showed "↑ +0.0 pts"
        ("initial_denial_rate", 0.05004, 0.05, "0.0 pts"),
        ("initial_denial_rate", 0.05, 0.05004, "0.0 pts"),  # not "-0.0"
        ("days_in_ar", 40.0, 40.04, "0.0 days"),
        ("gross_charges", 1000.4, 1000.0, "0.0 %"),
    ],
)
def test_a_change_that_rounds_to_zero_has_no_arrow_and_a_neutral_tone(
    key: str, value: float, previous: float, text: str
) -> None:
    shown = _parse(tiles.tile(kpis.KPI_BY_KEY[key], value, previous, "Q1")).tiles[key]
    assert shown["rcm-delta"] == text
    assert shown["rcm-delta-class"] == "rcm-delta neutral"


def test_no_change_shown_when_there_is_nothing_to_compare() -> None:
    kpi = kpis.KPI_BY_KEY["gross_charges"]
    assert tiles.delta_text(kpi, 100.0, 0.0) is None  # per cent of zero
    assert tiles.delta_text(kpi, None, 100.0) is None
    assert tiles.delta_tone(kpi, 100.0, 100.0) == "neutral"
    shown = _parse(tiles.tile(kpi, None, 100.0, "Q1")).tiles["gross_charges"]
    assert shown["rcm-value"] == "n/a"
    assert "rcm-delta" not in shown


def test_label_formula_and_period_are_escaped() -> None:
    hostile = dataclasses.replace(
        kpis.KPI_BY_KEY["visits"],
        label='<img src=x onerror="alert(1)">',
        formula="a < b & c",
    )
    markup = tiles.tile(hostile, 3.0, None, '"><script>')
    parsed = _parse(markup)
    assert "img" not in parsed.tags and "script" not in parsed.tags
    shown = parsed.tiles["visits"]
    assert shown["rcm-label"] == '<img src=x onerror="alert(1)">'
    assert shown["rcm-note"].startswith("a < b & c")
    assert shown["title"].endswith(
        'Value over "><script>; the change is against the preceding period of the same length.'
    )
