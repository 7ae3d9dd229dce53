"""Landing files to Bronze: claims and CPT CSVs, the NPI extract, re-landing, rejects."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingestion.bronze import WriteSettings
from ingestion.cli import main
from ingestion.ingest import IngestSettings, format_summary, run_ingest
from ingestion.sources.values import (
    CLAIM_COLUMN_KINDS,
    _arrow_reads,
    bad_marks,
    column_kinds,
    describe,
    is_mark,
    timestamps_in_utc,
    unreadable_values,
)

from .conftest import (
    CLAIM_COLUMNS,
    claim_row,
    data_files,
    ingest,
    load_folders,
    read_audit,
    read_bronze,
    write_claims,
    write_config,
    write_csv,
    write_npi_extract,
)

CLAIMS = ["hospital_a.claims", "hospital_b.claims"]


def data_lines(path: Path) -> int:
    with path.open(newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def test_claims_files_are_loaded_per_hospital_and_moved(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    landing = sources / "landing" / "claims"
    write_claims(sources, "hospital1_claim_data_2024_02.csv", range(5, 8), 1)
    expected = {p.name: data_lines(p) for p in landing.glob("*.csv")}
    config = write_config(tmp_path / "c.csv", CLAIMS)
    result = ingest(sources, lake, config)
    assert result.ok
    a = read_bronze(lake, "hospital_a", "claims")
    b = read_bronze(lake, "hospital_b", "claims")
    hospital1 = {n: c for n, c in expected.items() if n.startswith("hospital1")}
    assert a.num_rows == sum(hospital1.values())
    assert b.num_rows == expected["hospital2_claim_data_2024_01.csv"]
    assert set(a.column("_source_name").to_pylist()) == set(hospital1)
    # one load per file, each file in processed/, none left in landing
    assert len(load_folders(lake, "hospital_a", "claims")) == len(hospital1)
    assert sorted(p.name for p in (landing / "processed").iterdir()) == sorted(expected)
    assert not list(landing.glob("*.csv"))
    # line numbers: the first data row is line 2; empty values are null
    rows = [r for r in a.to_pylist() if r["_source_name"] == "hospital1_claim_data_2024_01.csv"]
    assert sorted(r["_source_row"] for r in rows) == list(range(2, 2 + len(rows)))
    pending = [r for r in rows if r["ClaimStatus"] == "Pending"]
    assert pending and all(r["PaidAmount"] is None for r in pending)
    assert "DenialReasonCode" in a.column_names and "AllowedAmount" in a.column_names
    audit = [r for r in read_audit(lake) if r["tablename"] == "claims"]
    assert {r["source_name"] for r in audit} == set(expected)
    assert all(len(r["content_sha256"]) == 64 for r in audit)


def test_a_landing_file_no_entity_would_load_is_named_with_the_patterns(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # a hand-fixed file saved under a name outside the pattern used to sit in landing/ with
    # only "no new file" said; a hidden file (an editor's) is not a landing file
    landing = sources / "landing" / "claims"
    misnamed = landing / "hospital1_claim_data_2024_01_fix.csv"
    shutil.copyfile(next(landing.glob("hospital1_*.csv")), misnamed)
    (landing / ".hospital1_claim_data_2024_01.csv.swp").write_text("")
    config = write_config(tmp_path / "c.csv", CLAIMS)
    said: list[str] = []
    result = ingest(sources, lake, config, messages=said, only=("hospital_b.claims",))
    assert result.ok
    # hospital A's files are its own, though only hospital B was asked for
    assert result.unmatched_files == ("landing/claims/hospital1_claim_data_2024_01_fix.csv",)
    warning = next(line for line in said if line.startswith("warning:"))
    assert "hospital1_claim_data_2024_01_fix.csv" in warning
    assert r"hospital_a.claims: hospital1_claim_data(_\d{4}" in warning, warning
    assert "NOT LOADED: 1 landing file(s)" in format_summary(result)
    assert misnamed.exists()


def test_a_file_two_entities_patterns_match_is_loaded_by_neither(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # hospital B's pattern widened by mistake: hospital 1's file was loaded by whichever
    # entity came first, and by both when two workers ran them side by side
    edits = {"hospital_b.claims": {"file_pattern": r"hospital.*_claim_data.*\.csv"}}
    config = write_config(tmp_path / "c.csv", CLAIMS, edits)
    landing = sources / "landing" / "claims"
    result = ingest(sources, lake, config, workers=2)
    assert {e.entity: e.status for e in result.entities} == {
        "hospital_a.claims": "failed",
        "hospital_b.claims": "failed",
    }
    error = result.failed[0].error or ""
    assert "hospital1_claim_data_2024_01.csv matches the file_pattern of hospital_a.claims" in (
        error
    )
    assert f"and of hospital_b.claims (config line(s) 2, 3 of {config})" in error
    assert not load_folders(lake, "hospital_a", "claims")
    assert not load_folders(lake, "hospital_b", "claims")
    assert (landing / "hospital1_claim_data_2024_01.csv").exists()
    failed = [r for r in read_audit(lake) if r["status"] == "failed"]
    assert {r["source_name"] for r in failed} == {"hospital1_claim_data_2024_01.csv"}


def test_a_file_still_being_copied_in_is_not_loaded_and_waits(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # the copy goes on while ingest reads: the load held the lines copied so far, and the
    # file, moved to processed/, grew there unread
    landing = sources / "landing" / "claims"
    for old in landing.glob("*.csv"):
        old.unlink()
    path = landing / "hospital1_claim_data_2024_02.csv"
    write_claims(sources, path.name, range(20), 1)
    config = write_config(tmp_path / "c.csv", ["hospital_a.claims"])
    said: list[str] = []

    def copying(message: str) -> None:
        said.append(message)
        if "wrote part-00000" in message:  # mid-file: the copy adds the rest
            with path.open("a", encoding="utf-8") as handle:
                handle.write(",".join(["CLAIM999999"] + [""] * (len(CLAIM_COLUMNS) - 1)) + "\n")

    settings = IngestSettings(
        sources=sources,
        lake=str(lake),
        config_path=config,
        batch_rows=4,
        write=WriteSettings(row_group_rows=4, part_rows=8),
        env={},
        progress=copying,
    )
    result = run_ingest(settings)
    entity = result.entities[0]
    assert entity.status == "failed"
    assert "hospital1_claim_data_2024_02.csv changed while it was read" in (entity.error or "")
    assert path.exists()
    assert not load_folders(lake, "hospital_a", "claims")
    # complete, it loads whole on the next run
    again = ingest(sources, lake, config)
    assert again.entities[0].status == "success"
    assert again.entities[0].rows_read == 21


def test_relanded_file_is_detected_and_not_loaded_twice(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.csv", ["hospital_a.claims"])
    landing = sources / "landing" / "claims"
    ingest(sources, lake, config)
    loaded = data_files(lake)
    rows = read_bronze(lake, "hospital_a", "claims").num_rows
    # the same content lands again, under the same name and under another name
    shutil.copy(landing / "processed" / "hospital1_claim_data_2024_01.csv", landing)
    shutil.copy(
        landing / "processed" / "hospital1_claim_data_2024_01.csv",
        landing / "hospital1_claim_data_2024_01_31.csv",
    )
    again = ingest(sources, lake, config)
    assert again.ok
    assert again.entities[0].status == "skipped_duplicate"
    assert data_files(lake) == loaded
    assert read_bronze(lake, "hospital_a", "claims").num_rows == rows
    processed = sorted(p.name for p in (landing / "processed").iterdir())
    assert len(processed) == 3
    assert sum("__duplicate_" in name for name in processed) == 1
    assert not list(landing.glob("hospital1*.csv"))
    statuses = [r["status"] for r in read_audit(lake) if r["run_id"] == again.run_id]
    assert statuses == ["skipped_duplicate", "skipped_duplicate"]

    # a corrected export under a known name is new content: loaded, kept apart in processed
    write_claims(sources, "hospital1_claim_data_2024_01.csv", range(3), 1)
    third = ingest(sources, lake, config)
    assert third.entities[0].status == "success"
    assert len(list((landing / "processed").iterdir())) == 4


def test_a_file_landing_again_under_a_loaded_name_says_the_earlier_rows_stay(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.csv", ["hospital_a.claims"])
    first = ingest(sources, lake, config)
    (loaded,) = first.entities[0].load_ids
    name = "hospital1_claim_data_2024_01.csv"
    # a re-sent export under the same name, without the claims 0 and 1
    write_claims(sources, name, range(2, 7), 1)
    said: list[str] = []
    again = ingest(sources, lake, config, messages=said)
    assert again.ok and again.entities[0].status == "success"
    (notice,) = [line for line in said if "was loaded before" in line]
    assert f"a file named {name} was loaded before (first by load {loaded}" in notice
    assert f"kept as processed/{name})" in notice  # the first file of the name is kept so
    assert "its rows stay in Bronze" in notice and "cannot withdraw" in notice
    # sent a third time: still the first load with the name it kept, and a count
    write_claims(sources, name, range(3, 8), 1)
    said.clear()
    assert ingest(sources, lake, config, messages=said).ok
    (notice,) = [line for line in said if "was loaded before" in line]
    assert f"(first by load {loaded}, kept as processed/{name}; 1 more time(s) since)" in notice
    # a new name is no such case
    write_claims(sources, "hospital1_claim_data_2024_02.csv", range(3), 1)
    said.clear()
    ingest(sources, lake, config, messages=said)
    assert not [line for line in said if "was loaded before" in line]


def test_malformed_lines_are_rejected_with_line_and_reason(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    landing = sources / "landing" / "claims"
    good = [claim_row(i, 1) for i in range(20, 26)]

    def line(row: dict[str, str]) -> str:
        return ",".join(row[c] for c in CLAIM_COLUMNS)

    header = ",".join(CLAIM_COLUMNS)
    lines: list[bytes] = [header.encode()]
    bad_lines: dict[int, str] = {}
    lines.append(line(good[0]).encode())
    lines.append(line(good[1]).rsplit(",", 2)[0].encode())  # two fields short
    bad_lines[len(lines)] = "wrong number of fields"
    lines.append((line(good[2]) + ",surplus").encode())
    bad_lines[len(lines)] = "extra value"
    lines.append(line(good[3]).replace("Aetna", 'Ae"tna"x').replace("CLAIM", '"CLAIM', 1).encode())
    bad_lines[len(lines)] = "broken quoting"
    lines.append(line(good[4]).replace("Aetna", "Aetn\xe9").encode("latin-1"))
    bad_lines[len(lines)] = "not valid UTF-8"
    lines.append(b"")  # a blank line is not a record
    lines.append(line(good[5]).replace("Aetna", '"Aetna').encode())  # never closed
    bad_lines[len(lines)] = "never closed"
    good_after = [claim_row(i, 1) for i in range(30, 33)]
    lines.extend(line(r).encode() for r in good_after)
    (landing / "hospital1_claim_data_2024_05.csv").write_bytes(b"\n".join(lines) + b"\n")

    config = write_config(tmp_path / "c.csv", ["hospital_a.claims"])
    result = ingest(sources, lake, config)
    assert result.ok, result.failed
    record = next(r for r in result.entities[0].records if r.source_name.endswith("05.csv"))
    assert record.rows_rejected == len(bad_lines)
    assert record.rows_read == record.rows_written + record.rows_rejected
    assert record.rows_written == 1 + len(good_after)

    (folder,) = (lake / "rejected" / "hospital_a" / "claims").glob("load_id=*")
    assert folder.name == f"load_id={record.load_id}"
    rejected = pq.read_table(folder / "rejected.parquet").to_pylist()
    by_line = {r["_source_row"]: r for r in rejected}
    assert set(by_line) == set(bad_lines)
    for number, problem in bad_lines.items():
        reason = by_line[number]["_reject_reason"]
        assert problem in reason and f"line {number}" in reason
        assert by_line[number]["_source_name"] == "hospital1_claim_data_2024_05.csv"
        assert by_line[number]["_raw"]
    assert (
        "'PayorID'"
        in by_line[max(n for n, p in bad_lines.items() if "UTF-8" in p)]["_reject_reason"]
    )
    short = min(bad_lines)
    assert (
        "'Coinsurance'" in by_line[short]["_reject_reason"]
        or "missing" in by_line[short]["_reject_reason"]
    )
    ids = {r["ClaimID"] for r in read_bronze(lake, "hospital_a", "claims").to_pylist()}
    assert {r["ClaimID"] for r in good_after} <= ids


def test_a_line_of_only_commas_or_spaces_is_rejected_as_blank_and_counted(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # a line of only commas (an export's empty rows: `,,,,` as many as the header's, or more)
    # landed in Bronze as a claim of nulls; one of only spaces was refused with "values from
    # column 'TransactionID' on are missing"; an empty line was skipped
    landing = sources / "landing" / "claims"
    rows = [claim_row(i, 1) for i in range(90, 95)]
    commas = "," * (len(CLAIM_COLUMNS) - 1)
    blank = {
        3: commas,  # the header's number of fields: Arrow's quick path read it
        5: commas + ",,",  # more fields than the header, all empty
        6: "   ",  # one field, spaces
        7: " ,\t, " + commas[2:],  # spaces and a tab between the commas
        9: ",,,",  # fewer fields than the header
        11: '"",""' + commas[1:],  # quoted empty values: through the csv module
    }
    lines = [",".join(CLAIM_COLUMNS)]
    data = iter(rows)
    for number in range(2, 14):
        if number == 10:
            lines.append("")  # an empty line: no record, counted nowhere
        elif number in blank:
            lines.append(blank[number])
        else:
            row = next(data)
            lines.append(",".join(row[c] for c in CLAIM_COLUMNS))
    assert next(data, None) is None
    path = landing / "hospital1_claim_data_2024_12.csv"
    path.write_text("\r\n".join(lines) + "\r\n")

    config = write_config(tmp_path / "c.csv", ["hospital_a.claims"])
    result = ingest(sources, lake, config)
    assert result.ok, result.failed
    record = next(r for r in result.entities[0].records if r.source_name == path.name)
    assert (record.rows_read, record.rows_written, record.rows_rejected) == (11, 5, 6)
    landed = [
        r
        for r in read_bronze(lake, "hospital_a", "claims").to_pylist()
        if r["_source_name"] == path.name
    ]
    assert sorted(r["ClaimID"] for r in landed) == [r["ClaimID"] for r in rows]
    assert sorted(r["_source_row"] for r in landed) == [2, 4, 8, 12, 13]
    (folder,) = (lake / "rejected" / "hospital_a" / "claims").glob("load_id=*")
    rejected = {r["_source_row"]: r for r in pq.read_table(folder / "rejected.parquet").to_pylist()}
    assert set(rejected) == set(blank)
    for number, raw in blank.items():
        assert rejected[number]["_reject_reason"].startswith(
            f"line {number}: a blank line (only commas or spaces)"
        ), rejected[number]["_reject_reason"]
        assert rejected[number]["_raw"] == raw
        assert rejected[number]["_source_name"] == path.name
    (audit,) = [r for r in read_audit(lake) if r["source_name"] == path.name]
    assert (audit["rows_read"], audit["rows_written"], audit["rows_rejected"]) == (11, 5, 6)

    # a file of nothing but blank lines after its header (a spreadsheet's empty export) loads
    # nothing, as a header alone does: it is not refused, so the later files do not wait
    only = landing / "hospital1_claim_data_2025_01.csv"
    only.write_text("\n".join([",".join(CLAIM_COLUMNS), commas, commas, ""]) + "\n")
    again = ingest(sources, lake, config)
    assert again.ok, again.failed
    assert not only.exists(), "the file of blank lines stays in landing"
    (audit,) = [r for r in read_audit(lake) if r["source_name"] == only.name]
    assert (audit["status"], audit["rows_read"], audit["rows_written"]) == ("success", 2, 0)
    assert audit["rows_rejected"] == 2
    # with one line of another kind among them, every line rejected refuses the file whole
    mixed = landing / "hospital1_claim_data_2025_02.csv"
    mixed.write_text("\n".join([",".join(CLAIM_COLUMNS), commas, "a,b", ""]) + "\n")
    third = ingest(sources, lake, config)
    (failed,) = third.failed
    assert f"{mixed.name}: all 2 lines were rejected" in (failed.error or "")
    assert "line 2: a blank line (only commas or spaces)" in (failed.error or "")
    assert mixed.exists()


def test_a_header_line_again_in_the_file_is_rejected_as_such(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # two exports joined into one file: the second header was rejected with a finding for
    # each of its typed columns ("ServiceDate 'ServiceDate' is not a date", ...)
    path = sources / "landing" / "claims" / "hospital1_claim_data_2024_06.csv"
    header = ",".join(CLAIM_COLUMNS)
    rows = [",".join(claim_row(i, 1)[c] for c in CLAIM_COLUMNS) for i in range(70, 73)]
    path.write_bytes(
        ("\ufeff" + "\n".join([header, rows[0], rows[1], header, rows[2]]) + "\n").encode()
    )
    result = ingest(sources, lake, write_config(tmp_path / "c.csv", ["hospital_a.claims"]))
    assert result.ok, result.failed
    (audit,) = [r for r in read_audit(lake) if r["source_name"] == path.name]
    assert (audit["rows_read"], audit["rows_written"], audit["rows_rejected"]) == (4, 3, 1)
    (folder,) = (lake / "rejected" / "hospital_a" / "claims").glob("load_id=*")
    (rejected,) = pq.read_table(folder / "rejected.parquet").to_pylist()
    assert rejected["_reject_reason"].startswith("line 4: the header line again")
    assert rejected["_raw"] == header


def test_a_file_whose_first_line_is_blank_says_the_header_must_come_first(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    path = sources / "landing" / "claims" / "hospital1_claim_data_2024_06.csv"
    row = ",".join(claim_row(80, 1)[c] for c in CLAIM_COLUMNS)
    path.write_text("\n".join([",,,", ",".join(CLAIM_COLUMNS), row]) + "\n")
    result = ingest(sources, lake, write_config(tmp_path / "c.csv", ["hospital_a.claims"]))
    (failed,) = result.failed
    assert f"{path.name}: line 1 is blank" in (failed.error or "")
    assert "the header must be the first line" in (failed.error or "")
    assert path.exists()


def test_trailing_empty_fields_beyond_the_header_are_accepted(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # an Excel or SSIS export ends every data line with a comma, and its header does not:
    # each line has one or more empty fields past the last column, which hold nothing
    landing = sources / "landing" / "claims"
    rows = [claim_row(i, 1) for i in range(40, 46)]
    lines = [",".join(CLAIM_COLUMNS)]
    lines += [
        ",".join(row[c] for c in CLAIM_COLUMNS) + "," * (1 + i % 2) for i, row in enumerate(rows)
    ]
    surplus = ",".join(claim_row(46, 1)[c] for c in CLAIM_COLUMNS) + ",,x"
    lines.append(surplus)  # a value past the empty fields is still refused
    (landing / "hospital1_claim_data_2024_08.csv").write_text("\r\n".join(lines) + "\r\n")

    config = write_config(tmp_path / "c.csv", ["hospital_a.claims"])
    result = ingest(sources, lake, config)
    assert result.ok, result.failed
    record = next(r for r in result.entities[0].records if r.source_name.endswith("08.csv"))
    assert (record.rows_read, record.rows_written, record.rows_rejected) == (7, 6, 1)
    landed = [
        r
        for r in read_bronze(lake, "hospital_a", "claims").to_pylist()
        if r["_source_name"] == "hospital1_claim_data_2024_08.csv"
    ]
    assert [{c: r[c] or "" for c in CLAIM_COLUMNS} for r in landed] == rows
    (folder,) = (lake / "rejected" / "hospital_a" / "claims").glob("load_id=*")
    (rejected,) = pq.read_table(folder / "rejected.parquet").to_pylist()
    assert rejected["_source_row"] == 8 and rejected["_raw"] == surplus
    assert "expected 20, found 22" in rejected["_reject_reason"]


def test_a_line_may_leave_out_the_unnamed_columns_that_end_the_header(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # an export that ends its header with commas: the unnamed columns (column_21, column_22)
    # are kept, and a data line without them was rejected as short; it loads with them empty
    path = sources / "landing" / "claims" / "hospital1_claim_data_2024_06.csv"
    rows = [claim_row(i, 1) for i in range(90, 94)]
    header = ",".join(CLAIM_COLUMNS) + ",,"
    values = [",".join(row[c] for c in CLAIM_COLUMNS) for row in rows]
    lines = [header, values[0], values[1] + ",,", values[2] + ",,note", values[3] + ","]
    lines += [header, values[0][: values[0].rindex(",")]]  # the header again; one short line
    path.write_text("\n".join(lines) + "\n")
    result = ingest(sources, lake, write_config(tmp_path / "c.csv", ["hospital_a.claims"]))
    assert result.ok, result.failed
    (audit,) = [r for r in read_audit(lake) if r["source_name"] == path.name]
    assert (audit["rows_read"], audit["rows_written"], audit["rows_rejected"]) == (6, 4, 2)
    landed = [
        r
        for r in read_bronze(lake, "hospital_a", "claims").to_pylist()
        if r["_source_name"] == path.name
    ]
    assert [{c: r[c] or "" for c in CLAIM_COLUMNS} for r in landed] == rows
    assert [r["column_22"] for r in landed] == [None, None, "note", None]
    (folder,) = (lake / "rejected" / "hospital_a" / "claims").glob("load_id=*")
    reasons = sorted(r["_reject_reason"] for r in pq.read_table(folder).to_pylist())
    assert reasons[0].startswith("line 6: the header line again"), reasons
    assert "line 7: wrong number of fields: expected 22, found 19" in reasons[1], reasons


@pytest.mark.parametrize("broken", [False, True])
def test_a_file_with_carriage_returns_alone_for_line_breaks_says_so(
    sources: Path, lake: Path, tmp_path: Path, broken: bool
) -> None:
    # and a CRLF file whose header opens a quote it never closes is not said to be one
    path = sources / "landing" / "claims" / "hospital1_claim_data_2024_06.csv"
    rows = [",".join(claim_row(i, 1)[c] for c in CLAIM_COLUMNS) for i in range(3)]
    if broken:
        path.write_bytes(('"' + "\r\n".join([",".join(CLAIM_COLUMNS), *rows]) + "\r\n").encode())
    else:
        path.write_bytes(("\r".join([",".join(CLAIM_COLUMNS), *rows]) + "\r").encode())
    result = ingest(sources, lake, write_config(tmp_path / "c.csv", ["hospital_a.claims"]))
    (failed,) = result.failed
    said = f"{path.name}: its lines end in a carriage return alone" in (failed.error or "")
    assert said is not broken, failed.error
    assert "universal-newline" not in (failed.error or "")
    assert path.exists()


@pytest.mark.parametrize("content", [b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n", b",,,\n"])
def test_a_file_of_a_byte_order_mark_or_one_blank_line_is_empty(
    sources: Path, lake: Path, tmp_path: Path, content: bytes
) -> None:
    path = sources / "landing" / "claims" / "hospital1_claim_data_2024_06.csv"
    path.write_bytes(content)
    result = ingest(sources, lake, write_config(tmp_path / "c.csv", ["hospital_a.claims"]))
    (failed,) = result.failed
    assert f"{path.name}: the file is empty (no header line" in (failed.error or "")
    assert path.exists()


def test_a_file_whose_every_line_is_rejected_fails_loudly_and_waits_in_landing(
    sources: Path, lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # every line refused used to be a success: exit 0, the file moved to processed/, nothing
    # in Bronze, and only a count of rejects in the summary
    landing = sources / "landing" / "claims"
    path = landing / "hospital1_claim_data_2024_07.csv"
    rows = [claim_row(i, 1) for i in range(60, 63)]
    for row in rows:
        row["ClaimAmount"] = "n/a"
    lines = [",".join(CLAIM_COLUMNS)] + [",".join(r[c] for c in CLAIM_COLUMNS) for r in rows]
    lines.insert(2, "CLAIM000099,TRANS000099")  # and a cut line
    path.write_text("\n".join(lines) + "\n")
    later = landing / "hospital1_claim_data_2024_08.csv"
    write_claims(sources, later.name, range(70, 72), 1)
    config = write_config(tmp_path / "c.csv", ["hospital_a.claims"])

    args = ["ingest", "--sources", str(sources), "--lake", str(lake), "--config", str(config)]
    assert main([*args, "--workers", "1"]) == 1
    out = capsys.readouterr().out
    failed = next(line for line in out.splitlines() if line.startswith("FAILED"))
    assert failed.startswith(f"FAILED hospital_a.claims: {path.name}: all 4 lines were rejected")
    assert "line 2: ClaimAmount 'n/a'" in failed, failed  # the first line's reason
    (folder,) = (lake / "rejected" / "hospital_a" / "claims").glob("load_id=*")
    assert f"rejected/hospital_a/claims/{folder.name}/rejected.parquet" in failed
    assert "later files of this entity wait in landing" in failed

    # nothing lost: the rejects are kept, the audit row adds up, the file and the later one
    # wait in landing, and no Bronze load (an empty one) was published for it
    rejected = pq.read_table(folder / "rejected.parquet").to_pylist()
    assert sorted(r["_source_row"] for r in rejected) == [2, 3, 4, 5]
    audit = [r for r in read_audit(lake) if r["source_name"] == path.name]
    assert [
        (r["status"], r["rows_read"], r["rows_written"], r["rows_rejected"]) for r in audit
    ] == [("failed", 4, 0, 4)]
    assert folder.name == f"load_id={audit[0]['load_id']}"
    assert path.exists() and later.exists()
    assert {p.name for p in (landing / "processed").iterdir()} == {
        "hospital1_claim_data_2024_01.csv"
    }
    assert set(read_bronze(lake, "hospital_a", "claims").column("_source_name").to_pylist()) == {
        "hospital1_claim_data_2024_01.csv"
    }

    # the fixed export, landed in its place, loads, and so does the file behind it
    write_claims(sources, path.name, range(60, 63), 1)
    again = ingest(sources, lake, config)
    assert again.ok, again.failed
    assert not path.exists() and not later.exists()


def test_missing_required_column_fails_the_entity_only(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    landing = sources / "landing" / "claims"
    path = landing / "hospital1_claim_data_2024_06.csv"
    header = [c for c in CLAIM_COLUMNS if c not in ("ClaimStatus", "PayorType")]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerow(claim_row(1, 1))
    config = write_config(tmp_path / "c.csv", [*CLAIMS, "codesets.cpt_codes"])
    result = ingest(sources, lake, config)
    assert not result.ok
    (failed,) = result.failed
    assert failed.entity == "hospital_a.claims"
    assert "hospital1_claim_data_2024_06.csv" in (failed.error or "")
    assert "ClaimStatus" in (failed.error or "") and "PayorType" in (failed.error or "")
    assert path.exists(), "a failed file stays in landing"
    # the earlier file of the same entity and the other entities loaded
    assert read_bronze(lake, "hospital_a", "claims").num_rows > 0
    assert read_bronze(lake, "hospital_b", "claims").num_rows > 0
    assert read_bronze(lake, "codesets", "cpt_codes").num_rows == 3
    assert not (lake / "_tmp").exists() or not list((lake / "_tmp").iterdir())
    audit = read_audit(lake)
    failed_rows = [r for r in audit if r["status"] == "failed"]
    assert [r["source_name"] for r in failed_rows] == [path.name]


def test_a_column_named_like_a_lineage_column_fails_the_file(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # Bronze would hold _load_id twice, and a reader would take the file's value for the
    # loader's: staging orders and dedupes claim versions by it
    path = sources / "landing" / "claims" / "hospital1_claim_data_2024_06.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*CLAIM_COLUMNS, "_Load_ID"])
        writer.writerow([*(claim_row(1, 1)[c] for c in CLAIM_COLUMNS), "OLDLOAD"])
    result = ingest(sources, lake, write_config(tmp_path / "c.csv", ["hospital_a.claims"]))
    (failed,) = result.failed
    error = failed.error or ""
    assert f"{path.name}: column(s) '_Load_ID' of claims have the name of a lineage" in error
    assert "Rename the column" in error
    assert path.exists(), "a failed file stays in landing"
    assert [r["source_name"] for r in read_audit(lake) if r["status"] == "failed"] == [path.name]
    bronze = read_bronze(lake, "hospital_a", "claims")
    assert "OLDLOAD" not in bronze.column("_load_id").to_pylist()


@pytest.mark.parametrize(("delimiter", "named"), [(";", "';'"), ("\t", "tabs")])
def test_a_file_delimited_by_another_character_says_so(
    sources: Path, lake: Path, tmp_path: Path, delimiter: str, named: str
) -> None:
    path = sources / "landing" / "claims" / "hospital1_claim_data_2024_06.csv"
    rows = [delimiter.join(claim_row(i, 1)[c] for c in CLAIM_COLUMNS) for i in range(3)]
    path.write_text("\n".join([delimiter.join(CLAIM_COLUMNS), *rows]) + "\n")
    result = ingest(sources, lake, write_config(tmp_path / "c.csv", ["hospital_a.claims"]))
    (failed,) = result.failed
    assert "missing required column(s)" in (failed.error or "")
    assert f"seems delimited by {named}" in (failed.error or "")
    assert "comma-separated" in (failed.error or "")
    assert path.exists()


def test_an_empty_file_says_what_to_do(sources: Path, lake: Path, tmp_path: Path) -> None:
    path = sources / "landing" / "claims" / "hospital1_claim_data_2024_06.csv"
    path.write_bytes(b"")
    result = ingest(sources, lake, write_config(tmp_path / "c.csv", ["hospital_a.claims"]))
    (failed,) = result.failed
    error = failed.error or ""
    assert path.name in error and "the file is empty (no header line)" in error
    assert "export it again" in error and "move it out of" in error


def test_a_compressed_landing_file_says_to_decompress_it(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # the warning said to rename a .csv.gz to the pattern; renamed, the csv module asked
    # about "universal-newline mode"
    landing = sources / "landing" / "claims"
    plain = landing / "hospital1_claim_data_2024_01.csv"
    packed = gzip.compress(plain.read_bytes())
    plain.unlink()
    (landing / "hospital1_claim_data_2024_01.csv.gz").write_bytes(packed)
    config = write_config(tmp_path / "c.csv", ["hospital_a.claims"])
    said: list[str] = []
    unrenamed = ingest(sources, lake, config, messages=said)
    assert "landing/claims/hospital1_claim_data_2024_01.csv.gz" in unrenamed.unmatched_files
    warning = next(line for line in said if line.startswith("warning:"))
    assert "Compressed files (landing/claims/hospital1_claim_data_2024_01.csv.gz)" in warning
    assert "decompress them" in warning
    (landing / "hospital1_claim_data_2024_01.csv.gz").rename(plain)
    result = ingest(sources, lake, config)
    (failed,) = result.failed
    assert "the file is gzip-compressed, and landing files are read as plain CSV" in (
        failed.error or ""
    )
    assert plain.exists()


def test_column_names_are_matched_whatever_their_case_and_land_as_the_config_spells_them(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # an export that lower-cases its header (claimid, transactionid, ...) used to fail with
    # "missing required column(s) ClaimID, ..."
    landing = sources / "landing" / "claims"
    rows = [claim_row(i, 1) for i in range(50, 53)]
    rows[1]["ClaimAmount"] = "abc"  # still checked under its lower-case name
    path = landing / "hospital1_claim_data_2024_09.csv"
    lines = [",".join(c.lower() for c in CLAIM_COLUMNS)]
    lines += [",".join(row[c] for c in CLAIM_COLUMNS) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    config = write_config(tmp_path / "c.csv", ["hospital_a.claims"])
    said: list[str] = []
    result = ingest(sources, lake, config, messages=said)
    assert result.ok, result.failed
    assert any("claimid as ClaimID" in line and path.name in line for line in said)
    bronze = read_bronze(lake, "hospital_a", "claims")
    assert [c for c in bronze.column_names if not c.startswith("_")] == CLAIM_COLUMNS
    landed = [r for r in bronze.to_pylist() if r["_source_name"] == path.name]
    assert [r["ClaimID"] for r in landed] == [rows[0]["ClaimID"], rows[2]["ClaimID"]]
    assert [r["AllowedAmount"] for r in landed] == [
        rows[0]["AllowedAmount"],
        rows[2]["AllowedAmount"],
    ]
    (folder,) = (lake / "rejected" / "hospital_a" / "claims").glob("load_id=*")
    (rejected,) = pq.read_table(folder / "rejected.parquet").to_pylist()
    assert "ClaimAmount 'abc'" in rejected["_reject_reason"]

    # two columns whose names differ only in case would be one column downstream
    clash = landing / "hospital1_claim_data_2024_10.csv"
    clash.write_text(",".join([*CLAIM_COLUMNS, "claimID"]) + "\n")
    again = ingest(sources, lake, config)
    (failed,) = again.failed
    assert "'ClaimID' and 'claimID' differ only in case" in (failed.error or "")
    assert clash.exists()


def test_a_claims_file_without_the_optional_columns_the_marts_use_is_warned_about(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # without AllowedAmount every contractual adjustment came out as 0, silently
    path = sources / "landing" / "claims" / "hospital1_claim_data_2024_11.csv"
    header = [c for c in CLAIM_COLUMNS if c not in ("AllowedAmount", "DenialReasonCode")]
    rows = [{c: claim_row(i, 1)[c] for c in header} for i in range(80, 83)]
    write_csv(path, header, rows)
    said: list[str] = []
    result = ingest(sources, lake, write_config(tmp_path / "c.csv", CLAIMS), messages=said)
    assert result.ok, result.failed
    assert result.entities[0].rows_written == 5 + len(rows)
    # one warning: the files with every column, loaded with it, are not warned about
    (warning,) = [line for line in said if line.startswith("warning:")]
    assert path.name in warning
    assert "AllowedAmount" in warning and "contractual adjustment" in warning
    assert "DenialReasonCode" in warning and "'unknown'" in warning
    summary = format_summary(result)
    assert f"WARNING hospital_a.claims: {path.name} has no AllowedAmount" in summary
    assert summary.count("WARNING") == 1


def test_codeset_files_cpt_and_npi_extract(sources: Path, lake: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.csv", ["codesets.cpt_codes", "codesets.npi"])
    result = ingest(sources, lake, config)
    assert result.ok, result.failed
    cpt = read_bronze(lake, "codesets", "cpt_codes")
    assert "0051T" in cpt.column("CPT Codes").to_pylist()
    assert set(cpt.column("_source_system").to_pylist()) == {"ama"}
    npi = read_bronze(lake, "codesets", "npi").to_pylist()
    assert all(len(r["npi"]) == 10 and r["npi"].startswith("00") for r in npi)
    assert {r["_source_system"] for r in npi} == {"nppes"}
    assert sorted(r["_source_row"] for r in npi) == list(range(1, len(npi) + 1))
    assert (sources / "landing" / "npi" / "processed" / "nppes_npi_extract.json").exists()
    # nothing new landed: no_change, no new data
    before = data_files(lake)
    again = ingest(sources, lake, config)
    assert [e.status for e in again.entities] == ["no_change", "no_change"]
    assert data_files(lake) == before


def test_a_cpt_line_without_a_code_is_rejected_naming_the_line_and_the_key_column(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # staging drops a CPT row whose code is blank (before its not_null test): the list lost
    # it silently, and the audit said it was written
    path = sources / "landing" / "cpt" / "cpt_codes.csv"
    lines = path.read_text().splitlines()
    assert lines[0].split(",")[1] == "CPT Codes" and len(lines) == 4
    keyless = {
        5: "Evaluation,,desc blank,New",
        6: "Evaluation,   ,desc spaces,New",
        7: "Evaluation,NULL,desc null,New",  # staging reads the text 'null' as no value
        8: "Evaluation,\u00a0,desc no-break space,New",  # staging's trim removes it too
    }
    kept = "Evaluation, 99215 ,desc padded,New"  # a padded code is a code
    path.write_text("\n".join([*lines, *keyless.values(), kept]) + "\n")
    config = write_config(tmp_path / "c.csv", ["codesets.cpt_codes"])
    result = ingest(sources, lake, config)
    assert result.ok, result.failed
    (record,) = result.entities[0].records
    assert (record.rows_read, record.rows_written, record.rows_rejected) == (8, 4, 4)
    codes = read_bronze(lake, "codesets", "cpt_codes").column("CPT Codes").to_pylist()
    assert sorted(codes) == sorted(["99213", "0051T", "99214", " 99215 "])
    (folder,) = (lake / "rejected" / "codesets" / "cpt_codes").glob("load_id=*")
    rejected = {r["_source_row"]: r for r in pq.read_table(folder / "rejected.parquet").to_pylist()}
    assert set(rejected) == set(keyless)
    for number, raw in keyless.items():
        reason = rejected[number]["_reject_reason"]
        assert reason.startswith(f"line {number}: CPT Codes {raw.split(',')[1]!r} has no value")
        assert "CPT Codes is the key of the code list" in reason
        assert "fix the value in the export" in reason
        assert rejected[number]["_raw"] == raw
    (audit,) = [r for r in read_audit(lake) if r["source_name"] == path.name]
    assert (audit["rows_read"], audit["rows_written"], audit["rows_rejected"]) == (8, 4, 4)


def test_the_cpt_key_checked_at_ingest_is_the_load_configs_primary_key() -> None:
    from ingestion.config import load_config

    (cpt,) = [e for e in load_config().entities if e.source_kind == "cpt_csv"]
    kinds = column_kinds("cpt_csv", cpt.table)
    assert [c for c, kind in kinds.items() if kind == "key"] == [cpt.primary_key]
    assert cpt.primary_key in cpt.required_columns


def test_an_npi_record_with_a_date_staging_cannot_type_is_rejected(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    path = sources / "landing" / "npi" / "nppes_npi_extract.json"
    npis = write_npi_extract(path, count=3)
    extract = json.loads(path.read_text())
    extract["results"][1]["basic"]["enumeration_date"] = "2007-13-45"
    extract["results"][2]["basic"]["last_updated"] = "2021-06-01"  # a date staging reads
    path.write_text(json.dumps(extract))
    result = ingest(sources, lake, write_config(tmp_path / "c.csv", ["codesets.npi"]))
    entity = result.entities[0]
    assert (entity.rows_written, entity.rows_rejected) == (2, 1)
    (folder,) = (lake / "rejected" / "codesets" / "npi").glob("load_id=*")
    (rejected,) = pq.read_table(folder / "rejected.parquet").to_pylist()
    assert rejected["_source_row"] == 2
    assert rejected["_reject_reason"].startswith(
        f"nppes_npi_extract.json, record 2, npi '{npis[1]}': enumeration_date '2007-13-45' "
        "is not a date"
    )
    landed = read_bronze(lake, "codesets", "npi").to_pylist()
    assert sorted((r["npi"], r["_source_row"]) for r in landed) == [(npis[0], 1), (npis[2], 3)]


def test_a_cut_short_npi_extract_fails_and_the_list_keeps_its_last_load(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # result_count 4 and three results: a partial export, which loaded as the whole list and
    # dropped the missing NPI from the code list (staging reads it from its latest load)
    config = write_config(tmp_path / "c.csv", ["codesets.npi"])
    assert ingest(sources, lake, config).ok
    listed = sorted(read_bronze(lake, "codesets", "npi").column("npi").to_pylist())
    path = sources / "landing" / "npi" / "nppes_npi_extract.json"
    write_npi_extract(path, count=4)
    extract = json.loads(path.read_text())
    del extract["results"][3]
    path.write_text(json.dumps(extract))
    result = ingest(sources, lake, config)
    (failed,) = result.failed
    error = failed.error or ""
    assert str(path) in error
    assert "its result_count is 4, but its results hold 3 record(s)" in error
    assert path.exists(), "a failed file stays in landing"
    assert sorted(read_bronze(lake, "codesets", "npi").column("npi").to_pylist()) == listed
    audit = [r for r in read_audit(lake) if r["status"] == "failed"]
    assert [r["source_name"] for r in audit] == [path.name]


def test_a_malformed_npi_extract_record_is_rejected_and_the_others_load(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # one record whose number is no NPI, one whose name is not text: the whole file failed
    path = sources / "landing" / "npi" / "nppes_npi_extract.json"
    npis = write_npi_extract(path, count=4)
    extract = json.loads(path.read_text())
    extract["results"][1]["number"] = "12AB"
    extract["results"][3]["basic"]["first_name"] = {"given": "ANN"}
    path.write_text(json.dumps(extract))
    config = write_config(tmp_path / "c.csv", ["codesets.npi"])
    result = ingest(sources, lake, config)
    assert result.ok, result.failed
    loaded = sorted(read_bronze(lake, "codesets", "npi").column("npi").to_pylist())
    assert loaded == sorted([npis[0], npis[2]])
    (audit,) = [r for r in read_audit(lake) if r["source_name"] == path.name]
    assert (audit["rows_read"], audit["rows_written"], audit["rows_rejected"]) == (4, 2, 2)
    (folder,) = (lake / "rejected" / "codesets" / "npi").glob("load_id=*")
    rejected = sorted(
        pq.read_table(folder / "rejected.parquet").to_pylist(), key=lambda r: r["_source_row"]
    )
    assert [r["_source_row"] for r in rejected] == [2, 4]
    assert "record 2: " in rejected[0]["_reject_reason"]
    assert "results[1].number '12AB' is not an NPI" in rejected[0]["_reject_reason"]
    assert "results[3].basic.first_name should be text" in rejected[1]["_reject_reason"]
    assert json.loads(rejected[0]["_raw"])["number"] == "12AB"
    assert not path.exists(), "the file loaded and moved to processed"


def test_quote_closed_lines_later_rejects_only_its_first_line(tmp_path: Path) -> None:
    from ingestion.sources.csvfile import CsvFile

    path = tmp_path / "f.csv"
    path.write_text('a,b,c\n1,2,3\n4,"5,6\n7,8,9\n10,11,"12"\n13,14,15\n')
    with CsvFile(path, ["a", "b"]) as f:
        chunks = list(f.chunks(2))
    rows = [line for c in chunks for line in c.lines]
    rejects = [r for c in chunks for r in c.rejects]
    values = [v for c in chunks for v in c.columns[0].to_pylist()]
    assert rows == [2, 4, 5, 6]
    assert values == ["1", "7", "10", "13"]
    assert [r.line for r in rejects] == [3]
    assert "line 3: broken quoting" in rejects[0].reason
    assert rejects[0].raw == '4,"5,6'
    assert sum(len(c.lines) + len(c.rejects) for c in chunks) == 5

    # a quote closed on a later line that leaves the record with too many fields
    path.write_text('a,b,c\n1,"2,3\nx",y,z\n4,5,6\n')
    with CsvFile(path, ["a"]) as f:
        (chunk,) = list(f.chunks(100))
    assert [r.line for r in chunk.rejects] == [2]
    assert "spans several lines" in chunk.rejects[0].reason
    assert chunk.lines == [3, 4]


def _line_oracle(raw: bytes, width: int) -> list[str | None] | str | None:
    """What the csv module makes of one physical line read on its own: the row (an empty
    value as None), "reject", or None for a blank line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "reject"
    if not text.strip("\r\n"):
        return None
    try:
        (record,) = list(csv.reader([text], strict=True))
    except csv.Error:
        return "reject"
    if all(not value.strip(" \t\r\n\x0b\x0c") for value in record):
        return "reject"  # a blank line: only commas or spaces
    if len(record) > width and not any(record[width:]):
        record = record[:width]  # trailing empty fields beyond the header lose nothing
    if len(record) != width:
        return "reject"
    return [value if value != "" else None for value in record]


def test_plain_runs_read_by_arrow_match_the_csv_module_line_by_line(tmp_path: Path) -> None:
    """Runs of plain lines take a fast path (Arrow); every other line the csv module's. Mixed
    at random with defects (quotes, wrong field counts, bad UTF-8, a stray carriage return,
    blank lines, empty values, a byte order mark starting a line, a field over the csv
    module's size limit, empty fields past the last column, lines of only commas or spaces), the
    rows and rejects must be those of the csv module reading each line on its own, whatever the
    chunk and read-block sizes."""
    import random

    from ingestion.sources.csvfile import CsvFile

    rng = random.Random(7)
    width = 5
    lines: list[bytes] = [b"a,b,c,d,e"]
    for i in range(3000):
        values = [f"v{i}_{j}" if rng.random() > 0.1 else "" for j in range(width)]
        kind = rng.random()
        if kind < 0.01:
            values[2] = '"x,y"'  # a quoted value with a comma: one row, through csv
        elif kind < 0.02:
            values = values[:3]  # too few fields
        elif kind < 0.03:
            values.append("surplus")
        elif kind < 0.04:
            values[1] = "caf\xe9"  # written as Latin-1 below: not UTF-8
        elif kind < 0.045:
            values[3] = "a\rb"  # a stray carriage return
        elif kind < 0.05:
            values = []  # a blank line
        elif kind < 0.053:
            values[0] = "\ufeff" + values[0]  # a byte order mark mid-file: kept, as text
        elif kind < 0.054:
            values[4] = "z" * 140_000  # longer than the csv module's field size limit
        elif kind < 0.2:
            values += [""] * (1 + i % 3)  # an export that ends lines with commas: kept
        elif kind < 0.21:
            values += ["", "surplus"]  # a value past them is still an extra value
        elif kind < 0.22:
            # a blank line: only commas (the header's number, more or fewer) or spaces
            values = [[""] * width, [""] * (width + 2), [" ", "\t", "", " ", ""], ["  "]][i % 4]
        text = ",".join(values)
        lines.append(text.encode("latin-1" if "\xe9" in text else "utf-8"))
    lines.append(b"1,2,3,4,5")
    lines.append(b'"never,closed,3,4,5')  # swallows the lines after it, then gives them back
    lines.extend(f"t{i},2,3,4,5".encode() for i in range(40))
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")

    expected_rows: list[tuple[int, list[str | None]]] = []
    expected_rejects: list[int] = []
    for number, raw in enumerate(lines[1:], start=2):
        outcome = _line_oracle(raw, width)
        if outcome == "reject":
            expected_rejects.append(number)
        elif isinstance(outcome, list):
            expected_rows.append((number, outcome))
    assert len(expected_rejects) > 100 and len(expected_rows) > 2500  # the mix is a real one
    assert sum(bool(line) and not line.strip(b", \t") for line in lines) > 20  # blank lines

    for batch_rows, block_lines in [(50_000, 50_000), (97, 50_000), (1000, 64), (7, 5)]:
        with CsvFile(path, ["a"], block_lines=block_lines) as f:
            chunks = list(f.chunks(batch_rows))
        rows = [
            (number, [column[i] for column in columns])
            for c in chunks
            for columns in [[col.to_pylist() for col in c.columns]]
            for i, number in enumerate(c.lines)
        ]
        rejects = sorted(r.line for c in chunks for r in c.rejects)
        assert rows == expected_rows, (batch_rows, block_lines)
        assert rejects == expected_rejects, (batch_rows, block_lines)
        assert all(c.rows_read <= batch_rows for c in chunks)


def test_values_staging_cannot_type_are_rejected_with_column_and_value(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # an amount, a date and a timestamp that the staging casts refuse would stop the whole
    # dbt build; at ingest each rejects its line, named with the column and value
    rows = [claim_row(i, 1) for i in range(40, 52)]
    rows[1]["ClaimAmount"] = "abc"
    rows[3]["ServiceDate"] = "2024-99-01"
    rows[5]["ModifiedDate"] = "yesterday"
    rows[6]["PaidAmount"] = "nan"  # a double, but no decimal(18, 2)
    rows[7]["Copay"] = "12,50"
    rows[7]["ClaimDate"] = "2024-02-30"  # two in one line: both named
    # what staging does read: padded, blank, the text 'null', an exponent, a date with a time
    rows[8]["ClaimAmount"] = " 125.5 "
    rows[9]["PaidAmount"] = "NULL"
    rows[10]["Deductible"] = "1e2"
    rows[11]["ServiceDate"] = "2024-01-05 00:00:00"
    landing = sources / "landing" / "claims"
    write_csv(landing / "hospital1_claim_data_2024_06.csv", CLAIM_COLUMNS, rows)
    config = write_config(tmp_path / "c.csv", ["hospital_a.claims"])
    result = ingest(sources, lake, config)  # batch_rows=4: the bad lines fall in 3 chunks
    assert result.ok, result.failed
    record = next(r for r in result.entities[0].records if r.source_name.endswith("06.csv"))
    assert (record.rows_read, record.rows_written, record.rows_rejected) == (12, 7, 5)

    (folder,) = (lake / "rejected" / "hospital_a" / "claims").glob("load_id=*")
    by_line = {r["_source_row"]: r for r in pq.read_table(folder / "rejected.parquet").to_pylist()}
    # data lines start at line 2 (after the header)
    assert set(by_line) == {3, 5, 7, 8, 9}
    assert "line 3: ClaimAmount 'abc' is not an amount" in by_line[3]["_reject_reason"]
    assert "ServiceDate '2024-99-01' is not a date" in by_line[5]["_reject_reason"]
    assert "ModifiedDate 'yesterday' is not a timestamp" in by_line[7]["_reject_reason"]
    assert "PaidAmount 'nan' is not an amount" in by_line[8]["_reject_reason"]
    both = by_line[9]["_reject_reason"]
    assert "ClaimDate '2024-02-30' is not a date" in both and "Copay '12,50'" in both
    assert by_line[3]["_raw"].startswith("CLAIM000041,") and "abc" in by_line[3]["_raw"]
    # the raw text reads back as the line: "12,50" stays one field (it was two)
    fields = next(csv.reader([by_line[9]["_raw"]]))
    assert len(fields) == len(CLAIM_COLUMNS) and fields[CLAIM_COLUMNS.index("Copay")] == "12,50"

    landed = read_bronze(lake, "hospital_a", "claims").to_pylist()
    staged = {r["ClaimID"]: r for r in landed if r["_source_name"].endswith("_06.csv")}
    summary = format_summary(result)
    assert "rejected rows, each with its file, line, reason and raw text: rejected/" in summary
    assert set(staged) == {rows[i]["ClaimID"] for i in (0, 2, 4, 8, 9, 10, 11)}
    assert staged["CLAIM000048"]["ClaimAmount"] == " 125.5 "  # Bronze keeps the text as landed


@pytest.mark.parametrize("amount", ["nan", "inf", "-Infinity", "1e17"])
def test_an_amount_a_double_holds_but_a_decimal_does_not_is_found_alone(amount: str) -> None:
    # Arrow's quick pass reads these as doubles; staging's decimal(18, 2) cast refuses them
    header = ["ClaimAmount", "ServiceDate"]
    columns = [pa.array(["1.50", amount, None]), pa.array(["2024-01-05", None, "2024-01-06"])]
    found = unreadable_values(header, columns, CLAIM_COLUMN_KINDS)
    assert found == {1: [("ClaimAmount", amount)]}
    assert (
        unreadable_values(header, [pa.array(["1.50", "2", None]), columns[1]], CLAIM_COLUMN_KINDS)
        == {}
    )


def test_typed_columns_are_matched_as_staging_matches_them() -> None:
    # DuckDB finds staging's `Amount` in a Bronze column `amount` (an EMR with lower-case
    # columns), so the check must too; and a claims entity is checked whatever its table name
    kinds = column_kinds("sql", "transactions")
    found = unreadable_values(
        ["amount", "servicedate"], [pa.array(["abc"]), pa.array([None])], kinds
    )
    assert found == {0: [("amount", "abc")]}
    assert describe(found[0], kinds) == "amount 'abc' is not an amount (a number such as 123.45)"
    # blank and the text 'null' are nulls to staging, next to a value it refuses or not
    dates = pa.array(["null", "", "NULL", "2024-01-05", "2024-13-01"])
    assert unreadable_values(["DOB"], [dates], {"DOB": "date"}) == {4: [("DOB", "2024-13-01")]}
    assert unreadable_values(["DOB"], [dates[:4]], {"DOB": "date"}) == {}
    # Arrow's cast takes '1980-01-05 10' and DuckDB's does not: the quick pass must not pass it
    hour_only = pa.array(["1980-01-05", "1980-01-05 10"])
    assert unreadable_values(["DOB"], [hour_only], {"DOB": "date"}) == {
        1: [("DOB", "1980-01-05 10")]
    }
    # a mark must be ISO text staging reads: as text, the others sort after later dates; those
    # above the greatest good one are found ('' sorts below it: it cannot hide a later row)
    marks = ["2024-01-05 10:00:00", "infinity", "epoch", "2024-1-5", "NULL", ""]
    marks += ["2024-01-05T10:00:00", "2024-02-30", "2024-01-05 10:00", "2024-01-05 10"]
    assert bad_marks(marks) == {"infinity", "epoch", "NULL", "2024-1-5", "2024-02-30"}
    assert [is_mark(m) for m in ("", "2024-01-05 10:00", "2024-01-05 10", "２０２４-01-05")] == [
        False,
        True,
        False,
        False,
    ]
    assert bad_marks(["2024-01-05", "2023-12-31"]) == set() == bad_marks([])
    # what a typed column with a zone gives (datetime.isoformat): a mark
    assert is_mark("2024-01-05 10:00:00.123456+00:00") and is_mark("2024-01-05T10:00:00Z")
    # a column of which no value is a mark: every value, found in one pass
    us_dates = [f"{m:02d}/{d:02d}/2024 10:00:00" for m in range(1, 13) for d in range(1, 29)]
    assert bad_marks(us_dates * 50) == set(us_dates)
    assert column_kinds("claims_csv", "claims_2024") == CLAIM_COLUMN_KINDS
    assert column_kinds("cpt_csv", "claims") == {"CPT Codes": "key"}


def test_zoned_timestamps_take_the_quick_pass_and_an_hour_alone_does_not() -> None:
    # what ingest writes for a timestamptz / datetimeoffset column: the quick pass reads it
    # (the value-by-value pass in DuckDB took 100 times as long); nulls may sit between them
    zoned = pa.array(["2024-11-03 05:30:00+00:00", None, "2024-11-03T06:10:00.5Z"])
    assert _arrow_reads("timestamp", zoned) and _arrow_reads("date", zoned)
    assert unreadable_values(["ModifiedDate"], [zoned], {"ModifiedDate": "timestamp"}) == {}
    # Arrow's zoned cast takes an hour alone before the zone, DuckDB's does not
    for hour_only in ("2024-11-03 10+00:00", "2024-11-03T10Z"):
        values = pa.array(["2024-11-03 05:30:00+00:00", hour_only])
        assert not _arrow_reads("timestamp", values)
        found = unreadable_values(["ModifiedDate"], [values], {"ModifiedDate": "timestamp"})
        assert found == {1: [("ModifiedDate", hour_only)]}


def test_an_amount_with_an_exponent_is_judged_by_staging_s_own_cast() -> None:
    # what ingest writes for an EMR float near zero (str(5.551115123125783e-17)) reads, and so
    # does 1.5E2; text with an exponent is checked by DuckDB's decimal cast, as staging reads it,
    # not passed by Arrow's float parse
    good = pa.array(["5.551115123125783e-17", "1.5E2", "12.50"])
    assert not _arrow_reads("money", good)
    assert _arrow_reads("money", pa.array(["12.50", "0.285"]))
    assert unreadable_values(["Amount"], [good], {"Amount": "money"}) == {}
    bad = pa.array(["12.50", "1e", "1.5e2e3"])
    found = unreadable_values(["Amount"], [bad], {"Amount": "money"})
    assert found == {1: [("Amount", "1e")], 2: [("Amount", "1.5e2e3")]}


def _python_utc(text: str) -> str:
    # the oracle: Python's own reading of an ISO timestamp with an offset, as ingest writes a
    # zoned database value (bronze.to_text)
    return datetime.fromisoformat(text).astimezone(UTC).isoformat(sep=" ")


def test_timestamps_with_a_zone_are_written_as_the_instant_in_utc() -> None:
    kinds = {"ModifiedDate": "timestamp", "ServiceDate": "date"}
    offsets = ["-04:00", "-05:00", "+05:30", "Z", "+0100", "-08"]
    zoned = [f"2024-11-03 01:{m:02d}:07{'.25' if m % 2 else ''}{z}" for m, z in enumerate(offsets)]
    # staging's cast drops a zone: 01:30 EDT then 01:10 EST (40 minutes later) ran backwards
    columns = [pa.array([*zoned, None]), pa.array(["2024-11-03 01:30:00-04:00"] * 7)]
    converted, unreadable = timestamps_in_utc(["ModifiedDate", "ServiceDate"], columns, kinds)
    assert unreadable == {}
    assert converted[0].to_pylist() == [*(_python_utc(text) for text in zoned), None]
    assert converted[1] is columns[1]  # a date column is not a timestamp's: left as landed
    # naive text, and what ingest already wrote in UTC, are left alone: the same array
    plain = pa.array(["2024-11-03 01:30:00", "null", "", None, "2024-11-03 06:10:00+00:00"])
    assert timestamps_in_utc(["modifieddate"], [plain], kinds)[0][0] is plain
    # the zone in the middle of a chunk of naive values, a zone name, and one that is no zone
    mixed = pa.array(["2024-07-01 12:00:00", "2024-07-01 12:00:00 America/New_York"])
    mixed = pa.concat_arrays(
        [mixed, pa.array(["2024-07-01 12:00:00 -04:00", "2024-07-01 12:00 X/Y"])]
    )
    converted, unreadable = timestamps_in_utc(["ModifiedDate"], [mixed], kinds)
    assert converted[0].to_pylist()[:3] == [
        "2024-07-01 12:00:00",
        "2024-07-01 16:00:00+00:00",
        "2024-07-01 16:00:00+00:00",
    ]
    assert {index: [f[:2] for f in found] for index, found in unreadable.items()} == {
        3: [("ModifiedDate", "2024-07-01 12:00 X/Y")]
    }
    assert "ingest can read as an instant" in unreadable[3][0][2]
    # US abbreviations are their offsets, summer or winter; an ambiguous one and AM/PM are not
    abbreviated = pa.array(
        [f"2024-07-01 12:00:00 {zone}" for zone in ("EDT", "CDT", "CST", "PDT", "GMT", "ET")]
        + ["2024-01-01 12:00:00 EST", "2024-07-01 01:30:00 PM"]
    )
    converted, unreadable = timestamps_in_utc(["ModifiedDate"], [abbreviated], kinds)
    assert converted[0].to_pylist()[:5] + converted[0].to_pylist()[6:7] == [
        "2024-07-01 16:00:00+00:00",
        "2024-07-01 17:00:00+00:00",
        "2024-07-01 18:00:00+00:00",
        "2024-07-01 19:00:00+00:00",
        "2024-07-01 12:00:00+00:00",
        "2024-01-01 17:00:00+00:00",
    ]
    assert sorted(unreadable) == [5, 7]


def test_a_timestamp_later_than_the_load_is_found_whatever_its_form() -> None:
    # each form takes its own path: Arrow's timestamps (plain text, text with 'null', UTC text
    # as ingest writes it) or DuckDB's cast (a five-digit year, 'infinity', a zone name)
    loaded = datetime(2026, 12, 7, 0, 20, tzinfo=UTC)
    kinds = {"ModifiedDate": "timestamp"}
    cases = [
        ["2024-01-01 00:00:00", "2026-12-08 00:19:00", "2026-12-08 20:00:00"],
        ["2024-01-01 00:00:00", "null", "2026-12-08 20:00:00"],
        ["2024-01-01 00:00:00+00:00", None, "2026-12-08 20:00:00+00:00"],
        ["2024-01-01 00:00:00", "infinity", "20250-01-09 09:00:00"],
        ["2024-01-01 00:00:00 America/New_York", "-infinity", "2026-12-08 16:00:00 EST"],
    ]
    for values_ in cases:
        _, found = timestamps_in_utc(["ModifiedDate"], [pa.array(values_)], kinds, loaded)
        later = {index: found_[0][1] for index, found_ in found.items()}
        expected = {2: values_[2]} | ({1: "infinity"} if values_[1] == "infinity" else {})
        assert later == expected, values_
        assert all(
            "later than this load" in f[0][2] or "point in time" in f[0][2] for f in found.values()
        )


def test_a_claims_file_with_zoned_timestamps_lands_them_in_utc(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # two versions of one claim across the autumn clock change, and a zone no one can read
    rows = [claim_row(60, 1, "Submitted"), claim_row(60, 1, "Paid"), claim_row(61, 1)]
    rows[0]["ModifiedDate"] = "2024-11-03 01:30:00-04:00"  # 05:30 UTC
    rows[1]["ModifiedDate"] = "2024-11-03 01:10:00-05:00"  # 06:10 UTC: the later version
    rows[2]["InsertDate"] = "2024-11-03 01:10:00 Mars/Base"
    landing = sources / "landing" / "claims"
    write_csv(landing / "hospital1_claim_data_2024_11.csv", CLAIM_COLUMNS, rows)
    result = ingest(sources, lake, write_config(tmp_path / "c.csv", ["hospital_a.claims"]))
    assert result.ok, result.failed
    record = next(r for r in result.entities[0].records if r.source_name.endswith("_11.csv"))
    assert (record.rows_read, record.rows_written, record.rows_rejected) == (3, 2, 1)

    landed = read_bronze(lake, "hospital_a", "claims").to_pylist()
    mine = [r for r in landed if r["_source_name"].endswith("_11.csv")]
    by_status = {r["ClaimStatus"]: r["ModifiedDate"] for r in mine}
    assert by_status == {
        "Submitted": "2024-11-03 05:30:00+00:00",
        "Paid": "2024-11-03 06:10:00+00:00",
    }

    (folder,) = (lake / "rejected" / "hospital_a" / "claims").glob("load_id=*")
    (rejected,) = pq.read_table(folder / "rejected.parquet").to_pylist()
    assert rejected["_source_row"] == 4
    assert (
        "InsertDate '2024-11-03 01:10:00 Mars/Base' is not a timestamp"
        in rejected["_reject_reason"]
    )
    assert "Mars/Base" in rejected["_raw"]  # the raw text is the line as landed


def test_a_claims_timestamp_later_than_the_load_is_rejected(
    sources: Path, lake: Path, tmp_path: Path
) -> None:
    # a mistyped year would make its version the claim's latest for good and move the as-of
    # date of every finance mart to 2205; a day's slack is allowed for source clocks and zones
    rows = [claim_row(70, 1), claim_row(71, 1), claim_row(72, 1)]
    rows[0]["ModifiedDate"] = "2205-01-09 09:00:00"
    tomorrow = datetime.now(UTC) + timedelta(hours=20)
    rows[1]["InsertDate"] = f"{tomorrow:%Y-%m-%d %H:%M:%S}"
    rows[2]["ModifiedDate"] = "2205-01-09T09:00:00-05:00"  # in UTC, then compared
    write_csv(
        sources / "landing" / "claims" / "hospital1_claim_data_2024_12.csv", CLAIM_COLUMNS, rows
    )
    result = ingest(sources, lake, write_config(tmp_path / "c.csv", ["hospital_a.claims"]))
    assert result.ok, result.failed
    record = next(r for r in result.entities[0].records if r.source_name.endswith("_12.csv"))
    assert (record.rows_read, record.rows_written, record.rows_rejected) == (3, 1, 2)
    (folder,) = (lake / "rejected" / "hospital_a" / "claims").glob("load_id=*")
    by_line = {r["_source_row"]: r for r in pq.read_table(folder / "rejected.parquet").to_pylist()}
    assert set(by_line) == {2, 4}
    assert (
        "line 2: ModifiedDate '2205-01-09 09:00:00' is later than this load"
        in (by_line[2]["_reject_reason"])
    )
    assert (
        "ModifiedDate '2205-01-09T09:00:00-05:00' (2205-01-09 14:00:00 in UTC) is later than "
        "this load"
    ) in by_line[4]["_reject_reason"]
    assert "2205-01-09T09:00:00-05:00" in by_line[4]["_raw"]


def test_a_mark_later_than_the_load_is_no_mark() -> None:
    loaded = datetime(2025, 1, 10, 12, tzinfo=UTC)
    assert is_mark("2025-01-11 11:00:00", loaded) and not is_mark("2025-01-11 13:00:00", loaded)
    assert not is_mark("2205-01-09", loaded) and is_mark("2205-01-09")  # no load time: form only
    assert is_mark("2025-01-11 14:00:00+03:00", loaded)  # 11:00 UTC
    assert bad_marks(["2024-12-31 10:00:00", "2205-01-09 09:00:00", "yesterday"], loaded) == {
        "2205-01-09 09:00:00",
        "yesterday",
    }
