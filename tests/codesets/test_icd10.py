"""ICD-10-CM: code normalisation, the offline CMS list, and IcdClient against a local server."""

from __future__ import annotations

import pytest
import simple_icd_10_cm as cm

from ingestion.codesets.http import MalformedResponseError, RetriesExhaustedError
from ingestion.codesets.icd10 import (
    ICD_COLUMNS,
    IcdClient,
    index_codes,
    normalise_icd,
    offline_codes,
    resolve,
)

from .conftest import ClinicalTables, FakeApi, Reply

SEARCH = "/api/icd10cm/v3/search"


def served_codes(prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
    """Real (code, description) pairs from the shipped list, as the API would serve them."""
    return [
        (code, cm.get_description(code))
        for code in cm.get_all_codes(True)
        if not cm.is_chapter_or_block(code) and code.startswith(prefixes)
    ]


def client(api: FakeApi, page_size: int = 500, max_total: int = 7500) -> IcdClient:
    return IcdClient(
        api.base_url,
        timeout=2.0,
        max_retries=2,
        backoff_seconds=0.001,
        page_size=page_size,
        max_total=max_total,
    )


# --------------------------------------------------------------------------- codes


@pytest.mark.parametrize("spelling", ["E11.9", "E119", "e11.9", " e119 ", "E11 .9", "E11. 9"])
def test_dotted_and_undotted_codes_resolve_to_one_row(spelling: str) -> None:
    assert normalise_icd(spelling) == "E11.9"
    row = resolve(spelling)
    assert row is not None
    assert row["code"] == "E11.9"
    assert row["code_nodot"] == "E119"
    assert row["description"] == cm.get_description("E11.9")


def test_normalise_keeps_three_character_codes_and_rejects_junk() -> None:
    assert normalise_icd("i10") == "I10"
    assert normalise_icd("S0000XA") == "S00.00XA"
    for junk in ("", "E1", "11.9", "E11.99999", "E1!.9", "E11.9-"):
        with pytest.raises(ValueError, match="ICD-10-CM"):
            normalise_icd(junk)
    assert resolve("Z99.999") is None


def test_offline_list_holds_the_real_codes() -> None:
    rows = offline_codes()
    by_code = {row["code"]: row for row in rows}
    assert all(tuple(row) == ICD_COLUMNS for row in rows)
    assert by_code["E11.9"]["is_billable"] == "true"
    assert by_code["I10"]["is_billable"] == "true"
    assert by_code["E11"]["is_billable"] == "false"  # a category: more specific codes exist
    assert by_code["E11.6"]["is_billable"] == "false"
    assert "E08-E13" not in by_code  # blocks and chapters are not codes
    assert {row["source"] for row in rows} == {"cms"}
    expected = [c for c in cm.get_all_codes(True) if not cm.is_chapter_or_block(c)]
    assert [row["code"] for row in rows] == expected
    assert sum(row["is_billable"] == "true" for row in rows) == sum(map(cm.is_leaf, expected))
    assert all(row["code_nodot"] == str(row["code"]).replace(".", "") for row in rows)
    rows[0]["description"] = "changed by a caller"
    assert offline_codes()[0]["description"] != "changed by a caller"


def test_resolve_over_a_fetched_list() -> None:
    rows = [
        {
            "code": "A01.0",
            "code_nodot": "A010",
            "description": "x",
            "is_billable": None,
            "source": "nlm",
        }
    ]
    index = index_codes(rows)
    assert resolve("a010", index) == rows[0]
    assert resolve("E11.9", index) is None


# --------------------------------------------------------------------------- API client


def test_search_pages_with_count_and_offset(fake_api: FakeApi) -> None:
    codes = served_codes(("E11",))
    fake_api.app = ClinicalTables(codes)
    with client(fake_api, page_size=25) as icd:
        rows = icd.search("E11")
    assert [r["code"] for r in rows] == [c for c, _ in codes]
    assert [r["description"] for r in rows] == [n for _, n in codes]
    assert {r["source"] for r in rows} == {"nlm"}
    billable = {r["code"]: r["is_billable"] for r in rows}
    assert billable["E11"] == "false"  # from the CMS list: the API does not say
    assert billable["E11.9"] == "true"
    offsets = [int(s.query["offset"]) for s in fake_api.seen]
    assert offsets == list(range(0, len(codes), 25))
    assert all(s.path == SEARCH and s.query["count"] == "25" for s in fake_api.seen)
    assert {s.query["sf"] for s in fake_api.seen} == {"code,name"}


def test_search_stops_at_the_api_cap(fake_api: FakeApi) -> None:
    codes = served_codes(("A0",))
    fake_api.app = ClinicalTables(codes, cap=60)
    with client(fake_api, page_size=25, max_total=60) as icd:
        rows = icd.search("A0")
    assert len(codes) > 60
    assert [r["code"] for r in rows] == [c for c, _ in codes[:60]]
    assert max(int(s.query["offset"]) + int(s.query["count"]) for s in fake_api.seen) == 60


def test_fetch_all_splits_prefixes_over_the_cap_and_deduplicates(fake_api: FakeApi) -> None:
    cap = 60
    codes = served_codes(("A0", "A1", "B2", "E11"))
    fake_api.app = ClinicalTables(codes, cap=cap)
    with client(fake_api, page_size=25, max_total=cap) as icd:
        rows = icd.fetch_all(letters="ABE")
    expected = sorted(c.replace(".", "") for c, _ in codes)
    assert sorted(str(r["code_nodot"]) for r in rows) == expected
    assert len({r["code"] for r in rows}) == len(rows)
    assert {s.query["sf"] for s in fake_api.seen} == {"code"}

    # a prefix is split into longer ones exactly when it matches more codes than the cap
    sent = {s.query["terms"].replace(".", "") for s in fake_api.seen}
    for term in sent:
        matching = sum(c.replace(".", "").startswith(term) for c, _ in codes)
        split = any(other != term and other.startswith(term) for other in sent)
        assert split == (matching > cap), term
    assert any(len(t) > 3 for t in sent)  # dotted prefixes (E11.x) were needed too
    assert any("." in s.query["terms"] for s in fake_api.seen)


def test_retries_on_429_and_500_then_succeeds(fake_api: FakeApi) -> None:
    codes = served_codes(("I10",))
    fake_api.app = ClinicalTables(codes)
    fake_api.fail_next(Reply(429, {"m": "busy"}, {"Retry-After": "0"}), Reply(500, {"m": "x"}))
    with client(fake_api) as icd:
        assert [r["code"] for r in icd.search("I10")] == [c for c, _ in codes]
    assert len(fake_api.seen) == 3


def test_retries_exhausted(fake_api: FakeApi) -> None:
    fake_api.app = lambda path, query: Reply(503, b"<html>down</html>")
    icd = client(fake_api)
    with pytest.raises(RetriesExhaustedError, match=r"503.*down") as caught:
        icd.search("E11")
    assert SEARCH in str(caught.value)
    assert len(fake_api.seen) == 3


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"]]not json", "not JSON"),
        ({"total": 1}, "JSON array"),
        (["1", [], None, []], "total"),
        ([1, "E11.9", None, [["E11.9", "x"]]], "list of code strings"),
        ([1, ["E11.9"], None, []], "one per code"),
        ([1, ["E11.9"], None, [["E11.9"]]], r"\[code, name\]"),
        ([1, ["E11.9"], None, [["E10.9", "x"]]], "code list says"),
        ([1, ["9"], None, [["9", "x"]]], "not shaped like"),
    ],
)
def test_malformed_answers(fake_api: FakeApi, body: object, problem: str) -> None:
    fake_api.app = lambda path, query: Reply(200, body)
    icd = client(fake_api)
    with pytest.raises(MalformedResponseError, match=problem) as caught:
        icd.search("E11")
    assert fake_api.base_url in str(caught.value)
