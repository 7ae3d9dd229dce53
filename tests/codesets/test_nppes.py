"""NppesClient against a local server speaking the NPPES v2.1 shapes, and the extract reader."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingestion.codesets.http import (
    ApiError,
    MalformedResponseError,
    RetriesExhaustedError,
    RetryPolicy,
    parse_retry_after,
)
from ingestion.codesets.nppes import (
    NPI_COLUMNS,
    NppesClient,
    normalise_npi,
    npi_check_digit_ok,
    read_extract,
)

from .conftest import FakeApi, NppesRegistry, Reply, luhn_npi, nppes_record

FAST = {"timeout": 2.0, "max_retries": 3, "backoff_seconds": 0.001}


def make_npis(n: int, start: int = 100000000) -> list[str]:
    return [luhn_npi(str(start + i)) for i in range(n)]


def client(api: FakeApi, **overrides: float) -> NppesClient:
    options = {**FAST, **overrides}
    return NppesClient(
        base_url=api.base_url + "/api/",
        timeout=float(options["timeout"]),
        max_retries=int(options["max_retries"]),
        backoff_seconds=float(options["backoff_seconds"]),
    )


def lookups(api: FakeApi) -> list[str]:
    return [s.query["number"] for s in api.seen if "number" in s.query]


# --------------------------------------------------------------------------- NPI values


def test_check_digit_known_example_and_tampering() -> None:
    assert luhn_npi("123456789") == "1234567893"  # the CMS published example NPI
    assert npi_check_digit_ok("1234567893")
    for wrong in "0124567889":
        if wrong != "3":
            assert not npi_check_digit_ok("123456789" + wrong)
    assert not npi_check_digit_ok("123456789")
    assert not npi_check_digit_ok("12345678A3")


def test_normalise_npi_pads_lost_leading_zeros_and_rejects_junk() -> None:
    npi = luhn_npi("012345678")
    assert npi.startswith("0")
    assert normalise_npi(int(npi)) == npi
    assert normalise_npi(float(int(npi))) == npi
    assert normalise_npi(f" {int(npi)} ") == npi
    assert normalise_npi(f"{int(npi)}.0") == npi
    assert normalise_npi(npi) == npi
    for junk in (None, "", "abc", "12345678901", 1.5, True, [1], "12-34", float("nan")):
        assert normalise_npi(junk) is None, junk


# --------------------------------------------------------------------------- look-ups


def test_lookup_flattens_registry_records(fake_api: FakeApi) -> None:
    npis = make_npis(3)
    records = [nppes_record(n, i=i, state="TX") for i, n in enumerate(npis)]
    records.append(nppes_record(luhn_npi("200000000"), i=9, org=True))
    fake_api.app = NppesRegistry(records)
    wanted = [*npis, str(records[-1]["number"])]
    with client(fake_api) as nppes:
        rows = nppes.lookup(wanted)
    assert [r["npi"] for r in rows] == wanted
    for row, record in zip(rows, records, strict=True):
        assert tuple(row) == NPI_COLUMNS
        basic = record["basic"]
        assert isinstance(basic, dict)
        for name in ("first_name", "last_name", "middle_name", "organization_name", "status"):
            assert row[name] == basic.get(name)
        taxonomies = record["taxonomies"]
        assert isinstance(taxonomies, list)
        primary = next(t for t in taxonomies if t["primary"])
        assert row["primary_taxonomy_code"] == primary["code"]
        assert row["primary_taxonomy_desc"] == primary["desc"]
        addresses = record["addresses"]
        assert isinstance(addresses, list)
        location = next(a for a in addresses if a["address_purpose"] == "LOCATION")
        assert row["practice_city"] == location["city"]
        assert row["practice_postal_code"] == location["postal_code"]
    assert rows[-1]["enumeration_type"] == "NPI-2"
    assert rows[-1]["first_name"] is None
    assert all(s.query["version"] == "2.1" for s in fake_api.seen)


def test_lookup_pads_numbers_and_reports_invalid_without_fetching(fake_api: FakeApi) -> None:
    zero_npi = luhn_npi("001234567")
    good = make_npis(1)[0]
    unknown = luhn_npi("300000000")
    bad_check = good[:9] + str((int(good[9]) + 1) % 10)
    record = nppes_record(zero_npi)
    record["number"] = int(zero_npi)  # "in the wild" the number may come back as an integer
    fake_api.app = NppesRegistry([record, nppes_record(good, i=1)])
    with client(fake_api) as nppes:
        rows = nppes.lookup([int(zero_npi), good, bad_check, "not-an-npi", unknown, good])
        summary = nppes.last_lookup
    assert [r["npi"] for r in rows] == [zero_npi, good]
    assert lookups(fake_api) == [zero_npi, good, unknown]
    assert [value for value, _ in summary.invalid] == [bad_check, "not-an-npi"]
    assert "check digit" in summary.invalid[0][1]
    assert summary.not_found == [unknown]
    assert (summary.requested, summary.looked_up, summary.found) == (6, 3, 2)


def test_lookup_reports_progress_per_batch(fake_api: FakeApi) -> None:
    npis = make_npis(5)
    fake_api.app = NppesRegistry([nppes_record(n, i=i) for i, n in enumerate(npis)])
    calls: list[tuple[int, int]] = []
    with client(fake_api) as nppes:
        rows = nppes.lookup(
            npis, batch_size=2, progress=lambda done, total: calls.append((done, total))
        )
    assert len(rows) == len(npis)
    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_lookup_rejects_an_answer_for_another_npi(fake_api: FakeApi) -> None:
    asked, other = make_npis(2)
    fake_api.app = lambda path, query: Reply(
        200, {"result_count": 1, "results": [nppes_record(other)]}
    )
    with client(fake_api) as nppes, pytest.raises(MalformedResponseError, match=other):
        nppes.lookup([asked])


# --------------------------------------------------------------------------- search


def test_search_pages_until_a_short_page(fake_api: FakeApi) -> None:
    ny = [nppes_record(n, i=i, state="NY") for i, n in enumerate(make_npis(450))]
    nj = [nppes_record(n, i=i, state="NJ") for i, n in enumerate(make_npis(30, start=500000000))]
    fake_api.app = NppesRegistry(ny + nj)
    with client(fake_api) as nppes:
        rows = list(nppes.search(state="NY"))
    assert [r["npi"] for r in rows] == [r["number"] for r in ny]
    assert [int(s.query["skip"]) for s in fake_api.seen] == [0, 200, 400]
    assert {s.query["limit"] for s in fake_api.seen} == {"200"}


def test_search_stops_at_the_skip_cap(fake_api: FakeApi) -> None:
    records = [nppes_record(n, i=i) for i, n in enumerate(make_npis(1300))]
    fake_api.app = NppesRegistry(records)
    with client(fake_api) as nppes:
        rows = list(nppes.search(state="NY", limit=100))
    skips = [int(s.query["skip"]) for s in fake_api.seen]
    assert max(skips) == 1000
    assert skips == list(range(0, 1001, 100))
    assert len(rows) == len(skips) * 100
    assert len(rows) < len(records)


def test_search_rejects_a_limit_above_the_api_maximum(fake_api: FakeApi) -> None:
    with client(fake_api) as nppes, pytest.raises(ValueError, match="limit"):
        list(nppes.search(state="NY", limit=500))


# --------------------------------------------------------------------------- failures


def test_429_with_retry_after_is_honoured(fake_api: FakeApi) -> None:
    npi = make_npis(1)[0]
    fake_api.app = NppesRegistry([nppes_record(npi)])
    fake_api.fail_next(Reply(429, {"message": "slow down"}, {"Retry-After": "1"}))
    with client(fake_api) as nppes:
        rows = nppes.lookup([npi])
    assert [r["npi"] for r in rows] == [npi]
    assert len(fake_api.seen) == 2
    assert fake_api.seen[1].at - fake_api.seen[0].at >= 0.9


def test_500_then_success(fake_api: FakeApi) -> None:
    npi = make_npis(1)[0]
    fake_api.app = NppesRegistry([nppes_record(npi)])
    fake_api.fail_next(Reply(500, {"oops": 1}), Reply(502, b"<html>bad gateway</html>"))
    with client(fake_api) as nppes:
        assert [r["npi"] for r in nppes.lookup([npi])] == [npi]
    assert len(fake_api.seen) == 3


def test_retries_exhausted_names_url_and_status(fake_api: FakeApi) -> None:
    npi = make_npis(1)[0]
    fake_api.app = lambda path, query: Reply(503, {"message": "maintenance"})
    nppes = client(fake_api, max_retries=2)
    with pytest.raises(RetriesExhaustedError) as caught:
        nppes.lookup([npi])
    message = str(caught.value)
    assert fake_api.base_url in message and f"number={npi}" in message
    assert "503" in message and "3 attempt" in message
    assert len(fake_api.seen) == 3


def test_timeout_is_retried_then_succeeds(fake_api: FakeApi) -> None:
    npi = make_npis(1)[0]
    fake_api.app = NppesRegistry([nppes_record(npi)])
    fake_api.fail_next(Reply(delay=0.6, passthrough=True))
    with client(fake_api, timeout=0.2) as nppes:
        assert [r["npi"] for r in nppes.lookup([npi])] == [npi]
    assert len(fake_api.seen) == 2


def test_timeouts_exhaust_retries(fake_api: FakeApi) -> None:
    npi = make_npis(1)[0]
    fake_api.app = NppesRegistry([nppes_record(npi)])
    fake_api.fail_next(*[Reply(delay=0.5, passthrough=True)] * 2)
    nppes = client(fake_api, timeout=0.15, max_retries=1)
    with pytest.raises(RetriesExhaustedError, match="Timeout"):
        nppes.lookup([npi])


def test_connection_refused_is_retried_then_reported() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nppes = NppesClient(
        f"http://127.0.0.1:{port}/api/", timeout=1, max_retries=2, backoff_seconds=0.001
    )
    with pytest.raises(RetriesExhaustedError, match="ConnectionError"):
        nppes.lookup([make_npis(1)[0]])


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>Service Unavailable</html>", "not JSON"),
        ({"result_count": 1}, "no 'results'"),
        ({"result_count": 1, "results": {"number": "x"}}, "'results' should be a list"),
        ({"result_count": "1", "results": []}, "result_count"),
        ({"results": ["1234567893"]}, r"results\[0\] should be an object"),
        ({"results": [{"basic": {}}]}, "has no 'number'"),
        ({"results": [{"number": "12AB", "basic": {}}]}, "is not an NPI"),
        ({"results": [{"number": "1234567893", "basic": "A"}]}, "basic should be an object"),
        ({"results": [{"number": "1234567893", "basic": {"first_name": ["A"]}}]}, "should be text"),
        ({"results": [{"number": "1234567893", "taxonomies": {}}]}, "taxonomies should be a list"),
    ],
)
def test_malformed_answers_raise_clear_errors(
    fake_api: FakeApi, body: object, problem: str
) -> None:
    fake_api.app = lambda path, query: Reply(200, body)
    nppes = client(fake_api)
    with pytest.raises(MalformedResponseError, match=problem) as caught:
        nppes.lookup(["1234567893"])
    assert fake_api.base_url in str(caught.value)
    assert len(fake_api.seen) == 1  # a malformed answer is not retried


def test_errors_payload_with_http_200_raises_api_error(fake_api: FakeApi) -> None:
    fake_api.app = NppesRegistry([])
    with client(fake_api) as nppes, pytest.raises(ApiError, match="No valid search criteria"):
        list(nppes.search())


def test_client_error_status_is_not_retried(fake_api: FakeApi) -> None:
    fake_api.app = lambda path, query: Reply(404, b"<html>Not Found</html>")
    with client(fake_api) as nppes, pytest.raises(ApiError, match="404"):
        nppes.lookup(["1234567893"])
    assert len(fake_api.seen) == 1


def test_retry_policy_delays() -> None:
    policy = RetryPolicy(max_retries=3, backoff_seconds=0.5, max_backoff_seconds=3)
    assert [policy.delay(a) for a in range(4)] == [0.5, 1.0, 2.0, 3]
    assert policy.delay(0, "7") == 7
    assert policy.delay(2, "1") == 2.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=_dt("2015-10-21T07:28:00")) == 10
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --------------------------------------------------------------------------- offline extract


def test_extract_goes_through_the_same_parser_as_the_api(fake_api: FakeApi, tmp_path: Path) -> None:
    npis = make_npis(4)
    records = [nppes_record(n, i=i) for i, n in enumerate(npis)]
    records[2]["number"] = int(luhn_npi("000123456"))  # lost its leading zeros in the export
    extract = tmp_path / "nppes_npi_extract.json"
    extract.write_text(json.dumps({"result_count": len(records), "results": records}))
    offline = read_extract(extract)

    fake_api.app = NppesRegistry(records)
    wanted = [str(r["number"]).zfill(10) for r in records]
    with client(fake_api) as nppes:
        online = nppes.lookup(wanted)
    assert offline == online
    assert offline[2]["npi"] == luhn_npi("000123456")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "not JSON"),
        ('{"result_count": 0}', "no 'results'"),
        ('{"Errors": [{"description": "bad"}]}', "bad"),
    ],
)
def test_bad_extract_names_the_file(tmp_path: Path, text: str, problem: str) -> None:
    extract = tmp_path / "extract.json"
    extract.write_text(text)
    with pytest.raises((MalformedResponseError, ApiError), match=problem) as caught:
        read_extract(extract)
    assert str(extract) in str(caught.value)


def test_an_extract_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    # a Windows export starts the file with a UTF-8 byte order mark: it was refused as
    # "not JSON (Unexpected UTF-8 BOM ...)"
    records = [nppes_record(n, i=i) for i, n in enumerate(make_npis(2))]
    basic = records[1]["basic"]
    assert isinstance(basic, dict)
    basic["first_name"] = "ZOË"
    text = json.dumps({"result_count": 2, "results": records}, ensure_ascii=False)
    plain, marked = tmp_path / "plain.json", tmp_path / "marked.json"
    plain.write_bytes(text.encode("utf-8"))
    marked.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    rows = read_extract(marked)
    assert rows == read_extract(plain)
    assert [r["first_name"] for r in rows] == ["FIRST0", "ZOË"]


@pytest.mark.parametrize("mark", [b"", b"\xef\xbb\xbf"])
def test_an_extract_not_in_utf8_names_the_file_and_the_byte(tmp_path: Path, mark: bytes) -> None:
    # a Latin-1 export: the error was the codec's own, naming neither the file nor the place
    records = [nppes_record(n, i=i) for i, n in enumerate(make_npis(2))]
    basic = records[1]["basic"]
    assert isinstance(basic, dict)
    basic["first_name"] = "ZOË"
    text = json.dumps({"result_count": 2, "results": records}, ensure_ascii=False, indent=1)
    data = mark + text.encode("latin-1")
    extract = tmp_path / "nppes_npi_extract.json"
    extract.write_bytes(data)
    offset = data.index(b"ZO\xcb") + 2
    line = data[:offset].count(b"\n") + 1
    with pytest.raises(MalformedResponseError) as caught:
        read_extract(extract)
    message = str(caught.value)
    assert f"malformed NPPES extract {extract}: not UTF-8: byte 0xcb at byte offset {offset}" in (
        message
    )
    assert f"(line {line})" in message and line > 1
    assert "re-export it as UTF-8" in message


@pytest.mark.parametrize("count", [5, 1, 0])
def test_an_extract_whose_result_count_is_not_its_number_of_results_is_refused(
    tmp_path: Path, count: int
) -> None:
    # a truncated or partial export: loaded, it would drop the missing NPIs from the list
    records = [nppes_record(n, i=i) for i, n in enumerate(make_npis(3))]
    extract = tmp_path / "nppes_npi_extract.json"
    extract.write_text(json.dumps({"result_count": count, "results": records}))
    with pytest.raises(MalformedResponseError) as caught:
        read_extract(extract)
    message = str(caught.value)
    assert str(extract) in message
    assert f"its result_count is {count}, but its results hold 3 record(s)" in message
    assert "export it again whole" in message
    # the count agreeing, or absent (nothing to check it by), the file reads
    extract.write_text(json.dumps({"result_count": 3, "results": records}))
    assert len(read_extract(extract)) == 3
    extract.write_text(json.dumps({"results": records}))
    assert len(read_extract(extract)) == 3


def test_an_online_look_up_names_the_npis_it_could_not_list(
    fake_api: FakeApi, tmp_path: Path
) -> None:
    # the look-up skipped values that are not NPIs and found no record for others: the run
    # said nothing of either, and the list was simply shorter
    from ingestion.ingest import format_summary
    from tests.ingest.conftest import execute, ingest, make_sources, read_bronze, write_config

    sources = make_sources(tmp_path / "sources")
    lake = tmp_path / "lake"
    db = sources / "emr" / "hospital_a.db"
    unknown = luhn_npi("999999999")
    ids = [row[0] for row in _rows(db, "select ProviderID from providers order by ProviderID")]
    execute(db, "update providers set NPI = '1234567890' where ProviderID = ?", [ids[0]])
    execute(db, "update providers set NPI = 'n/a' where ProviderID = ?", [ids[1]])
    execute(db, "update providers set NPI = ? where ProviderID = ?", [unknown, ids[2]])
    # the text 'null' is no NPI, as staging reads it: nothing to warn of
    execute(db, "insert into providers select * from providers where ProviderID = ?", [ids[0]])
    execute(
        db,
        "update providers set ProviderID = 'PRV-NULL', NPI = 'NULL' "
        "where rowid = (select max(rowid) from providers)",
    )
    config = write_config(tmp_path / "c.csv", ["hospital_a.providers", "codesets.npi"])
    assert ingest(sources, lake, config).ok
    known = sorted(
        {
            str(r["NPI"]).zfill(10)
            for r in read_bronze(lake, "hospital_a", "providers").to_pylist()
            if str(r["NPI"]) not in {"1234567890", "n/a", unknown, "NULL"}
        }
    )
    fake_api.app = NppesRegistry([nppes_record(npi, i=i) for i, npi in enumerate(known)])
    online = ingest(sources, lake, config, online=True, nppes_url=fake_api.base_url + "/api/")
    npi = next(e for e in online.entities if e.entity == "codesets.npi")
    assert npi.status == "success" and npi.rows_written == len(known)
    invalid, not_found = npi.warnings
    assert invalid.startswith("2 NPI value(s) of the providers were not looked up")
    assert "'1234567890' (check digit does not match" in invalid and "'n/a' (not an NPI" in invalid
    assert not_found.startswith("1 NPI(s) of the providers are not in the registry") and (
        unknown in not_found
    )
    summary = format_summary(online)
    assert f"WARNING codesets.npi: {invalid}" in summary and not_found in summary


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    import sqlite3

    with sqlite3.connect(db) as con:
        return con.execute(sql).fetchall()


def test_an_api_list_whose_every_record_is_rejected_is_not_published(
    fake_api: FakeApi, tmp_path: Path
) -> None:
    # staging reads the NPI list whole from its latest load: an empty load would empty it
    from tests.ingest.conftest import ingest, make_sources, read_audit, read_bronze, write_config

    sources, lake = make_sources(tmp_path / "sources"), tmp_path / "lake"
    config = write_config(tmp_path / "c.csv", ["hospital_a.providers", "codesets.npi"])
    assert ingest(sources, lake, config).ok  # the extract file's list, and the providers
    listed = read_bronze(lake, "codesets", "npi").num_rows
    numbers = sorted(
        {str(r["NPI"]).zfill(10) for r in read_bronze(lake, "hospital_a", "providers").to_pylist()}
    )
    records = [nppes_record(npi, i=i) for i, npi in enumerate(numbers)]
    for record in records:
        basic = record["basic"]
        assert isinstance(basic, dict)
        basic["enumeration_date"] = "2007-13-45"  # no date: every record is refused
    fake_api.app = NppesRegistry(records)
    online = ingest(sources, lake, config, online=True, nppes_url=fake_api.base_url + "/api/")
    npi = next(e for e in online.entities if e.entity == "codesets.npi")
    assert not online.ok and npi.status == "failed"
    (record,) = npi.records
    assert record.error is not None and f"all {len(numbers)} records were rejected" in record.error
    assert "The code list keeps its last load" in record.error
    assert read_bronze(lake, "codesets", "npi").num_rows == listed  # the list is as it was
    (failed,) = [r for r in read_audit(lake) if r["status"] == "failed"]
    assert (failed["rows_read"], failed["rows_written"], failed["rows_rejected"]) == (
        len(numbers),
        0,
        len(numbers),
    )
